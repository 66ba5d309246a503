import Catalog
import Foundation
import GRDB

/// A session's live source: the recording classroom that teaches, the secret its publisher
/// presents (the RTMP stream key; the SRT passphrase), and the archive recording made at the end.
public struct LiveSource: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public enum ArchiveState: String, Codable, Sendable, DatabaseValueConvertible {
        /// The session ended; the archive recording is being made.
        case pending
        /// The archive is a catalog recording (in the transcoding queue or ready).
        case done
        /// Nothing was received, or the received parts could not be read.
        case failed
    }

    public var sessionId: Int64
    /// The recording classroom the lesson is taught in (its school is the archive's school).
    public var classroomId: Int64
    /// The textbook lesson taught, carried to the archive recording.
    public var lessonId: Int64?
    /// How long the lesson is planned for: what target classrooms are reserved for.
    public var plannedSeconds: Double
    public var streamKey: String
    public var srtPassphrase: String
    public var srtPort: Int?
    /// Publishes so far (each return of a dropped publisher is one more).
    public var publishes: Int
    public var lastPublishAt: Date?
    public var recordingId: Int64?
    public var archiveState: ArchiveState?
    public var archiveFailure: String?

    public static let databaseTableName = "liveSource"
}

public enum LiveSchema {
    public static let migrations: [AppDatabase.Migration] = [
        AppDatabase.Migration("v10 live sources") { db in
            try db.execute(
                sql: """
                    CREATE TABLE liveSource (
                        sessionId INTEGER PRIMARY KEY REFERENCES syncSession(id) ON DELETE CASCADE,
                        classroomId INTEGER NOT NULL REFERENCES classroom(id),
                        lessonId INTEGER REFERENCES textbookLesson(id),
                        plannedSeconds REAL NOT NULL CHECK (plannedSeconds > 0),
                        streamKey TEXT NOT NULL UNIQUE,
                        srtPassphrase TEXT NOT NULL,
                        srtPort INTEGER,
                        publishes INTEGER NOT NULL DEFAULT 0,
                        lastPublishAt DATETIME,
                        recordingId INTEGER REFERENCES recording(id),
                        archiveState TEXT CHECK (archiveState IN ('pending', 'done', 'failed')),
                        archiveFailure TEXT
                    );
                    """)
        }
    ]
}

/// What scheduling a live session takes besides the common fields.
public struct LiveDraft: Sendable {
    public var title: String
    public var classroomId: Int64
    public var lessonId: Int64?
    public var plannedMinutes: Int
    public var startsAt: Date
    public var schoolIds: [Int64]
    public var classroomIds: [Int64]
    public var memberTeachersHost: Bool

    public init(
        title: String, classroomId: Int64, lessonId: Int64? = nil, plannedMinutes: Int = 45, startsAt: Date, schoolIds: [Int64] = [],
        classroomIds: [Int64] = [], memberTeachersHost: Bool = false
    ) {
        self.title = title
        self.classroomId = classroomId
        self.lessonId = lessonId
        self.plannedMinutes = plannedMinutes
        self.startsAt = startsAt
        self.schoolIds = schoolIds
        self.classroomIds = classroomIds
        self.memberTeachersHost = memberTeachersHost
    }
}

/// Why a publisher is refused: said to the publisher (RTMP `NetStream.Publish.BadName`) and logged.
public enum PublishRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownKey
    case notRunning(SessionClock.State)

    public var description: String {
        switch self {
        case .unknownKey: "no live session has this stream key"
        case .notRunning(.scheduled): "the session has not started: a host starts it, then the classroom publishes"
        case .notRunning(let state): "the session is \(state.rawValue): it takes no live source"
        }
    }
}

