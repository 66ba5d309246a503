import Catalog
import Ingest
import Server
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// Drives the server with tuspy, a real tus client from PyPI (installed by `make test`), so the
/// protocol is checked by someone else's implementation, not only by our own requests.
@Suite("Real tus client")
struct TusClientTests {
    static let script = #"""
        import sys
        from tusclient import client
        url, token, path, mode = sys.argv[1:5]
        tus = client.TusClient(url, headers={"Authorization": "Bearer " + token})
        metadata = {"filename": "lesson.mp4", "title": "tuspy 上传的课"}
        if mode == "partial":
            # Upload only the first chunks, as a client whose link dropped would have.
            uploader = tus.uploader(path, chunk_size=65536, metadata=metadata, upload_checksum=True)
            uploader.upload(stop_at=3 * 65536)
            print(uploader.url)
        elif mode == "resume":
            uploader = tus.uploader(path, url=sys.argv[5], chunk_size=65536, upload_checksum=True)
            uploader.upload()
            print(uploader.url)
        else:
            uploader = tus.uploader(path, chunk_size=65536, metadata=metadata, upload_checksum=True)
            uploader.upload()
            print(uploader.url)
        """#

    func tuspy(_ arguments: [String]) throws -> String {
        try runTool("python3", ["-c", Self.script] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("tuspy uploads with sha1 checksums, and resumes an interrupted upload")
    func tuspyUpload() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let clip = try makeClip(seconds: 3)
        let file = server.root.appendingPathComponent("lesson.mp4")
        try clip.write(to: file)
        try await server.live { client in
            let token = try await client.signIn("teacher")
            let endpoint = "http://127.0.0.1:\(client.port!)/api/v1/uploads"
            let whole = try tuspy([endpoint, token, file.path, "whole"])
            #expect(whole.contains("/api/v1/uploads/"))

            // Interrupted, then resumed from the server's offset by a new client process.
            let partialURL = try tuspy([endpoint, token, file.path, "partial"])
            let id = String(partialURL.split(separator: "/").last!)
            let offset: Int64? = try await server.database().read { db in
                try Int64.fetchOne(db, sql: #"SELECT "offset" FROM upload WHERE id = ?"#, arguments: [id])
            }
            #expect(offset == Int64(3 * 65536), "the server kept exactly what the interrupted client sent")
            _ = try tuspy([endpoint, token, file.path, "resume", partialURL])
            let resumed = try await server.database().read { db in try Upload.fetchOne(db, key: id) }
            #expect(resumed?.offset == Int64(clip.count) && resumed?.completedAt != nil)
        }
        // Both uploads arrived whole: the first is queued, the resumed one is the same content.
        let recordings = try await server.database().read { db in try Recording.fetchAll(db, sql: "SELECT * FROM recording ORDER BY id") }
        try await eventually {
            try await server.database().read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recording WHERE state IN ('queued', 'failed')") == 2
            }
        }
        let final = try await server.database().read { db in try Recording.fetchAll(db, sql: "SELECT * FROM recording ORDER BY id") }
        #expect(recordings.count == 2)
        let sha = SHA256.hash(data: clip).map { String(format: "%02x", $0) }.joined()
        #expect(final[0].state == .queued && final[0].sourceSha256 == sha && final[0].title == "tuspy 上传的课")
        // The resumed upload's bytes hash to the same file, so it is recognised as a duplicate.
        #expect(final[1].sourceSha256 == sha)
        #expect(final[1].failure?.contains("already uploaded") == true)
    }
}

extension TestServer {
    /// Runs `body` against the real application listening on a loopback port.
    func live<Value>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = try await buildApplication(config)
        return try await app.test(.live, body)
    }
}
