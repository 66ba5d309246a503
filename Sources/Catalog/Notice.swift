import Foundation
import GRDB

/// A message for a person, or for everyone of a school (the school's notice board): a credit
/// granted, an order waiting. Shown on the pages and at `GET /api/v1/notifications`.
public struct Notice: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    /// For one person…
    public var personId: Int64?
    /// …or for a school's people.
    public var schoolId: Int64?
    /// What happened, as a short machine-readable word (`credit.granted`).
    public var kind: String
    public var text: String
    /// The page it is about.
    public var link: String?
    public var createdAt: Date
    /// When its person read it (personal notifications only).
    public var readAt: Date?

    public init(personId: Int64? = nil, schoolId: Int64? = nil, kind: String, text: String, link: String?, at now: Date) {
        self.personId = personId
        self.schoolId = schoolId
        self.kind = kind
        self.text = text
        self.link = link
        self.createdAt = now
    }

    public static let databaseTableName = "notification"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Writing and reading notifications; writes join the caller's transaction, so a notice exists
/// exactly when what it announces does.
public enum Notices {
    public static let migrations: [AppDatabase.Migration] = [
        AppDatabase.Migration("v8 notifications") { db in
            try db.execute(
                sql: """
                    CREATE TABLE notification (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        personId INTEGER REFERENCES person(id) ON DELETE CASCADE,
                        schoolId INTEGER REFERENCES school(id),
                        kind TEXT NOT NULL,
                        text TEXT NOT NULL,
                        link TEXT,
                        createdAt DATETIME NOT NULL,
                        readAt DATETIME,
                        CHECK (personId IS NOT NULL OR schoolId IS NOT NULL)
                    );
                    CREATE INDEX notification_person ON notification(personId, id);
                    CREATE INDEX notification_school ON notification(schoolId, id);
                    """)
        }
    ]

    /// Notifies each person once and each school once.
    public static func send(
        kind: String, text: String, link: String?, people: [Int64], schools: [Int64] = [], at now: Date, _ db: Database
    ) throws {
        for personId in Set(people) {
            var notice = Notice(personId: personId, kind: kind, text: text, link: link, at: now)
            try notice.insert(db)
        }
        for schoolId in Set(schools) {
            var notice = Notice(schoolId: schoolId, kind: kind, text: text, link: link, at: now)
            try notice.insert(db)
        }
    }

    /// The coordinators of a school's district.
    public static func coordinators(ofSchool schoolId: Int64, _ db: Database) throws -> [Int64] {
        try Int64.fetchAll(
            db,
            sql: "SELECT p.id FROM person p JOIN school s ON s.districtId = p.districtId WHERE s.id = ? AND p.role = 'coordinator'",
            arguments: [schoolId])
    }

    /// A person's notifications and their school's, newest first.
    public static func list(for person: Person, limit: Int = 100, _ db: Database) throws -> [Notice] {
        try Notice.fetchAll(
            db, sql: "SELECT * FROM notification WHERE personId = ? OR schoolId = ? ORDER BY id DESC LIMIT ?",
            arguments: [person.id, person.schoolId ?? -1, limit])
    }

    /// Marks a person's own notification read; false when it is not theirs.
    public static func markRead(_ id: Int64, by person: Person, at now: Date, _ db: Database) throws -> Bool {
        try db.execute(
            sql: "UPDATE notification SET readAt = COALESCE(readAt, ?) WHERE id = ? AND personId = ?", arguments: [now, id, person.id])
        return db.changesCount > 0
    }
}
