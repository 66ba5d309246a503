import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import TestSupport
import Testing

/// A server on a fresh storage root, with the demo county loaded (bcrypt cost 4 so sign-ins are quick).
struct TestServer {
    let config: ServerConfig
    let root: URL

    static func make(_ adjust: (inout ServerConfig) -> Void = { _ in }, seed: Bool = true) async throws -> TestServer {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var config = ServerConfig()
        config.storageRoot = root.path
        config.databasePath = root.appendingPathComponent("lessonlink.sqlite").path
        config.port = 0
        config.bcryptCost = 4
        config.ladderPath = repositoryRoot.appendingPathComponent("config/ladder.yaml").path
        // Tests that transcode turn the worker on (`withWorker`); the others see jobs stay queued.
        config.runsWorker = false
        config.transcodeExecutable = try lessonlinkBinary().path
        adjust(&config)
        if seed {
            let database = try config.openDatabase()
            let county = try DemoCounty.load(path: repositoryRoot.appendingPathComponent("config/demo-county.yaml").path)
            _ = try await county.seed(into: database, passwordHash: try await Bootstrap.hash(DemoCounty.password, config: config))
        }
        return TestServer(config: config, root: root)
    }

    /// Worker settings for tests: quick polls, short leases and back-offs.
    static func withWorker(_ config: inout ServerConfig) {
        config.runsWorker = true
        config.transcodePoll = 0.1
        config.transcodeLease = 3
        config.transcodeRetryDelay = 0.2
        config.transcodeThreads = 2
    }

    func database() throws -> AppDatabase { try config.openDatabase() }

    /// Runs `body` against the real application, in memory (no socket).
    func test<Value>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = try await buildApplication(config)
        return try await app.test(.router, body)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

struct SessionToken: Decodable {
    var token: String
}

struct ErrorBody: Decodable {
    struct Detail: Decodable {
        var code: String
        var message: String
    }
    var error: Detail
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(buffer: body))
    }

    /// The JSON error body every failure must carry.
    var error: ErrorBody.Detail? { (try? decode(ErrorBody.self))?.error }
}

extension TestClientProtocol {
    /// Signs in and returns the bearer token.
    func signIn(_ username: String, password: String = DemoCounty.password) async throws -> String {
        let body = try JSONEncoder().encode(["username": username, "password": password])
        return try await execute(uri: "/api/v1/sessions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(data: body)) { response in
            #expect(response.status == .created)
            return try response.decode(SessionToken.self).token
        }
    }

    func get(_ uri: String, token: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: uri, method: .get, headers: headers)
    }
}

/// A small real recording made by the ffmpeg CLI (tests only), with sound.
func makeClip(seconds: Int = 2, tone: Int = 440, size: String = "320x240", faststart: Bool = false) throws -> Data {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("clip-\(UUID().uuidString).mp4").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try runTool(
        "ffmpeg",
        [
            "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25:duration=\(seconds)",
            "-f", "lavfi", "-i", "sine=frequency=\(tone):duration=\(seconds)", "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
        ] + (faststart ? ["-movflags", "+faststart"] : []) + [path])
    return try Data(contentsOf: URL(fileURLWithPath: path))
}
