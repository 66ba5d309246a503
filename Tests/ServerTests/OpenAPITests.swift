import Foundation
import Logging
import TestSupport
import Testing
import Yams

@testable import Server

@Suite("OpenAPI document")
struct OpenAPITests {
    /// Every route the router serves is documented, and every documented operation is served.
    @Test("The document and the router agree")
    func documentMatchesRoutes() async throws {
        // The production wiring, on a fresh storage root.
        let server = try await TestServer.make(seed: false)
        defer { server.remove() }
        let router = buildRouter(try await AppServices.build(server.config, logger: Logger(label: "test")))
        let served = Set(
            router.routes.map { route -> String in
                var path = route.path.description
                if !path.hasPrefix("/") { path = "/" + path }
                if path.count > 1 && path.hasSuffix("/") { path.removeLast() }
                // Hummingbird writes parameters as :id, OpenAPI as {id}.
                path = path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : $0 == "**" ? "{file}" : String($0) }.joined(separator: "/")
                return "\(route.method.rawValue) \(path)"
            }
            // The document describes the API (and the public certificate files); the web pages and
            // their assets are not part of it.
            .filter {
                $0.contains(" /api/") || $0.contains(" /media/") || $0.contains(" /live/") || $0.contains(" /credentials/")
                    || $0.hasSuffix(" /healthz") || $0.hasSuffix(" /readyz")
                    || $0.hasSuffix(" /metrics")
            })
        let document = try #require(try Yams.load(yaml: String(decoding: PackageResources.openapi_yaml, as: UTF8.self)) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "patch", "delete", "head", "options"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}

@Suite("Methods")
struct MethodTests {
    @Test("A method a path does not have answers 405 with Allow; an unknown path stays 404")
    func methodNotAllowed() async throws {
        let server = try await TestServer.make(seed: false)
        defer { server.remove() }
        try await server.test { client in
            let put = try await client.execute(uri: "/api/v1/recordings", method: .put)
            #expect(put.status == .methodNotAllowed && put.headers[.allow] == "GET")
            #expect(put.error?.code == "method_not_allowed")
            let publish = try await client.execute(uri: "/api/v1/packs/7/publish", method: .delete)
            #expect(publish.status == .methodNotAllowed && publish.headers[.allow] == "GET, POST")
            let recording = try await client.execute(uri: "/api/v1/recordings/3", method: .post)
            #expect(recording.status == .methodNotAllowed && recording.headers[.allow] == "DELETE, GET, PATCH")
            let file = try await client.execute(uri: "/api/v1/packs/1/versions/2/files/a/b/c.m4s", method: .delete)
            #expect(file.status == .methodNotAllowed && file.headers[.allow] == "GET, HEAD")
            #expect(try await client.execute(uri: "/api/v1/nothing-here", method: .put).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/recordings/3/nothing", method: .get).status == .notFound)
        }
    }
}
