import Catalog
import Crypto
import Delivery
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Media
import Server
import TestSupport
import Testing
import PackSync

extension TestClientProtocol {
    func send(_ uri: String, _ method: HTTPRequest.Method, token: String, json: some Encodable) async throws -> TestResponse {
        try await execute(
            uri: uri, method: method, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
            body: ByteBuffer(data: try JSONEncoder().encode(json)))
    }

    func send(_ uri: String, _ method: HTTPRequest.Method, token: String, headers extra: HTTPFields = [:], body: Data = Data()) async throws -> TestResponse {
        var headers = extra
        headers[.authorization] = "Bearer \(token)"
        return try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(data: body))
    }
}

func inode(_ path: String) -> UInt64? {
    var status = stat()
    return stat(path, &status) == 0 ? UInt64(status.st_ino) : nil
}

func sha256(_ data: Data) -> String { ObjectStore.hex(SHA256.hash(data: data)) }

struct Created: Decodable {
    var id: Int64
}

struct Published: Decodable {
    var version: Int
    var manifestSha256: String
    var fileCount: Int
    var totalSize: Int64
}

@Suite("Resource packs")
struct PacksTests {
    @Test("A lead school builds, publishes and versions a pack; its member school downloads it; others cannot")
    func lifecycle() async throws {
        let server = try await TestServer.make {
            TestServer.withWorker(&$0)
            $0.packAttachmentMaxSize = 2 << 20
        }
        defer { server.remove() }
        let database = try server.database()
        let (member, otherDistrict) = try await database.read { db in
            (try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '桥头小学'")!,
             try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '柳河村小学'")!)
        }
        try await server.test { client in
            let teacher = try await client.signIn("teacher")
            let recording = try await client.uploadRecording(try makeClip(seconds: 10), title: "秋天的雨 第一课时", token: teacher, database: database)
            try await eventually(90) { try await client.recording(recording, token: teacher).state == .ready }

            // Given a draft with a whole lesson, a clip from 4 s to 7 s, and a worksheet.
            let created = try await client.send(
                "/api/v1/packs", .post, token: teacher,
                json: ["title": "三年级语文 秋天的雨", "notes": "先预习生字，再看第二段。"] as [String: String])
            #expect(created.status == .created)
            let pack = try created.decode(Created.self).id
            #expect(try await client.send("/api/v1/packs/\(pack)", .patch, token: teacher, json: ["targets": [["schoolId": member]]]).status == .ok)
            #expect(try await client.send("/api/v1/packs/\(pack)/items", .post, token: teacher, json: ["recordingId": recording]).status == .created)
            let clip = try await client.send(
                "/api/v1/packs/\(pack)/items", .post, token: teacher,
                json: ["recordingId": Double(recording), "clipStart": 4.5, "clipEnd": 7] as [String: Double])
            #expect(clip.status == .created)
            let worksheet = Data("第一题：找出课文中的比喻句。\n".utf8)
            let attached = try await client.send("/api/v1/packs/\(pack)/attachments?name=%E7%BB%83%E4%B9%A0.txt", .post, token: teacher, body: worksheet)
            #expect(attached.status == .created)
            // A member-school teacher cannot change it, and sees nothing before it is published.
            let memberTeacher = try await client.signIn("member-teacher")
            #expect(try await client.send("/api/v1/packs/\(pack)", .patch, token: memberTeacher, json: ["title": "x"]).status == .forbidden)
            #expect(try await client.get("/api/v1/packs/\(pack)", token: memberTeacher).status == .forbidden)

            // When it is published.
            let published = try await client.send("/api/v1/packs/\(pack)/publish", .post, token: teacher)
            #expect(published.status == .created)
            let v1 = try published.decode(Published.self)
            #expect(v1.version == 1 && v1.fileCount > 5)
            #expect(try await client.send("/api/v1/packs/\(pack)/publish", .post, token: teacher).status == .conflict)

            // Then the member school lists it and its manifest lists every file, byte for byte.
            let list = try await client.get("/api/v1/packs", token: memberTeacher)
            #expect(list.status == .ok)
            #expect(String(buffer: list.body).contains("\"latestVersion\":1"))
            let manifestResponse = try await client.get("/api/v1/packs/\(pack)/versions/1/manifest", token: memberTeacher)
            #expect(manifestResponse.status == .ok)
            #expect(sha256(Data(buffer: manifestResponse.body)) == v1.manifestSha256)
            let manifest = try PackManifest.decode(Data(buffer: manifestResponse.body))
            #expect(manifest.items.map(\.kind) == ["recording", "recording", "attachment"])
            #expect(manifest.items[0].provenance?.title == "秋天的雨 第一课时" && manifest.items[0].provenance?.teacher == "王丽老师")
            #expect(manifest.targets.map(\.id) == [member] && manifest.targets[0].tier != nil)
            #expect(manifest.totalSize == v1.totalSize && manifest.files.count == v1.fileCount)
            for file in manifest.files {
                let response = try await client.get("/api/v1/packs/\(pack)/versions/1/files/\(file.path)", token: memberTeacher)
                #expect(response.status == .ok, "\(file.path)")
                #expect(sha256(Data(buffer: response.body)) == file.sha256, "\(file.path)")
            }
            #expect(manifest.files.contains { $0.path == "attachments/03-练习.txt" && $0.sha256 == sha256(worksheet) })

            // The clip snaps outward to segment boundaries and its timeline starts at zero.
            let clipItem = manifest.items[1]
            #expect(clipItem.clip?.start == 4 && clipItem.clip?.end == 8 && clipItem.duration == 4)
            let tier = try #require(clipItem.tiers?.first)
            let first = try await client.get("/api/v1/packs/\(pack)/versions/1/files/items/02/\(tier)/seg_00000.m4s", token: memberTeacher)
            #expect(FragmentedMP4.baseDecodeTime(segment: [UInt8](Data(buffer: first.body))) == 0)
            let whole = try await client.get("/api/v1/packs/\(pack)/versions/1/files/items/01/\(tier)/index.m3u8", token: memberTeacher)
            #expect(String(buffer: whole.body).components(separatedBy: "#EXTINF").count - 1 == 3)
            // The whole lesson's segments are the recording's own files, linked rather than copied.
            let stored = try #require(manifest.files.first { $0.path == "items/01/\(tier)/seg_00001.m4s" })
            let version = try #require(try await database.read { db in
                try String.fetchOne(db, sql: "SELECT mediaVersion FROM recording WHERE id = ?", arguments: [recording])
            })
            #expect(inode("\(server.config.layout.media)/\(recording)/\(version)/\(tier)/seg_00001.m4s")
                == inode(ObjectStore(root: server.config.layout.objects).path(of: stored.sha256)))

