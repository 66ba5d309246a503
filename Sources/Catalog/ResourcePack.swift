import Foundation
import GRDB

/// 资源包: lessons and materials a lead school adapts for its member schools. The pack itself only
/// says who owns it; everything a reader sees lives in its versions.
public struct ResourcePack: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var leadSchoolId: Int64
    public var createdBy: Int64
    public var createdAt: Date
    public var deletedAt: Date?

    public init(id: Int64? = nil, leadSchoolId: Int64, createdBy: Int64, createdAt: Date = Date(), deletedAt: Date? = nil) {
        self.id = id
        self.leadSchoolId = leadSchoolId
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.deletedAt = deletedAt
    }

    public static let databaseTableName = "resourcePack"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One version of a pack. A draft can be edited; publishing freezes it (its files are listed in
/// `packFile` and its manifest stored), and editing the pack again starts the next draft.
public struct PackVersion: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum State: String, Codable, Sendable, DatabaseValueConvertible {
        case draft, published
    }

    public var id: Int64?
    public var packId: Int64
    public var number: Int
    public var state: State
    public var title: String
    public var description: String
    /// Localized teaching notes: what to stress, pacing for this school's pupils, offline activities.
    public var notes: String
    public var createdBy: Int64
    public var createdAt: Date
    public var publishedBy: Int64?
    public var publishedAt: Date?
    public var manifestSha256: String?
    public var manifestSize: Int64?
    /// Bytes of all files (the manifest excluded).
    public var totalSize: Int64?
    public var fileCount: Int?
    /// Set when an old version's files were released by the sweeper; it can no longer be downloaded.
    public var sweptAt: Date?

    public init(
        id: Int64? = nil, packId: Int64, number: Int, state: State = .draft, title: String, description: String = "",
        notes: String = "", createdBy: Int64, createdAt: Date = Date()
    ) {
        self.id = id
        self.packId = packId
        self.number = number
        self.state = state
        self.title = title
        self.description = description
        self.notes = notes
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    public static let databaseTableName = "packVersion"
    public enum Columns {
        public static let packId = Column(CodingKeys.packId)
        public static let number = Column(CodingKeys.number)
        public static let state = Column(CodingKeys.state)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A school a version is addressed to, optionally only some of its grades (`"3,4"`; empty: all).
public struct PackTarget: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public var versionId: Int64
    public var schoolId: Int64
    public var grades: String

    public init(versionId: Int64, schoolId: Int64, grades: [Int] = []) {
        self.versionId = versionId
        self.schoolId = schoolId
        self.grades = grades.sorted().map(String.init).joined(separator: ",")
    }

    public var gradeList: [Int] { grades.split(separator: ",").compactMap { Int($0) } }

    public static let databaseTableName = "packTarget"
    public enum Columns {
        public static let versionId = Column(CodingKeys.versionId)
    }
}

/// One entry of a version, in `position` order: a recorded lesson (whole, or a clip) or an
/// attached file. A recording item copies where it came from (title, teacher, school) when it is
/// added, so the credit stays with the pack even if the original is renamed or deleted.
public struct PackItem: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Kind: String, Codable, Sendable, DatabaseValueConvertible {
        case recording, attachment
    }

    public var id: Int64?
    public var versionId: Int64
    public var position: Int
    public var kind: Kind
    public var title: String
    /// What this school should do with the item (a localized note).
    public var note: String
    public var recordingId: Int64?
    /// Requested clip bounds in seconds; published clips snap outward to segment boundaries.
    public var clipStart: Double?
    public var clipEnd: Double?
    public var sourceTitle: String?
    public var sourceTeacher: String?
    public var sourceSchool: String?
    public var fileName: String?
    public var sha256: String?
    public var size: Int64?

    public init(
        id: Int64? = nil, versionId: Int64, position: Int, kind: Kind, title: String, note: String = "",
        recordingId: Int64? = nil, clipStart: Double? = nil, clipEnd: Double? = nil, sourceTitle: String? = nil,
        sourceTeacher: String? = nil, sourceSchool: String? = nil, fileName: String? = nil, sha256: String? = nil,
        size: Int64? = nil
    ) {
        self.id = id
        self.versionId = versionId
        self.position = position
        self.kind = kind
        self.title = title
        self.note = note
        self.recordingId = recordingId
        self.clipStart = clipStart
        self.clipEnd = clipEnd
        self.sourceTitle = sourceTitle
        self.sourceTeacher = sourceTeacher
        self.sourceSchool = sourceSchool
        self.fileName = fileName
        self.sha256 = sha256
        self.size = size
    }

    public static let databaseTableName = "packItem"
    public enum Columns {
        public static let versionId = Column(CodingKeys.versionId)
        public static let position = Column(CodingKeys.position)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A file of a published version: its path inside the pack and the object holding its bytes.
/// The CRC-32 is kept for the ZIP headers, so a download never reads a file twice.
public struct PackFile: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public var versionId: Int64
    public var path: String
    public var sha256: String
    public var size: Int64
    public var crc32: UInt32
    /// Order in the manifest and the ZIP.
    public var position: Int

    public init(versionId: Int64, path: String, sha256: String, size: Int64, crc32: UInt32, position: Int) {
        self.versionId = versionId
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.crc32 = crc32
        self.position = position
    }

    public static let databaseTableName = "packFile"
    public enum Columns {
        public static let versionId = Column(CodingKeys.versionId)
        public static let position = Column(CodingKeys.position)
    }
}