extension SyncSessionStore {
    /// Schedules a session taught live from a recording classroom. Who may schedule, the
    /// targets and the overlap rule are those of any session; the recording classroom must be in
    /// the scheduler's district (a lead-school teacher's: in their own school). `srtPorts` are the
    /// UDP ports SRT publishers may be given; the lowest one no other open live session holds is.
    public func scheduleLive(_ draft: LiveDraft, by person: Person, srtPorts: ClosedRange<Int>?, at now: Date = Date()) async throws
        -> SessionSummary
    {
        try await database.write { db in
            guard try Self.maySchedule(person, db) else {
                throw SessionError.forbidden("only lead-school teachers, district coordinators and county admins schedule sessions")
            }
            try Self.check(title: draft.title)
            try Self.check(startsAt: draft.startsAt, now: now)
            guard (1...240).contains(draft.plannedMinutes) else { throw SessionError.invalid("plannedMinutes", "1 to 240 minutes") }
            guard let room = try Classroom.fetchOne(db, key: draft.classroomId) else { throw SessionError.notFound("classroom \(draft.classroomId)") }
            guard let school = try School.fetchOne(db, key: room.schoolId) else { throw SessionError.notFound("school") }
            if person.role == .teacher, person.schoolId != school.id {
                throw SessionError.forbidden("a teacher teaches live from a classroom of their own school")
            }
            if person.role != .admin, school.districtId != person.districtId {
                throw SessionError.forbidden("\(school.name) is not in your district")
            }
            if let lesson = draft.lessonId, try Row.fetchOne(db, sql: "SELECT 1 FROM textbookLesson WHERE id = ?", arguments: [lesson]) == nil {
                throw SessionError.notFound("textbook lesson \(lesson)")
            }
            let classrooms = try Self.targets(schools: draft.schoolIds, classrooms: draft.classroomIds, for: person, db)
                .filter { $0.id != draft.classroomId }
            guard !classrooms.isEmpty else { throw SessionError.conflict("name at least one classroom to follow the lesson besides its own") }
            let planned = Double(draft.plannedMinutes * 60)
            try Self.checkOverlap(classrooms, from: draft.startsAt, duration: planned, except: nil, now: now, db)
            var session = SyncSession(
                title: draft.title.trimmingCharacters(in: .whitespacesAndNewlines), districtId: school.districtId, schedulerId: person.id!,
                recordingId: 0, duration: 0, startsAt: draft.startsAt, memberTeachersHost: draft.memberTeachersHost, now: now)
            session.sourceKind = .live
            session.recordingId = nil
            session.duration = nil
            try session.insert(db)
            for classroom in classrooms { try SyncSessionTarget(sessionId: session.id!, classroomId: classroom.id!).insert(db) }
            var port: Int?
            if let srtPorts {
                let taken = Set(
                    try Int.fetchAll(
                        db,
                        sql: """
                            SELECT l.srtPort FROM liveSource l JOIN syncSession s ON s.id = l.sessionId
                            WHERE l.srtPort IS NOT NULL AND s.state IN ('scheduled', 'running', 'paused')
                            """))
                port = srtPorts.first { !taken.contains($0) }
            }
            try LiveSource(
                sessionId: session.id!, classroomId: draft.classroomId, lessonId: draft.lessonId, plannedSeconds: planned,
                streamKey: Data.randomToken(), srtPassphrase: Self.passphrase(), srtPort: port, publishes: 0
            ).insert(db)
            return try Self.summary(session, try Self.access(session, person, db), now, db)
        }
    }

    /// SRT passphrases are 10 to 79 characters; 24 letters and digits, easy to type into a
    /// recording host's settings page.
    static func passphrase() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// The live session a stream key opens, if it may be published to now.
    public func publishTarget(key: String, at now: Date = Date()) async throws -> Result<Int64, PublishRefusal> {
        try await database.read { db in
            guard key.utf8.count <= 100, let source = try LiveSource.filter(Column("streamKey") == key).fetchOne(db),
                let session = try SyncSession.fetchOne(db, key: source.sessionId)
            else { return .failure(.unknownKey) }
            let state = session.clock.reading(at: now).state
            guard state == .running || state == .paused else { return .failure(.notRunning(state)) }
            return .success(source.sessionId)
        }
    }

    /// Whether the session has a live source.
    public func isLive(_ id: Int64) async throws -> Bool {
        try await database.read { db in try LiveSource.fetchOne(db, key: id) != nil }
    }