            // The ZIP: exact length, and a download cut in the middle resumes with Range.
            let zip = try await client.get("/api/v1/packs/\(pack)/versions/1/zip", token: memberTeacher)
            #expect(zip.status == .ok)
            let bytes = Data(buffer: zip.body)
            #expect(zip.headers[.contentLength] == "\(bytes.count)")
            #expect(bytes.count > Int(v1.totalSize) && bytes.prefix(4) == Data([0x50, 0x4B, 0x03, 0x04]))
            let cut = bytes.count / 3
            let rest = try await client.send(
                "/api/v1/packs/\(pack)/versions/1/zip", .get, token: memberTeacher,
                headers: [.range: "bytes=\(cut)-", .ifRange: zip.headers[.eTag]!])
            #expect(rest.status == .partialContent)
            #expect(bytes.prefix(cut) + Data(buffer: rest.body) == bytes)

            // Editing after publishing starts version 2; version 1 never changes and stays downloadable.
            #expect(try await client.send("/api/v1/packs/\(pack)", .patch, token: teacher, json: ["notes": "第二版：加一段朗读。"]).status == .ok)
            // This time in the background (Prefer: respond-async), followed over Server-Sent Events.
            let accepted = try await client.send(
                "/api/v1/packs/\(pack)/publish", .post, token: teacher, headers: [HTTPField.Name("Prefer")!: "respond-async"])
            #expect(accepted.status == .accepted && accepted.headers[HTTPField.Name("Preference-Applied")!] == "respond-async")
            #expect(accepted.headers[.location] == "/api/v1/packs/\(pack)/publish")
            #expect(try await client.get("/api/v1/packs/\(pack)/publish", token: memberTeacher).status == .forbidden)
            let stream = String(buffer: try await client.get("/api/v1/packs/\(pack)/publish/events", token: teacher).body)
            let updates = stream.components(separatedBy: "\n\n").compactMap { block -> [String: Any]? in
                guard let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") })?.dropFirst(6) else { return nil }
                return try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
            }
            #expect(updates.last?["state"] as? String == "published" && updates.last?["version"] as? Int == 2, "\(stream)")
            #expect(updates.last?["itemsDone"] as? Int == updates.last?["items"] as? Int)
            let finished = try await client.get("/api/v1/packs/\(pack)/publish", token: teacher)
            let v2 = try finished.decode(Published.self)
            #expect(v2.version == 2 && v2.manifestSha256 != v1.manifestSha256)
            // With nothing new in the draft, a publish is refused at once, in the background too.
            let nothing = try await client.send(
                "/api/v1/packs/\(pack)/publish", .post, token: teacher, headers: [HTTPField.Name("Prefer")!: "respond-async"])
            #expect(nothing.status == .conflict)
            let again = try await client.get("/api/v1/packs/\(pack)/versions/1/manifest", token: memberTeacher)
            #expect(sha256(Data(buffer: again.body)) == v1.manifestSha256)
            let view = try await client.get("/api/v1/packs/\(pack)", token: memberTeacher)
            #expect(String(buffer: view.body).contains("第二版"))

