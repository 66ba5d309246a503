import ArgumentParser
import Foundation
import Media
import Synchronization
import Transcoding

/// `lessonlink transcode-job`: the child process a worker runs for one job. Reports JSON lines on
/// stdout (`ChildReport`); a crash here costs only this process.
struct TranscodeJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode-job", abstract: "Run one transcode for a worker (reports JSON lines).", shouldDisplay: false)

    @Option var source: String
    @Option var output: String
    @Option(help: "The ladder file (default: the built-in ladder).") var ladder: String?
    @Option var threads = 0
    @Option(help: "Niceness for every thread of this process (0-19).")
    var nice = 0

    func run() async throws {
        ChildProcess.start(nice: nice)
        let parent = getppid()
        let report = ChildProcess.report
        do {
            let transcoder = LadderTranscoder(ladder: try Ladder.from(file: ladder), threads: threads)
            let throttle = Throttle(interval: 0.25)
            let result = try await transcoder.transcode(input: source, into: output) { progress in
                if getppid() != parent { Foundation.exit(3) }
                if throttle.ready() { report(ChildReport(progress: progress.fraction, eta: progress.estimatedRemaining)) }
            }
            report(ChildReport(progress: 1, result: result))
        } catch {
            report(ChildReport(failure: error))
            throw ExitCode(2)
        }
    }
}

/// Lets through one call per interval.
final class Throttle: Sendable {
    let interval: TimeInterval
    private let last = Mutex(Date.distantPast)

    init(interval: TimeInterval) { self.interval = interval }

    func ready() -> Bool {
        last.withLock { last in
            let now = Date()
            guard now.timeIntervalSince(last) >= interval else { return false }
            last = now
            return true
        }
    }
}

/// What the media children (`transcode-job`, `probe-job`) do alike.
enum ChildProcess {
    /// Quiets libav, ignores SIGPIPE (the parent reads stdout; if it died, the next write fails and
    /// the child exits), and lowers the priority of every thread the process has so far. Threads
    /// made later (libav's, x264's) inherit it from these: on Linux nice is per thread.
    static func start(nice: Int) {
        Libav.setLogLevel(.quiet)
        signal(SIGPIPE, SIG_IGN)
        guard nice > 0 else { return }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks.compactMap({ id_t($0) }) {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), task, Int32(min(nice, 19)))
        }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(min(nice, 19)))
    }

    /// Writes one JSON line for the parent; exits if nobody reads any more.
    static let report: @Sendable (ChildReport) -> Void = { line in
        let text = line.line
        if write(STDOUT_FILENO, text, text.utf8.count) < 0 { Foundation.exit(3) }
    }
}
