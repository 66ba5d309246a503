import WebServing
import Catalog
import Crypto
import Foundation
import GRDB
import Hummingbird
import HummingbirdBcrypt
import NIOPosix

/// Passwords, bearer tokens and sessions.
struct Authenticator: Sendable {
    let database: AppDatabase
    let tokenLifetime: TimeInterval
    let bcryptCost: Int
    var sessions: SignInStore { SignInStore(database: database) }

    /// A new opaque bearer token: 32 random bytes, base64url.
    static func newToken() -> String { Data.randomToken() }

    static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    func hashPassword(_ password: String) async throws -> String {
        let cost = UInt8(clamping: bcryptCost)
        // bcrypt is deliberately slow (~0.25 s at cost 12): keep it off the event loops.
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async -> Bool {
        (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
    }

    /// Checks a username and password; returns the person and a new session token.
    func signIn(username: String, password: String) async throws -> (Person, token: String, expiresAt: Date)? {
        let person = try await sessions.person(username: username)
        // Verify against a real hash even for unknown users, so timing does not reveal who exists.
        let hash = person?.passwordHash ?? "$2b$12$C6UzMDM.H6dfI/f/IKxGhuJZFLnC0pG7b0s5ZgkP3PBqo/hUAvMGi"
        guard await verify(password, hash: hash), let person, !person.disabled else { return nil }
        let token = Self.newToken()
        let now = Date()
        let expiresAt = now.addingTimeInterval(tokenLifetime)
        try await sessions.open(tokenHash: Self.tokenHash(token), for: person, at: now, until: expiresAt)
        return (person, token, expiresAt)
    }

    /// The person a token belongs to, if the session is live.
    func person(forToken token: String) async throws -> Person? {
        try await sessions.person(tokenHash: Self.tokenHash(token))
    }

    func signOut(token: String) async throws {
        try await sessions.close(tokenHash: Self.tokenHash(token))
    }

    /// Forgets sessions past their expiry.
    func sweepSessions(now: Date = Date()) async throws {
        try await sessions.sweep(now: now)
    }
}

/// Reads `Authorization: Bearer <token>` (or the web pages' `lessonlink_session` cookie) and puts
/// the signed-in person on the context. Requests without a valid token continue anonymously;
/// handlers that need a person call `requirePerson()`.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let authenticator: Authenticator

    static let cookieName = "lessonlink_session"

    static func token(in request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]) }
            return nil
        }
        return request.cookies[cookieName]?.value
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let token = Self.token(in: request), token.count <= 128 {
            context.person = try await authenticator.person(forToken: token)
            if context.person == nil { throw APIError(.unauthorized, "invalid_token", "the token is invalid or has expired; sign in again") }
        }
        return try await next(request, context)
    }
}

/// Counts failed sign-ins per username and per address; past the limit, sign-in is refused with
/// 429 until the window has passed, which makes guessing passwords impractical.
actor LoginThrottle {
    let limit: Int
    let window: TimeInterval
    private var failures: [String: [Date]] = [:]

    init(limit: Int, window: TimeInterval) {
        self.limit = limit
        self.window = window
    }

    /// Seconds until `keys` may try again, or nil when they may try now.
    func retryAfter(_ keys: [String], now: Date = Date()) -> TimeInterval? {
        var wait: TimeInterval = 0
        for key in keys {
            let recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < window }
            failures[key] = recent.isEmpty ? nil : recent
            if recent.count >= limit, let oldest = recent.first {
                wait = max(wait, window - now.timeIntervalSince(oldest))
            }
        }
        return wait > 0 ? wait : nil
    }

    func fail(_ keys: [String], now: Date = Date()) {
        for key in keys { failures[key, default: []].append(now) }
    }

    func succeed(_ keys: [String]) {
        for key in keys { failures[key] = nil }
    }
}