            // Nobody else sees it: another district's member school, a reviewer.
            let stranger = try await client.signIn("liuhe-teacher")
            #expect(try await client.get("/api/v1/packs/\(pack)", token: stranger).status == .forbidden)
            #expect(try await client.get("/api/v1/packs/\(pack)/versions/2/zip", token: stranger).status == .forbidden)
            #expect(try await client.get("/api/v1/packs/\(pack)/versions/2/manifest", token: stranger).error?.code == "forbidden")
            #expect(!String(buffer: try await client.get("/api/v1/packs", token: stranger).body).contains("秋天的雨"))
            #expect(try await client.get("/api/v1/packs/\(pack)", token: try await client.signIn("reviewer")).status == .forbidden)
            // Nor can a pack be addressed outside the lead school's district.
            let outside = try await client.send("/api/v1/packs/\(pack)", .patch, token: teacher, json: ["targets": [["schoolId": otherDistrict]]])
            #expect(outside.status == .conflict && outside.error?.message.contains("not a member school") == true)
            // A reader cannot attach files; nor can anyone past the size limit.
            #expect(try await client.send("/api/v1/packs/\(pack)/attachments?name=a.txt", .post, token: memberTeacher, body: worksheet).status == .forbidden)
            let tooBig = try await client.send("/api/v1/packs/\(pack)/attachments?name=big.bin", .post, token: teacher, body: Data(count: 3 << 20))
            #expect(tooBig.status == .contentTooLarge && tooBig.error?.code == "too_large")

            // Once version 1 has been superseded long enough, the sweeper releases it: 410, while version 2 stays whole.
            let swept = try await PackStore(database: database).sweep(
                store: ObjectStore(root: server.config.layout.objects), keepOldVersions: 0, now: Date().addingTimeInterval(1))
            #expect(swept.versions == 1)
            #expect(try await client.get("/api/v1/packs/\(pack)/versions/1/zip", token: memberTeacher).status == .gone)
            let v2zip = try await client.get("/api/v1/packs/\(pack)/versions/2/zip", token: memberTeacher)
            #expect(v2zip.status == .ok && v2zip.headers[.contentLength] == "\(v2zip.body.readableBytes)")

            // Deleting: only a maker may; then the pack is gone for everyone, and its files are swept.
            let admin = Viewer(personId: 0, role: .admin)
            let v2Manifest = try #require(try await PackStore(database: database).publishedVersion(pack, number: 2, for: admin).manifestSha256)
            #expect(try await client.send("/api/v1/packs/\(pack)", .delete, token: memberTeacher).status == .forbidden)
            #expect(try await client.send("/api/v1/packs/\(pack)", .delete, token: teacher).status == .noContent)
            #expect(try await client.get("/api/v1/packs/\(pack)", token: memberTeacher).status == .notFound)
            #expect(try await client.get("/api/v1/packs/\(pack)/versions/2/zip", token: memberTeacher).status == .notFound)
            let listed = try await client.get("/api/v1/packs", token: memberTeacher)
            #expect(!String(buffer: listed.body).contains("\"id\":\(pack)"), "a mirror's listing no longer names it")
            let objects = ObjectStore(root: server.config.layout.objects)
            #expect(FileManager.default.fileExists(atPath: objects.path(of: v2Manifest)))
            let released = try await PackStore(database: database).sweep(store: objects, keepOldVersions: 3600, now: Date().addingTimeInterval(7200))
            #expect(released.versions == 1 && released.bytes > 0)
            #expect(!FileManager.default.fileExists(atPath: objects.path(of: v2Manifest)))
        }
    }
}
