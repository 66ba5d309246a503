import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The county's signing keys for certificates, kept in one JSON file (mode 0600) under
/// `storage/secrets/`. The newest key signs; older ones are kept, retired, because every
/// certificate they signed must keep verifying for years: a verifier trusts any key on the list.
public struct IssuerKeys: Sendable {
    public struct Key: Codable, Sendable, Equatable {
        /// `did:key:z6Mk…`
        public var id: String
        /// Absent in the public list.
        public var privateKeyMultibase: String?
        public var created: String
        public var retired: String?
    }

    public private(set) var keys: [Key]

    public init(keys: [Key]) { self.keys = keys }

    /// The key that signs new certificates.
    public var current: Curve25519.Signing.PrivateKey? {
        keys.last.flatMap { $0.privateKeyMultibase.flatMap(PrivateKeyMultibase.decode) }
    }

    /// The key that signs, or why there is none (`path` names the file in the error).
    public func signingKey(from path: String) throws -> Curve25519.Signing.PrivateKey {
        guard let key = current else { throw FileError.unreadable(path, "it holds no private key") }
        return key
    }

    /// Every key's identifier, current and retired: the keys a certificate of this county may carry.
    public var trusted: Set<String> { Set(keys.map(\.id)) }

    /// The list without private keys: what the county publishes, and what offline verification needs.
    public var publicKeys: IssuerKeys { IssuerKeys(keys: keys.map { Key(id: $0.id, privateKeyMultibase: nil, created: $0.created, retired: $0.retired) }) }

    /// Retires the current key and adds a new one.
    public mutating func rotate(at now: Date = Date()) {
        let stamp = Self.timestamp(now)
        if !keys.isEmpty { keys[keys.count - 1].retired = stamp }
        let key = Curve25519.Signing.PrivateKey()
        keys.append(Key(id: DIDKey(key.publicKey).did, privateKeyMultibase: PrivateKeyMultibase.encode(key), created: stamp, retired: nil))
    }

    // MARK: - The file

    public enum FileError: Error, CustomStringConvertible {
        case unreadable(String, String)
        public var description: String {
            switch self {
            case .unreadable(let path, let why): "the certificate key file \(path) cannot be used: \(why)"
            }
        }
    }

    /// Reads the key file, creating it with a first key when it does not exist.
    public static func loadOrCreate(path: String) throws -> IssuerKeys {
        if FileManager.default.fileExists(atPath: path) { return try load(path: path) }
        var keys = IssuerKeys(keys: [])
        keys.rotate()
        try keys.save(path: path)
        return keys
    }

    public static func load(path: String) throws -> IssuerKeys {
        do {
            let keys = try JSONDecoder().decode(IssuerKeys.Stored.self, from: Data(contentsOf: URL(fileURLWithPath: path))).keys
            for key in keys where DIDKey(verificationMethod: key.id) == nil {
                throw FileError.unreadable(path, "\(key.id) is not an Ed25519 did:key")
            }
            return IssuerKeys(keys: keys)
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError.unreadable(path, "\(error)")
        }
    }

    /// Writes the file atomically, readable by its owner only.
    public func save(path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let temporary = path + ".new"
        FileManager.default.createFile(atPath: temporary, contents: try encoded(), attributes: [.posixPermissions: 0o600])
        guard rename(temporary, path) == 0 else { throw FileError.unreadable(path, String(cString: strerror(errno))) }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(Stored(keys: keys))
    }

    public static func decode(_ data: Data) throws -> IssuerKeys {
        IssuerKeys(keys: try JSONDecoder().decode(Stored.self, from: data).keys)
    }

    struct Stored: Codable {
        var keys: [Key]
    }

    /// RFC 3339 in UTC, whole seconds, as credentials write times.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
