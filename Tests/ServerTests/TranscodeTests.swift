import Catalog
import Delivery
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import TestSupport
import Testing

extension TestClientProtocol {
    /// Uploads `clip` in one tus request; returns the new recording's id.
    func uploadRecording(_ clip: Data, title: String, token: String, database: AppDatabase) async throws -> Int64 {
        let created = try await createUpload(token: token, length: clip.count, metadata: ["filename": "lesson.mp4", "title": title])
        let location = try #require(created.header("Location"))
        #expect(try await patch(location, token: token, offset: 0, bytes: clip).status == .noContent)
        return try #require(
            try await database.read { db in
                try Int64.fetchOne(db, sql: "SELECT recordingId FROM upload WHERE id = ?", arguments: [String(location.split(separator: "/").last!)])
            })
    }

    func recording(_ id: Int64, token: String) async throws -> RecordingSummary {
        try await get("/api/v1/recordings/\(id)", token: token).decode(RecordingSummary.self)
    }
}

/// PIDs of running `transcode-job` children working on `source` (matched on the command line).
func transcodeChildren(of source: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> pid_t? in
        guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains("transcode-job") && arguments.contains(source) ? pid : nil
    }
}

/// The niceness of each thread of a process (`/proc/PID/task/*/stat`, field 19).
func threadNiceness(_ pid: pid_t) -> [Int] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.compactMap { task -> Int? in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // After the command name: field 3 (state) onwards; nice is field 19.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        return fields.count > 16 ? Int(fields[16]) : nil
    }
}

/// Every entry under a recording's media folder, hidden ones included.
func mediaEntries(_ server: TestServer, _ recordingId: Int64) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: server.root.appendingPathComponent("media/\(recordingId)").path)) ?? []).sorted()
}

