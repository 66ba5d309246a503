import Foundation
import Sessions
import Testing

/// The session clock as pure functions: position at time t across starts, pauses, seeks and ends.
@Suite("Session clock")
struct SessionClockTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    /// A command at a time (relative to the start), then the expected reading at a later time.
    struct Step: Sendable, CustomTestStringConvertible {
        var name: String
        var commands: [(Double, SessionClock.Command)]
        var readAt: Double
        var state: SessionClock.State
        var position: Double
        var testDescription: String { name }
    }

    static let steps: [Step] = [
        Step(name: "before the start: scheduled at 0", commands: [], readAt: -30, state: .scheduled, position: 0),
        Step(name: "starts by itself at the start time", commands: [], readAt: 12.5, state: .running, position: 12.5),
        Step(name: "ends by itself at the lesson's length", commands: [], readAt: 700, state: .ended, position: 600),
        Step(name: "paused at 20 s stays at 20 s", commands: [(20, .pause)], readAt: 95, state: .paused, position: 20),
        Step(name: "paused at 20, resumed at 50: 20 + 10", commands: [(20, .pause), (50, .play)], readAt: 60, state: .running, position: 30),
        Step(name: "seek while running moves the anchor", commands: [(10, .seek(300))], readAt: 15, state: .running, position: 305),
        Step(name: "seek while paused stays paused there", commands: [(10, .pause), (12, .seek(100))], readAt: 40, state: .paused, position: 100),
        Step(name: "pause, seek, play", commands: [(10, .pause), (12, .seek(100)), (20, .play)], readAt: 25, state: .running, position: 105),
        Step(name: "played early, before the start time", commands: [(-60, .play)], readAt: -50, state: .running, position: 10),
        Step(name: "paused before the start: holds at 0", commands: [(-5, .pause)], readAt: 30, state: .paused, position: 0),
        Step(name: "ended by a host keeps its position", commands: [(42, .end)], readAt: 300, state: .ended, position: 42),
        Step(name: "seek to near the end runs out", commands: [(10, .seek(590))], readAt: 30, state: .ended, position: 600),
        Step(name: "play while playing changes nothing", commands: [(10, .play), (11, .play)], readAt: 20, state: .running, position: 20),
        Step(name: "cancelled before the start", commands: [(-100, .cancel)], readAt: 10, state: .cancelled, position: 0),
    ]

    @Test("Readings across commands", arguments: steps)
    func readings(_ step: Step) throws {
        var clock = SessionClock(startsAt: Self.start, duration: 600)
        for (time, command) in step.commands { clock = try clock.applying(command, at: Self.at(time)) }
        let reading = clock.reading(at: Self.at(step.readAt))
        #expect(reading.state == step.state)
        #expect(abs(reading.position - step.position) < 1e-9)
    }

    @Test("Every change bumps the revision; a no-op does not")
    func revisions() throws {
        let clock = SessionClock(startsAt: Self.start, duration: 600)
        let paused = try clock.applying(.pause, at: Self.at(5))
        #expect(paused.revision == 1)
        #expect(try paused.applying(.pause, at: Self.at(6)) == paused)
        #expect(try paused.applying(.play, at: Self.at(7)).revision == 2)
    }

    /// A refused command and the error it gives.
    @Test(
        "Commands that make no sense are refused",
        arguments: [
            ([(SessionClock.Command.end, 10.0)], SessionClock.Command.play, 20.0, "the session has ended"),
            ([(.cancel, -10)], .play, -5, "the session was cancelled"),
            ([], .seek(10), -5, "the session has not started: play it first, then seek"),
            ([], .end, -5, "the session has not started: cancel it instead of ending it"),
            ([], .cancel, 5, "the session has started: end it instead of cancelling it"),
            ([], .seek(-1), 5, "position: a number of seconds from 0"),
            ([], .seek(601), 5, "position: the lesson is 600.0 s long"),
            ([], .seek(.nan), 5, "position: a number of seconds from 0"),
            ([], .play, 900, "the session has ended"),
        ] as [([(SessionClock.Command, Double)], SessionClock.Command, Double, String)])
    func refused(_ before: [(SessionClock.Command, Double)], _ command: SessionClock.Command, _ time: Double, _ message: String) throws {
        var clock = SessionClock(startsAt: Self.start, duration: 600)
        for (earlier, when) in before { clock = try clock.applying(earlier, at: Self.at(when)) }
        #expect(throws: SessionError.self) { try clock.applying(command, at: Self.at(time)) }
        do {
            _ = try clock.applying(command, at: Self.at(time))
        } catch {
            #expect(error.message == message)
        }
    }

    @Test("A live clock has no end of its own")
    func live() throws {
        let clock = SessionClock(startsAt: Self.start, duration: nil)
        let reading = clock.reading(at: Self.at(86_400))
        #expect(reading.state == .running && reading.position == 86_400)
        #expect(clock.endsAt(after: Self.at(10)) == nil)
        let ended = try clock.applying(.end, at: Self.at(3600))
        #expect(ended.reading(at: Self.at(4000)).state == .ended)
        #expect(ended.reading(at: Self.at(4000)).position == 3600)
    }
}
