import Catalog
import Foundation
import GRDB

/// Every read and write of synchronized sessions: scheduling, editing, the clock's changes,
/// attendance and questions, with who may do what decided here (refusals are `SessionError`).
public struct SyncSessionStore: Sendable {
    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    /// What a scheduler asks for. Targets are whole schools (their ordinary classrooms) and/or
    /// chosen classrooms.
    public struct Draft: Sendable {
        public var title: String
        public var recordingId: Int64
        public var startsAt: Date
        public var schoolIds: [Int64]
        public var classroomIds: [Int64]
        public var memberTeachersHost: Bool

        public init(title: String, recordingId: Int64, startsAt: Date, schoolIds: [Int64] = [], classroomIds: [Int64] = [], memberTeachersHost: Bool = false) {
            self.title = title
            self.recordingId = recordingId
            self.startsAt = startsAt
            self.schoolIds = schoolIds
            self.classroomIds = classroomIds
            self.memberTeachersHost = memberTeachersHost
        }
    }

    /// A change to a session that has not started; nil fields stay as they are.
    public struct Edit: Sendable {
        public var title: String?
        public var recordingId: Int64?
        public var startsAt: Date?
        public var schoolIds: [Int64]?
        public var classroomIds: [Int64]?
        public var memberTeachersHost: Bool?

        public init() {}
    }

    /// Which sessions a listing wants, by the clock's reading now.
    public enum When: String, Sendable, CaseIterable {
        /// Not started yet.
        case upcoming
        /// Playing or paused.
        case running
        /// Ended or cancelled.
        case past
    }

    /// A listing's scope; nil fields do not narrow it. Visibility narrows it in any case.
    public struct Scope: Sendable {
        public var when: When?
        public var classroomId: Int64?
        public var schoolId: Int64?
        public var districtId: Int64?

        public init(when: When? = nil, classroomId: Int64? = nil, schoolId: Int64? = nil, districtId: Int64? = nil) {
            self.when = when
            self.classroomId = classroomId
            self.schoolId = schoolId
            self.districtId = districtId
        }
    }

    /// What a classroom's player reports every few seconds.
    public struct Report: Sendable, Codable, Equatable {
        public var position: Double
        /// The player's position minus the clock's, in seconds (positive: ahead).
        public var offset: Double
        public var tier: String?
        public var playing: Bool
        public var visible: Bool
        /// Stalls that began since the last report, and the seconds spent stalled since then.
        public var stalls: Int
        public var stallSeconds: Double

        public init(position: Double, offset: Double, tier: String?, playing: Bool, visible: Bool, stalls: Int, stallSeconds: Double) {
            self.position = position
            self.offset = offset
            self.tier = tier
            self.playing = playing
            self.visible = visible
            self.stalls = stalls
            self.stallSeconds = stallSeconds
        }

        /// A message naming the first field out of range, or nil.
        public var problem: String? {
            if !position.isFinite || position < 0 || position > 1e7 { return "position must be a number of seconds" }
            if !offset.isFinite || abs(offset) > 1e7 { return "offset must be a number of seconds" }
            if let tier, tier.isEmpty || tier.unicodeScalars.count > 32 { return "tier must be 1 to 32 characters" }
            if !(0...1000).contains(stalls) { return "stalls must be between 0 and 1000" }
            if !stallSeconds.isFinite || !(0...3600).contains(stallSeconds) { return "stallSeconds must be between 0 and 3600" }
            return nil
        }
    }

    // MARK: - Reading

    /// The session as `person` sees it, or `notFound` when it is not theirs to see.
    public func session(_ id: Int64, for person: Person, at now: Date = Date()) async throws -> SessionSummary {
        try await database.read { db in
            let (session, access) = try Self.visible(id, person, db)
            return try Self.summary(session, access, now, db)
        }
    }

    /// The session's clock, for whoever may see the session.
    public func clock(_ id: Int64, for person: Person) async throws -> SessionClock {
        try await database.read { db in try Self.visible(id, person, db).0.clock }
    }

