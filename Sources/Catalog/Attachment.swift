import Foundation
import GRDB

/// A file that goes with a recording: lesson plan (教案), worksheet, slides, subtitles.
public struct Attachment: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Kind: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case lessonPlan, worksheet, slides, subtitles, other
    }

    public var id: Int64?
    public var recordingId: Int64
    public var kind: Kind
    public var filename: String
    public var path: String
    public var size: Int64
    public var sha256: String
    public var createdAt: Date

    public static let databaseTableName = "attachment"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