@Suite("Transcoding worker")
struct TranscodeTests {
    @Test("An uploaded clip is transcoded by the worker and published as one version")
    func endToEnd() async throws {
        let server = try await TestServer.make(TestServer.withWorker)
        defer { server.remove() }
        let clip = try makeClip(seconds: 3)
        let database = try server.database()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let id = try await client.uploadRecording(clip, title: "秋天的雨", token: token, database: database)
            try await eventually(60) { try await client.recording(id, token: token).state == .ready }
            let recording = try await client.recording(id, token: token)
            #expect(recording.transcode?.state == .succeeded && recording.transcode?.progress == 1)
            let renditions = try #require(recording.renditions)
            // 320x240 source: only tiers at or below it, plus audio.
            #expect(renditions.filter { $0.kind == .video }.map(\.height) == [240])
            #expect(renditions.contains { $0.kind == .audio })
            let version = "v\(recording.transcode!.jobId)"
            #expect(mediaEntries(server, id) == [version], "exactly one version, no leftovers")
            let master = try String(contentsOf: server.root.appendingPathComponent("media/\(id)/\(version)/master.m3u8"), encoding: .utf8)
            // One variant per video tier, plus the audio-only variant for the weakest links.
            #expect(master.components(separatedBy: "#EXT-X-STREAM-INF").count - 1 == renditions.filter { $0.kind == .video }.count + 1)
            for rendition in renditions {
                #expect(FileManager.default.fileExists(atPath: server.root.appendingPathComponent("media/\(id)/\(version)/\(rendition.playlist)").path))
            }
            try await checkPlayback(client, server: server, recordingId: id, version: version, token: token)
        }
    }

    /// The playback URL, the files behind it, and what players and caches rely on.
    func checkPlayback(_ client: any TestClientProtocol, server: TestServer, recordingId id: Int64, version: String, token: String) async throws {
        let screen = try await client.signIn("classroom")
        let playback = try await client.get("/api/v1/recordings/\(id)/playback", token: screen)
        #expect(playback.status == .ok)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: playback.body)) as? [String: Any])
        let url = try #require(body["url"] as? String)
        #expect(url.hasPrefix("/media/\(id)/\(version)/") && url.hasSuffix("/master.m3u8"))
        #expect(body["startTier"] as? String == "240p", "a 100 Mb/s classroom starts at the top tier it has")
        let base = String(url.dropLast("master.m3u8".count))

        let master = try await client.execute(uri: url, method: .get)
        #expect(master.status == .ok)
        #expect(master.headers[.contentType] == "application/vnd.apple.mpegurl")
        #expect(master.headers[.cacheControl] == "public, max-age=60")
        let variants = String(buffer: master.body).split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(variants.contains("240p/index.m3u8"))
        let media = try await client.execute(uri: base + "240p/index.m3u8", method: .get)
        let segment = try #require(String(buffer: media.body).split(separator: "\n").first { $0.hasSuffix(".m4s") })
        let file = try Data(contentsOf: server.root.appendingPathComponent("media/\(id)/\(version)/240p/\(segment)"))

        // A byte range, as players and download resumers ask.
        let ranged = try await client.execute(uri: base + "240p/\(segment)", method: .get, headers: [.range: "bytes=100-1099"])
        #expect(ranged.status == .partialContent)
        #expect(ranged.headers[.contentRange] == "bytes 100-1099/\(file.count)")
        #expect(Data(buffer: ranged.body) == file[100...1099])
        #expect(ranged.headers[.cacheControl] == "public, max-age=31536000, immutable")
        let whole = try await client.execute(uri: base + "240p/\(segment)", method: .get)
        #expect(Data(buffer: whole.body) == file && whole.headers[.contentType] == "video/iso.segment")
        let head = try await client.execute(uri: base + "240p/\(segment)", method: .head)
        #expect(head.status == .ok && head.headers[.contentLength] == "\(file.count)" && head.body.readableBytes == 0)
        let tail = try await client.execute(uri: base + "240p/\(segment)", method: .get, headers: [.range: "bytes=\(file.count)-"])
        #expect(tail.status == .rangeNotSatisfiable && tail.headers[.contentRange] == "bytes */\(file.count)")

        // Validators: a cache revalidates for free.
        let etag = try #require(whole.headers[.eTag])
        #expect(try await client.execute(uri: base + "240p/\(segment)", method: .get, headers: [.ifNoneMatch: etag]).status == .notModified)
        let lastModified = try #require(whole.headers[.lastModified])
        #expect(try await client.execute(uri: base + "240p/\(segment)", method: .get, headers: [.ifModifiedSince: lastModified]).status == .notModified)

        // Playlists are gzipped for clients that take it.
        let gzipped = try await client.execute(uri: base + "240p/index.m3u8", method: .get, headers: [.acceptEncoding: "gzip, deflate"])
        #expect(gzipped.headers[.contentEncoding] == "gzip")
        #expect(gzipped.body.readableBytes > 0 && Array(Data(buffer: gzipped.body).prefix(2)) == [0x1f, 0x8b])

        // Tampered, foreign and expired tokens, and paths that are not media files.
        let token = url.split(separator: "/")[3]
        let tampered = url.replacingOccurrences(of: String(token), with: String(token.dropLast(2)) + "AA")
        #expect(try await client.execute(uri: tampered, method: .get).error?.code == "invalid_token")
        let foreign = "/media/\(id + 1)/\(version)/\(token)/master.m3u8"
        #expect(try await client.execute(uri: foreign, method: .get).status == .forbidden)
        let key = try Data(contentsOf: server.root.appendingPathComponent("secrets/playback.key"))
        let stale = PlaybackSigner(key: key).token(recordingId: id, expires: Date().addingTimeInterval(-5))
        #expect(try await client.execute(uri: "/media/\(id)/\(version)/\(stale)/master.m3u8", method: .get).error?.code == "expired_token")
        for path in ["../../lessonlink.sqlite", "240p/../../../secrets/playback.key", "240p/seg_1.m4s.bak", "%2e%2e/master.m3u8"] {
            #expect(try await client.execute(uri: base + path, method: .get).status == .notFound, "\(path)")
        }
        #expect(try await client.execute(uri: "/media/\(id)/..%2F..%2F/\(token)/master.m3u8", method: .get).status == .notFound)
        #expect(try await client.get("/api/v1/recordings/\(id)/playback", token: nil).status == .unauthorized)

        // Deleting the lesson ends its links at once (within the few seconds liveness is remembered).
        let teacher = try await client.signIn("teacher")
        #expect(try await client.execute(uri: "/api/v1/recordings/\(id)", method: .delete, headers: [.authorization: "Bearer \(teacher)"]).status == .noContent)
        try await eventually(10) { try await client.execute(uri: url, method: .get).status == .notFound }
    }

    @Test("A truncated recording fails with the transcoder's reason; the server keeps serving")
    func truncated() async throws {
        let server = try await TestServer.make(TestServer.withWorker)
        defer { server.remove() }
        // moov first (faststart), so it probes as a lesson, then cut: the media data ends early.
        let whole = try makeClip(seconds: 4, faststart: true)
        let clip = whole.prefix(whole.count / 2)
        let database = try server.database()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let id = try await client.uploadRecording(Data(clip), title: "断了", token: token, database: database)
            try await eventually(60) { try await client.recording(id, token: token).state == .failed }
            let recording = try await client.recording(id, token: token)
            #expect(recording.failure?.isEmpty == false)
            #expect(recording.transcode?.state == .failed)
            #expect(recording.transcode?.attempts == 1, "the input is at fault: no retry")
            #expect(mediaEntries(server, id).isEmpty)
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
    }

    @Test("Random bytes behind an MP4 header fail with a message, with the worker running")
    func hostileMP4() async throws {
        let server = try await TestServer.make(TestServer.withWorker)
        defer { server.remove() }
        // A real ftyp box, then 256 KiB of noise where the moov and media should be.
        var header = Data([0, 0, 0, 0x18])
        header.append(contentsOf: Array("ftypisom".utf8))
        header.append(contentsOf: [0, 0, 2, 0])
        header.append(contentsOf: Array("isomiso2".utf8))
        var generator = SystemRandomNumberGenerator()
        let noise: [UInt8] = (0..<(256 << 10)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let bytes = header + Data(noise)
        let database = try server.database()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let id = try await client.uploadRecording(bytes, title: "伪装", token: token, database: database)
            try await eventually(60) { try await client.recording(id, token: token).state == .failed }
            let recording = try await client.recording(id, token: token)
            #expect(recording.failure?.isEmpty == false, "a message for the teacher")
            #expect(mediaEntries(server, id).isEmpty)
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
    }

    @Test("lessonlink jobs list, retry and cancel work on the same queue from the shell")
    func jobsCommand() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let clip = try makeClip()
        let database = try server.database()
        let id = try await server.test { client in
            let token = try await client.signIn("teacher")
            let id = try await client.uploadRecording(clip, title: "命令行", token: token, database: database)
            try await eventually { try await client.recording(id, token: token).state == .queued }
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"lessonlink_transcode_jobs{state="queued"} 1"#), "the queue, as Prometheus sees it")
            return id
        }
        func cli(_ arguments: [String]) throws -> ProcessResult {
            try runProcess(
                try lessonlinkBinary(), arguments + ["--storage-root", server.root.path, "--database-path", server.config.databasePath])
        }
        let listed = try cli(["jobs", "list"])
        #expect(listed.status == 0 && listed.out.contains("queued"))
        let cancelled = try cli(["jobs", "cancel", "\(id)"])
        #expect(cancelled.status == 0 && cancelled.out.contains("cancelled"))
        let again = try cli(["jobs", "cancel", "\(id)"])
        #expect(again.status != 0 && again.err.contains("no queued or running transcode"), "\(again)")
        let retried = try cli(["jobs", "retry", "\(id)"])
        #expect(retried.status == 0 && retried.out.contains("queued"))
        #expect(try cli(["jobs", "list", "--state", "cancelled"]).out.contains("cancelled"))
        let missing = try cli(["retranscode", "999"])
        #expect(missing.status != 0 && missing.err.contains("no such recording"))
        // Renaming a teacher from the shell re-indexes their lessons: search finds the new name.
        let renamed = try cli(["user", "rename", "teacher", "王丽华"])
        #expect(renamed.status == 0 && renamed.out.contains("王丽华"), "\(renamed)")
        #expect(try cli(["user", "rename", "nobody", "某某"]).status != 0)
        let found = try await RecordingStore(database: database).list(
            { var query = RecordingQuery(); query.text = "丽华"; return query }(), viewer: Viewer(personId: 0, role: .admin))
        #expect(found.items.map(\.id) == [id])
        let states = try await database.read { db in try String.fetchAll(db, sql: "SELECT state FROM transcodeJob ORDER BY id") }
        #expect(states == ["cancelled", "queued"])
    }

    @Test("kill -9 of the transcode child: the job is retried and exactly one version is published")
    func childCrash() async throws {
        let server = try await TestServer.make { config in
            TestServer.withWorker(&config)
            config.transcodeThreads = 1
        }
        defer { server.remove() }
        let clip = try makeClip(seconds: 30, size: "640x360")
        let database = try server.database()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let id = try await client.uploadRecording(clip, title: "崩溃", token: token, database: database)
            // The recording page's live feed, read to its end (when the lesson is ready).
            let events = Task { try await client.get("/api/v1/recordings/\(id)/events", token: token) }
            let source = server.root.appendingPathComponent("sources/\(id)/source.mp4").path
            try await eventually(60) { !transcodeChildren(of: source).isEmpty }
            for pid in transcodeChildren(of: source) { kill(pid, SIGKILL) }
            try await eventually(120) { try await client.recording(id, token: token).state == .ready }
            let recording = try await client.recording(id, token: token)
            #expect(recording.transcode?.attempts == 2)
            let stream = try await events.value
            #expect(stream.headers[.contentType] == "text/event-stream")
            let states = String(buffer: stream.body).components(separatedBy: "\n\n").compactMap { block -> [String: Any]? in
                guard let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") })?.dropFirst(6) else { return nil }
                return try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
            }
            let progress = states.compactMap { ($0["transcode"] as? [String: Any])?["progress"] as? Double }
            #expect(states.count >= 3 && states.last?["state"] as? String == "ready")
            #expect(progress.contains { $0 > 0 && $0 < 1 }, "progress while transcoding: \(progress)")
            #expect(mediaEntries(server, id) == ["v\(recording.transcode!.jobId)"], "one version, the killed attempt's files gone")
        }
    }

    @Test("Cancelling a running transcode stops the child and removes its files; retry starts again")
    func cancel() async throws {
        let server = try await TestServer.make { config in
            TestServer.withWorker(&config)
            config.transcodeThreads = 1
            config.transcodeLease = 1.5
        }
        defer { server.remove() }
        let clip = try makeClip(seconds: 30, size: "640x360")
        let database = try server.database()
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let other = try await client.signIn("member-teacher")
            let id = try await client.uploadRecording(clip, title: "取消", token: token, database: database)
            let source = server.root.appendingPathComponent("sources/\(id)/source.mp4").path
            try await eventually(60) { !transcodeChildren(of: source).isEmpty }
            // The child yields to delivery: once it is encoding, every one of its threads (libav's
            // and x264's too) runs at the configured niceness, 15 by default.
            let child = try #require(transcodeChildren(of: source).first)
            try await eventually(30) { (try await client.recording(id, token: token).transcode?.progress ?? 0) > 0 }
            let niceness = threadNiceness(child)
            #expect(!niceness.isEmpty && niceness.allSatisfy { $0 == 15 }, "\(niceness)")
            let uri = "/api/v1/recordings/\(id)/transcode"
            // Only the recording's teacher (or an admin) may cancel; others cannot even see it yet.
            #expect(try await client.execute(uri: uri, method: .delete, headers: [.authorization: "Bearer \(other)"]).status == .notFound)
            let cancelled = try await client.execute(uri: uri, method: .delete, headers: [.authorization: "Bearer \(token)"])
            #expect(cancelled.status == .ok)
            try await eventually(20) { transcodeChildren(of: source).isEmpty && mediaEntries(server, id).isEmpty }
            let recording = try await client.recording(id, token: token)
            #expect(recording.state == .failed && recording.transcode?.state == .cancelled)
            let again = try await client.execute(uri: uri, method: .delete, headers: [.authorization: "Bearer \(token)"])
            #expect(again.status == .conflict && again.error?.code == "not_applicable")

            let retried = try await client.execute(uri: uri, method: .post, headers: [.authorization: "Bearer \(token)"])
            #expect(retried.status == .accepted)
            try await eventually(120) { try await client.recording(id, token: token).state == .ready }
        }
    }
}
