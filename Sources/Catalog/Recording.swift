import Foundation
import GRDB

/// A recorded lesson and its source file.
public struct Recording: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    /// Where a recording is in its life: `uploading → queued → processing → ready | failed`.
    public enum State: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case uploading, queued, processing, ready, failed
    }

    public var id: Int64?
    public var title: String
    public var description: String
    public var teacherId: Int64
    public var schoolId: Int64
    public var classroomId: Int64?
    public var lessonId: Int64?
    /// The day of the lesson, `yyyy-MM-dd`.
    public var recordedOn: String?
    public var state: State
    /// Why processing failed, in words a teacher can act on.
    public var failure: String?
    /// Source file, relative to the storage root.
    public var sourcePath: String?
    public var sourceSize: Int64?
    public var sourceSha256: String?
    /// What probing the source found, as JSON.
    public var mediaInfo: SourceMedia?
    public var createdAt: Date
    public var updatedAt: Date
    /// Set when deleted; files are removed by a later sweep.
    public var deletedAt: Date?
    /// The published media folder (`v12`), once a transcode has succeeded.
    public var mediaVersion: String?
    public var mediaPublishedAt: Date?

    public init(
        id: Int64? = nil, title: String, description: String = "", teacherId: Int64, schoolId: Int64,
        classroomId: Int64? = nil, lessonId: Int64? = nil, recordedOn: String? = nil, state: State = .uploading,
        failure: String? = nil, createdAt: Date = Date()
    ) {
        self.id = id
        self.title = title
        self.description = description
        self.teacherId = teacherId
        self.schoolId = schoolId
        self.classroomId = classroomId
        self.lessonId = lessonId
        self.recordedOn = recordedOn
        self.state = state
        self.failure = failure
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    public static let databaseTableName = "recording"
    public enum Columns {
        public static let title = Column(CodingKeys.title)
        public static let teacherId = Column(CodingKeys.teacherId)
        public static let schoolId = Column(CodingKeys.schoolId)
        public static let lessonId = Column(CodingKeys.lessonId)
        public static let state = Column(CodingKeys.state)
        public static let sourceSha256 = Column(CodingKeys.sourceSha256)
        public static let createdAt = Column(CodingKeys.createdAt)
        public static let deletedAt = Column(CodingKeys.deletedAt)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// Whether `text` is a day of the (proleptic) Gregorian calendar as `recordedOn` keeps it:
    /// `yyyy-MM-dd` (RFC 3339 full-date).
    public static func isDay(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts.map(\.count) == [4, 2, 2],
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}