    /// The sessions `person` may see in `scope`, soonest first (past ones: latest first).
    public func list(_ scope: Scope, for person: Person, at now: Date = Date()) async throws -> [SessionSummary] {
        try await database.read { db in
            var conditions: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            switch person.role {
            case .admin: break
            case .coordinator, .teacher:
                conditions.append("s.districtId = ?")
                arguments.append(person.districtId ?? -1)
            case .classroom:
                conditions.append("s.id IN (SELECT sessionId FROM syncSessionTarget WHERE classroomId = ?)")
                arguments.append(person.classroomId ?? -1)
            case .reviewer:
                return []
            }
            if let classroom = scope.classroomId {
                conditions.append("s.id IN (SELECT sessionId FROM syncSessionTarget WHERE classroomId = ?)")
                arguments.append(classroom)
            }
            if let school = scope.schoolId {
                conditions.append(
                    "s.id IN (SELECT t.sessionId FROM syncSessionTarget t JOIN classroom c ON c.id = t.classroomId WHERE c.schoolId = ?)")
                arguments.append(school)
            }
            if let district = scope.districtId {
                conditions.append("s.districtId = ?")
                arguments.append(district)
            }
            let sql =
                "SELECT s.* FROM syncSession s" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
                + " ORDER BY s.startsAt, s.id LIMIT 1000"
            let sessions = try SyncSession.fetchAll(db, sql: sql, arguments: StatementArguments(arguments))
            var result: [SessionSummary] = []
            for session in sessions {
                let state = session.clock.reading(at: now).state
                if let when = scope.when, Self.when(state) != when { continue }
                result.append(try Self.summary(session, try Self.access(session, person, db), now, db))
            }
            return scope.when == .past ? result.reversed() : result
        }
    }

    static func when(_ state: SessionClock.State) -> When {
        switch state {
        case .scheduled: .upcoming
        case .running, .paused: .running
        case .ended, .cancelled: .past
        }
    }

    /// How many sessions are playing or paused now (for the metrics).
    public func runningCount(at now: Date = Date()) async throws -> Int {
        try await database.read { db in
            try SyncSession.fetchAll(db, sql: "SELECT * FROM syncSession WHERE state IN ('scheduled', 'running', 'paused')")
                .filter { Self.when($0.clock.reading(at: now).state) == .running }.count
        }
    }

    // MARK: - Scheduling

    /// Schedules a session. Lead-school teachers and district coordinators schedule in their
    /// district, county admins anywhere.
    public func schedule(_ draft: Draft, by person: Person, at now: Date = Date()) async throws -> SessionSummary {
        try await database.write { db in
            guard try Self.maySchedule(person, db) else {
                throw SessionError.forbidden("only lead-school teachers, district coordinators and county admins schedule sessions")
            }
            try Self.check(title: draft.title)
            try Self.check(startsAt: draft.startsAt, now: now)
            let (recordingId, duration) = try Self.source(draft.recordingId, db)
            let classrooms = try Self.targets(schools: draft.schoolIds, classrooms: draft.classroomIds, for: person, db)
            // An admin's session belongs to the district of its first classroom; anyone else's to their own.
            let district = person.role == .admin ? try School.fetchOne(db, key: classrooms[0].schoolId)?.districtId : person.districtId
            guard let districtId = district else { throw SessionError.forbidden("your account belongs to no district") }
            try Self.checkOverlap(classrooms, from: draft.startsAt, duration: duration, except: nil, now: now, db)
            var session = SyncSession(
                title: draft.title.trimmingCharacters(in: .whitespacesAndNewlines), districtId: districtId, schedulerId: person.id!,
                recordingId: recordingId, duration: duration, startsAt: draft.startsAt, memberTeachersHost: draft.memberTeachersHost,
                now: now)
            try session.insert(db)
            for classroom in classrooms { try SyncSessionTarget(sessionId: session.id!, classroomId: classroom.id!).insert(db) }
            return try Self.summary(session, try Self.access(session, person, db), now, db)
        }
    }

