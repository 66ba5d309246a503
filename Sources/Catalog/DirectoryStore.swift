import Foundation
import GRDB

/// Reads the county's structure for pickers and scopes: districts, schools, classrooms, textbook
/// volumes and their lessons, people.
public struct DirectoryStore: Sendable {
    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    public func districts() async throws -> [District] {
        try await database.read { db in try District.order(District.Columns.name).fetchAll(db) }
    }

    /// Schools by district, lead school first; only one district's when `district` is given.
    public func schools(district: Int64? = nil) async throws -> [School] {
        try await database.read { db in
            var query = School.order(School.Columns.districtId, School.Columns.kind, School.Columns.name)
            if let district { query = query.filter(School.Columns.districtId == district) }
            return try query.fetchAll(db)
        }
    }

    public func classrooms(school: Int64? = nil) async throws -> [Classroom] {
        try await database.read { db in
            var query = Classroom.order(Column("schoolId"), Column("name"))
            if let school { query = query.filter(Classroom.Columns.schoolId == school) }
            return try query.fetchAll(db)
        }
    }

    public func classroom(_ id: Int64) async throws -> Classroom? {
        try await database.read { db in try Classroom.fetchOne(db, key: id) }
    }

    public func volumes() async throws -> [TextbookVolume] {
        try await database.read { db in
            try TextbookVolume.order(TextbookVolume.Columns.subject, TextbookVolume.Columns.grade).fetchAll(db)
        }
    }

    /// A volume and its lessons in textbook order.
    public func volume(_ id: Int64) async throws -> (TextbookVolume, [TextbookLesson])? {
        try await database.read { db in
            guard let volume = try TextbookVolume.fetchOne(db, key: id) else { return nil }
            let lessons = try TextbookLesson.filter(TextbookLesson.Columns.volumeId == id)
                .order(TextbookLesson.Columns.position).fetchAll(db)
            return (volume, lessons)
        }
    }

    /// The people `viewer` may list: everyone for admins and reviewers, their district for a
    /// coordinator, their school for a teacher, themselves for a classroom account.
    public func people(visibleTo viewer: Viewer) async throws -> [Person] {
        try await database.read { db in
            var query = Person.order(Person.Columns.username)
            switch viewer.role {
            case .admin, .reviewer: break
            case .coordinator: query = query.filter(Person.Columns.districtId == viewer.districtId ?? -1)
            case .teacher: query = query.filter(Person.Columns.schoolId == viewer.schoolId ?? -1)
            case .classroom: query = query.filter(key: viewer.personId)
            }
            return try query.fetchAll(db)
        }
    }
}

extension DirectoryStore {
    /// Renames a person and re-indexes their recordings in the same transaction, so search by
    /// teacher finds the new name (and no longer the old one) at once. False when no such user.
    @discardableResult
    public func rename(person username: String, to displayName: String) async throws -> Bool {
        try await database.write { db in
            guard var person = try Person.filter(Person.Columns.username == username).fetchOne(db) else { return false }
            person.displayName = displayName
            try person.update(db)
            for id in try Int64.fetchAll(db, sql: "SELECT id FROM recording WHERE teacherId = ?", arguments: [person.id]) {
                try RecordingStore.reindex(id, db)
            }
            return true
        }
    }

    /// Renames a school and re-indexes its recordings in the same transaction. False when no such school.
    @discardableResult
    public func rename(school id: Int64, to name: String) async throws -> Bool {
        try await database.write { db in
            guard var school = try School.fetchOne(db, key: id) else { return false }
            school.name = name
            try school.update(db)
            for recording in try Int64.fetchAll(db, sql: "SELECT id FROM recording WHERE schoolId = ?", arguments: [id]) {
                try RecordingStore.reindex(recording, db)
            }
            return true
        }
    }
}
