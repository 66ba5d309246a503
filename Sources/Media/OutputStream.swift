import Foundation

/// A file written sequentially with POSIX calls and made durable (fsync) when closed, so that a
/// published rendition survives a power cut.
final class OutputStream {
    let path: String
    private var descriptor: Int32
    private(set) var size = 0

    init(path: String) throws(MediaError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw Self.failure("creating", path) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(MediaError) {
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.failure("writing", path)
            }
            offset += written
        }
        size += bytes.count
    }

    func write(_ bytes: [UInt8]) throws(MediaError) {
        // withUnsafeBytes rethrows untyped errors, so the failure is carried out by hand.
        var failure: MediaError?
        bytes.withUnsafeBytes { buffer in
            do throws(MediaError) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func close() throws(MediaError) {
        guard descriptor >= 0 else { return }
        defer { descriptor = -1 }
        if fsync(descriptor) != 0 {
            let error = Self.failure("syncing", path)
            _ = Foundation.close(descriptor)
            throw error
        }
        if Foundation.close(descriptor) != 0 { throw Self.failure("closing", path) }
    }

    deinit {
        if descriptor >= 0 { _ = Foundation.close(descriptor) }
    }

    /// ENOSPC and friends, with the file named: "disk full" must be obvious to an admin.
    static func failure(_ action: String, _ path: String) -> MediaError {
        let code = errno
        return MediaError(.io, step: "\(action) \(path)", message: String(cString: strerror(code)))
    }
}

@available(*, unavailable)
extension OutputStream: Sendable {}

/// Writes a whole small file durably.
func writeFile(_ path: String, _ text: String) throws(MediaError) {
    let stream = try OutputStream(path: path)
    try stream.write(Array(text.utf8))
    try stream.close()
}