    /// Changes a session that has not started (its scheduler, the district's coordinator, admins).
    public func edit(_ id: Int64, _ edit: Edit, by person: Person, at now: Date = Date()) async throws -> SessionSummary {
        try await database.write { db in
            var (session, access) = try Self.visible(id, person, db)
            guard access.mayEdit else { throw SessionError.forbidden("only the scheduler, the district's coordinator and admins edit a session") }
            let state = session.clock.reading(at: now).state
            guard state == .scheduled else {
                throw state == .ended || state == .cancelled ? SessionError.over(state) : SessionError.conflict("the session has started: it can no longer be edited")
            }
            if let title = edit.title {
                try Self.check(title: title)
                session.title = title.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let startsAt = edit.startsAt {
                try Self.check(startsAt: startsAt, now: now)
                session.startsAt = startsAt
            }
            if let recordingId = edit.recordingId {
                let (recording, duration) = try Self.source(recordingId, db)
                session.recordingId = recording
                session.duration = duration
            }
            if let host = edit.memberTeachersHost { session.memberTeachersHost = host }
            var classrooms = try Self.targetClassrooms(id, db)
            if edit.schoolIds != nil || edit.classroomIds != nil {
                classrooms = try Self.targets(schools: edit.schoolIds ?? [], classrooms: edit.classroomIds ?? [], for: person, db)
            }
            try Self.checkOverlap(classrooms, from: session.startsAt, duration: session.duration ?? 0, except: id, now: now, db)
            if edit.schoolIds != nil || edit.classroomIds != nil {
                try SyncSessionTarget.filter(Column("sessionId") == id).deleteAll(db)
                for classroom in classrooms { try SyncSessionTarget(sessionId: id, classroomId: classroom.id!).insert(db) }
            }
            session.revision += 1
            session.updatedAt = now
            try session.update(db)
            return try Self.summary(session, access, now, db)
        }
    }

    /// Applies a host's command (play, pause, seek, end) or a cancellation, and returns the new
    /// clock. Cancelling is for whoever may edit; the rest is for hosts.
    public func control(_ id: Int64, _ command: SessionClock.Command, by person: Person, at now: Date = Date()) async throws -> SessionClock {
        try await database.write { db in
            var (session, access) = try Self.visible(id, person, db)
            if command == .cancel {
                guard access.mayEdit else { throw SessionError.forbidden("only the scheduler, the district's coordinator and admins cancel a session") }
            } else {
                guard access.mayHost else {
                    throw SessionError.forbidden(
                        person.role == .classroom ? "a classroom screen follows a session; it cannot host it" : "only the session's hosts control it")
                }
            }
            if case .seek = command, session.sourceKind == .live {
                throw SessionError.conflict("a live lesson plays as it is taught: it cannot be moved to another position")
            }
            let next = try session.clock.applying(command, at: now)
            if next != session.clock {
                session.clock = next
                session.updatedAt = now
                try session.update(db)
            }
            return next
        }
    }

    // MARK: - Classrooms

    /// A target classroom's screen opened the session's event stream (joined, or came back).
    /// Anyone else who can see the session may watch it, but only target classrooms attend.
    /// Returns the clock, the attending classroom, and whether the person follows the session
    /// as a host would (its roster and questions: hosts, the coordinator, admins).
    public func join(_ id: Int64, by person: Person, at now: Date = Date()) async throws -> (
        clock: SessionClock, classroomId: Int64?, seesRoster: Bool
    ) {
        try await database.write { db in
            let (session, access) = try Self.visible(id, person, db)
            guard access.isTarget, let classroom = person.classroomId else { return (session.clock, nil, access.seesAttendance) }
            if var row = try SyncAttendance.fetchOne(db, key: ["sessionId": id, "classroomId": classroom]) {
                row.leftAt = nil
                try row.update(db)
            } else {
                try Self.newAttendance(id, classroom, now).insert(db)
            }
            return (session.clock, classroom, access.seesAttendance)
        }
    }

    /// The classroom's event stream closed.
    public func leave(_ id: Int64, classroomId: Int64, at now: Date = Date()) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE syncAttendance SET leftAt = ? WHERE sessionId = ? AND classroomId = ?", arguments: [now, id, classroomId])
        }
    }

    /// Adds a player's report to its classroom's totals: time watched and time in the tier count
    /// only while playing (at most 15 s per report, so a screen that slept does not claim the gap).
    public func report(_ id: Int64, _ report: Report, by person: Person, at now: Date = Date()) async throws -> SyncAttendance {
        try await database.write { db in
            let (_, access) = try Self.visible(id, person, db)
            guard access.isTarget, let classroom = person.classroomId else {
                throw SessionError.forbidden("only a target classroom's screen reports attendance")
            }
            if let problem = report.problem { throw SessionError.invalid("report", problem) }
            var row = try SyncAttendance.fetchOne(db, key: ["sessionId": id, "classroomId": classroom]) ?? Self.newAttendance(id, classroom, now)
            let elapsed = row.lastReportAt.map { min(15, max(0, now.timeIntervalSince($0))) } ?? 0
            if report.playing {
                row.watchedSeconds += elapsed
                if let tier = report.tier { row.tierSeconds[tier, default: 0] += elapsed }
            }
            row.stallCount += report.stalls
            row.stallSeconds += report.stallSeconds
            row.lastTier = report.tier ?? row.lastTier
            row.lastOffset = report.offset
            row.lastReportAt = now
            row.leftAt = nil
            try row.save(db)
            return row
        }
    }

    static func newAttendance(_ session: Int64, _ classroom: Int64, _ now: Date) -> SyncAttendance {
        SyncAttendance(
            sessionId: session, classroomId: classroom, joinedAt: now, leftAt: nil, lastReportAt: nil, watchedSeconds: 0,
            stallCount: 0, stallSeconds: 0, tierSeconds: [:], lastTier: nil, lastOffset: nil)
    }

    /// A raised hand or a question from a target classroom (its screen or a teacher in the room).
    public func ask(_ id: Int64, kind: SyncQuestion.Kind, text: String, by person: Person, at now: Date = Date()) async throws -> SyncQuestion {
        try await database.write { db in
            let (session, access) = try Self.visible(id, person, db)
            guard access.isTarget || access.mayHost else { throw SessionError.forbidden("only the session's classrooms ask questions") }
            guard text.unicodeScalars.count <= 500, kind == .hand || !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw SessionError.invalid("text", "a question is 1 to 500 characters, not all blank")
            }
            let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let state = session.clock.reading(at: now).state
            if state == .ended || state == .cancelled { throw SessionError.over(state) }
            var question = SyncQuestion(
                sessionId: id, classroomId: access.isTarget ? person.classroomId : nil, personId: person.id!, kind: kind, text: text,
                createdAt: now, answeredAt: nil)
            try question.insert(db)
            return question
        }
    }

    /// A host marks a question answered.
    public func answer(_ id: Int64, question questionId: Int64, by person: Person, at now: Date = Date()) async throws -> SyncQuestion {
        try await database.write { db in
            let (_, access) = try Self.visible(id, person, db)
            guard access.mayHost else { throw SessionError.forbidden("only the session's hosts answer questions") }
            guard var question = try SyncQuestion.filter(Column("sessionId") == id && Column("id") == questionId).fetchOne(db) else {
                throw SessionError.notFound("question")
            }
            if question.answeredAt == nil {
                question.answeredAt = now
                try question.update(db)
            }
            return question
        }
    }

    /// The session's questions, oldest first: all of them for hosts, a classroom's own for it.
    public func questions(_ id: Int64, for person: Person) async throws -> [SyncQuestion] {
        try await database.read { db in
            let (_, access) = try Self.visible(id, person, db)
            var request = SyncQuestion.filter(Column("sessionId") == id)
            if !access.mayHost {
                guard access.isTarget else { throw SessionError.forbidden("only hosts and the session's classrooms see its questions") }
                request = request.filter(Column("classroomId") == person.classroomId)
            }
            return try request.order(Column("id")).fetchAll(db)
        }
    }

    /// Every target classroom with what its players reported (absent ones too): for hosts, the
    /// district's coordinator and admins.
    public func attendance(_ id: Int64, for person: Person) async throws -> (session: SyncSession, rows: [AttendanceRow]) {
        try await database.read { db in
            let (session, access) = try Self.visible(id, person, db)
            guard access.seesAttendance else {
                throw SessionError.forbidden("attendance is for the session's hosts, the district's coordinator and county admins")
            }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.id AS classroomId, c.name AS classroom, s.id AS schoolId, s.name AS school, a.*
                    FROM syncSessionTarget t JOIN classroom c ON c.id = t.classroomId JOIN school s ON s.id = c.schoolId
                    LEFT JOIN syncAttendance a ON a.sessionId = t.sessionId AND a.classroomId = t.classroomId
                    WHERE t.sessionId = ? ORDER BY s.name, c.name
                    """, arguments: [id])
            return (
                session,
                try rows.map { row in
                    let attended: SyncAttendance? = row["joinedAt"] == nil ? nil : try SyncAttendance(row: row)
                    return AttendanceRow(
                        classroomId: row["classroomId"], classroom: row["classroom"], schoolId: row["schoolId"], school: row["school"],
                        attendance: attended)
                }
            )
        }
    }

    // MARK: - Rules

    /// What one person may do with one session.
    struct Access {
        var mayHost = false
        var mayEdit = false
        var isTarget = false
        var seesAttendance = false
    }

    static func access(_ session: SyncSession, _ person: Person, _ db: Database) throws -> Access? {
        var access = Access()
        switch person.role {
        case .admin:
            access.mayHost = true
            access.mayEdit = true
        case .coordinator:
            guard person.districtId == session.districtId else { return nil }
            access.mayEdit = true
            access.mayHost = person.id == session.schedulerId
        case .teacher:
            guard person.districtId == session.districtId else { return nil }
            access.mayEdit = person.id == session.schedulerId
            let teachesTarget =
                try session.memberTeachersHost
                && (Bool.fetchOne(
                        db,
                        sql: """
                            SELECT EXISTS (SELECT 1 FROM syncSessionTarget t JOIN classroom c ON c.id = t.classroomId
                            WHERE t.sessionId = ? AND c.schoolId = ?)
                            """, arguments: [session.id, person.schoolId ?? -1]) ?? false)
            access.mayHost = person.id == session.schedulerId || teachesTarget
        case .classroom:
            guard let classroom = person.classroomId,
                try SyncSessionTarget.fetchOne(db, key: ["sessionId": session.id, "classroomId": classroom]) != nil
            else { return nil }
            access.isTarget = true
        case .reviewer:
            return nil
        }
        access.seesAttendance = access.mayHost || access.mayEdit
        return access
    }

    static func visible(_ id: Int64, _ person: Person, _ db: Database) throws -> (SyncSession, Access) {
        guard let session = try SyncSession.fetchOne(db, key: id), let access = try access(session, person, db) else {
            throw SessionError.notFound("session")
        }
        return (session, access)
    }

    static func maySchedule(_ person: Person, _ db: Database) throws -> Bool {
        switch person.role {
        case .admin: return true
        case .coordinator: return person.districtId != nil
        case .teacher: return try person.districtId != nil && person.schoolId.flatMap { try School.fetchOne(db, key: $0) }?.kind == .lead
        case .classroom, .reviewer: return false
        }
    }

    /// Lengths count Unicode code points, as the API document's `maxLength` does.
    static func check(title: String) throws {
        guard (1...200).contains(title.unicodeScalars.count), !title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw SessionError.invalid("title", "1 to 200 characters, not all blank")
        }
    }

    /// A start a few seconds ago is taken (clocks differ); more is a mistake.
    static func check(startsAt: Date, now: Date) throws {
        guard startsAt > now.addingTimeInterval(-5) else {
            throw SessionError.startTime("must be in the future (the server's time is \(ISO8601DateFormatter().string(from: now)))")
        }
        guard startsAt < now.addingTimeInterval(366 * 86400) else { throw SessionError.startTime("must be within a year from now") }
    }

    /// The recording and its length, if it is ready to play.
    static func source(_ recordingId: Int64, _ db: Database) throws -> (Int64, Double) {
        guard let recording = try Recording.fetchOne(db, key: recordingId), recording.deletedAt == nil else {
            throw SessionError.notFound("recording")
        }
        guard recording.state == .ready, recording.mediaVersion != nil else {
            throw SessionError.notReady("recording \(recordingId) is not ready to play (it is \(recording.state.rawValue))")
        }
        guard let duration = recording.mediaInfo?.duration, duration > 0 else {
            throw SessionError.notReady("recording \(recordingId) has no known length")
        }
        return (recordingId, duration)
    }

    /// The classrooms a session plays in: each chosen classroom, and every ordinary (not
    /// recording) classroom of each chosen school; all in the scheduler's district unless an
    /// admin schedules.
    static func targets(schools: [Int64], classrooms: [Int64], for person: Person, _ db: Database) throws -> [Classroom] {
        guard !schools.isEmpty || !classrooms.isEmpty else {
            throw SessionError.conflict("name at least one school or classroom to play in")
        }
        guard schools.count <= 1000, classrooms.count <= 1000 else { throw SessionError.invalid("targets", "at most 1000 schools and 1000 classrooms") }
        var result: [Int64: Classroom] = [:]
        func inDistrict(_ school: School) throws {
            if person.role != .admin, school.districtId != person.districtId {
                throw SessionError.forbidden("\(school.name) is not in your district")
            }
        }
        for id in Set(schools) {
            guard let school = try School.fetchOne(db, key: id) else { throw SessionError.notFound("school \(id)") }
            try inDistrict(school)
            for room in try Classroom.filter(Column("schoolId") == id && Column("isRecording") == false).fetchAll(db) {
                result[room.id!] = room
            }
        }
        for id in Set(classrooms) {
            guard let room = try Classroom.fetchOne(db, key: id) else { throw SessionError.notFound("classroom \(id)") }
            try inDistrict(try School.fetchOne(db, key: room.schoolId)!)
            result[id] = room
        }
        guard !result.isEmpty else { throw SessionError.conflict("the chosen schools have no ordinary classrooms (recording classrooms do not follow sessions)") }
        return result.values.sorted { $0.id! < $1.id! }
    }

    static func targetClassrooms(_ id: Int64, _ db: Database) throws -> [Classroom] {
        try Classroom.fetchAll(
            db, sql: "SELECT c.* FROM classroom c JOIN syncSessionTarget t ON t.classroomId = c.id WHERE t.sessionId = ? ORDER BY c.id",
            arguments: [id])
    }

    /// A classroom plays one session at a time: refuses a slot that meets another session of any
    /// of the classrooms that has not ended (a paused one holds its classrooms until it ends).
    static func checkOverlap(_ classrooms: [Classroom], from start: Date, duration: Double, except: Int64?, now: Date, _ db: Database) throws {
        let end = start.addingTimeInterval(duration)
        let ids = classrooms.map { $0.id! }
        let others = try SyncSession.fetchAll(
            db,
            sql: """
                SELECT DISTINCT s.* FROM syncSession s JOIN syncSessionTarget t ON t.sessionId = s.id
                WHERE s.state IN ('scheduled', 'running', 'paused') AND t.classroomId IN (\(ids.map { _ in "?" }.joined(separator: ",")))
                AND s.id IS NOT ?
                """, arguments: StatementArguments(ids + [except]))
        for other in others {
            let clock = other.clock
            let reading = clock.reading(at: now)
            if reading.state == .ended || reading.state == .cancelled { continue }
            // A live lesson has no length of its own: it holds its classrooms for its planned time.
            let length = try other.duration ?? plannedLength(of: other.id!, db) ?? .infinity
            var otherEnd = other.startsAt.addingTimeInterval(length)
            if reading.state != .scheduled {
                otherEnd = reading.state == .paused ? .distantFuture : max(otherEnd, now.addingTimeInterval(length - reading.position))
            }
            guard other.startsAt < end, start < otherEnd else { continue }
            let shared = try SyncSessionTarget.filter(Column("sessionId") == other.id && ids.contains(Column("classroomId"))).fetchOne(db)
            let room = classrooms.first { $0.id == shared?.classroomId }
            let school = try room.flatMap { try School.fetchOne(db, key: $0.schoolId) }
            throw SessionError.overlap(
                classroom: [school?.name, room?.name].compactMap { $0 }.joined(separator: " "), session: other.id!, title: other.title)
        }
    }

    /// A live session's planned length (nil for recordings, or where live sources have no table).
    static func plannedLength(of id: Int64, _ db: Database) throws -> Double? {
        guard try db.tableExists("liveSource") else { return nil }
        return try Double.fetchOne(db, sql: "SELECT plannedSeconds FROM liveSource WHERE sessionId = ?", arguments: [id])
    }

    static func summary(_ session: SyncSession, _ access: Access?, _ now: Date, _ db: Database) throws -> SessionSummary {
        let access = access ?? Access()
        let targets = try Row.fetchAll(
            db,
            sql: """
                SELECT c.id, c.name, s.id AS schoolId, s.name AS school FROM syncSessionTarget t
                JOIN classroom c ON c.id = t.classroomId JOIN school s ON s.id = c.schoolId
                WHERE t.sessionId = ? ORDER BY s.name, c.name
                """, arguments: [session.id]
        ).map { SessionSummary.Target(classroomId: $0["id"], classroom: $0["name"], schoolId: $0["schoolId"], school: $0["school"]) }
        let scheduler = try Person.fetchOne(db, key: session.schedulerId)
        let recording = try session.recordingId.flatMap { try Recording.fetchOne(db, key: $0) }
        let reading = session.clock.reading(at: now)
        return SessionSummary(
            id: session.id!, title: session.title, districtId: session.districtId,
            scheduler: .init(id: session.schedulerId, displayName: scheduler?.displayName ?? "?"),
            source: .init(kind: session.sourceKind, recordingId: session.recordingId, title: recording?.title),
            startsAt: session.startsAt, duration: session.duration, memberTeachersHost: session.memberTeachersHost,
            state: reading.state, position: reading.position, revision: session.revision, targets: targets,
            mayHost: access.mayHost, mayEdit: access.mayEdit, isTarget: access.isTarget)
    }
}

/// A session as the API shows it to one person.
public struct SessionSummary: Codable, Sendable, Equatable {
    public struct PersonRef: Codable, Sendable, Equatable {
        public var id: Int64
        public var displayName: String
    }
    public struct Source: Codable, Sendable, Equatable {
        public var kind: SyncSession.SourceKind
        public var recordingId: Int64?
        public var title: String?
    }
    public struct Target: Codable, Sendable, Equatable {
        public var classroomId: Int64
        public var classroom: String
        public var schoolId: Int64
        public var school: String
    }

    public var id: Int64
    public var title: String
    public var districtId: Int64
    public var scheduler: PersonRef
    public var source: Source
    public var startsAt: Date
    public var duration: Double?
    public var memberTeachersHost: Bool
    /// The clock's reading when this was made.
    public var state: SessionClock.State
    public var position: Double
    public var revision: Int
    public var targets: [Target]
    public var mayHost: Bool
    public var mayEdit: Bool
    public var isTarget: Bool
}

/// One target classroom's line of an attendance report (`attendance` nil: it never joined).
public struct AttendanceRow: Sendable, Equatable {
    public var classroomId: Int64
    public var classroom: String
    public var schoolId: Int64
    public var school: String
    public var attendance: SyncAttendance?
}
