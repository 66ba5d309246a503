import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The blocking file operations of backups: walk, hash, copy while hashing, link.
enum Files {
    struct Info {
        var size: Int64
        var modified: Int64
        var mode: UInt32
        var isDirectory: Bool
        var isRegular: Bool
    }

    static func info(_ path: String) -> Info? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        let kind = status.st_mode & S_IFMT
        return Info(
            size: Int64(status.st_size), modified: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec),
            mode: UInt32(status.st_mode & 0o7777), isDirectory: kind == S_IFDIR, isRegular: kind == S_IFREG)
    }

    /// Every regular file below `root` (relative paths, sorted), skipping what `skip` refuses;
    /// symbolic links are not followed.
    static func walk(_ root: String, skip: (String) -> Bool) -> [String] {
        var found: [String] = []
        func visit(_ relative: String) {
            let absolute = relative.isEmpty ? root : "\(root)/\(relative)"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: absolute) else { return }
            for name in names.sorted() {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                if skip(path) { continue }
                guard let info = info("\(root)/\(path)") else { continue }
                if info.isDirectory {
                    visit(path)
                } else if info.isRegular {
                    found.append(path)
                }
            }
        }
        visit("")
        return found
    }

    static let chunk = 1 << 20

    /// Copies the first `limit` bytes (all when nil) of `source` to a new file `target` with
    /// `mode`, hashing as it goes; the copy is flushed to disk. Returns the bytes and SHA-256.
    static func copy(_ source: String, to target: String, limit: Int64? = nil, mode: UInt32 = 0o644) throws(BackupError) -> (Int64, String) {
        try makeParent(of: target)
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard output >= 0 else { throw .io("cannot create \(target): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        let result = try read(source, limit: limit) { (chunk: UnsafeRawBufferPointer) throws(BackupError) in
            var written = 0
            while written < chunk.count {
                let count = write(output, chunk.baseAddress! + written, chunk.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw .io("cannot write \(target): \(String(cString: strerror(errno)))")
                }
                written += count
            }
        }
        if fsync(output) != 0 { throw .io("cannot flush \(target): \(String(cString: strerror(errno)))") }
        _ = fchmod(output, mode_t(mode))
        return result
    }

    /// The size and SHA-256 of a file.
    static func digest(_ path: String) throws(BackupError) -> (Int64, String) {
        try read(path) { _ throws(BackupError) in }
    }

    /// Reads `path` (its first `limit` bytes, all when nil) a chunk at a time, hashing, and hands
    /// each chunk to `each`. Returns the bytes read and their SHA-256.
    private static func read(
        _ path: String, limit: Int64? = nil, each: (UnsafeRawBufferPointer) throws(BackupError) -> Void
    ) throws(BackupError) -> (Int64, String) {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        var hash = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while limit.map({ total < $0 }) ?? true {
            let want = limit.map { Int(min(Int64(chunk), $0 - total)) } ?? chunk
            let count = Glibc.read(input, buffer.baseAddress, want)
            if count < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            let filled = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            hash.update(bufferPointer: filled)
            try each(filled)
            total += Int64(count)
        }
        return (total, hex(hash.finalize()))
    }

    /// A hard link `target` to `existing`; false when the file system will not (another disk).
    static func link(_ existing: String, to target: String) throws(BackupError) -> Bool {
        try makeParent(of: target)
        return Glibc.link(existing, target) == 0
    }

    static func makeParent(of path: String) throws(BackupError) {
        let parent = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create \(parent): \(error.localizedDescription)")
        }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
