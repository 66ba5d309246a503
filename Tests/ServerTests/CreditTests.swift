import Catalog
import Credentials
import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Review
import Server
import Testing

/// A small volume (two new-course lessons and a practice lesson) with the demo teacher's ready
/// recordings of all three.
struct SmallVolume {
    var volume: Int64
    var recordings: [Int64]

    static func make(_ server: TestServer) async throws -> SmallVolume {
        try await server.database().write { db in
            let teacher = try Person.filter(Column("username") == "teacher").fetchOne(db)!
            var volume = TextbookVolume(subject: "综合实践", grade: 3, edition: "青山县校本", volume: "上册")
            try volume.insert(db)
            var recordings: [Int64] = []
            for (number, (title, newCourse)) in [("认识茶树", true), ("采茶与制茶", true), ("茶园实践活动", false)].enumerated() {
                var lesson = TextbookLesson(
                    volumeId: volume.id!, position: number + 1, unit: "第一单元 家乡的茶", number: number + 1, title: title, isNewCourse: newCourse)
                try lesson.insert(db)
                var recording = Recording(title: title, teacherId: teacher.id!, schoolId: teacher.schoolId!, state: .ready)
                recording.lessonId = lesson.id
                recording.mediaInfo = SourceMedia(container: "mov,mp4", duration: 40, bitRate: 1_000_000, size: 1000)
                recording.mediaVersion = "v1"
                try RecordingStore.insert(&recording, db)
                recordings.append(recording.id!)
            }
            return SmallVolume(volume: volume.id!, recordings: recordings)
        }
    }
}

struct CreditBody: Decodable {
    var id: Int64
    var credentialId: String
    var revokedAt: Date?
}

struct VerifyBody: Decodable {
    var verdict: String
    var message: String
    var holder: String?
}

struct CoverageBody: Decodable {
    struct Lesson: Decodable {
        var title: String
        var newCourse: Bool
        var review: String
    }
    var required: Int
    var approved: Int
    var lessons: [Lesson]
    var credit: CreditBody?
}

struct Items<T: Decodable>: Decodable {
    var items: [T]
}

extension TestClientProtocol {
    func verify(_ credential: Data) async throws -> TestResponse {
        try await execute(uri: "/api/v1/credentials/verify", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(data: credential))
    }
}

