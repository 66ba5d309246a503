import Foundation

/// What one published pack version contains: the document a member school, a mirror or an
/// imported USB stick trusts. Every file is listed with its path in the pack, size and SHA-256;
/// the manifest's own SHA-256 names the version's content as a whole.
public struct PackManifest: Codable, Sendable, Equatable {
    /// Bumped when the shape changes incompatibly; readers refuse formats they do not know.
    public static let currentFormat = 1

    public struct School: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        /// Grades the version is meant for at this school; empty means all.
        public var grades: [Int]
        /// The best tier this school's classrooms can all stream at once (the tier planner's answer).
        public var tier: String?

        public init(id: Int64, name: String, grades: [Int], tier: String?) {
            self.id = id
            self.name = name
            self.grades = grades
            self.tier = tier
        }
    }

    /// Where a recorded item came from: its credit survives renames and clipping.
    public struct Provenance: Codable, Sendable, Equatable {
        public var recordingId: Int64
        public var title: String
        public var teacher: String
        public var school: String

        public init(recordingId: Int64, title: String, teacher: String, school: String) {
            self.recordingId = recordingId
            self.title = title
            self.teacher = teacher
            self.school = school
        }
    }

    public struct Clip: Codable, Sendable, Equatable {
        /// The bounds asked for, in seconds of the original.
        public var requestedStart: Double
        public var requestedEnd: Double
        /// The bounds delivered: snapped outward to segment boundaries, each a keyframe.
        public var start: Double
        public var end: Double

        public init(requestedStart: Double, requestedEnd: Double, start: Double, end: Double) {
            self.requestedStart = requestedStart
            self.requestedEnd = requestedEnd
            self.start = start
            self.end = end
        }
    }

    public struct Item: Codable, Sendable, Equatable {
        public var position: Int
        public var kind: String
        public var title: String
        public var note: String
        /// For a recording: its master playlist; for an attachment: the file.
        public var path: String
        public var provenance: Provenance?
        public var clip: Clip?
        public var duration: Double?
        public var tiers: [String]?
        public var fileName: String?
        public var size: Int64?
        public var sha256: String?

        public init(position: Int, kind: String, title: String, note: String, path: String, provenance: Provenance? = nil, clip: Clip? = nil, duration: Double? = nil, tiers: [String]? = nil, fileName: String? = nil, size: Int64? = nil, sha256: String? = nil) {
            self.position = position
            self.kind = kind
            self.title = title
            self.note = note
            self.path = path
            self.provenance = provenance
            self.clip = clip
            self.duration = duration
            self.tiers = tiers
            self.fileName = fileName
            self.size = size
            self.sha256 = sha256
        }
    }

    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String

        public init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    public var format: Int
    public var pack: Int64
    public var version: Int
    public var title: String
    public var description: String
    public var notes: String
    public var leadSchool: String
    public var targets: [School]
    public var publishedAt: Date
    public var publishedBy: String
    public var items: [Item]
    public var files: [File]
    public var totalSize: Int64

    public init(
        format: Int,
        pack: Int64,
        version: Int,
        title: String,
        description: String,
        notes: String,
        leadSchool: String,
        targets: [School],
        publishedAt: Date,
        publishedBy: String,
        items: [Item],
        files: [File],
        totalSize: Int64
    ) {
        self.format = format
        self.pack = pack
        self.version = version
        self.title = title
        self.description = description
        self.notes = notes
        self.leadSchool = leadSchool
        self.targets = targets
        self.publishedAt = publishedAt
        self.publishedBy = publishedBy
        self.items = items
        self.files = files
        self.totalSize = totalSize
    }

    /// The manifest's bytes: sorted keys and ISO 8601 dates, so the same content always hashes the same.
    public func encoded() throws -> Data {
        try Self.encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> PackManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let manifest = try decoder.decode(PackManifest.self, from: data)
        guard manifest.format == currentFormat else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "manifest format \(manifest.format) is not supported (expected \(currentFormat))"))
        }
        return manifest
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// Whether a manifest path is safe to create under a folder: relative, no `..`, no empty parts.
    public static func isSafePath(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= 512, !path.hasPrefix("/"), !path.contains("\\"), !path.contains("\0") else {
            return false
        }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part != "." && part != ".."
        }
    }
}
