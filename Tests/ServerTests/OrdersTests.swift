import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Orders
import Server
import Testing

struct OrderBody: Decodable {
    struct Step: Decodable {
        var action: String
        var from: String?
        var to: String
        var reason: String
    }
    var id: Int64
    var state: String
    var overdue: Bool
    var needsMe: Bool
    var history: [Step]?
}

struct InboxBody: Decodable {
    var items: [OrderBody]
    var todo: Int
}

/// The demo county's places an order touches.
struct OrderCounty {
    var english: Int64
    var lessons: [Int64]
    var lead: Int64
    var liuheLead: Int64
    var teacher: Int64

    static func make(_ server: TestServer) async throws -> OrderCounty {
        try await server.database().read { db in
            let english = try Int64.fetchOne(db, sql: "SELECT id FROM textbookVolume WHERE subject = '英语'")!
            return OrderCounty(
                english: english,
                lessons: try Int64.fetchAll(db, sql: "SELECT id FROM textbookLesson WHERE volumeId = ? ORDER BY position LIMIT 2", arguments: [english]),
                lead: try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '青山县城关第一小学'")!,
                liuheLead: try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '柳河镇中心小学'")!,
                teacher: try Int64.fetchOne(db, sql: "SELECT id FROM person WHERE username = 'teacher'")!)
        }
    }
}

func day(_ offset: Int) -> String { OrderDates.day(Date().addingTimeInterval(Double(offset) * 86400)) }

struct Dispatch: Encodable {
    var leadSchoolId: Int64
    var dueOn: String
}

@Suite("Orders")
struct OrdersAPITests {
    struct Place: Encodable {
        var volumeId: Int64?
        var lessonIds: [Int64]?
        var topic: String?
        var grade = 4
        var classes = 2
        var pupils = "没有专职英语老师，学生没接触过自然拼读"
        var format = "pack"
        var neededBy = day(14)
    }

