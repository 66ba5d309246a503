import WebServing
import Catalog
import Foundation
import Hummingbird

/// Sign in and out: `POST /api/v1/sessions`, `DELETE /api/v1/sessions/current`, `GET /api/v1/me`.
struct SignInController {
    let authenticator: Authenticator
    let throttle: LoginThrottle

    struct Credentials: Decodable {
        var username: String
        var password: String
    }

    struct SessionResponse: ResponseEncodable {
        var token: String
        var expiresAt: Date
        var person: PersonResponse
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.post("sessions", use: create)
        routes.delete("sessions/current", use: delete)
        routes.get("me", use: me)
        return routes
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<SessionResponse> {
        let credentials = try await request.decodeJSON(as: Credentials.self, context: context)
        let username = credentials.username.trimmingCharacters(in: .whitespaces).lowercased()
        let keys = ["user:\(username)"] + (context.remoteAddress?.ipAddress.map { ["addr:\($0)"] } ?? [])
        if let wait = await throttle.retryAfter(keys) {
            throw APIError(
                .tooManyRequests, "too_many_attempts", "too many failed sign-ins; try again in \(Int(wait.rounded(.up))) s",
                headers: [.retryAfter: "\(Int(wait.rounded(.up)))"])
        }
        guard let (person, token, expiresAt) = try await authenticator.signIn(username: username, password: credentials.password) else {
            await throttle.fail(keys)
            throw APIError(.unauthorized, "invalid_credentials", "wrong username or password")
        }
        await throttle.succeed(keys)
        var response = EditedResponse(
            status: .created, response: SessionResponse(token: token, expiresAt: expiresAt, person: PersonResponse(person)))
        // The web pages use the same token as an HttpOnly cookie; API clients use the header.
        response.headers[.setCookie] =
            "\(AuthenticationMiddleware.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(authenticator.tokenLifetime))"
        return response
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.requirePerson()
        if let token = AuthenticationMiddleware.token(in: request) { try await authenticator.signOut(token: token) }
        return Response(
            status: .noContent, headers: [.setCookie: "\(AuthenticationMiddleware.cookieName)=; Path=/; HttpOnly; Max-Age=0"])
    }

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> PersonResponse {
        PersonResponse(try context.requirePerson())
    }
}

/// A person as the API shows them: never the password hash.
struct PersonResponse: ResponseEncodable, Equatable {
    var id: Int64
    var username: String
    var displayName: String
    var role: Person.Role
    var districtId: Int64?
    var schoolId: Int64?
    var classroomId: Int64?
    var mustChangePassword: Bool

    init(_ person: Person) {
        id = person.id ?? 0
        username = person.username
        displayName = person.displayName
        role = person.role
        districtId = person.districtId
        schoolId = person.schoolId
        classroomId = person.classroomId
        mustChangePassword = person.mustChangePassword
    }
}
