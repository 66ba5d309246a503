import Catalog
import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import TestSupport
import Testing

/// tus 1.0.0 requests, spelled out.
extension TestClientProtocol {
    func tus(
        _ uri: String, _ method: HTTPRequest.Method, token: String?, headers extra: HTTPFields = [:], body: ByteBuffer? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = [HTTPField.Name("Tus-Resumable")!: "1.0.0"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        headers.append(contentsOf: extra)
        return try await execute(uri: uri, method: method, headers: headers, body: body)
    }

    func createUpload(token: String, length: Int, metadata: [String: String]) async throws -> TestResponse {
        let header = metadata.sorted { $0.key < $1.key }.map { "\($0.key) \(Data($0.value.utf8).base64EncodedString())" }
            .joined(separator: ",")
        return try await tus(
            "/api/v1/uploads", .post, token: token,
            headers: [HTTPField.Name("Upload-Length")!: "\(length)", HTTPField.Name("Upload-Metadata")!: header])
    }

    func patch(_ location: String, token: String, offset: Int, bytes: Data, checksum: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [
            .contentType: "application/offset+octet-stream", HTTPField.Name("Upload-Offset")!: "\(offset)",
        ]
        if let checksum { headers[HTTPField.Name("Upload-Checksum")!] = checksum }
        return try await tus(location, .patch, token: token, headers: headers, body: ByteBuffer(data: bytes))
    }
}

extension TestResponse {
    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

@Suite("Resumable uploads (tus 1.0.0)")
struct UploadTests {
    @Test("OPTIONS advertises the protocol, extensions, size limit and checksums")
    func discovery() async throws {
        let server = try await TestServer.make { $0.uploadMaxSize = 1 << 30 }
        defer { server.remove() }
        try await server.test { client in
            let response = try await client.execute(uri: "/api/v1/uploads", method: .options)
            #expect(response.status == .noContent)
            #expect(response.header("Tus-Version") == "1.0.0")
            #expect(response.header("Tus-Resumable") == "1.0.0")
            #expect(response.header("Tus-Max-Size") == "\(1 << 30)")
            let extensions = Set((response.header("Tus-Extension") ?? "").split(separator: ","))
            #expect(extensions == ["creation", "creation-with-upload", "termination", "checksum", "expiration"])
            #expect(response.header("Tus-Checksum-Algorithm")?.contains("sha1") == true)
        }
    }

    @Test("A recording uploaded in chunks, with a resumed HEAD, becomes a queued recording")
    func chunkedUpload() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let clip = try makeClip()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let lesson = try await server.database().read { db in
                try Int64.fetchOne(db, sql: "SELECT id FROM textbookLesson WHERE title = '秋天的雨'")
            }
            let created = try await client.createUpload(
                token: token, length: clip.count,
                metadata: ["filename": "秋天的雨.mp4", "title": "秋天的雨 第一课时", "lesson": "\(lesson!)"])
            #expect(created.status == .created)
            let location = try #require(created.header("Location"))
            #expect(location.hasPrefix("/api/v1/uploads/"))
            #expect(created.header("Upload-Expires") != nil)

            let half = clip.count / 2
            let first = try await client.patch(location, token: token, offset: 0, bytes: clip.prefix(half))
            #expect(first.status == .noContent)
            #expect(first.header("Upload-Offset") == "\(half)")

            // As after a dropped connection: ask where to resume.
            let head = try await client.tus(location, .head, token: token)
            #expect(head.status == .ok)
            #expect(head.header("Upload-Offset") == "\(half)")
            #expect(head.header("Upload-Length") == "\(clip.count)")
            #expect(head.header("Cache-Control") == "no-store")

            let sha1 = Data(Insecure.SHA1.hash(data: clip.suffix(from: half))).base64EncodedString()
            let last = try await client.patch(location, token: token, offset: half, bytes: clip.suffix(from: half), checksum: "sha1 \(sha1)")
            #expect(last.status == .noContent)
            #expect(last.header("Upload-Offset") == "\(clip.count)")
        }
        // The background processor hashes, probes and queues it.
        let database = try server.database()
        var recording: Recording?
        try await eventually {
            recording = try await database.read { db in try Recording.fetchOne(db, sql: "SELECT * FROM recording") }
            return recording?.state == .queued || recording?.state == .failed
        }
        let expected = SHA256.hash(data: clip).map { String(format: "%02x", $0) }.joined()
        #expect(recording?.state == .queued, "\(recording?.failure ?? "")")
        #expect(recording?.sourceSha256 == expected)
        #expect(recording?.sourceSize == Int64(clip.count))
        #expect(recording?.mediaInfo?.video?.width == 320)
        #expect(recording?.title == "秋天的雨 第一课时")
        let stored = try Data(contentsOf: server.root.appendingPathComponent(try #require(recording?.sourcePath)))
        #expect(stored == clip)
        let jobs = try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM transcodeJob WHERE state = 'queued'") }
        #expect(jobs == 1)
    }

    @Test("creation-with-upload: the whole file in the POST")
    func creationWithUpload() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let clip = try makeClip(tone: 660)
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let metadata = "filename \(Data("a.mp4".utf8).base64EncodedString())"
            let response = try await client.tus(
                "/api/v1/uploads", .post, token: token,
                headers: [
                    HTTPField.Name("Upload-Length")!: "\(clip.count)", HTTPField.Name("Upload-Metadata")!: metadata,
                    .contentType: "application/offset+octet-stream",
                ], body: ByteBuffer(data: clip))
            #expect(response.status == .created)
            #expect(response.header("Upload-Offset") == "\(clip.count)")
        }
    }

