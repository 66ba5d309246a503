import CLinux
import Crypto
import Foundation
import NIOCore
import NIOPosix

/// An upload's data file. Writes are batched into 1 MiB `pwrite`s on the thread pool (never on
/// the event loops), each followed by a request to start writeback, and `sync` makes them durable
/// before an offset is acknowledged.
public final class UploadFile: @unchecked Sendable {
    // @unchecked: used by one request at a time (the registry's holder); the descriptor is only
    // touched inside the thread-pool closures that request awaits, one after another.
    let path: String
    private let descriptor: Int32
    private(set) var position: Int64
    private var pending = ByteBuffer()
    static let batch = 1 << 20

    /// Opens the file to continue at `offset`, the last acknowledged one. Bytes past it (a request
    /// cut short by a crash, never acknowledged) are dropped, so the file always holds exactly the
    /// acknowledged prefix before new bytes arrive.
    init(path: String, offset: Int64) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o640)
        if descriptor < 0 { throw UploadFileError.io(errno, "opening") }
        var status = stat()
        if fstat(descriptor, &status) == 0, Int64(status.st_size) > offset, ftruncate(descriptor, off_t(offset)) != 0 {
            let code = errno
            close(descriptor)
            throw UploadFileError.io(code, "truncating")
        }
        position = offset
    }

    deinit { close(descriptor) }

    /// Takes a chunk of the body; writes once a batch has gathered.
    func append(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        pending.writeBuffer(&buffer)
        if pending.readableBytes >= Self.batch { try await flush() }
    }

    /// Writes what is pending.
    func flush() async throws {
        guard pending.readableBytes > 0 else { return }
        let chunk = pending
        pending = ByteBuffer()
        let (descriptor, position) = (self.descriptor, self.position)
        let written: Int = try await NIOThreadPool.singleton.runIfActive {
            try chunk.withUnsafeReadableBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(position) + off_t(done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw UploadFileError.io(errno, "writing")
                    }
                    done += n
                }
                // Start writing the batch back now, so the disk works while the next batches
                // arrive and the fsync that acknowledges the request has little left to do. (A
                // PATCH of 64 MiB otherwise stalls the client for one long flush at its end.)
                _ = lessonlink_start_writeback(descriptor, off_t(position), off_t(done))
                return done
            }
        }
        self.position += Int64(written)
    }

    /// Flushes and fsyncs: after this returns, `position` bytes survive a crash or power cut.
    func sync() async throws {
        try await flush()
        let descriptor = self.descriptor
        try await NIOThreadPool.singleton.runIfActive {
            if fsync(descriptor) != 0 { throw UploadFileError.io(errno, "syncing") }
        }
    }

    /// Drops everything past `offset` (a chunk that failed its checksum or could not be stored).
    func truncate(to offset: Int64) async throws {
        pending = ByteBuffer()
        let descriptor = self.descriptor
        try await NIOThreadPool.singleton.runIfActive {
            if ftruncate(descriptor, off_t(offset)) != 0 { throw UploadFileError.io(errno, "truncating") }
            _ = fsync(descriptor)
        }
        position = offset
    }

    /// A whole source file's size and SHA-256 (hex), read on the thread pool: what a recording
    /// made by the server itself (a live lesson's archive) records as its source.
    public static func digest(path: String) async throws -> (size: Int64, sha256: String) {
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        let hash = try await hashPrefix(path: path, length: size)
        return (size, hash.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// SHA-256 of the file's first `length` bytes, for when the running hash was lost (restart).
    static func hashPrefix(path: String, length: Int64) async throws -> SHA256 {
        try await NIOThreadPool.singleton.runIfActive { () throws -> HashState in
            var hash = SHA256()
            guard let handle = FileHandle(forReadingAtPath: path) else { throw UploadFileError.io(ENOENT, "reading") }
            defer { try? handle.close() }
            var remaining = length
            while remaining > 0 {
                let data = handle.readData(ofLength: Int(min(remaining, 4 << 20)))
                if data.isEmpty { throw UploadFileError.io(EIO, "reading") }
                hash.update(data: data)
                remaining -= Int64(data.count)
            }
            return HashState(hash: hash)
        }.hash
    }
}

enum UploadFileError: Error {
    case io(Int32, String)

    var isDiskFull: Bool {
        if case .io(let code, _) = self { return code == ENOSPC || code == EDQUOT }
        return false
    }

    var message: String {
        switch self {
        case .io(let code, let action): "\(action) the upload failed: \(String(cString: strerror(code)))"
        }
    }
}

/// Carries a SHA-256 state back from the thread pool. `@unchecked Sendable`: the state is a plain
/// value (registers and a block buffer), copied out and never shared.
struct HashState: @unchecked Sendable {
    var hash: SHA256
}
