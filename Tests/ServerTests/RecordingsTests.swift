import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import TestSupport
import Testing

struct PageBody: Decodable {
    struct Item: Decodable {
        var id: Int64
        var title: String
        var state: String
        var teacher: Reference
        var textbook: Textbook?
    }
    struct Reference: Decodable { var id: Int64; var name: String }
    struct Textbook: Decodable { var volume: String; var lesson: String }
    var items: [Item]
    var nextCursor: String?
}

/// Adds a ready recording for `username` straight into the database.
func addRecording(_ server: TestServer, title: String, by username: String, lesson: String? = nil, state: Recording.State = .ready) async throws -> Int64 {
    try await server.database().write { db in
        let person = try Person.filter(Person.Columns.username == username).fetchOne(db)!
        let lessonId = try lesson.flatMap { try Int64.fetchOne(db, sql: "SELECT id FROM textbookLesson WHERE title = ?", arguments: [$0]) }
        var recording = Recording(title: title, teacherId: person.id!, schoolId: person.schoolId!, lessonId: lessonId, state: state)
        try RecordingStore.insert(&recording, db)
        return recording.id!
    }
}

@Suite("Recordings API")
struct RecordingsTests {
    @Test("Search in Chinese over HTTP, with filters and the textbook named")
    func search() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        _ = try await addRecording(server, title: "秋天的雨 第一课时", by: "teacher", lesson: "秋天的雨")
        _ = try await addRecording(server, title: "分数的初步认识", by: "teacher", lesson: "几分之一")
        try await server.test { client in
            let token = try await client.signIn("member-teacher")
            let query = "秋天".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!
            let found = try await client.get("/api/v1/recordings?q=\(query)", token: token)
            #expect(found.status == .ok)
            let page = try found.decode(PageBody.self)
            #expect(page.items.map(\.title) == ["秋天的雨 第一课时"])
            #expect(page.items.first?.textbook?.volume == "人教版 语文 三年级 上册")
            #expect(page.items.first?.teacher.name == "王丽老师")
            let maths = try await client.get("/api/v1/recordings?subject=%E6%95%B0%E5%AD%A6", token: token).decode(PageBody.self)
            #expect(maths.items.map(\.title) == ["分数的初步认识"])
            // SQL and FTS syntax in q is only text.
            let hostile = "\"秋天\" OR 1=1; DROP TABLE recording; --".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(try await client.get("/api/v1/recordings?q=\(hostile)", token: token).status == .ok)
            #expect(try await client.get("/api/v1/recordings", token: token).decode(PageBody.self).items.count == 2)
            // Bad parameters are named.
            let badState = try await client.get("/api/v1/recordings?state=done", token: token)
            #expect(badState.status == .badRequest && badState.error?.message.contains("state must be one of") == true)
            let badCursor = try await client.get("/api/v1/recordings?cursor=%2E%2E%2F", token: token)
            #expect(badCursor.error?.code == "invalid_cursor")
            #expect(try await client.get("/api/v1/recordings?limit=1000", token: token).status == .badRequest)
        }
    }

    @Test("Ids that are not ids, and recordings one may not see, are 404")
    func notFound() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let draft = try await addRecording(server, title: "draft", by: "teacher", state: .uploading)
        try await server.test { client in
            let token = try await client.signIn("member-teacher")
            for path in ["../../etc/passwd", "..%2F..%2Flessonlink.sqlite", "-1", "0", "99999999", "1%20OR%201=1"] {
                let response = try await client.get("/api/v1/recordings/\(path)", token: token)
                #expect(response.status == .notFound, "\(path)")
            }
            #expect(try await client.get("/api/v1/recordings/\(draft)", token: token).status == .notFound)
            let owner = try await client.signIn("teacher")
            #expect(try await client.get("/api/v1/recordings/\(draft)", token: owner).status == .ok)
        }
    }

    @Test("Teachers edit their own recordings; others get 403; classroom screens only read")
    func editing() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let id = try await addRecording(server, title: "秋天的雨", by: "teacher")
        try await server.test { client in
            let change = ByteBuffer(string: #"{"title": "秋天的雨（修订）", "recordedOn": "2026-09-15"}"#)
            let other = try await client.signIn("member-teacher")
            let forbidden = try await client.execute(
                uri: "/api/v1/recordings/\(id)", method: .patch, headers: [.authorization: "Bearer \(other)", .contentType: "application/json"], body: change)
            #expect(forbidden.status == .forbidden && forbidden.error?.code == "forbidden")
            let screen = try await client.signIn("classroom")
            #expect(try await client.execute(uri: "/api/v1/recordings/\(id)", method: .delete, headers: [.authorization: "Bearer \(screen)"]).status == .forbidden)

            let owner = try await client.signIn("teacher")
            let changed = try await client.execute(
                uri: "/api/v1/recordings/\(id)", method: .patch, headers: [.authorization: "Bearer \(owner)", .contentType: "application/json"], body: change)
            #expect(changed.status == .ok)
            #expect(String(buffer: changed.body).contains("秋天的雨（修订）"))
            let badDay = try await client.execute(
                uri: "/api/v1/recordings/\(id)", method: .patch, headers: [.authorization: "Bearer \(owner)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"recordedOn": "yesterday"}"#))
            #expect(badDay.status == .badRequest)
            // A textbook lesson is set by id, cleared by null; one that does not exist is named in a 404.
            func patch(_ json: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/api/v1/recordings/\(id)", method: .patch, headers: [.authorization: "Bearer \(owner)", .contentType: "application/json"],
                    body: ByteBuffer(string: json))
            }
            let unknown = try await patch(#"{"lessonId": 999999}"#)
            #expect(unknown.status == .notFound && unknown.error?.code == "unknown_lesson")
            #expect(String(buffer: try await patch(#"{"lessonId": 1}"#).body).contains(#""lessonId":1"#))
            let cleared = String(buffer: try await patch(#"{"lessonId": null, "title": "秋天的雨"}"#).body)
            #expect(!cleared.contains("lessonId") && cleared.contains(#""title":"秋天的雨""#), "\(cleared)")
            // The coordinator of the recording's district may delete it; afterwards it is gone for everyone.
            let coordinator = try await client.signIn("coordinator")
            #expect(try await client.execute(uri: "/api/v1/recordings/\(id)", method: .delete, headers: [.authorization: "Bearer \(coordinator)"]).status == .noContent)
            #expect(try await client.get("/api/v1/recordings/\(id)", token: owner).status == .notFound)
        }
    }

    @Test("Directory endpoints list the county's structure")
    func directory() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        try await server.test { client in
            let token = try await client.signIn("reviewer")
            struct Items: Decodable { var items: [Item] }
            struct Item: Decodable { var id: Int64; var name: String? ; var title: String? }
            #expect(try await client.get("/api/v1/districts", token: token).decode(Items.self).items.count == 6)
            #expect(try await client.get("/api/v1/schools", token: token).decode(Items.self).items.count == 43)
            let volumes = try await client.get("/api/v1/textbook-volumes", token: token).decode(Items.self).items
            #expect(volumes.contains { $0.title == "人教版 语文 三年级 上册" })
            let chinese = try #require(volumes.first { $0.title == "人教版 语文 三年级 上册" })
            let detail = try await client.get("/api/v1/textbook-volumes/\(chinese.id)", token: token)
            #expect(String(buffer: detail.body).contains("秋天的雨"))
            let teacher = try await client.signIn("teacher")
            let people = try await client.get("/api/v1/people", token: teacher).decode(Items.self).items
            #expect(people.count == 1, "a teacher sees the people of their own school")
        }
    }
}

@Suite("Tier planner API")
struct TierPlanTests {
    @Test("A school's plan follows its links and how many classrooms stream at once")
    func plan() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let schoolId = try await server.database().read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '桥头小学'")
        }
        let id = try #require(schoolId)
        try await server.test { client in
            let token = try await client.signIn("coordinator")
            let all = try await client.get("/api/v1/schools/\(id)/plan", token: token)
            #expect(all.status == .ok)
            let plan = try #require(try JSONSerialization.jsonObject(with: Data(buffer: all.body)) as? [String: Any])
            #expect(plan["tier"] as? String == "1080p" && plan["underServed"] as? Bool == false)
            let crowded = try #require(
                try JSONSerialization.jsonObject(with: Data(buffer: try await client.get("/api/v1/schools/\(id)/plan?classrooms=200", token: token).body))
                    as? [String: Any])
            #expect(crowded["tier"] as? String == "720p" && crowded["underServed"] as? Bool == true)
            #expect(try await client.get("/api/v1/schools/\(id)/plan?headroom=2", token: token).status == .badRequest)
            #expect(try await client.get("/api/v1/schools/999999/plan", token: token).status == .notFound)
            #expect(try await client.get("/api/v1/schools/\(id)/plan", token: nil).status == .unauthorized)
        }
    }
}
