import Foundation
import GRDB

/// 同步课堂: one lesson that a set of classrooms plays together, by one server-side clock.
public struct SyncSession: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    /// Where the media comes from: a ready recording today; a recording classroom's live
    /// stream fits the same clock (no duration, ended by a host).
    public enum SourceKind: String, Codable, Sendable, DatabaseValueConvertible {
        case recording, live
    }

    public var id: Int64?
    public var title: String
    public var districtId: Int64
    public var schedulerId: Int64
    public var sourceKind: SourceKind
    public var recordingId: Int64?
    public var duration: Double?
    public var startsAt: Date
    /// Whether the member-school teachers of the target classrooms may host too.
    public var memberTeachersHost: Bool
    public var state: SessionClock.State
    public var anchorTime: Date?
    public var anchorPosition: Double
    public var revision: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        title: String, districtId: Int64, schedulerId: Int64, recordingId: Int64, duration: Double, startsAt: Date,
        memberTeachersHost: Bool, now: Date = Date()
    ) {
        self.title = title
        self.districtId = districtId
        self.schedulerId = schedulerId
        sourceKind = .recording
        self.recordingId = recordingId
        self.duration = duration
        self.startsAt = startsAt
        self.memberTeachersHost = memberTeachersHost
        state = .scheduled
        anchorPosition = 0
        revision = 0
        createdAt = now
        updatedAt = now
    }

    public var clock: SessionClock {
        get {
            SessionClock(
                state: state, startsAt: startsAt, anchorTime: anchorTime, anchorPosition: anchorPosition, duration: duration,
                revision: revision)
        }
        set {
            state = newValue.state
            startsAt = newValue.startsAt
            anchorTime = newValue.anchorTime
            anchorPosition = newValue.anchorPosition
            duration = newValue.duration
            revision = newValue.revision
        }
    }

    public static let databaseTableName = "syncSession"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A classroom a session plays in.
struct SyncSessionTarget: Codable, FetchableRecord, PersistableRecord {
    var sessionId: Int64
    var classroomId: Int64
    static let databaseTableName = "syncSessionTarget"
}

/// One classroom's presence in one session, accumulated from its player's reports.
public struct SyncAttendance: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public var sessionId: Int64
    public var classroomId: Int64
    public var joinedAt: Date
    public var leftAt: Date?
    public var lastReportAt: Date?
    public var watchedSeconds: Double
    public var stallCount: Int
    public var stallSeconds: Double
    public var tierSeconds: [String: Double]
    public var lastTier: String?
    public var lastOffset: Double?

    public static let databaseTableName = "syncAttendance"
}

/// A raised hand or a short question from a classroom, shown to the hosts until answered.
public struct SyncQuestion: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Kind: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case hand, question
    }

    public var id: Int64?
    public var sessionId: Int64
    public var classroomId: Int64?
    public var personId: Int64
    public var kind: Kind
    public var text: String
    public var createdAt: Date
    public var answeredAt: Date?

    public static let databaseTableName = "syncQuestion"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
