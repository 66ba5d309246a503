import CLinux
import Crypto
import Foundation

/// Files stored once by content: `<root>/<first two hex digits>/<sha256>`.
///
/// A segment shared by many packs (the same lesson in ten schools' packs) costs its bytes once.
/// Objects are only ever added whole — written to a temporary name, flushed, then renamed — so a
/// name in the store always holds exactly the bytes it names. Rendition files are hard-linked
/// rather than copied when they are on the same file system, which costs no bytes at all and keeps
/// the pack's copy alive after the media folder is swept.
///
/// Everything here blocks on disk I/O: call it from a thread pool, not the async executors.
public struct ObjectStore: Sendable {
    public let root: String

    /// What the store knows about an object.
    public struct Object: Sendable, Equatable, Codable {
        public var sha256: String
        public var size: Int64
        public var crc32: UInt32

        public init(sha256: String, size: Int64, crc32: UInt32) {
            self.sha256 = sha256
            self.size = size
            self.crc32 = crc32
        }
    }

    public init(root: String) {
        self.root = root
    }

    public func path(of sha256: String) -> String {
        "\(root)/\(sha256.prefix(2))/\(sha256)"
    }

    public func contains(_ sha256: String) -> Bool {
        FileManager.default.fileExists(atPath: path(of: sha256))
    }

    /// Adds the file at `source` (hashing it once) and returns its object.
    @discardableResult
    public func add(file source: String) throws(StoreError) -> Object {
        let object = try Self.cachedDigest(file: source)
        let target = path(of: object.sha256)
        if FileManager.default.fileExists(atPath: target) { return object }
        try makeParent(of: target)
        let temporary = "\(target).tmp-\(UUID().uuidString)"
        if link(source, temporary) != 0 {
            // Another file system (EXDEV) or no hard links: copy instead.
            do {
                try FileManager.default.copyItem(atPath: source, toPath: temporary)
            } catch {
                throw .io("copying \((source as NSString).lastPathComponent) into the object store", error.localizedDescription)
            }
            try Self.flush(temporary)
        }
        try publish(temporary, as: target)
        return object
    }

