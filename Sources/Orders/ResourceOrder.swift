import Foundation
import GRDB

/// 点单: what a member school asks for, and where it stands.
public struct ResourceOrder: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Format: String, Codable, Sendable, CaseIterable {
        /// Whole recorded lessons.
        case lessons
        /// A resource pack with notes localized for the school.
        case pack
        /// A synchronized session (同步课堂).
        case session
    }

    public var id: Int64?
    public var schoolId: Int64
    public var districtId: Int64
    public var placedBy: Int64
    public var volumeId: Int64?
    public var topic: String?
    public var grade: Int
    public var classes: Int
    /// 学情: what the teacher says of the pupils.
    public var pupils: String
    public var format: Format
    /// `YYYY-MM-DD`.
    public var neededBy: String
    public var state: OrderState
    public var leadSchoolId: Int64?
    /// `YYYY-MM-DD`, set at dispatch.
    public var dueOn: String?
    public var responsibleTeacherId: Int64?
    public var reworkUsed: Bool
    public var ratingFit: Int?
    public var ratingQuality: Int?
    public var ratingTimeliness: Int?
    public var ratingComment: String?
    public var placedAt: Date
    public var dispatchedAt: Date?
    public var deliveredAt: Date?
    public var ratedAt: Date?
    public var reminderSentAt: Date?
    public var updatedAt: Date

    public init(
        schoolId: Int64, districtId: Int64, placedBy: Int64, volumeId: Int64?, topic: String?, grade: Int, classes: Int, pupils: String,
        format: Format, neededBy: String, state: OrderState, reworkUsed: Bool = false, placedAt: Date, updatedAt: Date
    ) {
        self.schoolId = schoolId
        self.districtId = districtId
        self.placedBy = placedBy
        self.volumeId = volumeId
        self.topic = topic
        self.grade = grade
        self.classes = classes
        self.pupils = pupils
        self.format = format
        self.neededBy = neededBy
        self.state = state
        self.reworkUsed = reworkUsed
        self.placedAt = placedAt
        self.updatedAt = updatedAt
    }

    public static let databaseTableName = "resourceOrder"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The date the order is late after: the dispatch's due date, or before dispatch the date the
    /// school needs it by.
    public var deadline: String { dueOn ?? neededBy }

    /// Past its deadline and not yet delivered (a flag, not a state).
    public func isOverdue(today: String) -> Bool { !state.isClosed && deadline < today }
}

/// One step of an order's history (append-only: a trigger refuses updates).
public struct OrderEvent: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var orderId: Int64
    public var action: String
    public var fromState: OrderState?
    public var toState: OrderState
    public var personId: Int64
    public var reason: String
    public var at: Date

    public init(orderId: Int64, action: String, fromState: OrderState?, toState: OrderState, personId: Int64, reason: String, at: Date) {
        self.orderId = orderId
        self.action = action
        self.fromState = fromState
        self.toState = toState
        self.personId = personId
        self.reason = reason
        self.at = at
    }

    public static let databaseTableName = "resourceOrderEvent"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A file the school attached (a photo of the timetable, a worksheet).
public struct OrderAttachment: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var orderId: Int64
    public var name: String
    public var contentType: String
    public var size: Int64
    public var sha256: String
    public var addedBy: Int64
    public var at: Date

    public static let databaseTableName = "resourceOrderAttachment"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
