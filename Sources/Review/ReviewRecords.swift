import Foundation
import GRDB

/// A teaching-research office (教研室) at the county or the city level.
public struct ReviewOffice: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var name: String
    public var level: ReviewLevel
    public var scope: String

    public init(name: String, level: ReviewLevel, scope: String = "") {
        self.name = name
        self.level = level
        self.scope = scope
    }

    public static let databaseTableName = "reviewOffice"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A reviewer's office.
struct ReviewOfficeMember: Codable, FetchableRecord, PersistableRecord {
    var personId: Int64
    var officeId: Int64
    static let databaseTableName = "reviewOfficeMember"
}

/// One recording's way through review.
public struct ReviewSubmission: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var recordingId: Int64
    public var teacherId: Int64
    public var schoolId: Int64
    public var state: ReviewStatus.State
    public var level: ReviewLevel?
    public var claimedBy: Int64?
    public var submittedAt: Date
    public var updatedAt: Date

    public var status: ReviewStatus {
        get { ReviewStatus(state, level: level, claimedBy: claimedBy) }
        set {
            state = newValue.state
            level = newValue.level
            claimedBy = newValue.claimedBy
        }
    }

    public static let databaseTableName = "reviewSubmission"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One step of a submission's history.
public struct ReviewEvent: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var submissionId: Int64
    public var action: String
    public var personId: Int64
    public var level: ReviewLevel?
    public var scores: [String: Int]?
    public var comment: String
    public var at: Date

    public static let databaseTableName = "reviewEvent"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
