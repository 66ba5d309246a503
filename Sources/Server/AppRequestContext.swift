import WebServing
import Catalog
import Hummingbird
import NIOCore

/// Per-request state: who is signed in (set by `AuthenticationMiddleware`) and where the request
/// came from (for login throttling).
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The signed-in person, if the request carried a valid token.
    public var person: Person?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// JSON bodies are small; uploads stream through tus and never hit this limit.
    public var maxUploadSize: Int { 1 << 20 }

    /// The signed-in person, or 401.
    func requirePerson() throws(APIError) -> Person {
        guard let person else { throw APIError.unauthenticated }
        return person
    }

    var viewer: Viewer? { person.map(Viewer.init) }

    /// The path parameter `name` as a row id. Anything else answers 404 naming `what`: an id that
    /// cannot exist is as absent as one that does not.
    func rowId(_ name: String = "id", of what: String) throws(APIError) -> Int64 {
        guard let text = parameters.get(name), let id = Int64(text), id > 0 else { throw APIError.notFound(what) }
        return id
    }
}
