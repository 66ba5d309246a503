import Foundation

/// Where a session's changes fan out to everyone watching it, at once: each open event stream
/// subscribes here, and a host's command, a new question or a classroom's report is published to
/// every subscriber of that session. It also keeps what the host page shows live about each
/// classroom (connected, offset, tier, stalls in the last minute) — in memory, because it is only
/// true while this process serves the streams; the totals go to the database (attendance).
public actor SessionHub {
    public enum Event: Sendable, Equatable {
        case clock(SessionClock)
        case question(SyncQuestion)
        /// Something about the joined classrooms changed (a join, a leave, a report).
        case roster
        /// A live source went live, was lost, came back, dropped a tier.
        case source(LiveSourceEvent)
    }

    /// One classroom as the host page sees it now.
    public struct LiveClassroom: Sendable, Codable, Equatable {
        public var connections: Int = 0
        public var position: Double?
        public var offset: Double?
        public var tier: String?
        public var playing = false
        public var visible = true
        public var lastReportAt: Date?
        /// When stalls began, for "stalls in the last minute".
        var stallTimes: [Date] = []

        public func stallsInLastMinute(at now: Date) -> Int { stallTimes.filter { now.timeIntervalSince($0) < 60 }.count }
    }

    private var subscribers: [Int64: [UUID: AsyncStream<Event>.Continuation]] = [:]
    private var live: [Int64: [Int64: LiveClassroom]] = [:]

    public init() {}

    /// A stream of the session's events until `unsubscribe`. A classroom's subscription counts
    /// it as connected.
    public func subscribe(_ session: Int64, classroom: Int64?) -> (id: UUID, events: AsyncStream<Event>) {
        let id = UUID()
        // Only the newest events matter to a slow reader: the clock event carries the whole clock.
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(64))
        subscribers[session, default: [:]][id] = continuation
        if let classroom {
            live[session, default: [:]][classroom, default: LiveClassroom()].connections += 1
            broadcast(session, .roster)
        }
        return (id, stream)
    }

    public func unsubscribe(_ session: Int64, id: UUID, classroom: Int64?) {
        subscribers[session]?.removeValue(forKey: id)?.finish()
        if subscribers[session]?.isEmpty == true { subscribers[session] = nil }
        if let classroom, var entry = live[session]?[classroom] {
            entry.connections = max(0, entry.connections - 1)
            live[session]?[classroom] = entry
            broadcast(session, .roster)
        }
    }

    public func publish(_ session: Int64, _ event: Event) {
        broadcast(session, event)
    }

    private func broadcast(_ session: Int64, _ event: Event) {
        for continuation in subscribers[session, default: [:]].values { continuation.yield(event) }
    }

    /// A classroom's report, kept for the host page.
    public func reported(_ session: Int64, classroom: Int64, _ report: SyncSessionStore.Report, at now: Date) {
        var entry = live[session, default: [:]][classroom, default: LiveClassroom()]
        entry.position = report.position
        entry.offset = report.offset
        entry.tier = report.tier
        entry.playing = report.playing
        entry.visible = report.visible
        entry.lastReportAt = now
        entry.stallTimes = entry.stallTimes.filter { now.timeIntervalSince($0) < 60 } + Array(repeating: now, count: min(report.stalls, 100))
        live[session, default: [:]][classroom] = entry
        broadcast(session, .roster)
    }

    /// The live state of the session's classrooms that have joined since this process started.
    public func classrooms(of session: Int64) -> [Int64: LiveClassroom] { live[session] ?? [:] }

    /// Forgets a session that is over (its attendance stays in the database).
    public func close(_ session: Int64) {
        live[session] = nil
    }

    /// For the metrics: classrooms with an open event stream, over all sessions.
    public func joinedClassrooms() -> Int {
        live.values.reduce(0) { $0 + $1.values.filter { $0.connections > 0 }.count }
    }
}
