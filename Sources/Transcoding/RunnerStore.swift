import Catalog
import Crypto
import Foundation
import GRDB

/// A transcoding runner on another machine: it holds a token of its own (stored here only as a
/// SHA-256), and its record keeps what the admin page shows — last contact, jobs done, failures,
/// and the speed it has measured (media seconds per wall second).
public struct Runner: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var name: String
    var tokenHash: String
    public var createdAt: Date
    public var lastContactAt: Date?
    public var revokedAt: Date?
    public var jobsDone: Int
    public var failures: Int
    /// Seconds of media transcoded, and the wall seconds it took (upload and verification included).
    public var mediaSeconds: Double
    public var workSeconds: Double

    /// Media seconds per wall second: 2.0 means two hours of lessons an hour.
    public var speed: Double? { workSeconds > 0 ? mediaSeconds / workSeconds : nil }

    public static let databaseTableName = "runner"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Why a runner's call is refused.
public enum RunnerError: Error, Equatable, Sendable {
    /// No such token, a revoked runner, or a registration token used or expired.
    case unauthorized(String)
    /// The job is not this runner's (never leased by it, or its lease was lost).
    case notYourJob(Int64)
    /// The job was taken by another runner first, or is no longer queued.
    case taken(Int64)
    /// What the runner sent does not hold together: the file, and why.
    case badResult(String)
    /// A request that cannot be right whatever the job's state (a result file name outside the job).
    case invalid(String)
    case notFound(String)
    /// The result is fine but could not be put where media lives (the object store); the runner
    /// reports success again later and nothing it sent is lost.
    case storage(String)
}

/// Runners and their registration tokens: `runner` and `runnerRegistration` tables.
public struct RunnerStore: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    /// Migration "v11 runners".
    public static let migrations: [AppDatabase.Migration] = [
        .init("v11 runners") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runner (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        name TEXT NOT NULL,
                        tokenHash TEXT NOT NULL UNIQUE,
                        createdAt DATETIME NOT NULL,
                        lastContactAt DATETIME,
                        revokedAt DATETIME,
                        jobsDone INTEGER NOT NULL DEFAULT 0,
                        failures INTEGER NOT NULL DEFAULT 0,
                        mediaSeconds REAL NOT NULL DEFAULT 0,
                        workSeconds REAL NOT NULL DEFAULT 0
                    );
                    CREATE TABLE runnerRegistration (
                        tokenHash TEXT PRIMARY KEY,
                        createdAt DATETIME NOT NULL,
                        expiresAt DATETIME NOT NULL,
                        usedAt DATETIME,
                        runnerId INTEGER REFERENCES runner(id)
                    );
                    """)
        }
    ]

    /// A one-time registration token for a new runner, valid `lifetime` seconds.
    public func createRegistration(lifetime: TimeInterval = 7 * 24 * 3600, now: Date = Date()) async throws -> String {
        let token = "llr_" + Self.randomToken()
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO runnerRegistration (tokenHash, createdAt, expiresAt) VALUES (?, ?, ?)",
                arguments: [Self.hash(token), now, now.addingTimeInterval(lifetime)])
        }
        return token
    }

    /// Spends a registration token on a new runner; returns it with its own token (shown once).
    public func register(registrationToken: String, name: String, now: Date = Date()) async throws -> (Runner, String) {
        let token = "lrt_" + Self.randomToken()
        let hash = Self.hash(registrationToken)
        let runner = try await database.write { db -> Runner? in
            guard let row = try Row.fetchOne(db, sql: "SELECT expiresAt, usedAt FROM runnerRegistration WHERE tokenHash = ?", arguments: [hash]),
                row["usedAt"] as Date? == nil, let expires = row["expiresAt"] as Date?, expires > now
            else { return nil }
            var runner = Runner(
                id: nil, name: name, tokenHash: Self.hash(token), createdAt: now, lastContactAt: now, revokedAt: nil, jobsDone: 0, failures: 0,
                mediaSeconds: 0, workSeconds: 0)
            try runner.insert(db)
            try db.execute(sql: "UPDATE runnerRegistration SET usedAt = ?, runnerId = ? WHERE tokenHash = ?", arguments: [now, runner.id, hash])
            return runner
        }
        guard let runner else { throw RunnerError.unauthorized("this registration token is unknown, used or expired; ask an admin for a new one") }
        return (runner, token)
    }

    /// The runner a token belongs to, unless revoked; its last contact becomes now.
    public func authenticate(token: String, now: Date = Date()) async throws -> Runner {
        let hash = Self.hash(token)
        let runner = try await database.write { db -> Runner? in
            guard var runner = try Runner.filter(Column("tokenHash") == hash).fetchOne(db) else { return nil }
            if runner.revokedAt != nil { return runner }
            runner.lastContactAt = now
            try runner.update(db)
            return runner
        }
        guard let runner else { throw RunnerError.unauthorized("unknown runner token") }
        guard runner.revokedAt == nil else { throw RunnerError.unauthorized("runner \(runner.name) was revoked by an admin") }
        return runner
    }

    /// Revokes a runner: its next call is refused, and the jobs it holds go back to the queue.
    public func revoke(_ id: Int64, now: Date = Date()) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "UPDATE runner SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL", arguments: [now, id])
            guard db.changesCount == 1 else { return false }
            try db.execute(
                sql: """
                    UPDATE transcodeJob SET state = 'queued', leaseOwner = NULL, leaseExpiresAt = NULL,
                        lastError = 'its runner was revoked'
                    WHERE state = 'running' AND leaseOwner LIKE ?
                    """, arguments: [RunnerJobs.ownerPrefix(id) + "%"])
            return true
        }
    }

    public func list() async throws -> [Runner] {
        try await database.read { db in try Runner.order(Column("id")).fetchAll(db) }
    }

    /// The queue against the runners: media seconds waiting, the measured speed of the runners not
    /// revoked together, and the time they take to drain it (nil until one has a speed).
    public func drain(_ queue: JobQueue) async throws -> (waiting: Double, speed: Double, seconds: Double?) {
        let waiting = try await queue.pendingMediaSeconds()
        let speed = try await list().filter { $0.revokedAt == nil }.compactMap(\.speed).reduce(0, +)
        return (waiting, speed, speed > 0 ? waiting / speed : nil)
    }

    func recordSuccess(_ id: Int64, mediaSeconds: Double, workSeconds: Double) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE runner SET jobsDone = jobsDone + 1, mediaSeconds = mediaSeconds + ?, workSeconds = workSeconds + ? WHERE id = ?",
                arguments: [mediaSeconds, workSeconds, id])
        }
    }

    func recordFailure(_ id: Int64) async throws {
        try await database.write { db in try db.execute(sql: "UPDATE runner SET failures = failures + 1 WHERE id = ?", arguments: [id]) }
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
