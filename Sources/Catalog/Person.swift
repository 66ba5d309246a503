import Foundation
import GRDB

/// Someone (or a classroom screen) who signs in.
public struct Person: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    /// What a person may do; the scope (district, school) comes from the person's own fields.
    public enum Role: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        /// County administrator: everything.
        case admin
        /// District coordinator: acts inside their district.
        case coordinator
        /// Teacher at a school: their own recordings.
        case teacher
        /// A classroom screen's device account: read only.
        case classroom
        /// County or city teaching-research reviewer.
        case reviewer
    }

    public var id: Int64?
    public var username: String
    public var displayName: String
    public var role: Role
    public var districtId: Int64?
    public var schoolId: Int64?
    public var classroomId: Int64?
    /// bcrypt hash; never leaves the server.
    public var passwordHash: String
    public var mustChangePassword: Bool
    public var disabled: Bool
    public var createdAt: Date

    public init(
        id: Int64? = nil, username: String, displayName: String, role: Role, districtId: Int64? = nil,
        schoolId: Int64? = nil, classroomId: Int64? = nil, passwordHash: String, mustChangePassword: Bool = false,
        disabled: Bool = false, createdAt: Date = Date()
    ) {
        self.id = id
        self.username = username
        self.displayName = displayName
        self.role = role
        self.districtId = districtId
        self.schoolId = schoolId
        self.classroomId = classroomId
        self.passwordHash = passwordHash
        self.mustChangePassword = mustChangePassword
        self.disabled = disabled
        self.createdAt = createdAt
    }

    public static let databaseTableName = "person"
    public enum Columns {
        public static let username = Column(CodingKeys.username)
        public static let role = Column(CodingKeys.role)
        public static let schoolId = Column(CodingKeys.schoolId)
        public static let districtId = Column(CodingKeys.districtId)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A signed-in session. Only the SHA-256 of the bearer token is stored, so a copy of the database
/// does not let anyone sign in.
public struct AuthSession: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var tokenHash: String
    public var personId: Int64
    public var createdAt: Date
    public var expiresAt: Date

    public init(id: Int64? = nil, tokenHash: String, personId: Int64, createdAt: Date, expiresAt: Date) {
        self.id = id
        self.tokenHash = tokenHash
        self.personId = personId
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public static let databaseTableName = "authSession"
    public enum Columns {
        public static let tokenHash = Column(CodingKeys.tokenHash)
        public static let personId = Column(CodingKeys.personId)
        public static let expiresAt = Column(CodingKeys.expiresAt)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