    /// Counts a publish that began.
    public func published(_ sessionId: Int64, at now: Date = Date()) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE liveSource SET publishes = publishes + 1, lastPublishAt = ? WHERE sessionId = ?", arguments: [now, sessionId])
        }
    }

    /// The live source of a session `person` can see, with whether they host it.
    public func liveSource(_ id: Int64, for person: Person, at now: Date = Date()) async throws -> (session: SessionSummary, source: LiveSource, mayHost: Bool) {
        try await database.read { db in
            let (session, access) = try Self.visible(id, person, db)
            guard let source = try LiveSource.fetchOne(db, key: id) else { throw SessionError.notFound("live source (the session plays a recording)") }
            return (try Self.summary(session, access, now, db), source, access.mayHost)
        }
    }

    /// Live sources whose session is running or paused now: the SRT listeners to keep open.
    public func runningLiveSources(at now: Date = Date()) async throws -> [LiveSource] {
        try await database.read { db in
            try LiveSource.fetchAll(
                db, sql: "SELECT l.* FROM liveSource l JOIN syncSession s ON s.id = l.sessionId WHERE s.state IN ('scheduled', 'running', 'paused')"
            ).filter { source in
                let state = try SyncSession.fetchOne(db, key: source.sessionId)?.clock.reading(at: now).state
                return state == .running || state == .paused
            }
        }
    }

    /// Ended live sessions whose archive is not made yet (the server stopped before it was).
    public func archivesDue(at now: Date = Date()) async throws -> [Int64] {
        try await database.read { db in
            try LiveSource.fetchAll(
                db,
                sql: """
                    SELECT l.* FROM liveSource l JOIN syncSession s ON s.id = l.sessionId
                    WHERE s.state IN ('ended', 'running', 'paused') AND (l.archiveState IS NULL OR l.archiveState = 'pending')
                    """
            ).filter { source in
                try SyncSession.fetchOne(db, key: source.sessionId)?.clock.reading(at: now).state == .ended
            }.map(\.sessionId)
        }
    }

    /// Starts the archive: the recording that will hold the lesson (in the catalog as
    /// uploading until its source is in place), made once per session.
    public func beginArchive(_ sessionId: Int64, at now: Date = Date()) async throws -> Int64? {
        try await database.write { db in
            guard var source = try LiveSource.fetchOne(db, key: sessionId), let session = try SyncSession.fetchOne(db, key: sessionId) else {
                return nil
            }
            if source.archiveState == .done || source.archiveState == .failed { return nil }
            if let existing = source.recordingId { return existing }
            guard let room = try Classroom.fetchOne(db, key: source.classroomId) else { return nil }
            let day = ISO8601DateFormatter.string(from: session.startsAt, timeZone: .current, formatOptions: [.withFullDate])
            var recording = Recording(
                title: session.title, description: "直播课堂存档（同步课堂 \(sessionId)）", teacherId: session.schedulerId, schoolId: room.schoolId,
                classroomId: room.id, lessonId: source.lessonId, recordedOn: day, createdAt: now)
            try RecordingStore.insert(&recording, db)
            source.recordingId = recording.id
            source.archiveState = .pending
            try source.update(db)
            return recording.id
        }
    }

    /// The archive's source is in place: the recording enters the transcoding queue.
    public func archiveAccepted(_ sessionId: Int64, source media: SourceMedia, path: String, size: Int64, sha256: String, enqueue: @escaping @Sendable (Int64, Database) throws -> Void) async throws {
        try await database.write { db in
            guard var source = try LiveSource.fetchOne(db, key: sessionId), let id = source.recordingId,
                var recording = try Recording.fetchOne(db, key: id)
            else { return }
            recording.sourceSha256 = sha256
            recording.sourceSize = size
            recording.mediaInfo = media
            recording.sourcePath = path
            try RecordingStore.transition(&recording, .accepted, db)
            try enqueue(id, db)
            source.archiveState = .done
            try source.update(db)
        }
    }

    /// Nothing usable was received: the archive recording goes (failed, with the reason).
    public func archiveFailed(_ sessionId: Int64, reason: String) async throws {
        try await database.write { db in
            guard var source = try LiveSource.fetchOne(db, key: sessionId) else { return }
            if let id = source.recordingId { _ = try RecordingStore.transition(id, .rejected(reason: reason), db) }
            source.archiveState = .failed
            source.archiveFailure = reason
            try source.update(db)
        }
    }
}

/// What the host page and the classrooms hear about a live source as it happens.
public struct LiveSourceEvent: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Nothing received yet in this session.
        case waiting
        case live
        /// The publisher stopped or its link dropped; classrooms hold the last picture.
        case lost
        case ended
    }

    public var state: State
    public var publish: Int?
    public var message: String
    public var at: Date
    /// Tiers being made now (`source`, `480p`, …, `audio`).
    public var tiers: [String]

    public init(state: State, publish: Int?, message: String, at: Date = Date(), tiers: [String] = []) {
        self.state = state
        self.publish = publish
        self.message = message
        self.at = at
        self.tiers = tiers
    }
}
