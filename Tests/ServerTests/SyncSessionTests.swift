import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import TestSupport
import Testing

/// The demo county's people and places a session test needs, and a ready recording to play.
struct SessionCounty {
    var recording: Int64
    var notReady: Int64
    var bridgeSchool: Int64
    var bridgeRoom1: Int64
    var liuheSchool: Int64

    /// Adds a published 10-minute recording and one still processing, straight into the catalog:
    /// scheduling needs only their state and length, not media files.
    static func make(_ server: TestServer) async throws -> SessionCounty {
        try await server.database().write { db in
            let teacher = try Person.filter(Column("username") == "teacher").fetchOne(db)!
            func add(_ title: String, _ state: Recording.State) throws -> Int64 {
                var recording = Recording(title: title, teacherId: teacher.id!, schoolId: teacher.schoolId!, state: state)
                recording.mediaInfo = SourceMedia(container: "mov,mp4", duration: 600, bitRate: 1_000_000, size: 1000)
                if state == .ready { recording.mediaVersion = "v1" }
                try RecordingStore.insert(&recording, db)
                return recording.id!
            }
            let bridge = try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '桥头小学'")!
            return SessionCounty(
                recording: try add("秋天的雨 同步课堂", .ready), notReady: try add("还在转码", .processing), bridgeSchool: bridge,
                bridgeRoom1: try Int64.fetchOne(db, sql: "SELECT id FROM classroom WHERE schoolId = ? AND name = '教室1'", arguments: [bridge])!,
                liuheSchool: try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '柳河村小学'")!)
        }
    }
}

struct Schedule: Encodable {
    var title = "秋天的雨 同步课堂"
    var recordingId: Int64
    var startsAt: String
    var schoolIds: [Int64]? = nil
    var classroomIds: [Int64]? = nil
    var memberTeachersHost: Bool? = nil
}

struct SessionBody: Decodable {
    struct Target: Decodable {
        var classroomId: Int64
    }
    var id: Int64
    var state: String
    var position: Double
    var targets: [Target]
    var mayHost: Bool
    var isTarget: Bool
}

struct ClockBody: Decodable {
    var state: String
    var position: Double
    var serverTime: Double
    var revision: Int
}

struct Listing: Decodable {
    var items: [SessionBody]
}

func rfc3339(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

@Suite("Synchronized sessions")
struct SyncSessionTests {
    @Test("Scheduling, seeing and controlling follow the roles; another district sees nothing")
    func access() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await SessionCounty.make(server)
        try await server.test { client in
            let teacher = try await client.signIn("teacher")
            let screen = try await client.signIn("classroom")
            let member = try await client.signIn("member-teacher")
            let other = try await client.signIn("liuhe-teacher")
            let reviewer = try await client.signIn("reviewer")
            let coordinator = try await client.signIn("coordinator")
            let start = Date().addingTimeInterval(3600)

            // A classroom screen and a member-school teacher do not schedule.
            for token in [screen, member] {
                let refused = try await client.send(
                    "/api/v1/sync-sessions", .post, token: token,
                    json: Schedule(recordingId: county.recording, startsAt: rfc3339(start), schoolIds: [county.bridgeSchool]))
                #expect(refused.status == .forbidden)
                #expect(refused.error?.code == "forbidden")
            }
            // The lead-school teacher schedules for a whole member school.
            let created = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(start), schoolIds: [county.bridgeSchool]))
            #expect(created.status == .created)
            let session = try created.decode(SessionBody.self)
            #expect(created.headers[.location] == "/api/v1/sync-sessions/\(session.id)")
            #expect(session.state == "scheduled" && session.mayHost)
            #expect(session.targets.count == 3, "the member school's three ordinary classrooms")
            #expect(session.targets.contains { $0.classroomId == county.bridgeRoom1 })

            // The target classroom sees it as a target; the district's coordinator sees it.
            let asScreen = try await client.get("/api/v1/sync-sessions/\(session.id)", token: screen)
            #expect(asScreen.status == .ok)
            #expect(try asScreen.decode(SessionBody.self).isTarget)
            #expect(try asScreen.decode(SessionBody.self).mayHost == false)
            #expect(try await client.get("/api/v1/sync-sessions/\(session.id)", token: coordinator).status == .ok)
            let upcoming = try await client.get("/api/v1/sync-sessions?when=upcoming", token: screen).decode(Listing.self)
            #expect(upcoming.items.map(\.id) == [session.id])
            #expect(try await client.get("/api/v1/sync-sessions?when=past", token: screen).decode(Listing.self).items.isEmpty)

            // Another district's teacher and a reviewer: invisible, in a listing too.
            for token in [other, reviewer] {
                let hidden = try await client.get("/api/v1/sync-sessions/\(session.id)", token: token)
                #expect(hidden.status == .notFound)
                #expect(try await client.get("/api/v1/sync-sessions", token: token).decode(Listing.self).items.isEmpty)
                let joined = try await client.get("/api/v1/sync-sessions/\(session.id)/events", token: token)
                #expect(joined.status == .notFound)
            }

            // A classroom of the district that is not a target does not see it either.
            let room2 = try await client.signIn("classroom2")
            let narrow = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(
                    recordingId: county.recording, startsAt: rfc3339(start.addingTimeInterval(7200)), classroomIds: [county.bridgeRoom1]))
            let narrowId = try narrow.decode(SessionBody.self).id
            #expect(try await client.get("/api/v1/sync-sessions/\(narrowId)", token: room2).status == .notFound)
            #expect(try await client.get("/api/v1/sync-sessions/\(narrowId)/events", token: room2).status == .notFound)
            #expect(try await client.get("/api/v1/sync-sessions/\(narrowId)", token: screen).status == .ok)