    @Test("Place → dispatch → decline → dispatch → accept → deliver a pack → rate; the school's packs include it; every step in the history")
    func loop() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await OrderCounty.make(server)
        try await server.test { client in
            let school = try await client.signIn("member-teacher")
            let coordinator = try await client.signIn("coordinator")
            let lead = try await client.signIn("teacher")

            let placed = try await client.send(
                "/api/v1/orders", .post, token: school, json: Place(volumeId: county.english, lessonIds: county.lessons))
            #expect(placed.status == .created)
            let id = try placed.decode(OrderBody.self).id
            #expect(placed.headers[.location] == "/api/v1/orders/\(id)")

            // The coordinator's inbox has it, waiting for them; the coordinator is notified.
            let inbox = try await client.get("/api/v1/orders?todo=true", token: coordinator).decode(InboxBody.self)
            #expect(inbox.items.map(\.id) == [id] && inbox.todo == 1)
            #expect(String(buffer: try await client.get("/api/v1/notifications", token: coordinator).body).contains("order.placed"))
            #expect(try await client.get("/api/v1/orders?todo=true", token: school).decode(InboxBody.self).todo == 0)

            let dispatch = Dispatch(leadSchoolId: county.lead, dueOn: day(7))
            #expect(try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: coordinator, json: dispatch).status == .ok)
            let declined = try await client.send("/api/v1/orders/\(id)/decline", .post, token: lead, json: ["reason": "本周录播教室检修"])
            #expect(try declined.decode(OrderBody.self).state == "declined")
            #expect(try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: coordinator, json: dispatch).status == .ok)
            let accepted = try await client.send("/api/v1/orders/\(id)/accept", .post, token: lead, json: ["responsibleTeacherId": county.teacher])
            #expect(try accepted.decode(OrderBody.self).state == "accepted")
            // Twice is refused, and writes no second history row.
            let again = try await client.send("/api/v1/orders/\(id)/accept", .post, token: lead, json: ["responsibleTeacherId": county.teacher])
            #expect(again.status == .conflict && again.error?.message.contains("accepted") == true)

            // The lead school's pack: a draft cannot be delivered; its published version can.
            let pack = try await client.send("/api/v1/packs", .post, token: lead, json: ["title": "四年级英语 自然拼读入门"]).decode(Created.self).id
            let sheet = Data("Phonics: a /æ/ apple\n".utf8)
            #expect(try await client.send("/api/v1/packs/\(pack)/attachments?name=phonics.txt", .post, token: lead, body: sheet).status == .created)
            struct Deliver: Encodable {
                struct PackRef: Encodable {
                    var packId: Int64
                    var version: Int
                }
                var packs: [PackRef]?
                var recordingIds: [Int64]?
            }
            let draft = try await client.send("/api/v1/orders/\(id)/deliver", .post, token: lead, json: Deliver(packs: [.init(packId: pack, version: 1)]))
            #expect(draft.status == .conflict && draft.error?.message.contains("draft") == true)
            let before = try await client.get("/api/v1/packs/\(pack)", token: school)
            #expect(before.status == .forbidden, "not addressed to the school yet: \(String(buffer: before.body))")
            // The pack was made for another member school; delivering adds this one.
            let east = try await server.database().read { db in try Int64.fetchOne(db, sql: "SELECT id FROM school WHERE name = '东关小学'")! }
            #expect(try await client.send("/api/v1/packs/\(pack)", .patch, token: lead, json: ["targets": [["schoolId": east]]]).status == .ok)
            let publish = try await client.send("/api/v1/packs/\(pack)/publish", .post, token: lead)
            #expect(publish.status == .created, "\(String(buffer: publish.body))")
            let delivered = try await client.send("/api/v1/orders/\(id)/deliver", .post, token: lead, json: Deliver(packs: [.init(packId: pack, version: 1)]))
            #expect(try delivered.decode(OrderBody.self).state == "delivered")
            #expect(try await client.get("/api/v1/packs/\(pack)", token: school).status == .ok, "delivering targeted the ordering school")

            // 评单: out of range is refused; then rated.
            let seven = try await client.send("/api/v1/orders/\(id)/rate", .post, token: school, json: ["fit": 7, "quality": 4, "timeliness": 5])
            #expect(seven.status == .badRequest && seven.error?.message == "fit: a rating is 1 to 5, not 7")
            #expect(try await client.send("/api/v1/orders/\(id)/rate", .post, token: lead, json: ["fit": 5, "quality": 5, "timeliness": 5]).status == .forbidden)
            let rated = try await client.send("/api/v1/orders/\(id)/rate", .post, token: school, json: ["fit": 5, "quality": 4, "timeliness": 4])
            #expect(try rated.decode(OrderBody.self).state == "rated")
            let history = try await client.get("/api/v1/orders/\(id)", token: coordinator).decode(OrderBody.self).history ?? []
            #expect(history.map(\.action) == ["place", "dispatch", "decline", "dispatch", "accept", "deliver", "rate"])
            #expect(history[2].reason == "本周录播教室检修" && history[2].from == "dispatched" && history[2].to == "declined")
        }
    }

    @Test("Bad input: unknown lessons, past dates, another school's recording, another district's lead school — each a precise error")
    func badInput() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await OrderCounty.make(server)
        let liuheRecording = try await server.database().write { db -> Int64 in
            let teacher = try Person.filter(Column("username") == "liuhe-teacher").fetchOne(db)!
            var recording = Recording(title: "柳河的课", teacherId: teacher.id!, schoolId: teacher.schoolId!, state: .ready)
            recording.mediaVersion = "v1"
            try RecordingStore.insert(&recording, db)
            return recording.id!
        }
        try await server.test { client in
            let school = try await client.signIn("member-teacher")
            let coordinator = try await client.signIn("coordinator")
            let lead = try await client.signIn("teacher")
            let unknown = try await client.send("/api/v1/orders", .post, token: school, json: Place(volumeId: county.english, lessonIds: [999_999]))
            #expect(unknown.status == .notFound && unknown.error?.message == "lesson 999999 in textbook volume \(county.english) not found")
            let past = try await client.send("/api/v1/orders", .post, token: school, json: Place(volumeId: county.english, neededBy: day(-1)))
            #expect(past.status == .conflict && past.error?.message.contains("in the past") == true)
            let both = try await client.send("/api/v1/orders", .post, token: school, json: Place(volumeId: county.english, topic: "书法"))
            #expect(both.status == .badRequest)
            #expect(try await client.send("/api/v1/orders", .post, token: lead, json: Place(topic: "书法")).status == .forbidden, "a lead school does not order")
            let id = try await client.send("/api/v1/orders", .post, token: school, json: Place(topic: "书法入门：毛笔的握法")).decode(OrderBody.self).id
            let pastDue = try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: coordinator, json: Dispatch(leadSchoolId: county.lead, dueOn: day(-2)))
            #expect(pastDue.status == .conflict)
            let elsewhere = try await client.send(
                "/api/v1/orders/\(id)/dispatch", .post, token: coordinator, json: Dispatch(leadSchoolId: county.liuheLead, dueOn: day(3)))
            #expect(elsewhere.status == .forbidden)
            #expect(try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: coordinator, json: Dispatch(leadSchoolId: county.lead, dueOn: day(3))).status == .ok)
            #expect(try await client.send("/api/v1/orders/\(id)/accept", .post, token: lead, json: ["responsibleTeacherId": county.teacher]).status == .ok)
            let foreign = try await client.send("/api/v1/orders/\(id)/deliver", .post, token: lead, json: ["recordingIds": [liuheRecording]])
            #expect(foreign.status == .forbidden && foreign.error?.message.contains("another school's") == true)
            let nothing = try await client.send("/api/v1/orders/\(id)/deliver", .post, token: lead, json: ["recordingIds": [Int64]()])
            #expect(nothing.status == .badRequest)
            let rows = try await server.database().read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM resourceOrderEvent WHERE orderId = ?", arguments: [id])! }
            #expect(rows == 3, "place, dispatch, accept: refused steps write nothing")
        }
    }

    @Test("Who may do what: every step × (ordering school, lead school, coordinator, admin, other district, reviewer, classroom)")
    func accessMatrix() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await OrderCounty.make(server)
        try await server.test { client in
            var tokens: [String: String] = [:]
            for name in ["member-teacher", "teacher", "coordinator", "county-admin", "liuhe-teacher", "reviewer", "classroom"] {
                tokens[name] = try await client.signIn(name)
            }
            let id = try await client.send("/api/v1/orders", .post, token: tokens["member-teacher"]!, json: Place(topic: "剪纸")).decode(OrderBody.self).id
            // Before dispatch the lead school has no part in it.
            let reads: [String: HTTPResponse.Status] = [
                "member-teacher": .ok, "teacher": .notFound, "coordinator": .ok, "county-admin": .ok, "liuhe-teacher": .notFound,
                "reviewer": .notFound, "classroom": .notFound,
            ]
            for (name, status) in reads {
                #expect(try await client.get("/api/v1/orders/\(id)", token: tokens[name]!).status == status, "GET as \(name)")
            }
            let dispatch = Dispatch(leadSchoolId: county.lead, dueOn: day(5))
            let dispatchers: [String: HTTPResponse.Status] = [
                "member-teacher": .forbidden, "teacher": .notFound, "liuhe-teacher": .notFound, "reviewer": .notFound, "classroom": .notFound,
            ]
            for (name, status) in dispatchers {
                #expect(try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: tokens[name]!, json: dispatch).status == status, "dispatch as \(name)")
            }
            #expect(try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: tokens["coordinator"]!, json: dispatch).status == .ok)
            // Now the lead school sees it and alone accepts it.
            #expect(try await client.get("/api/v1/orders/\(id)", token: tokens["teacher"]!).status == .ok)
            let accept = ["responsibleTeacherId": county.teacher]
            let accepters: [String: HTTPResponse.Status] = [
                "member-teacher": .forbidden, "coordinator": .forbidden, "county-admin": .forbidden, "liuhe-teacher": .notFound,
            ]
            for (name, status) in accepters {
                #expect(try await client.send("/api/v1/orders/\(id)/accept", .post, token: tokens[name]!, json: accept).status == status, "accept as \(name)")
            }
            // Cancel: only the ordering school; other people's inboxes do not list it.
            #expect(try await client.send("/api/v1/orders/\(id)/cancel", .post, token: tokens["teacher"]!, json: [String: String]()).status == .forbidden)
            #expect(try await client.get("/api/v1/orders", token: tokens["liuhe-teacher"]!).decode(InboxBody.self).items.isEmpty)
            #expect(try await client.get("/api/v1/orders", token: tokens["reviewer"]!).status == .forbidden)
            #expect(try await client.get("/api/v1/orders?role=coordinator", token: tokens["teacher"]!).status == .forbidden)
            #expect(try await client.get("/api/v1/orders/stats", token: tokens["coordinator"]!).status == .forbidden)
            let cancelled = try await client.send("/api/v1/orders/\(id)/cancel", .post, token: tokens["member-teacher"]!, json: ["reason": "已找到本校老师"])
            #expect(try cancelled.decode(OrderBody.self).state == "cancelled")
        }
    }

    @Test("A lead school that has not accepted within 3 school days: the coordinator is told, once")
    func reminder() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await OrderCounty.make(server)
        try await server.test { client in
            let school = try await client.signIn("member-teacher")
            let coordinator = try await client.signIn("coordinator")
            let id = try await client.send("/api/v1/orders", .post, token: school, json: Place(topic: "竹编")).decode(OrderBody.self).id
            #expect(try await client.send("/api/v1/orders/\(id)/dispatch", .post, token: coordinator, json: Dispatch(leadSchoolId: county.lead, dueOn: day(20))).status == .ok)
            let store = OrderStore(database: try server.database(), attachmentsRoot: server.config.storageRoot + "/orders", acceptWithinSchoolDays: 3)
            #expect(try await store.remindUnaccepted(at: Date().addingTimeInterval(86400)) == 0, "one day is not three school days")
            #expect(try await store.remindUnaccepted(at: Date().addingTimeInterval(6 * 86400)) == 1, "six days hold at least three weekdays")
            #expect(try await store.remindUnaccepted(at: Date().addingTimeInterval(7 * 86400)) == 0, "once per dispatch")
            #expect(String(buffer: try await client.get("/api/v1/notifications", token: coordinator).body).contains("order.unaccepted"))
            // Overdue orders come first in the inbox.
            let late = try await client.send("/api/v1/orders", .post, token: school, json: Place(topic: "扎染")).decode(OrderBody.self).id
            try await server.database().write { db in
                try db.execute(sql: "UPDATE resourceOrder SET neededBy = '2020-01-01' WHERE id = ?", arguments: [late])
            }
            let inbox = try await client.get("/api/v1/orders", token: coordinator).decode(InboxBody.self).items
            #expect(inbox.first?.id == late && inbox.first?.overdue == true && inbox.dropFirst().allSatisfy { !$0.overdue })
            #expect(try await client.get("/api/v1/orders?overdue=true", token: coordinator).decode(InboxBody.self).items.map(\.id) == [late])
        }
    }

    @Test("Every route × role × (own school, same district, other district) on a new order: 200/201, 403 inside, 404 outside, 409 allowed but not now")
    func routeMatrix() async throws {
        let server = try await TestServer.make()
        defer { server.remove() }
        let county = try await OrderCounty.make(server)
        // A teacher of another member school of the same district.
        try await server.database().write { db in
            let member = try Person.filter(Column("username") == "member-teacher").fetchOne(db)!
            let east = try School.filter(Column("name") == "东关小学").fetchOne(db)!
            var neighbour = Person(
                username: "east-teacher", displayName: "东关小学老师", role: .teacher, districtId: east.districtId, schoolId: east.id,
                passwordHash: member.passwordHash)
            try neighbour.insert(db)
        }
        try await server.test { client in
            let roles = ["member-teacher", "east-teacher", "teacher", "coordinator", "county-admin", "liuhe-teacher", "reviewer", "classroom"]
            var tokens: [String: String] = [:]
            for name in roles { tokens[name] = try await client.signIn(name) }
            let id = try await client.send("/api/v1/orders", .post, token: tokens["member-teacher"]!, json: Place(topic: "剪纸")).decode(OrderBody.self).id
            let attached = try await client.send(
                "/api/v1/orders/\(id)/attachments?name=timetable.txt", .post, token: tokens["member-teacher"]!, body: Data("周三".utf8))
            #expect(attached.status == .created)
            let attachment = try attached.decode(Created.self).id
            let o = "/api/v1/orders/\(id)"
            let none = Data("{}".utf8)
            struct Route {
                var method: HTTPRequest.Method
                var path: String
                var body: Data
                /// ordering school, same district, lead school, coordinator, admin, other district, reviewer, classroom
                var expected: [HTTPResponse.Status]
            }
            func json(_ value: some Encodable) throws -> Data { try JSONEncoder().encode(value) }
            let routes: [Route] = [
                Route(method: .get, path: o, body: Data(), expected: [.ok, .notFound, .notFound, .ok, .ok, .notFound, .notFound, .notFound]),
                Route(method: .get, path: o + "/suggestions", body: Data(), expected: [.forbidden, .notFound, .notFound, .ok, .ok, .notFound, .notFound, .notFound]),
                Route(method: .get, path: o + "/attachments/\(attachment)", body: Data(), expected: [.ok, .notFound, .notFound, .ok, .ok, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/attachments?name=x.txt", body: Data("x".utf8), expected: [.created, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
                Route(
                    method: .post, path: o + "/dispatch", body: try json(Dispatch(leadSchoolId: county.lead, dueOn: day(-1))),
                    expected: [.forbidden, .notFound, .notFound, .conflict, .conflict, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/accept", body: try json(["responsibleTeacherId": county.teacher]), expected: [.forbidden, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/decline", body: try json(["reason": "忙"]), expected: [.forbidden, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/deliver", body: try json(["recordingIds": [1]]), expected: [.forbidden, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/fulfil", body: try json(["recordingIds": [999_999]]), expected: [.forbidden, .notFound, .notFound, .notFound, .notFound, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/rate", body: try json(["fit": 5, "quality": 5, "timeliness": 5]), expected: [.conflict, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/rework", body: try json(["reason": "再改"]), expected: [.conflict, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
                Route(method: .post, path: o + "/cancel", body: none, expected: [.ok, .notFound, .notFound, .forbidden, .forbidden, .notFound, .notFound, .notFound]),
            ]
            for route in routes {
                // The ordering school last, so its allowed step (cancel) runs after everyone's refusals.
                for (index, name) in roles.enumerated().reversed() {
                    let response = try await client.send(
                        route.path, route.method, token: tokens[name]!, headers: [.contentType: "application/json"], body: route.body)
                    #expect(response.status == route.expected[index], "\(route.method) \(route.path) as \(name): \(String(buffer: response.body))")
                }
            }
            let history = try await client.get(o, token: tokens["county-admin"]!).decode(OrderBody.self).history ?? []
            #expect(history.map(\.action) == ["place", "cancel"], "refusals write nothing")
        }
    }
}
