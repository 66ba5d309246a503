import Foundation
import Server
import TestSupport
import Testing

@Suite("Configuration")
struct ServerConfigTests {
    @Test("The file sets values, the environment overrides it, flags override both")
    func layering() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
            http:
              host: 0.0.0.0
              port: 8000
            storage:
              root: /srv/lessonlink
            uploads:
              quota: 5000
            """.write(to: file, atomically: true, encoding: .utf8)

        let fromFile = try await ServerConfig.load(file: file.path, environment: [:])
        #expect(fromFile.host == "0.0.0.0" && fromFile.port == 8000)
        #expect(fromFile.storageRoot == "/srv/lessonlink")
        #expect(fromFile.databasePath == "/srv/lessonlink/lessonlink.sqlite", "the database follows storage.root")
        #expect(fromFile.uploadQuota == 5000)
        #expect(fromFile.uploadMaxSize == 20 << 30, "unset keys keep their defaults")

        let fromEnvironment = try await ServerConfig.load(file: file.path, environment: ["HTTP_PORT": "9000"])
        #expect(fromEnvironment.port == 9000 && fromEnvironment.host == "0.0.0.0")

        let fromFlags = try await ServerConfig.load(
            file: file.path, arguments: ["--http-port", "9090", "--storage-root", "/tmp/x"], environment: ["HTTP_PORT": "9000"])
        #expect(fromFlags.port == 9090)
        #expect(fromFlags.storageRoot == "/tmp/x")
    }

    @Test("The shipped config/lessonlink.yaml reads to the documented defaults")
    func shipped() async throws {
        let config = try await ServerConfig.load(file: repositoryRoot.appendingPathComponent("config/lessonlink.yaml").path, environment: [:])
        #expect(config.host == "127.0.0.1" && config.port == 8080)
        #expect(config.storageRoot == "storage" && config.databasePath == "storage/lessonlink.sqlite")
        #expect(config.uploadMaxSize == 21_474_836_480)
        #expect(config.loginAttempts == 5 && config.bcryptCost == 12)
        #expect(config.transcodeNice == 15)
    }

    @Test("Each worker process names itself uniquely; niceness stays within 0-19")
    func workerIdentity() async throws {
        // Two workers started on one host (or one restarted) never share a lease owner.
        let first = ServerConfig(), second = ServerConfig()
        #expect(first.transcodeNode != second.transcodeNode)
        #expect(first.transcodeNode.hasPrefix(ProcessInfo.processInfo.hostName + "-"))
        // A stable name can still be given, for a worker that should re-take its own jobs at start.
        let named = try await ServerConfig.load(file: "/nonexistent.yaml", arguments: ["--transcode-node", "bureau-1"], environment: [:])
        #expect(named.transcodeNode == "bureau-1")
        let loud = try await ServerConfig.load(file: "/nonexistent.yaml", arguments: ["--transcode-nice", "40"], environment: [:])
        #expect(loud.transcodeNice == 19 && loud.mediaChildren.nice == 19)
    }
}
