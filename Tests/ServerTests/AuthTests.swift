import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import TestSupport
import Testing

@Suite("Server basics and accounts")
struct AuthTests {
    @Test("Health, metrics and the OpenAPI document are served")
    func basics() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        try await server.test { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"ok\""))
            }
            try await client.execute(uri: "/api/v1/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).hasPrefix("openapi: 3.1.0"))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("lessonlink_http_requests_total"))
            }
        }
    }

    @Test("Readiness names each check: 200 when all are fine, 503 with the reason when one is not")
    func readiness() async throws {
        let ready = try await TestServer.make(seed: false)
        defer { ready.remove() }
        try await ready.test { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .ok)
            let body = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
            let checks = body?["checks"] as? [String: [String: Any]]
            #expect(body?["status"] as? String == "ready")
            #expect(Set(checks?.keys.map { $0 } ?? []) == ["database", "storage", "worker"])
            #expect((checks?["storage"]?["detail"] as? String)?.contains("GiB free of") == true)
        }
        // No disk is 101 % free, and a queued job older than a second is a lagging worker.
        let full = try await TestServer.make({ $0.minFreePercent = 101; $0.maxQueueWait = 1 }, seed: false)
        defer { full.remove() }
        try await full.database().write { db in
            var district = District(name: "D")
            try district.insert(db)
            var school = School(districtId: district.id!, name: "S", kind: .lead)
            try school.insert(db)
            var teacher = Person(username: "t", displayName: "T", role: .admin, passwordHash: "x")
            try teacher.insert(db)
            var recording = Recording(title: "R", teacherId: teacher.id!, schoolId: school.id!, state: .queued)
            try recording.insert(db)
            var job = TranscodeJob(recordingId: recording.id!, createdAt: Date().addingTimeInterval(-120))
            try job.insert(db)
        }
        try await full.test { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .serviceUnavailable)
            let text = String(buffer: response.body)
            #expect(text.contains("not_ready") && text.contains("uploads will soon be refused") && text.contains("is a worker running?"))
        }
    }

    @Test("Admins see the disk filling up before uploads fail, and the metrics say it too; nobody else sees the status")
    func adminStatus() async throws {
        // No disk is 101 % free: the warning shows.
        let server = try await TestServer.make({ $0.minFreePercent = 101 })
        defer { server.remove() }
        try await server.test { client in
            let admin = try await client.signIn("county-admin")
            let response = try await client.get("/api/v1/admin/status", token: admin)
            #expect(response.status == .ok)
            let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            let storage = body?["storage"] as? [String: Any]
            #expect(storage?["low"] as? Bool == true && storage?["minFreePercent"] as? Double == 101)
            #expect((storage?["freeBytes"] as? Int ?? 0) > 0 && (storage?["totalBytes"] as? Int ?? 0) > (storage?["freeBytes"] as? Int ?? 0))
            #expect((body?["backup"] as? [String: Any])?.isEmpty == true, "no scheduled backups configured")
            let teacher = try await client.signIn("teacher")
            let refused = try await client.get("/api/v1/admin/status", token: teacher)
            #expect(refused.status == .forbidden && refused.error?.code == "forbidden")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("lessonlink_storage_low 1") && metrics.contains("lessonlink_backup_failing 0"))
            #expect(metrics.contains("lessonlink_storage_free_bytes "))
        }
    }

    @Test("Unknown routes and bad tokens answer with the JSON error shape")
    func errorShape() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        try await server.test { client in
            let missing = try await client.get("/api/v1/nothing-here", token: nil)
            #expect(missing.status == .notFound)
            #expect(missing.error?.code == "not_found")
            let anonymous = try await client.get("/api/v1/recordings", token: nil)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.error?.code == "unauthenticated")
            let forged = try await client.get("/api/v1/me", token: "not-a-real-token")
            #expect(forged.status == .unauthorized)
            #expect(forged.error?.code == "invalid_token")
        }
    }

    @Test("Sign in, see yourself, sign out: the token stops working")
    func session() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        try await server.test { client in
            let token = try await client.signIn("teacher")
            let me = try await client.get("/api/v1/me", token: token)
            #expect(me.status == .ok)
            struct Me: Decodable { var username: String; var role: String; var schoolId: Int64? }
            let person = try me.decode(Me.self)
            #expect(person.username == "teacher" && person.role == "teacher" && person.schoolId != nil)
            #expect(!String(buffer: me.body).contains("passwordHash"))
            try await client.execute(uri: "/api/v1/sessions/current", method: .delete, headers: [.authorization: "Bearer \(token)"]) { response in
                #expect(response.status == .noContent)
            }
            #expect(try await client.get("/api/v1/me", token: token).status == .unauthorized)
            // Only the token's hash is stored.
            let stored = try await server.database().read { db in try String.fetchAll(db, sql: "SELECT tokenHash FROM authSession") }
            #expect(!stored.contains(token))
        }
    }

    @Test("Repeated failed sign-ins are throttled with 429 and Retry-After")
    func throttling() async throws {
        let server = try await TestServer.make { $0.loginAttempts = 3 }
        defer { server.remove() }
        try await server.test { client in
            let wrong = try JSONEncoder().encode(["username": "teacher", "password": "guess"])
            for _ in 0..<3 {
                try await client.execute(uri: "/api/v1/sessions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(data: wrong)) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.error?.code == "invalid_credentials")
                }
            }
            // Now even the right password waits.
            let right = try JSONEncoder().encode(["username": "teacher", "password": DemoCounty.password])
            try await client.execute(uri: "/api/v1/sessions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(data: right)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.error?.code == "too_many_attempts")
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 > 0)
            }
            // Another user is not affected.
            _ = try await client.signIn("reviewer")
        }
    }

    @Test("The first start on an empty database creates an admin who must change the password")
    func firstAdmin() async throws {
        let server = try await TestServer.make(seed: false)
        defer { server.remove() }
        try await server.test { _ in }
        let people = try await server.database().read { db in try Person.fetchAll(db) }
        #expect(people.count == 1)
        #expect(people.first?.username == "admin" && people.first?.role == .admin && people.first?.mustChangePassword == true)
    }

    @Test("A malformed JSON body is a 400 with the JSON error shape")
    func malformedBody() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        try await server.test { client in
            try await client.execute(uri: "/api/v1/sessions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{\"username\": ")) { response in
                #expect(response.status == .badRequest)
                #expect(response.error?.code == "invalid_body")
            }
        }
    }
}
