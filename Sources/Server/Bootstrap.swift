import Catalog
import Foundation
import GRDB
import Logging

/// Accounts created outside the web: the first admin, and `lessonlink user …`.
public enum Bootstrap {
    /// With no person in the database, creates `admin` with a random one-time password and returns
    /// it (to be printed once); otherwise nil.
    static func createFirstAdmin(database: AppDatabase, authenticator: Authenticator) async throws -> String? {
        let empty = try await database.read { db in try Person.fetchCount(db) == 0 }
        guard empty else { return nil }
        let password = String(Authenticator.newToken().prefix(16))
        let hash = try await authenticator.hashPassword(password)
        let created = try await database.write { db -> Bool in
            guard try Person.fetchCount(db) == 0 else { return false }
            var admin = Person(
                username: "admin", displayName: "County administrator", role: .admin, passwordHash: hash,
                mustChangePassword: true)
            try admin.insert(db)
            return true
        }
        return created ? password : nil
    }

    /// Hands the first admin's one-time password to whoever runs the server, however it runs: on
    /// standard output, flushed at once (a service manager's log file is block-buffered and would
    /// hold it until the server stops), and in `secrets/initial-admin-password` (mode 0600), which
    /// goes when the password is changed — the way GitLab hands out its first root password.
    static func announceFirstAdmin(password: String, layout: StorageLayout, logger: Logger) {
        let path = layout.initialAdminPassword
        try? FileManager.default.createDirectory(atPath: layout.secrets, withIntermediateDirectories: true)
        let written = FileManager.default.createFile(
            atPath: path, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        // Written straight to the descriptor: `print` would sit in stdio's buffer.
        let line = "LessonLink: created user 'admin' with one-time password \(password) — sign in and change it.\n"
        _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        let place = written ? " and in \(path) until it is changed" : ""
        logger.notice("created the first admin account; its one-time password is on standard output\(place)", metadata: ["username": "admin"])
    }

    /// Adds a person; the scope fields must match the role (a teacher needs a school…).
    public static func addUser(
        config: ServerConfig, username: String, displayName: String, role: Person.Role, password: String,
        district: Int64? = nil, school: Int64? = nil, classroom: Int64? = nil
    ) async throws -> Person {
        let database = try config.openDatabase()
        let hash = try await authenticator(database, config).hashPassword(password)
        return try await database.write { db in
            var districtId = district
            var schoolId = school
            if let classroom {
                guard let room = try Classroom.fetchOne(db, key: classroom) else { throw CatalogError.notFound("classroom \(classroom)") }
                schoolId = room.schoolId
            }
            if let schoolId {
                guard let found = try School.fetchOne(db, key: schoolId) else { throw CatalogError.notFound("school \(schoolId)") }
                districtId = found.districtId
            }
            switch role {
            case .teacher where schoolId == nil: throw CatalogError.conflict("a teacher needs --school")
            case .classroom where classroom == nil: throw CatalogError.conflict("a classroom account needs --classroom")
            case .coordinator where districtId == nil: throw CatalogError.conflict("a coordinator needs --district")
            default: break
            }
            if try Person.filter(Person.Columns.username == username).fetchCount(db) > 0 {
                throw CatalogError.conflict("username '\(username)' is taken")
            }
            var person = Person(
                username: username, displayName: displayName, role: role, districtId: districtId, schoolId: schoolId,
                classroomId: classroom, passwordHash: hash)
            try person.insert(db)
            return person
        }
    }

    public static func setPassword(config: ServerConfig, username: String, password: String) async throws {
        let database = try config.openDatabase()
        let hash = try await authenticator(database, config).hashPassword(password)
        try await database.write { db in
            guard var person = try Person.filter(Person.Columns.username == username).fetchOne(db) else {
                throw CatalogError.notFound("user '\(username)'")
            }
            person.passwordHash = hash
            person.mustChangePassword = false
            try person.update(db)
            // A new password signs the person out everywhere.
            try AuthSession.filter(AuthSession.Columns.personId == person.id).deleteAll(db)
        }
        // The one-time password is no longer the admin's: it must not lie around.
        if username == "admin" { try? FileManager.default.removeItem(atPath: config.layout.initialAdminPassword) }
    }

    /// A new session token for `username` lasting `lifetime` seconds: how a school's mirror or a
    /// classroom screen signs in without a password typed on it. Changing the password revokes it.
    public static func issueToken(config: ServerConfig, username: String, lifetime: TimeInterval) async throws -> String {
        let database = try config.openDatabase()
        let token = Authenticator.newToken()
        try await database.write { db in
            guard let person = try Person.filter(Person.Columns.username == username).fetchOne(db), !person.disabled else {
                throw CatalogError.notFound("user '\(username)'")
            }
            var session = AuthSession(
                tokenHash: Authenticator.tokenHash(token), personId: person.id!, createdAt: Date(), expiresAt: Date().addingTimeInterval(lifetime))
            try session.insert(db)
        }
        return token
    }

    public static func listUsers(config: ServerConfig) async throws -> [Person] {
        let database = try config.openDatabase()
        return try await database.read { db in try Person.order(Person.Columns.username).fetchAll(db) }
    }

    /// A bcrypt hash at the configured cost.
    public static func hash(_ password: String, config: ServerConfig) async throws -> String {
        try await Authenticator(database: try AppDatabase.inMemory(), tokenLifetime: 0, bcryptCost: config.bcryptCost)
            .hashPassword(password)
    }

    static func authenticator(_ database: AppDatabase, _ config: ServerConfig) -> Authenticator {
        Authenticator(database: database, tokenLifetime: config.tokenLifetime, bcryptCost: config.bcryptCost)
    }
}