@Suite("Coverage, credit and the certificate")
struct CreditAPITests {
    @Test("A volume approved at both levels → exactly one credit, even when the last two approvals race; its certificate verifies, changed or revoked it does not")
    func credit() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let small = try await SmallVolume.make(server)
        try await server.test { client in
            let teacher = try await client.signIn("teacher")
            let county = try await client.signIn("reviewer")
            let city = try await client.signIn("city-reviewer")
            let admin = try await client.signIn("county-admin")
            let coordinator = try await client.signIn("coordinator")

            // The whole volume at once: all three recordings go to the county office.
            let batch = try await client.send("/api/v1/textbook-volumes/\(small.volume)/review", .post, token: teacher)
            #expect(batch.status == .ok)
            let submitted = try batch.decode(ReviewStore.VolumeSubmission.self).submitted.map(\.id)
            #expect(submitted.count == 3)
            let again = try await client.send("/api/v1/textbook-volumes/\(small.volume)/review", .post, token: teacher)
            #expect(try again.decode(ReviewStore.VolumeSubmission.self).skipped.count == 3, "already under review")
            #expect(try await client.send("/api/v1/textbook-volumes/\(small.volume)/review", .post, token: county).status == .forbidden)

            // The practice lesson does not count; the two new-course lessons do.
            for id in submitted {
                #expect(try await client.send("/api/v1/reviews/\(id)/claim", .post, token: county).status == .ok)
                #expect(try await client.send("/api/v1/reviews/\(id)/decision", .post, token: county, json: Decision(decision: "approve", scores: goodScores)).status == .ok)
                #expect(try await client.send("/api/v1/reviews/\(id)/claim", .post, token: city).status == .ok)
            }
            #expect(try await client.send("/api/v1/reviews/\(submitted[2])/decision", .post, token: city, json: Decision(decision: "approve", scores: goodScores)).status == .ok)
            var progress = try await client.get("/api/v1/coverage?volume=\(small.volume)", token: teacher).decode(Items<CoverageBody>.self).items[0]
            #expect(progress.required == 2 && progress.approved == 0 && progress.credit == nil)
            #expect(progress.lessons.map(\.review) == ["inReview", "inReview", "approved"] && progress.lessons[2].newCourse == false)

            // The last two approvals at once: one credit.
            async let first = client.send("/api/v1/reviews/\(submitted[0])/decision", .post, token: city, json: Decision(decision: "approve", scores: goodScores))
            async let second = client.send("/api/v1/reviews/\(submitted[1])/decision", .post, token: city, json: Decision(decision: "approve", scores: goodScores))
            let statuses = [try await first.status, try await second.status]
            #expect(statuses == [.ok, .ok])
            let credits = try await client.get("/api/v1/credits", token: teacher).decode(Items<CreditBody>.self).items
            #expect(credits.count == 1)
            let rows = try await server.database().read { db in try Credit.fetchCount(db) }
            #expect(rows == 1)
            progress = try await client.get("/api/v1/coverage?volume=\(small.volume)", token: teacher).decode(Items<CoverageBody>.self).items[0]
            #expect(progress.approved == 2 && progress.credit?.id == credits[0].id)
            let shelf = String(buffer: try await client.get("/api/v1/textbooks/\(small.volume)", token: teacher).body)
            #expect(shelf.contains(#""approvedLessons":2"#) && shelf.contains(#""newCourseLessons":2"#))
            let matrix = try await client.get("/api/v1/coverage/matrix", token: coordinator).decode(CreditStore.Matrix.self)
            #expect(matrix.rows.map(\.teacher.name) == ["王丽老师"])
            #expect(matrix.rows[0].cells.map { [$0.volumeId, Int64($0.approved), Int64($0.required)] } == [[small.volume, 2, 2]])
            #expect(matrix.rows[0].cells.map(\.credited) == [true])
            #expect(try await client.get("/api/v1/coverage/matrix", token: teacher).status == .forbidden)

            // The teacher, the coordinator and the school hear of it.
            for token in [teacher, coordinator] {
                #expect(String(buffer: try await client.get("/api/v1/notifications", token: token).body).contains("credit.granted"))
            }

            // The certificate verifies; any changed byte does not.
            let credential = Data(buffer: try await client.get("/api/v1/credits/\(credits[0].id)/credential", token: teacher).body)
            let valid = try await client.verify(credential).decode(VerifyBody.self)
            #expect(valid.verdict == "valid" && valid.holder == "王丽老师")
            let text = String(decoding: credential, as: UTF8.self)
            let forged = text.replacingOccurrences(of: "王丽老师", with: "王丽丽老师")
            #expect(forged != text)
            #expect(try await client.verify(Data(forged.utf8)).decode(VerifyBody.self).verdict == "tampered")

            // Signed correctly, but by a key that is not the county's: unknown issuer.
            let foreignKey = Curve25519.Signing.PrivateKey()
            let foreign = try JSONValue.parse(credential).removing("proof")
                .setting("issuer", .object([("id", .string(DIDKey(foreignKey.publicKey).did)), ("type", .array([.string("Profile")])), ("name", .string("青山县教育局"))]))
            let resigned = try EddsaJCS2022.sign(foreign, key: foreignKey, created: "2026-01-01T00:00:00Z")
            #expect(try await client.verify(try JCS.canonical(resigned)).decode(VerifyBody.self).verdict == "unknownIssuer")

            // Bad bodies: not JSON, and 10 MB.
            #expect(try await client.verify(Data("not json".utf8)).status == .badRequest)
            #expect(try await client.verify(Data("[1]".utf8)).status == .badRequest)
            #expect(try await client.verify(Data(#"{"type": ["Badge"]}"#.utf8)).status == .badRequest, "no proof")
            let unsigned = #"{"type": ["Badge"], "proof": {"type": "DataIntegrityProof", "cryptosuite": "x", "verificationMethod": "y", "proofValue": "z"}}"#
            #expect(try await client.verify(Data(unsigned.utf8)).decode(VerifyBody.self).verdict == "malformed")
            let huge = try await client.verify(Data(repeating: UInt8(ascii: " "), count: 10 << 20))
            #expect(huge.status == .contentTooLarge && huge.error?.code == "too_large")

            // A rotated key signs from now on; the old certificate still verifies.
            let keyFile = server.config.creditIssuer.keyFile
            var keys = try IssuerKeys.load(path: keyFile)
            keys.rotate()
            try keys.save(path: keyFile)
            #expect(try await client.verify(credential).decode(VerifyBody.self).verdict == "valid")

            // Revoked by an admin (only): the verifier and the published status list say so.
            #expect(try await client.send("/api/v1/credits/\(credits[0].id)/revoke", .post, token: coordinator, json: ["reason": "x"]).status == .forbidden)
            let revoked = try await client.send("/api/v1/credits/\(credits[0].id)/revoke", .post, token: admin, json: ["reason": "发现课例抄袭"])
            #expect(revoked.status == .ok)
            let verdict = try await client.verify(credential).decode(VerifyBody.self)
            #expect(verdict.verdict == "revoked" && verdict.message.contains("发现课例抄袭"))
            let list = try JSONValue.parse(Data(buffer: try await client.get("/credentials/status/revocation", token: nil).body))
            let index = try #require(CredentialCheck.statusIndex(of: JSONValue.parse(credential)))
            #expect(CredentialCheck.revokedBit(index, in: list, trusted: keys.trusted) == true)
            #expect(try EddsaJCS2022.verify(list).did == keys.keys.last?.id, "the status list is signed with the current key")
            #expect(CredentialCheck.revokedBit((index + 1) % StatusList.minimumLength, in: list, trusted: keys.trusted) == false)
        }
    }

    @Test("Comments at a moment of a lesson: district teachers and reviewers, threads, not past the end")
    func comments() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let small = try await SmallVolume.make(server)
        try await server.test { client in
            let reviewer = try await client.signIn("reviewer")
            let colleague = try await client.signIn("member-teacher")
            let elsewhere = try await client.signIn("liuhe-teacher")
            let screen = try await client.signIn("classroom")
            let uri = "/api/v1/recordings/\(small.recordings[0])/comments"
            let first = try await client.send(uri, .post, token: reviewer, json: ["position": 12.5 as Double])
            #expect(first.status == .badRequest, "a comment needs words")
            struct Body: Encodable {
                var position: Double?
                var parentId: Int64?
                var body: String
            }
            let made = try await client.send(uri, .post, token: reviewer, json: Body(position: 12.54, body: "这里板书可以更清楚"))
            #expect(made.status == .created)
            let thread = try made.decode(CommentStore.Comment.self)
            #expect(thread.position == 12.5)
            let reply = try await client.send(uri, .post, token: colleague, json: Body(parentId: thread.id, body: "我们学校的投影也看不清"))
            #expect(reply.status == .created)
            #expect(try reply.decode(CommentStore.Comment.self).position == 12.5)
            #expect(try await client.send(uri, .post, token: colleague, json: Body(position: 30, body: "第二处")).status == .created)
            #expect(try await client.send(uri, .post, token: colleague, json: Body(position: 41, body: "过了结尾")).status == .conflict)
            #expect(try await client.send(uri, .post, token: elsewhere, json: Body(position: 3, body: "别的学区")).status == .forbidden)
            #expect(try await client.send(uri, .post, token: screen, json: Body(position: 3, body: "教室")).status == .forbidden)
            let threads = try await client.get(uri, token: reviewer).decode(Items<CommentStore.Comment>.self).items
            #expect(threads.map(\.position) == [12.5, 30] && threads[0].replies?.map(\.body) == ["我们学校的投影也看不清"])
        }
    }
}