    @Test("A non-video upload fails on the recording with the probe's message")
    func notMedia() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let text = Data("教案：第一课 秋天的雨\n".utf8)
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let created = try await client.createUpload(token: token, length: text.count, metadata: ["filename": "notes.txt"])
            let location = try #require(created.header("Location"))
            #expect(try await client.patch(location, token: token, offset: 0, bytes: text).status == .noContent)
            var recording: Recording?
            try await eventually {
                recording = try await server.database().read { db in try Recording.fetchOne(db, sql: "SELECT * FROM recording") }
                return recording?.state == .failed
            }
            #expect(recording?.failure?.contains("not a recognised audio or video file") == true)
            // The server keeps serving.
            #expect(try await client.get("/healthz", token: nil).status == .ok)
        }
    }

    @Test("The same file twice is detected as a duplicate")
    func duplicate() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let clip = try makeClip(tone: 550)
        try await server.test { client in
            let token = try await client.signIn("teacher")
            for title in ["first", "second"] {
                let created = try await client.createUpload(token: token, length: clip.count, metadata: ["title": title])
                #expect(try await client.patch(try #require(created.header("Location")), token: token, offset: 0, bytes: clip).status == .noContent)
                try await eventually {
                    try await server.database().read { db in
                        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recording WHERE title = ? AND state IN ('queued', 'failed')", arguments: [title]) == 1
                    }
                }
            }
            let second = try await server.database().read { db in try Recording.fetchOne(db, sql: "SELECT * FROM recording WHERE title = 'second'") }
            #expect(second?.state == .failed)
            #expect(second?.failure?.contains("already uploaded as recording") == true)
        }
    }

    @Test("Bad tus requests get precise errors, and accepted bytes are kept")
    func badRequests() async throws {
        let server = try await TestServer.make { $0.uploadMaxSize = 1_000_000 }
        defer { server.remove() }
        try await server.test { client in
            let token = try await client.signIn("teacher")
            // No Tus-Resumable, or the wrong version: 412 with Tus-Version.
            let missing = try await client.execute(
                uri: "/api/v1/uploads", method: .post, headers: [.authorization: "Bearer \(token)", HTTPField.Name("Upload-Length")!: "10"])
            #expect(missing.status == .preconditionFailed && missing.header("Tus-Version") == "1.0.0")
            let wrongVersion = try await client.execute(
                uri: "/api/v1/uploads", method: .post,
                headers: [.authorization: "Bearer \(token)", HTTPField.Name("Tus-Resumable")!: "0.2.2", HTTPField.Name("Upload-Length")!: "10"])
            #expect(wrongVersion.status == .preconditionFailed && wrongVersion.error?.code == "tus_version")
            // Negative, malformed or huge lengths.
            for (length, status, code) in [("-5", HTTPResponse.Status.badRequest, "invalid_length"), ("12abc", .badRequest, "invalid_length"),
                                           ("99999999999999999999999", .badRequest, "invalid_length"), ("1000001", .contentTooLarge, "too_large")] {
                let response = try await client.tus("/api/v1/uploads", .post, token: token, headers: [HTTPField.Name("Upload-Length")!: length])
                #expect(response.status == status, "Upload-Length \(length)")
                #expect(response.error?.code == code)
            }
            let noLength = try await client.tus("/api/v1/uploads", .post, token: token)
            #expect(noLength.error?.code == "missing_length")
            // Malformed metadata.
            let badMetadata = try await client.tus(
                "/api/v1/uploads", .post, token: token,
                headers: [HTTPField.Name("Upload-Length")!: "10", HTTPField.Name("Upload-Metadata")!: "title not*base64!"])
            #expect(badMetadata.status == .badRequest && badMetadata.error?.code == "invalid_metadata")
            let unknownLesson = try await client.createUpload(token: token, length: 10, metadata: ["title": "x", "lesson": "999999"])
            #expect(unknownLesson.status == .notFound && unknownLesson.error?.code == "unknown_lesson")
            // A generic tus client that sends no metadata gets an untitled lesson to rename later.
            let bare = try await client.tus("/api/v1/uploads", .post, token: token, headers: [HTTPField.Name("Upload-Length")!: "10"])
            #expect(bare.status == .created)
            let recording = try #require(bare.header("LessonLink-Recording"))
            let untitled = try await client.get("/api/v1/recordings/\(recording)", token: token)
            #expect(String(buffer: untitled.body).contains("\"title\":\"未命名课例\""))

            let created = try await client.createUpload(token: token, length: 10, metadata: ["title": "ten bytes"])
            let location = try #require(created.header("Location"))
            // Wrong content type: 415.
            let wrongType = try await client.tus(
                location, .patch, token: token,
                headers: [.contentType: "application/json", HTTPField.Name("Upload-Offset")!: "0"], body: ByteBuffer(string: "0123"))
            #expect(wrongType.status == .unsupportedMediaType)
            // Accept 4 bytes, then an offset mismatch: 409, nothing lost.
            #expect(try await client.patch(location, token: token, offset: 0, bytes: Data("0123".utf8)).status == .noContent)
            let mismatch = try await client.patch(location, token: token, offset: 2, bytes: Data("xx".utf8))
            #expect(mismatch.status == .conflict && mismatch.error?.code == "offset_mismatch")
            // Wrong checksum: 460 and the chunk is discarded.
            let badSum = try await client.patch(location, token: token, offset: 4, bytes: Data("4567".utf8), checksum: "sha1 \(Data(repeating: 0, count: 20).base64EncodedString())")
            #expect(badSum.status.code == 460 && badSum.error?.code == "checksum_mismatch")
            let unknownAlgorithm = try await client.patch(location, token: token, offset: 4, bytes: Data("4567".utf8), checksum: "crc32 AAAA")
            #expect(unknownAlgorithm.status == .badRequest && unknownAlgorithm.error?.code == "unsupported_checksum")
            // More than Upload-Length: refused, nothing of it kept.
            let tooMuch = try await client.patch(location, token: token, offset: 4, bytes: Data("456789ABCD".utf8))
            #expect(tooMuch.status == .contentTooLarge)
            let head = try await client.tus(location, .head, token: token)
            #expect(head.header("Upload-Offset") == "4")
            let file = server.root.appendingPathComponent("uploads/\(location.split(separator: "/").last!).part")
            #expect(try Data(contentsOf: file) == Data("0123".utf8))
            // Someone else's upload does not exist for them; path-like ids go nowhere.
            let other = try await client.signIn("member-teacher")
            #expect(try await client.tus(location, .head, token: other).status == .notFound)
            #expect(try await client.patch(location, token: other, offset: 4, bytes: Data("4".utf8)).status == .notFound)
            #expect(try await client.tus("/api/v1/uploads/..%2F..%2Flessonlink.sqlite", .head, token: token).status == .notFound)
            // Read-only roles cannot upload.
            let screen = try await client.signIn("classroom")
            #expect(try await client.createUpload(token: screen, length: 10, metadata: ["title": "x"]).status == .forbidden)
            // Termination removes the upload and its file.
            #expect(try await client.tus(location, .delete, token: token).status == .noContent)
            #expect(try await client.tus(location, .head, token: token).status == .notFound)
            #expect(!FileManager.default.fileExists(atPath: file.path))
        }
    }

    @Test("Expired uploads answer 410 and are swept")
    func expiry() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let created = try await client.createUpload(token: token, length: 10, metadata: ["title": "stale"])
            let location = try #require(created.header("Location"))
            let id = String(location.split(separator: "/").last!)
            try await server.database().write { db in
                try db.execute(sql: "UPDATE upload SET expiresAt = ? WHERE id = ?", arguments: [Date(timeIntervalSinceNow: -60), id])
            }
            #expect(try await client.tus(location, .head, token: token).status == .gone)
            #expect(try await client.patch(location, token: token, offset: 0, bytes: Data("x".utf8)).status == .gone)
        }
    }

    @Test("A deleted recording's files, and its unfinished upload, go at the next sweep")
    func sweepDeleted() async throws {
        let server = try await TestServer.make { $0.sweepInterval = 0.2 }
        defer { server.remove() }
        let clip = try makeClip()
        let database = try server.database()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let whole = try await client.createUpload(token: token, length: clip.count, metadata: ["title": "finished"])
            _ = try await client.patch(try #require(whole.header("Location")), token: token, offset: 0, bytes: clip)
            let partial = try await client.createUpload(token: token, length: clip.count, metadata: ["title": "unfinished"])
            let partialLocation = try #require(partial.header("Location"))
            _ = try await client.patch(partialLocation, token: token, offset: 0, bytes: clip.prefix(100))
            try await eventually {
                try await database.read { db in try Recording.filter(Column("title") == "finished").fetchOne(db) }?.state == .queued
            }
            let finished = try await database.read { db in try Recording.filter(Column("title") == "finished").fetchOne(db) }
            let source = server.root.appendingPathComponent(try #require(finished?.sourcePath))
            #expect(FileManager.default.fileExists(atPath: source.path))
            let unfinishedId = try await database.read { db in
                try Int64.fetchOne(db, sql: "SELECT id FROM recording WHERE title = 'unfinished'")
            }
            let partFile = server.root.appendingPathComponent("uploads/\(partialLocation.split(separator: "/").last!).part")
            #expect(FileManager.default.fileExists(atPath: partFile.path))

            for id in [finished!.id!, unfinishedId!] {
                #expect(try await client.execute(uri: "/api/v1/recordings/\(id)", method: .delete, headers: [.authorization: "Bearer \(token)"]).status == .noContent)
            }
            try await eventually(5) {
                !FileManager.default.fileExists(atPath: source.deletingLastPathComponent().path)
                    && !FileManager.default.fileExists(atPath: partFile.path)
            }
            #expect(try await client.tus(partialLocation, .head, token: token).status == .notFound)
            let row = try await database.read { db in try Recording.fetchOne(db, key: finished!.id!) }
            #expect(row?.deletedAt != nil && row?.sourcePath == nil)
        }
    }

    @Test("507 when the declared length does not fit the quota or the disk")
    func storageFull() async throws {
        let server = try await TestServer.make { $0.uploadQuota = 1000 }
        defer { server.remove() }
        try await server.test { client in
            let token = try await client.signIn("teacher")
            #expect(try await client.createUpload(token: token, length: 600, metadata: ["title": "a"]).status == .created)
            let over = try await client.createUpload(token: token, length: 600, metadata: ["title": "b"])
            #expect(over.status.code == 507 && over.error?.code == "quota_exceeded")
            let disk = try await client.createUpload(token: token, length: 0, metadata: ["title": "empty"])
            #expect(disk.status == .created)
        }
        let huge = try await TestServer.make { $0.uploadMaxSize = Int64.max / 2 }
        defer { huge.remove() }
        try await huge.test { client in
            let token = try await client.signIn("teacher")
            let response = try await client.createUpload(token: token, length: 1 << 60, metadata: ["title": "exabyte"])
            #expect(response.status.code == 507 && response.error?.code == "disk_full")
        }
    }

    @Test("A file that crashes the probe child fails its recording; the server keeps serving and processing")
    func probeCrash() async throws {
        // `lessonlink probe-job` aborts, as a libav crash would, on files carrying this marker.
        let marker = "LESSONLINK-PROBE-CRASH-\(UUID().uuidString)"
        setenv("LESSONLINK_PROBE_ABORT_MARKER", marker, 1)
        let server = try await TestServer.make()
        defer { server.remove() }
        let poison = Data("\u{0}\u{0}\u{0}\u{18}ftypisom \(marker)".utf8) + Data(repeating: 7, count: 4096)
        let clip = try makeClip(tone: 660)
        try await server.test { client in
            let token = try await client.signIn("teacher")
            func upload(_ bytes: Data, title: String) async throws -> Recording {
                let created = try await client.createUpload(token: token, length: bytes.count, metadata: ["title": title])
                #expect(try await client.patch(try #require(created.header("Location")), token: token, offset: 0, bytes: bytes).status == .noContent)
                var recording: Recording?
                try await eventually {
                    recording = try await server.database().read { db in
                        try Recording.fetchOne(db, sql: "SELECT * FROM recording WHERE title = ?", arguments: [title])
                    }
                    return recording?.state != .uploading
                }
                return try #require(recording)
            }
            let crashed = try await upload(poison, title: "探测崩溃")
            #expect(crashed.state == .failed)
            #expect(crashed.failure?.contains("probing the upload failed") == true, "\(crashed.failure ?? "")")
            #expect(crashed.failure?.contains("crashed (signal \(SIGABRT), aborted)") == true, "\(crashed.failure ?? "")")
            #expect(crashed.sourcePath == nil)
            // The server lives on, and the next upload is probed and queued as usual.
            #expect(try await client.get("/healthz", token: nil).status == .ok)
            let next = try await upload(clip, title: "探测之后")
            #expect(next.state == .queued, "\(next.failure ?? "")")
            #expect(next.mediaInfo?.duration != nil)
        }
        // Nothing of the crashed upload is left in the uploads folder.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: server.config.layout.uploads)) ?? []
        #expect(left.isEmpty, "\(left)")
    }
}
