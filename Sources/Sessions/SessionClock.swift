import Foundation

/// The one clock a synchronized session plays by. It lives on the server and is a pure value:
/// the media position is a function of wall-clock time, so a classroom that joins late, or comes
/// back after a dropped link, computes where everyone is from the clock alone — no "catch up"
/// messages, no per-classroom state.
///
/// The clock is anchored: at `anchorTime` the position was `anchorPosition`; while running it
/// advances one second per second from there. A scheduled clock is implicitly anchored at
/// (`startsAt`, 0), which is how classrooms start on their own at the start time without anyone
/// pressing play. A recording's clock ends by itself when the position reaches its duration; a
/// live source (`duration == nil`) runs until a host ends it.
public struct SessionClock: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case scheduled, running, paused, ended, cancelled
    }

    /// What a host can do to the clock.
    public enum Command: Sendable, Equatable {
        case play
        case pause
        case seek(Double)
        case end
        case cancel
    }

    public var state: State
    public var startsAt: Date
    /// With `anchorPosition`: where the media was at this wall-clock time (nil until a host acts).
    public var anchorTime: Date?
    public var anchorPosition: Double
    /// Seconds of media; nil for a live source.
    public var duration: Double?
    /// Bumped by every change, so a client can tell a newer clock from a stale one.
    public var revision: Int

    public init(
        state: State = .scheduled, startsAt: Date, anchorTime: Date? = nil, anchorPosition: Double = 0, duration: Double?,
        revision: Int = 0
    ) {
        self.state = state
        self.startsAt = startsAt
        self.anchorTime = anchorTime
        self.anchorPosition = anchorPosition
        self.duration = duration
        self.revision = revision
    }

    /// The state and media position at wall-clock time `now`.
    public func reading(at now: Date) -> (state: State, position: Double) {
        switch state {
        case .scheduled:
            guard now >= startsAt else { return (.scheduled, 0) }
            return advanced(from: 0, since: startsAt, to: now)
        case .running:
            return advanced(from: anchorPosition, since: anchorTime ?? startsAt, to: now)
        case .paused, .ended, .cancelled:
            return (state, anchorPosition)
        }
    }

    private func advanced(from position: Double, since anchor: Date, to now: Date) -> (state: State, position: Double) {
        let position = position + max(0, now.timeIntervalSince(anchor))
        if let duration, position >= duration { return (.ended, duration) }
        return (.running, position)
    }

    /// When a running clock reaches the end of the media by itself (nil: not running, or live).
    public func endsAt(after now: Date) -> Date? {
        let (state, position) = reading(at: now)
        guard let duration else { return nil }
        switch state {
        case .running: return now.addingTimeInterval(duration - position)
        case .scheduled: return startsAt.addingTimeInterval(duration)
        default: return nil
        }
    }

    /// The clock after `command` at `now`. Commands that change nothing (play while playing,
    /// pause while paused) return the clock as it is, so a double click is harmless.
    public func applying(_ command: Command, at now: Date) throws(SessionError) -> SessionClock {
        let (current, position) = reading(at: now)
        var next = self
        switch (command, current) {
        case (_, .ended), (_, .cancelled):
            throw .over(current)
        case (.cancel, .scheduled):
            next.state = .cancelled
            next.anchorTime = now
            next.anchorPosition = 0
        case (.cancel, _):
            throw .conflict("the session has started: end it instead of cancelling it")
        case (.play, .running), (.pause, .paused):
            return self
        case (.play, _), (.pause, _):
            // Pausing before the start holds the session at the beginning until a host plays.
            next.state = command == .play ? .running : .paused
            next.anchorTime = now
            next.anchorPosition = position
        case (.seek, .scheduled):
            throw .conflict("the session has not started: play it first, then seek")
        case (.seek(let target), _):
            guard target.isFinite, target >= 0 else { throw .invalid("position", "a number of seconds from 0") }
            if let duration, target > duration {
                throw .conflict("position: the lesson is \(String(format: "%.1f", duration)) s long")
            }
            next.state = current
            next.anchorTime = now
            next.anchorPosition = target
        case (.end, .scheduled):
            throw .conflict("the session has not started: cancel it instead of ending it")
        case (.end, _):
            next.state = .ended
            next.anchorTime = now
            next.anchorPosition = position
        }
        next.revision += 1
        return next
    }
}
