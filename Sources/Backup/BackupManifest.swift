public import Foundation

/// What a backup holds: every file's path (relative to the snapshot, which mirrors a storage
/// root), size and SHA-256. Written last, so a snapshot with a manifest is complete; `verify`
/// and `restore` read nothing else to know what the snapshot should contain.
public struct BackupManifest: Codable, Sendable, Equatable {
    public static let fileName = "lessonlink-backup.json"

    public struct Entry: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String
        /// The storage file's modification time (ns since 1970) when it was copied: with the
        /// size, what the next backup compares to link instead of copy.
        public var modified: Int64
        /// Permission bits (secrets are 0600 and stay so when restored).
        public var mode: UInt32
    }

    public var format = 1
    /// The LessonLink release that wrote it, and the newest migration of its database.
    public var release: String
    public var createdAt: Date
    /// The storage root backed up (informational: a restore may go anywhere).
    public var storageRoot: String
    public var files: [Entry]

    public init(release: String, createdAt: Date, storageRoot: String, files: [Entry]) {
        self.release = release
        self.createdAt = createdAt
        self.storageRoot = storageRoot
        self.files = files
    }

    static func read(_ path: String) throws(BackupError) -> BackupManifest {
        guard let data = FileManager.default.contents(atPath: path) else { throw .damaged(path, ["the manifest is missing"]) }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(BackupManifest.self, from: data)
        } catch {
            throw .damaged(path, ["the manifest cannot be read: \(error)"])
        }
    }

    func write(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Why a backup, a verification or a restore did not go through.
public enum BackupError: Error, CustomStringConvertible, Equatable {
    /// A snapshot whose files do not match its manifest: the snapshot and each problem.
    case damaged(String, [String])
    /// Nothing to restore or verify at the path given.
    case noSnapshot(String)
    /// The restore target already holds files.
    case targetNotEmpty(String)
    case io(String)

    public var description: String {
        switch self {
        case .damaged(let snapshot, let problems):
            "the backup \(snapshot) is damaged (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
                + problems.prefix(50).map { "  \($0)" }.joined(separator: "\n")
                + (problems.count > 50 ? "\n  … and \(problems.count - 50) more" : "")
        case .noSnapshot(let path): "there is no complete backup in \(path)"
        case .targetNotEmpty(let path): "\(path) is not empty: restore into a new or empty folder"
        case .io(let what): what
        }
    }
}
