import Foundation
import GRDB

/// Signed-in sessions and the people they belong to. Tokens are kept only as hashes.
public struct SignInStore: Sendable {
    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    public func person(username: String) async throws -> Person? {
        try await database.read { db in try Person.filter(Person.Columns.username == username).fetchOne(db) }
    }

    /// Records a new session for `person` under the hash of its token.
    public func open(tokenHash: String, for person: Person, at now: Date, until expiresAt: Date) async throws {
        try await database.write { db in
            var session = AuthSession(tokenHash: tokenHash, personId: person.id!, createdAt: now, expiresAt: expiresAt)
            try session.insert(db)
        }
    }

    /// The enabled person whose live session has this token hash.
    public func person(tokenHash: String, at now: Date = Date()) async throws -> Person? {
        try await database.read { db in
            try Person.fetchOne(
                db,
                sql: """
                    SELECT person.* FROM authSession JOIN person ON person.id = authSession.personId
                    WHERE authSession.tokenHash = ? AND authSession.expiresAt > ? AND person.disabled = 0
                    """, arguments: [tokenHash, now])
        }
    }

    public func close(tokenHash: String) async throws {
        _ = try await database.write { db in
            try AuthSession.filter(AuthSession.Columns.tokenHash == tokenHash).deleteAll(db)
        }
    }

    /// Forgets sessions past their expiry.
    public func sweep(now: Date = Date()) async throws {
        _ = try await database.write { db in
            try AuthSession.filter(AuthSession.Columns.expiresAt < now).deleteAll(db)
        }
    }
}