    /// Adds bytes made in memory (a clip's playlists and retimed segments, a manifest).
    @discardableResult
    public func add(data: Data) throws(StoreError) -> Object {
        let object = Object(sha256: Self.hex(SHA256.hash(data: data)), size: Int64(data.count), crc32: Self.crc32(data))
        let target = path(of: object.sha256)
        if FileManager.default.fileExists(atPath: target) { return object }
        try makeParent(of: target)
        let temporary = "\(target).tmp-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw .io("writing into the object store", String(cString: strerror(errno)))
        }
        try Self.flush(temporary)
        try publish(temporary, as: target)
        return object
    }

    /// Moves a file already written and verified elsewhere in the same file system into the store.
    public func adopt(_ temporary: String, as object: Object) throws(StoreError) {
        let target = path(of: object.sha256)
        try makeParent(of: target)
        try publish(temporary, as: target)
    }

    /// Deletes objects whose hash is not in `keep` and that are older than `grace` (so a pack
    /// being published or an attachment being uploaded right now keeps its new objects).
    /// Returns the number of bytes freed.
    @discardableResult
    public func sweep(keeping keep: Set<String>, grace: TimeInterval, now: Date = Date()) -> Int64 {
        var freed: Int64 = 0
        let fileManager = FileManager.default
        // Two-digit folders hold objects; `incoming` holds uploads that never finished.
        for folder in (try? fileManager.contentsOfDirectory(atPath: root)) ?? [] where folder.count == 2 || folder == "incoming" {
            for name in (try? fileManager.contentsOfDirectory(atPath: "\(root)/\(folder)")) ?? [] {
                let path = "\(root)/\(folder)/\(name)"
                let hash = name.split(separator: ".").first.map(String.init) ?? name
                if folder != "incoming" && keep.contains(hash) && !name.contains(".tmp-") { continue }
                guard let attributes = try? fileManager.attributesOfItem(atPath: path),
                    let modified = attributes[.modificationDate] as? Date, now.timeIntervalSince(modified) > grace
                else { continue }
                if (try? fileManager.removeItem(atPath: path)) != nil {
                    freed += (attributes[.size] as? Int64) ?? 0
                }
            }
        }
        return freed
    }

    // MARK: - Hashing

    /// SHA-256, size and CRC-32 of a file in one read.
    public static func digest(file path: String) throws(StoreError) -> Object {
        var digest = Digest()
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .io("opening \((path as NSString).lastPathComponent)", String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io("reading \((path as NSString).lastPathComponent)", String(cString: strerror(errno)))
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        }
        return digest.finish()
    }

    /// The file's digest, remembered on the file itself (extended attribute `user.lessonlink.digest`,
    /// with the size, modification time and inode it was computed for): a lesson's segments are
    /// published into packs again and again but never change, so each is read and hashed once.
    /// Where the file system keeps no extended attributes, the file is hashed every time.
    public static func cachedDigest(file path: String) throws(StoreError) -> Object {
        var status = stat()
        guard stat(path, &status) == 0 else { throw .io("reading \((path as NSString).lastPathComponent)", String(cString: strerror(errno))) }
        let stamp = "\(status.st_size) \(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec) \(status.st_ino)"
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = getxattr(path, digestAttribute, &buffer, buffer.count)
        if length > 0 {
            let fields = String(decoding: buffer.prefix(length), as: UTF8.self).split(separator: " ")
            if fields.count == 5, fields[0...2].joined(separator: " ") == stamp, fields[3].count == 64,
                let crc = UInt32(fields[4])
            {
                return Object(sha256: String(fields[3]), size: Int64(status.st_size), crc32: crc)
            }
        }
        let object = try digest(file: path)
        let value = Array("\(stamp) \(object.sha256) \(object.crc32)".utf8)
        _ = setxattr(path, digestAttribute, value, value.count, 0)
        return object
    }

    static let digestAttribute = "user.lessonlink.digest"

    /// A running SHA-256 + CRC-32 + length, for bytes that arrive in pieces (uploads, downloads).
    public struct Digest {
        private var hash = SHA256()
        private var crc: UInt = 0
        private let computesCRC: Bool
        public private(set) var size: Int64 = 0

        /// - Parameter crc: also compute the CRC-32 (only ZIP headers need it; a mirror does not).
        public init(crc: Bool = true) {
            computesCRC = crc
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0 else { return }
            hash.update(bufferPointer: bytes)
            if computesCRC { crc = CLinux.crc32(crc, bytes.bindMemory(to: UInt8.self).baseAddress, UInt32(bytes.count)) }
            size += Int64(bytes.count)
        }

        public func finish() -> Object {
            Object(sha256: ObjectStore.hex(hash.finalize()), size: size, crc32: UInt32(truncatingIfNeeded: crc))
        }
    }

    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { bytes in
            UInt32(truncatingIfNeeded: CLinux.crc32(0, bytes.bindMemory(to: UInt8.self).baseAddress, UInt32(bytes.count)))
        }
    }

    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Whether `text` has the shape of a SHA-256 in lower-case hex.
    public static func isHash(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    // MARK: - Files

    private func makeParent(of path: String) throws(StoreError) {
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw .io("creating an object store folder", error.localizedDescription)
        }
    }

    private func publish(_ temporary: String, as target: String) throws(StoreError) {
        if rename(temporary, target) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .io("storing an object", reason)
        }
    }

    /// fsync, so a power cut cannot leave a renamed object with missing bytes.
    static func flush(_ path: String) throws(StoreError) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            throw .io("flushing an object", reason)
        }
        close(descriptor)
    }
}

/// Why the object store could not do something; the message names the step and the system's reason.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case io(String, String)

    public var description: String {
        switch self {
        case .io(let step, let reason): "\(step) failed: \(reason)"
        }
    }

    /// ENOSPC-like reasons, which the server answers with 507.
    public var isDiskFull: Bool {
        switch self {
        case .io(_, let reason): reason == String(cString: strerror(ENOSPC)) || reason == String(cString: strerror(EDQUOT))
        }
    }
}
