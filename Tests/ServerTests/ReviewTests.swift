import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Testing

struct ReviewBody: Decodable {
    struct Step: Decodable {
        var action: String
        var level: String?
        var scores: [String: Int]?
        var comment: String
    }
    var id: Int64
    var state: String
    var level: String?
    var claimedBy: Int64?
    var history: [Step]?
}

struct Decision: Encodable {
    var decision: String
    var scores: [String: Int]
    var comment: String?
}

let goodScores = ["教学目标": 5, "内容准确": 5, "教学设计": 4, "讲解与板书": 4, "音视频质量": 3]

@Suite("Review by the teaching-research offices")
struct ReviewAPITests {
    @Test("Submit → county claim (exclusive) → approve → city → approved; a return goes back with reasons; every step kept")
    func path() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await SessionCounty.make(server)
        try await server.test { client in
            let teacher = try await client.signIn("teacher")
            let other = try await client.signIn("member-teacher")
            let countyA = try await client.signIn("reviewer")
            let countyB = try await client.signIn("county-reviewer2")
            let city = try await client.signIn("city-reviewer")
            let admin = try await client.signIn("county-admin")
            let review = "/api/v1/recordings/\(county.recording)/review"

            // Only the recording's teacher submits; a recording that is not ready is refused.
            #expect(try await client.send(review, .post, token: other).status == .forbidden)
            let unready = try await client.send("/api/v1/recordings/\(county.notReady)/review", .post, token: teacher)
            #expect(unready.status == .conflict)
            let submitted = try await client.send(review, .post, token: teacher)
            #expect(submitted.status == .ok)
            let id = try submitted.decode(ReviewBody.self).id
            #expect(try submitted.decode(ReviewBody.self).level == "county")
            #expect(try await client.send(review, .post, token: teacher).status == .conflict, "already under review")

            // The county office's queue has it; the city's does not yet; a teacher has no queue.
            #expect(String(buffer: try await client.get("/api/v1/reviews", token: countyA).body).contains("秋天的雨 同步课堂"))
            #expect(String(buffer: try await client.get("/api/v1/reviews?subject=语文&grade=3", token: countyA).body).contains("\"items\":[]"))
            #expect(String(buffer: try await client.get("/api/v1/reviews", token: city).body).contains("\"items\":[]"))
            #expect(try await client.get("/api/v1/reviews", token: teacher).status == .forbidden)
            // The city cannot claim before the county; two county reviewers claim at once: one wins.
            let early = try await client.send("/api/v1/reviews/\(id)/claim", .post, token: city)
            #expect(early.status == .conflict && early.error?.message == "the county office reviews it first")
            async let first = client.send("/api/v1/reviews/\(id)/claim", .post, token: countyA)
            async let second = client.send("/api/v1/reviews/\(id)/claim", .post, token: countyB)
            let statuses = [try await first.status, try await second.status]
            #expect(statuses.filter { $0 == .ok }.count == 1 && statuses.filter { $0 == .conflict }.count == 1, "\(statuses)")
            let winner = try await first.status == .ok ? countyA : countyB
            let loser = winner == countyA ? countyB : countyA

            // Scores must cover the rubric, in range; only the claimer decides.
            let bad = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: winner,
                json: Decision(decision: "approve", scores: goodScores.merging(["音视频质量": 6]) { $1 }))
            #expect(bad.status == .badRequest && bad.error?.message == "scores: '音视频质量' is scored 1–5, not 6")
            let unknown = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: winner,
                json: Decision(decision: "approve", scores: goodScores.merging(["板书": 3]) { $1 }))
            #expect(unknown.status == .badRequest)
            let notMine = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: loser, json: Decision(decision: "approve", scores: goodScores))
            #expect(notMine.status == .forbidden)
            let reasonless = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: winner, json: Decision(decision: "return", scores: goodScores))
            #expect(reasonless.status == .badRequest)
            let returned = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: winner,
                json: Decision(decision: "return", scores: goodScores, comment: "板书在投影上看不清，请重录第二环节"))
            #expect(try returned.decode(ReviewBody.self).state == "returned")

            // Resubmitted: the county again, then the city, then final.
            #expect(try await client.send(review, .post, token: teacher).status == .ok)
            #expect(try await client.send("/api/v1/reviews/\(id)/claim", .post, token: countyA).status == .ok)
            let approved = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: countyA, json: Decision(decision: "approve", scores: goodScores))
            #expect(try approved.decode(ReviewBody.self).level == "city")
            #expect(try await client.send("/api/v1/reviews/\(id)/claim", .post, token: city).status == .ok)
            let final = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: city,
                json: Decision(decision: "approve", scores: goodScores, comment: "示范性强"))
            #expect(try final.decode(ReviewBody.self).state == "approved")
            #expect(try await client.send(review, .post, token: teacher).status == .conflict, "an approval is final")

            // An admin revokes with a reason; every step is in the history.
            let blank = try await client.send("/api/v1/reviews/\(id)/revoke", .post, token: admin, json: ["reason": "  "])
            #expect(blank.status == .badRequest)
            #expect(try await client.send("/api/v1/reviews/\(id)/revoke", .post, token: countyA, json: ["reason": "x"]).status == .forbidden)
            let revoked = try await client.send("/api/v1/reviews/\(id)/revoke", .post, token: admin, json: ["reason": "发现与他人课例雷同"])
            #expect(try revoked.decode(ReviewBody.self).state == "revoked")
            let history = try await client.get(review, token: teacher).decode(ReviewBody.self).history ?? []
            #expect(history.map(\.action) == ["submit", "claim", "return", "resubmit", "claim", "approve", "claim", "approve", "revoke"])
            #expect(history[2].comment == "板书在投影上看不清，请重录第二环节" && history[2].scores == goodScores && history[2].level == "county")
            #expect(history[7].level == "city" && history.last?.comment == "发现与他人课例雷同")
            #expect(try await client.get(review, token: other).status == .notFound, "another teacher does not see it")
            // A 10 MB body is refused with the JSON error shape, and the server keeps serving.
            let huge = try await client.send(
                "/api/v1/reviews/\(id)/decision", .post, token: countyA, headers: [.contentType: "application/json"],
                body: Data(repeating: UInt8(ascii: " "), count: 10 << 20))
            #expect(huge.status == .contentTooLarge && huge.error?.code != nil, "\(huge.status) \(String(buffer: huge.body).prefix(200))")
            let rubric = String(buffer: try await client.get("/api/v1/review-rubric", token: teacher).body)
            #expect(rubric.contains("讲解与板书"))
        }
    }
}