            // Only hosts control: not the screen, not a member teacher (hosting was not offered).
            for token in [screen, member] {
                let refused = try await client.send("/api/v1/sync-sessions/\(session.id)/control", .post, token: token, json: ["action": "play"])
                #expect(refused.status == .forbidden)
            }
            // Offering hosting to the targets' teachers lets the member teacher pause it.
            let edited = try await client.send(
                "/api/v1/sync-sessions/\(session.id)", .patch, token: teacher, json: ["memberTeachersHost": true])
            #expect(edited.status == .ok)
            let play = try await client.send("/api/v1/sync-sessions/\(session.id)/control", .post, token: teacher, json: ["action": "play"])
            #expect(try play.decode(ClockBody.self).state == "running")
            let pause = try await client.send("/api/v1/sync-sessions/\(session.id)/control", .post, token: member, json: ["action": "pause"])
            #expect(pause.status == .ok)
            #expect(try pause.decode(ClockBody.self).state == "paused")
            // Only target classrooms report attendance: a member teacher's report is refused.
            let report = Report(position: 1, offset: 0.01, tier: "360p", playing: true, visible: true, stalls: 0, stallSeconds: 0)
            #expect(try await client.send("/api/v1/sync-sessions/\(session.id)/reports", .post, token: member, json: report).status == .forbidden)
        }
    }

    @Test("Bad schedules are refused with clear errors: the past, an unready lesson, a busy classroom, a bad seek")
    func badInput() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await SessionCounty.make(server)
        try await server.test { client in
            let teacher = try await client.signIn("teacher")
            let start = Date().addingTimeInterval(3600)
            let past = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(Date().addingTimeInterval(-600)), schoolIds: [county.bridgeSchool]))
            #expect(past.status == .conflict)
            #expect(past.error?.message.hasPrefix("startsAt: must be in the future") == true)
            #expect(past.error?.code == "bad_start_time")
            let unready = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.notReady, startsAt: rfc3339(start), schoolIds: [county.bridgeSchool]))
            #expect(unready.status == .conflict)
            #expect(unready.error?.code == "not_ready")
            let foreign = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(start), schoolIds: [county.liuheSchool]))
            #expect(foreign.status == .forbidden)
            #expect(foreign.error?.message.contains("not in your district") == true)
            let badTime = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: "tomorrow morning", schoolIds: [county.bridgeSchool]))
            #expect(badTime.status == .badRequest)

            let first = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(start), schoolIds: [county.bridgeSchool]))
            #expect(first.status == .created)
            let id = try first.decode(SessionBody.self).id
            // Ten minutes later, while the first (600 s) still plays in the same classroom: 409.
            let overlapping = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(start.addingTimeInterval(300)), classroomIds: [county.bridgeRoom1]))
            #expect(overlapping.status == .conflict)
            #expect(overlapping.error?.code == "overlap")
            #expect(overlapping.error?.message == "桥头小学 教室1 already has session \(id) (秋天的雨 同步课堂) at that time")
            // Right after it: fine.
            let after = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(start.addingTimeInterval(600)), classroomIds: [county.bridgeRoom1]))
            #expect(after.status == .created)

            // Controls that make no sense before the start.
            let seek = try await client.send("/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ["action": "seek"])
            #expect(seek.status == .badRequest)
            let early = try await client.send(
                "/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ControlBody(action: "seek", position: 10))
            #expect(early.status == .conflict)
            #expect(early.error?.message == "the session has not started: play it first, then seek")
            // Cancelled: the screen reads it as such, controls are refused as over.
            let cancelled = try await client.send("/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ["action": "cancel"])
            #expect(try cancelled.decode(ClockBody.self).state == "cancelled")
            let screen = try await client.signIn("classroom")
            #expect(try await client.get("/api/v1/sync-sessions/\(id)/clock", token: screen).decode(ClockBody.self).state == "cancelled")
            let late = try await client.send("/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ["action": "play"])
            #expect(late.status == .conflict)
            #expect(late.error?.code == "session_over")
            let edit = try await client.send("/api/v1/sync-sessions/\(id)", .patch, token: teacher, json: ["title": "改名"])
            #expect(edit.status == .conflict)
        }
    }

    @Test("A late classroom reads the current position; reports add up to an attendance report with absent classrooms")
    func clockAndAttendance() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await SessionCounty.make(server)
        let id = try await server.test { client -> Int64 in
            let teacher = try await client.signIn("teacher")
            let screen = try await client.signIn("classroom")
            let created = try await client.send(
                "/api/v1/sync-sessions", .post, token: teacher,
                json: Schedule(recordingId: county.recording, startsAt: rfc3339(Date().addingTimeInterval(60)), schoolIds: [county.bridgeSchool]))
            let id = try created.decode(SessionBody.self).id
            _ = try await client.send("/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ["action": "play"])
            let seeked = Date()
            _ = try await client.send("/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ControlBody(action: "seek", position: 120))
            try await Task.sleep(for: .milliseconds(600))
            // Joining late: the clock says where everyone is, not the start.
            let clock = try await client.get("/api/v1/sync-sessions/\(id)/clock", token: screen).decode(ClockBody.self)
            #expect(clock.state == "running")
            #expect(clock.position > 120.5 && clock.position < 120 + Date().timeIntervalSince(seeked) + 0.1)
            #expect(abs(clock.serverTime - Date().timeIntervalSince1970 * 1000) < 2000)

            let began = Date()
            let first = Report(position: 120.6, offset: 0.02, tier: "360p", playing: true, visible: true, stalls: 0, stallSeconds: 0)
            #expect(try await client.send("/api/v1/sync-sessions/\(id)/reports", .post, token: screen, json: first).status == .ok)
            try await Task.sleep(for: .milliseconds(1100))
            let second = Report(position: 121.7, offset: -0.04, tier: "360p", playing: true, visible: true, stalls: 2, stallSeconds: 1.5)
            let answer = try await client.send("/api/v1/sync-sessions/\(id)/reports", .post, token: screen, json: second)
            let gap = Date().timeIntervalSince(began)
            #expect(try answer.decode(ClockBody.self).state == "running")
            let bad = Report(position: -1, offset: 0, tier: nil, playing: true, visible: true, stalls: 0, stallSeconds: 0)
            #expect(try await client.send("/api/v1/sync-sessions/\(id)/reports", .post, token: screen, json: bad).status == .badRequest)

            // A raised hand reaches the host's list; the host marks it answered.
            let hand = try await client.send("/api/v1/sync-sessions/\(id)/questions", .post, token: screen, json: ["kind": "question", "text": "老师，什么是秋雨？"])
            #expect(hand.status == .created)
            let questions = try await client.get("/api/v1/sync-sessions/\(id)/questions", token: teacher)
            #expect(String(buffer: questions.body).contains("老师，什么是秋雨？"))
            let questionId = try hand.decode(Created.self).id
            let answered = try await client.send("/api/v1/sync-sessions/\(id)/questions/\(questionId)/answer", .post, token: teacher, body: Data())
            #expect(answered.status == .ok)
            #expect(String(buffer: answered.body).contains("answeredAt"))

            // Prometheus: one session running; the stall seconds the screen reported.
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("lessonlink_sessions_running 1"))
            #expect(metrics.contains("lessonlink_session_stall_seconds_total 1.5"))
            _ = try await client.send("/api/v1/sync-sessions/\(id)/control", .post, token: teacher, json: ["action": "end"])
            // The screen may not read attendance; the host may.
            #expect(try await client.get("/api/v1/sync-sessions/\(id)/attendance", token: screen).status == .forbidden)
            let report = try await client.get("/api/v1/sync-sessions/\(id)/attendance", token: teacher)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: report.body)) as! [String: Any]
            #expect(json["present"] as? Int == 1)
            #expect(json["absent"] as? Int == 2)
            let rows = json["classrooms"] as! [[String: Any]]
            let room = rows.first { $0["classroomId"] as? Int64 == county.bridgeRoom1 || ($0["classroomId"] as? Int).map(Int64.init) == county.bridgeRoom1 }!
            #expect(room["stallCount"] as? Int == 2)
            #expect(room["stallSeconds"] as? Double == 1.5)
            let watched = (room["tierSeconds"] as! [String: Double])["360p"] ?? 0
            #expect(watched >= 1.0 && watched <= gap, "the time between the two reports (\(gap) s), in 360p")
            let csv = try await client.get("/api/v1/sync-sessions/\(id)/attendance?format=csv", token: teacher)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            let bytes = Array(Data(buffer: csv.body))
            #expect(bytes.starts(with: [0xEF, 0xBB, 0xBF]), "a BOM, for spreadsheets")
            let lines = String(decoding: bytes.dropFirst(3), as: UTF8.self).split(separator: "\r\n")
            #expect(lines.count == 4)
            #expect(lines.contains { $0.hasPrefix("桥头小学,教室1,出席,") })
            #expect(lines.filter { $0.contains(",缺席,") }.count == 2)
            return id
        }
        // The same from the server's console.
        func cli(_ arguments: [String]) throws -> ProcessResult {
            try runProcess(
                try lessonlinkBinary(), arguments + ["--storage-root", server.root.path, "--database-path", server.config.databasePath])
        }
        let listed = try cli(["sessions", "list", "--when", "past"])
        #expect(listed.status == 0 && listed.out.contains("ended") && listed.out.contains("秋天的雨 同步课堂"), "\(listed)")
        #expect(try cli(["sessions", "list", "--when", "upcoming"]).out.split(separator: "\n").count == 1, "only the heading")
        let csv = try cli(["sessions", "attendance", "\(id)"])
        #expect(csv.status == 0 && csv.out.hasPrefix("\u{FEFF}学校,教室,出勤") && csv.out.contains("桥头小学,教室1,出席"), "\(csv)")
        let missing = try cli(["sessions", "attendance", "999"])
        #expect(missing.status != 0 && missing.err.contains("no such session"))
    }
}

struct Report: Encodable {
    var position: Double
    var offset: Double
    var tier: String?
    var playing: Bool
    var visible: Bool
    var stalls: Int
    var stallSeconds: Double
}

struct ControlBody: Encodable {
    var action: String
    var position: Double
}
