import WebServing
import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Sessions

/// Synchronized sessions (同步课堂): `/api/v1/sync-sessions`.
///
/// A scheduler sets one up (a ready recording, a start time, target classrooms); at the start
/// time every target classroom's screen starts on its own, by the session clock kept here. Hosts
/// pause, resume, seek and end it for everyone through `control`; each change goes out at once on
/// every open `events` stream. Players report every few seconds (`reports`), which keeps the
/// host's roster live and adds up the attendance report.
struct SyncSessionsController {
    let store: SyncSessionStore
    let hub: SessionHub
    let metrics: ServerMetrics
    /// Live sources: scheduling gives a session one; ending it ends the publish and archives.
    let live: LiveRelay
    let srtPorts: ClosedRange<Int>?

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(use: list)
        routes.post(use: schedule)
        routes.get(":id", use: get)
        routes.patch(":id", use: edit)
        routes.post(":id/control", use: control)
        routes.get(":id/clock", use: clock)
        routes.get(":id/events", use: events)
        routes.post(":id/reports", use: report)
        routes.get(":id/roster", use: roster)
        routes.get(":id/questions", use: questions)
        routes.post(":id/questions", use: ask)
        routes.post(":id/questions/:question/answer", use: answer)
        routes.get(":id/attendance", use: attendance)
        return routes
    }

    // MARK: - Bodies

    struct ScheduleRequest: Decodable {
        var title: String
        /// What plays: a ready recording, or (`live`) a recording classroom teaching live.
        var recordingId: Int64?
        var live: LiveRequest?
        var startsAt: String
        var schoolIds: [Int64]?
        var classroomIds: [Int64]?
        var memberTeachersHost: Bool?

        enum CodingKeys: String, CodingKey { case title, recordingId, live, startsAt, schoolIds, classroomIds, memberTeachersHost }

        /// The source is one of two fields; an explicit null names neither and is refused.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            for key in [CodingKeys.recordingId, .live] where try container.contains(key) && container.decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(
                    Int64.self, .init(codingPath: [key], debugDescription: "\(key.rawValue) is given or left out, not null"))
            }
            title = try container.decode(String.self, forKey: .title)
            recordingId = try container.decodeIfPresent(Int64.self, forKey: .recordingId)
            live = try container.decodeIfPresent(LiveRequest.self, forKey: .live)
            startsAt = try container.decode(String.self, forKey: .startsAt)
            schoolIds = try container.decodeIfPresent([Int64].self, forKey: .schoolIds)
            classroomIds = try container.decodeIfPresent([Int64].self, forKey: .classroomIds)
            memberTeachersHost = try container.decodeIfPresent(Bool.self, forKey: .memberTeachersHost)
        }
    }

    struct LiveRequest: Decodable {
        var classroomId: Int64
        var lessonId: Int64?
        var plannedMinutes: Int?

        enum CodingKeys: String, CodingKey { case classroomId, lessonId, plannedMinutes }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            for key in [CodingKeys.lessonId, .plannedMinutes] where try container.contains(key) && container.decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(
                    Int.self, .init(codingPath: [key], debugDescription: "\(key.rawValue) is a number when given, not null"))
            }
            classroomId = try container.decode(Int64.self, forKey: .classroomId)
            lessonId = try container.decodeIfPresent(Int64.self, forKey: .lessonId)
            plannedMinutes = try container.decodeIfPresent(Int.self, forKey: .plannedMinutes)
        }
    }

    struct EditRequest: Decodable {
        var title: String?
        var recordingId: Int64?
        var startsAt: String?
        var schoolIds: [Int64]?
        var classroomIds: [Int64]?
        var memberTeachersHost: Bool?
    }

    struct ControlRequest: Decodable {
        enum Action: String, Decodable {
            case play, pause, seek, end, cancel
        }
        var action: Action
        var position: Double?
    }

    struct QuestionRequest: Decodable {
        var kind: SyncQuestion.Kind
        var text: String?
    }

    struct List: ResponseEncodable {
        var items: [SessionSummary]
    }

    /// The clock as a client uses it: the state and position at `serverTime` (Unix milliseconds,
    /// so a client can measure its own clock's offset from the response, NTP-style), advancing one
    /// second per second from there while `state` is running.
    struct ClockView: ResponseEncodable, Equatable {
        var sessionId: Int64
        var state: SessionClock.State
        var position: Double
        var serverTime: Double
        var startsAt: Double
        var duration: Double?
        var revision: Int

        init(_ id: Int64, _ clock: SessionClock, at now: Date = Date()) {
            let reading = clock.reading(at: now)
            sessionId = id
            state = reading.state
            position = reading.position
            serverTime = (now.timeIntervalSince1970 * 1000).rounded()
            startsAt = (clock.startsAt.timeIntervalSince1970 * 1000).rounded()
            duration = clock.duration
            revision = clock.revision
        }
    }

    /// One target classroom on the host page: attendance so far and what its player says now.
    struct RosterEntry: Encodable, Equatable {
        var classroomId: Int64
        var classroom: String
        var school: String
        var connected: Bool
        var joinedAt: Date?
        var position: Double?
        var offset: Double?
        var tier: String?
        var playing: Bool
        var visible: Bool
        var stallsLastMinute: Int
        var watchedSeconds: Double
    }

    struct Roster: ResponseEncodable, Equatable {
        var sessionId: Int64
        var classrooms: [RosterEntry]
    }

    struct QuestionList: ResponseEncodable {
        var items: [SyncQuestion]
    }

    // MARK: - Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> List {
        let person = try context.requirePerson()
        var scope = SyncSessionStore.Scope()
        if let when = request.uri.queryParameters["when"] {
            guard let value = SyncSessionStore.When(rawValue: String(when)) else {
                throw APIError.badRequest("when must be one of \(SyncSessionStore.When.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            scope.when = value
        }
        scope.classroomId = try QueryValue.id(request.uri.queryParameters["classroomId"], "classroomId")
        scope.schoolId = try QueryValue.id(request.uri.queryParameters["schoolId"], "schoolId")
        scope.districtId = try QueryValue.id(request.uri.queryParameters["districtId"], "districtId")
        return List(items: try await refusals { try await store.list(scope, for: person) })
    }

    @Sendable func schedule(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<SessionSummary> {
        let person = try context.requirePerson()
        let body = try await request.decodeJSON(as: ScheduleRequest.self, context: context)
        let startsAt = try Self.date(body.startsAt, "startsAt")
        let summary: SessionSummary
        switch (body.recordingId, body.live) {
        case (let recordingId?, nil):
            let draft = SyncSessionStore.Draft(
                title: body.title, recordingId: recordingId, startsAt: startsAt, schoolIds: body.schoolIds ?? [],
                classroomIds: body.classroomIds ?? [], memberTeachersHost: body.memberTeachersHost ?? false)
            summary = try await refusals { try await store.schedule(draft, by: person) }
        case (nil, let live?):
            let draft = LiveDraft(
                title: body.title, classroomId: live.classroomId, lessonId: live.lessonId, plannedMinutes: live.plannedMinutes ?? 45,
                startsAt: startsAt, schoolIds: body.schoolIds ?? [], classroomIds: body.classroomIds ?? [],
                memberTeachersHost: body.memberTeachersHost ?? false)
            summary = try await refusals { try await store.scheduleLive(draft, by: person, srtPorts: srtPorts) }
        default:
            throw APIError.badRequest("name either recordingId (a recorded lesson) or live (a recording classroom teaching live)")
        }
        return EditedResponse(status: .created, headers: [.location: "/api/v1/sync-sessions/\(summary.id)"], response: summary)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> SessionSummary {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        return try await refusals { try await store.session(id, for: person) }
    }

    @Sendable func edit(_ request: Request, context: AppRequestContext) async throws -> SessionSummary {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let body = try await request.decodeJSON(as: EditRequest.self, context: context)
        var edit = SyncSessionStore.Edit()
        edit.title = body.title
        edit.recordingId = body.recordingId
        edit.startsAt = try body.startsAt.map { try Self.date($0, "startsAt") }
        edit.schoolIds = body.schoolIds
        edit.classroomIds = body.classroomIds
        edit.memberTeachersHost = body.memberTeachersHost
        let summary = try await refusals { try await store.edit(id, edit, by: person) }
        await hub.publish(id, .clock(try await refusals { try await store.clock(id, for: person) }))
        return summary
    }

    @Sendable func control(_ request: Request, context: AppRequestContext) async throws -> ClockView {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let body = try await request.decodeJSON(as: ControlRequest.self, context: context)
        let command: SessionClock.Command
        switch body.action {
        case .play: command = .play
        case .pause: command = .pause
        case .end: command = .end
        case .cancel: command = .cancel
        case .seek:
            guard let position = body.position else { throw APIError.badRequest("seek needs a position (seconds)") }
            command = .seek(position)
        }
        let clock = try await refusals { try await store.control(id, command, by: person) }
        await hub.publish(id, .clock(clock))
        if clock.state == .ended || clock.state == .cancelled, try await store.isLive(id) {
            // The publish stops and the playlists end now; the archive is made in the background.
            let live = live
            await live.stop(id)
            if clock.state == .ended { Task { await live.sessionEnded(id, archive: true) } }
        }
        return ClockView(id, clock)
    }

    @Sendable func clock(_ request: Request, context: AppRequestContext) async throws -> ClockView {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        return ClockView(id, try await refusals { try await store.clock(id, for: person) })
    }

    /// `GET …/events`: Server-Sent Events. Everyone gets `clock` at once and on every change (and
    /// when the lesson runs out by itself); hosts also get `roster` (at most once a second) and
    /// `question`. A target classroom's open stream is its presence: it joins when the stream
    /// opens and leaves when it closes. The stream ends when the session is over, or at a
    /// graceful shutdown (screens reconnect with back-off).
    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let (clock, classroom, isHost) = try await refusals { try await store.join(id, by: person) }
        let controller = self
        let body = ResponseBody { writer in
            let (subscription, hubEvents) = await controller.hub.subscribe(id, classroom: classroom)
            enum Item { case event(SessionHub.Event), tick }
            let (items, input) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(256))
            func send(_ name: String, _ value: some Encodable) async throws {
                try await writer.write(try ServerSentEvents.event(name, value))
            }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await event in hubEvents { input.yield(.event(event)) }
                        input.finish()
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(1))
                            input.yield(.tick)
                        }
                    }
                    var current = clock
                    var lastRoster: Roster?
                    var rosterDirty = isHost
                    var quiet = 0
                    try await send("clock", ClockView(id, current))
                    loop: for await item in items {
                        if Task.isShuttingDownGracefully { break }
                        switch item {
                        case .event(.clock(let next)):
                            current = next
                            try await send("clock", ClockView(id, current))
                            quiet = 0
                        case .event(.question(let question)):
                            if isHost {
                                try await send("question", question)
                                quiet = 0
                            }
                        case .event(.roster):
                            rosterDirty = isHost
                        case .event(.source(let source)):
                            try await send("source", source)
                            quiet = 0
                        case .tick:
                            quiet += 1
                            let reading = current.reading(at: Date())
                            if reading.state == .ended || reading.state == .cancelled {
                                // Over, by a host or by running out: the last word, then close.
                                if current.state != reading.state { try await send("clock", ClockView(id, current)) }
                                break loop
                            }
                            if rosterDirty, let now = try? await controller.roster(id, for: person), now != lastRoster {
                                try await send("roster", now)
                                lastRoster = now
                                quiet = 0
                            }
                            rosterDirty = false
                            if quiet >= 15 {
                                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                                quiet = 0
                            }
                        }
                    }
                    group.cancelAll()
                }
            } catch {
                // The client went away (the write failed): leave below like a closed stream.
            }
            await controller.hub.unsubscribe(id, id: subscription, classroom: classroom)
            if let classroom { try? await controller.store.leave(id, classroomId: classroom) }
            try? await writer.finish(nil)
        }
        return ServerSentEvents.response(body)
    }

    @Sendable func report(_ request: Request, context: AppRequestContext) async throws -> ClockView {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let report = try await request.decodeJSON(as: SyncSessionStore.Report.self, context: context)
        let now = Date()
        _ = try await refusals { try await store.report(id, report, by: person, at: now) }
        if let classroom = person.classroomId { await hub.reported(id, classroom: classroom, report, at: now) }
        metrics.stallSeconds.increment(by: report.stallSeconds)
        // The answer is the clock, so every report is also a clock-offset sample for the player.
        return ClockView(id, try await refusals { try await store.clock(id, for: person) })
    }

    @Sendable func roster(_ request: Request, context: AppRequestContext) async throws -> Roster {
        let person = try context.requirePerson()
        return try await roster(try context.rowId(of: "session"), for: person)
    }

    private func roster(_ id: Int64, for person: Person) async throws -> Roster {
        let (_, rows) = try await refusals { try await store.attendance(id, for: person) }
        let live = await hub.classrooms(of: id)
        let now = Date()
        return Roster(
            sessionId: id,
            classrooms: rows.map { row in
                let entry = live[row.classroomId]
                return RosterEntry(
                    classroomId: row.classroomId, classroom: row.classroom, school: row.school, connected: (entry?.connections ?? 0) > 0,
                    joinedAt: row.attendance?.joinedAt, position: entry?.position, offset: entry?.offset ?? row.attendance?.lastOffset,
                    tier: entry?.tier ?? row.attendance?.lastTier, playing: entry?.playing ?? false, visible: entry?.visible ?? false,
                    stallsLastMinute: entry?.stallsInLastMinute(at: now) ?? 0, watchedSeconds: row.attendance?.watchedSeconds ?? 0)
            })
    }

    @Sendable func questions(_ request: Request, context: AppRequestContext) async throws -> QuestionList {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        return QuestionList(items: try await refusals { try await store.questions(id, for: person) })
    }

    @Sendable func ask(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<SyncQuestion> {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let body = try await request.decodeJSON(as: QuestionRequest.self, context: context)
        let question = try await refusals { try await store.ask(id, kind: body.kind, text: body.text ?? "", by: person) }
        await hub.publish(id, .question(question))
        return EditedResponse(status: .created, response: question)
    }

    @Sendable func answer(_ request: Request, context: AppRequestContext) async throws -> SyncQuestion {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let questionId = try context.rowId("question", of: "question")
        let question = try await refusals { try await store.answer(id, question: questionId, by: person) }
        await hub.publish(id, .question(question))
        return question
    }

    /// `GET …/attendance`: JSON, or CSV (`?format=csv`, UTF-8 with a BOM so Excel reads the
    /// Chinese names) for the county's spreadsheets.
    @Sendable func attendance(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let format = request.uri.queryParameters["format"].map(String.init) ?? "json"
        guard format == "json" || format == "csv" else { throw APIError.badRequest("format must be json or csv") }
        let (session, rows) = try await refusals { try await store.attendance(id, for: person) }
        let report = AttendanceReport(session: session, rows: rows)
        if format == "json" { return try report.response(from: request, context: context) }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"attendance-\(id).csv\"",
            ],
            body: .init(byteBuffer: ByteBuffer(string: report.csv)))
    }

    // MARK: - Helpers

    /// Runs a store call, turning its refusals into the API's errors.
    private func refusals<T>(_ body: () async throws -> T) async throws -> T { try await Self.refusing(body) }

    /// Runs `body`, turning a session store's refusal into its HTTP answer.
    static func refusing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SessionError {
            throw apiError(error)
        }
    }

    static func apiError(_ error: SessionError) -> APIError {
        let status: HTTPResponse.Status =
            switch error {
            case .notFound: .notFound
            case .forbidden: .forbidden
            case .invalid: .badRequest
            case .conflict, .startTime, .notReady, .over, .overlap: .conflict
            }
        return APIError(status, error.code, error.message)
    }

    /// A time as RFC 3339 §5.6 `date-time` (`2026-12-01T08:00:00+08:00`; any fraction of a
    /// second; `t`/`z` in either case), exactly what the API document's `format: date-time` admits.
    static func date(_ text: String, _ name: String) throws -> Date {
        guard let date = RFC3339.date(text) else {
            throw APIError.badRequest("\(name) must be a date-time like 2026-12-01T08:00:00+08:00")
        }
        return date
    }

}

extension SessionSummary: ResponseEncodable {}
extension SyncQuestion: ResponseEncodable {}
extension AttendanceReport: ResponseEncodable {}
