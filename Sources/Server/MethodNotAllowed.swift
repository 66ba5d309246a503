import WebServing
import Hummingbird
import HTTPTypes
import Synchronization

/// Answers a request for a path that exists, with a method it does not have, with
/// 405 Method Not Allowed and `Allow` (RFC 9110 §15.5.6), instead of the router's 404.
///
/// The route table is read from the router once every route is added (`load`), so the list of
/// methods always matches what is served.
final class RouteMethods: Sendable {
    private let routes = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    /// Takes the router's routes as Hummingbird describes them (`/api/v1/packs/{id}`, `/media/**`).
    func load(_ table: [(path: String, method: HTTPRequest.Method)]) {
        routes.withLock { routes in
            routes = table.map { (Self.segments($0.path), $0.method) }
        }
    }

    /// The methods served at `path`, sorted; empty when no route matches it at all.
    func methods(for path: String) -> [String] {
        let parts = Self.segments(path)
        let matching = routes.withLock { routes in
            routes.filter { Self.matches($0.segments, parts) }.map(\.method.rawValue)
        }
        return Set(matching).sorted()
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
    }

    /// `{name}`, `:name` and `*` match one segment, `**` one or more.
    private static func matches(_ pattern: [Substring], _ parts: [Substring]) -> Bool {
        var index = 0
        for (position, segment) in pattern.enumerated() {
            if segment == "**" { return parts.count > position }
            guard index < parts.count else { return false }
            let capture = segment.hasPrefix(":") || (segment.hasPrefix("{") && segment.hasSuffix("}")) || segment == "*"
            if !(capture || segment == parts[index]) { return false }
            index += 1
        }
        return index == parts.count
    }
}

/// Turns the router's 404 for a known path into 405 with `Allow`.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let methods: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = methods.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            let allow = allowed.joined(separator: ", ")
            throw APIError(
                .methodNotAllowed, "method_not_allowed", "\(request.uri.path) answers \(allow), not \(request.method.rawValue)",
                headers: [.allow: allow])
        }
    }
}
