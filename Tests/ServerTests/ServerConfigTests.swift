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
        // Relative paths in the file are read from its folder: ../storage is the repository's storage/.
        let root = repositoryRoot.appendingPathComponent("storage").standardizedFileURL.path
        #expect(config.storageRoot == root && config.databasePath == "\(root)/lessonlink.sqlite")
        #expect(config.ladderPath == repositoryRoot.appendingPathComponent("config/ladder.yaml").standardizedFileURL.path)
        #expect(config.rubricPath == repositoryRoot.appendingPathComponent("config/review-rubric.yaml").standardizedFileURL.path)
        #expect(config.backupFolder == nil && config.backupSchedule == TimeOfDay("02:00"))
        #expect(config.backupKeepDaily == 7 && config.backupKeepWeekly == 4)
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
        let named = try await ServerConfig.load(file: nil, arguments: ["--transcode-node", "bureau-1"], environment: [:])
        #expect(named.transcodeNode == "bureau-1")
        let loud = try await ServerConfig.load(file: nil, arguments: ["--transcode-nice", "40"], environment: [:])
        #expect(loud.transcodeNice == 19 && loud.mediaChildren.nice == 19)
    }

    @Test("Relative paths in the file are read from its folder; in flags, from the working directory")
    func relativePaths() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: "\(folder)/etc", withIntermediateDirectories: true)
        try "segmentDuration: 4\n".write(toFile: "\(folder)/etc/ladder.yaml", atomically: true, encoding: .utf8)
        try """
            storage:
              root: ../data
            credentials:
              keyFile: keys/credential-keys.json
            backup:
              to: /mnt/backup
            """.write(toFile: "\(folder)/etc/lessonlink.yaml", atomically: true, encoding: .utf8)
        let config = try await ServerConfig.load(file: "\(folder)/etc/lessonlink.yaml", environment: [:])
        #expect(config.storageRoot == "\(folder)/data" && config.databasePath == "\(folder)/data/lessonlink.sqlite")
        #expect(config.credentialKeyFile == "\(folder)/etc/keys/credential-keys.json")
        #expect(config.backupFolder == "/mnt/backup")
        #expect(config.ladderPath == "\(folder)/etc/ladder.yaml", "the ladder beside the file, when the file names none")
        #expect(config.rubricPath == nil, "no rubric beside the file: the built-in one")

        let flagged = try await ServerConfig.load(
            file: "\(folder)/etc/lessonlink.yaml", arguments: ["--storage-root", "elsewhere"], environment: ["TRANSCODE_LADDER": "l.yaml"])
        #expect(flagged.storageRoot == "elsewhere" && flagged.databasePath == "elsewhere/lessonlink.sqlite")
        #expect(flagged.ladderPath == "l.yaml")

        let none = try await ServerConfig.load(file: nil, environment: [:])
        #expect(none.storageRoot == "storage" && none.ladderPath == nil && none.rubricPath == nil)
    }

    @Test("A mistake in the file, a flag or a variable is refused with the file, line and key")
    func mistakes() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = "\(folder)/lessonlink.yaml"
        func refusal(_ yaml: String, arguments: [String] = [], environment: [String: String] = [:]) async -> String {
            try? yaml.write(toFile: file, atomically: true, encoding: .utf8)
            do {
                _ = try await ServerConfig.load(file: file, arguments: arguments, environment: environment)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(await refusal("http:\n  prot: 8080\n") == "\(file):2: http.prot is not a LessonLink setting (did you mean http.port?)")
        #expect(await refusal("http:\n  port: eighty\n") == "\(file):2: http.port: expected a whole number, found 'eighty'")
        #expect(await refusal("transcode:\n  worker: maybe\n") == "\(file):2: transcode.worker: expected true or false, found 'maybe'")
        #expect(await refusal("live:\n  srtPorts: 9000-80\n").hasSuffix("live.srtPorts: expected a port or a range of ports (9000-9019), found '9000-80'"))
        #expect(await refusal("backup:\n  schedule: \"25:00\"\n").hasSuffix("backup.schedule: expected a time of day, HH:MM (02:00), found '25:00'"))
        #expect(await refusal("http: [1, 2]\n").hasPrefix("\(file):1: http holds settings"))
        #expect(await refusal("http: {port: [1\n").hasPrefix("\(file): not valid YAML"))
        #expect(await refusal("", arguments: ["--http-prot", "1"]) == "--http-prot is not an option or a LessonLink setting (did you mean --http-port?)")
        #expect(await refusal("", arguments: ["--http-port", "x"]) == "--http-port: expected a whole number, found 'x'")
        #expect(await refusal("", environment: ["HTTP_PORT": "x"]) == "HTTP_PORT (environment): expected a whole number, found 'x'")
        #expect(await refusal("# only a comment\n", arguments: ["--transcode-worker", "--http-port=90"]) == "accepted")
    }

    @Test("--config, then LESSONLINK_CONFIG, then the search path; a named file must exist")
    func location() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = "\(folder)/a.yaml"
        try "http:\n  port: 1\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try ConfigFile.locate(flag: file, environment: ["LESSONLINK_CONFIG": "/nowhere.yaml"]) == file)
        #expect(try ConfigFile.locate(flag: nil, environment: ["LESSONLINK_CONFIG": file]) == file)
        #expect(throws: ConfigError.self) { try ConfigFile.locate(flag: "\(folder)/missing.yaml", environment: [:]) }
        #expect(throws: ConfigError.self) { try ConfigFile.locate(flag: nil, environment: ["LESSONLINK_CONFIG": "\(folder)/missing.yaml"]) }
        #expect(ConfigFile.searchPath == ["config/lessonlink.yaml", "/etc/lessonlink/lessonlink.yaml"])
    }

    private func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    @Test("storage.media: s3 reads its bucket, the secret from the environment; a setting that cannot work is refused")
    func objectStorage() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
            storage:
              media: s3
              s3:
                endpoint: http://10.1.2.3:9000
                bucket: county-media
                region: cn-north-1
                accessKey: lessonlink
                publicEndpoint: https://cdn.example.cn
                links: proxied
            """.write(to: file, atomically: true, encoding: .utf8)
        let config = try await ServerConfig.load(file: file.path, environment: ["STORAGE_S3_SECRET_KEY": "kept-out-of-the-file"])
        let bucket = try #require(try config.mediaBucket())
        #expect(bucket.location.endpoint.absoluteString == "http://10.1.2.3:9000")
        #expect(bucket.location.bucket == "county-media" && bucket.location.region == "cn-north-1" && bucket.location.pathStyle)
        #expect(bucket.location.credentials.secretKey == "kept-out-of-the-file")
        #expect(bucket.location.publicEndpoint?.absoluteString == "https://cdn.example.cn")
        #expect(!config.s3.presigned && bucket.partSize == 8 << 20)
        #expect(config.mediaLayout.bucket != nil)
        // Links for players go through the public endpoint.
        #expect(bucket.presignedURL(key: "media/1/v2/master.m3u8", expires: 60).absoluteString
            .hasPrefix("https://cdn.example.cn/county-media/media/1/v2/master.m3u8?X-Amz-Algorithm=AWS4-HMAC-SHA256"))

        let disk = try await ServerConfig.load(file: nil, environment: [:])
        #expect(try disk.mediaBucket() == nil && disk.mediaLayout.bucket == nil)

        let refusals: [([String], String)] = [
            (["--storage-media", "nfs"], "storage.media is nfs; it must be disk or s3"),
            (["--storage-media", "s3", "--storage-s3-endpoint", "http://store"], "storage.s3.bucket must be set"),
            (["--storage-media", "s3", "--storage-s3-endpoint", "http://store", "--storage-s3-bucket", "Media_2024"], "is not a bucket name"),
            (
                ["--storage-media", "s3", "--storage-s3-endpoint", "http://store", "--storage-s3-bucket", "media", "--storage-s3-access-key", "a"],
                "storage.s3.secretKey must be set"
            ),
            (
                [
                    "--storage-media", "s3", "--storage-s3-endpoint", "http://store", "--storage-s3-bucket", "media", "--storage-s3-access-key", "a",
                    "--storage-s3-secret-key", "b", "--storage-s3-part-megabytes", "4",
                ], "between 5 and 5120"
            ),
            (["--storage-media", "s3", "--storage-s3-links", "signed"], "storage.s3.links is signed; it must be presigned or proxied"),
        ]
        for (arguments, message) in refusals {
            do {
                _ = try await ServerConfig.load(file: nil, arguments: arguments, environment: [:])
                Issue.record("accepted \(arguments)")
            } catch {
                #expect("\(error)".contains(message), "\(arguments): \(error)")
            }
        }
    }
}
