import ArgumentParser
import Catalog
import Delivery
import Foundation
import Logging
import Media
import Server
import ServiceLifecycle
import Synchronization
import Transcoding

/// `lessonlink worker`: the transcode worker on its own, for a split deployment.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run the transcode worker without the HTTP server.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        var logger = Logger(label: "lessonlink.worker")
        logger.logLevel = .info
        let config = try await options.load()
        let database = try config.openDatabase()
        let group = ServiceGroup(
            services: [config.worker(database, logger: logger)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// `lessonlink jobs list|retry|cancel`: the transcode queue from the shell.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, retry or cancel transcode jobs.", subcommands: [List.self, Retry.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @Option(help: "Only jobs in this state (queued, running, succeeded, failed, cancelled).")
        var state: String?
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            let queue = config.jobQueue(try config.openDatabase())
            var states = TranscodeJob.State.allCases
            if let state {
                guard let wanted = TranscodeJob.State(rawValue: state) else { throw ValidationError("unknown state '\(state)'") }
                states = [wanted]
            }
            print("job".padded(7) + "recording".padded(11) + "state".padded(11) + "attempts".padded(10) + "progress".padded(10) + "error")
            for job in try await queue.list(states: states) {
                print(
                    "\(job.id ?? 0)".padded(7) + "\(job.recordingId)".padded(11) + job.state.rawValue.padded(11)
                        + "\(job.attempts)/\(job.maxAttempts)".padded(10) + "\(Int(job.progress * 100))%".padded(10)
                        + (job.lastError ?? ""))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a new transcode of these recordings.", usage: "lessonlink jobs retry ID… [--key value …]")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            let queue = config.jobQueue(try config.openDatabase())
            try await JobsCommand.each(try JobsCommand.ids(options)) { id in
                let job = try await queue.retry(recordingId: id)
                return "recording \(id): job \(job.id ?? 0) \(job.state.rawValue)"
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel the queued or running transcode of these recordings.", usage: "lessonlink jobs cancel ID… [--key value …]")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            let queue = config.jobQueue(try config.openDatabase())
            try await JobsCommand.each(try JobsCommand.ids(options)) { id in
                let job = try await queue.cancel(recordingId: id)
                return "recording \(id): job \(job.id ?? 0) cancelled"
            }
        }
    }

    /// The recording ids on the command line; at least one.
    static func ids(_ options: ServerOptions) throws -> [Int64] {
        let ids = options.splitIDs().ids
        if ids.isEmpty { throw ValidationError("give one or more recording ids") }
        return ids
    }

    /// Runs `body` for each id, printing its line or the reason; fails at the end if any failed.
    static func each(_ ids: [Int64], _ body: (Int64) async throws -> String) async throws {
        var failed = false
        for id in ids {
            do {
                print(try await body(id))
            } catch let error as JobQueueError {
                failed = true
                let reason = switch error {
                case .recordingNotFound: "no such recording"
                case .notApplicable(let why): why
                }
                FileHandle.standardError.write(Data("recording \(id): \(reason)\n".utf8))
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// `lessonlink retranscode --all | ID…`: re-run recordings through the current ladder, keeping
/// their current renditions playable until the new ones are published.
struct RetranscodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retranscode", abstract: "Transcode recordings again with the current ladder.",
        usage: "lessonlink retranscode --all | ID… [--key value …]")

    @Flag(help: "Every ready recording.") var all = false
    @OptionGroup var options: ServerOptions

    func validate() throws {
        if all == !options.splitIDs().ids.isEmpty { throw ValidationError("give --all or recording ids (not both)") }
    }

    func run() async throws {
        let config = try await options.load()
        let database = try config.openDatabase()
        let queue = config.jobQueue(database)
        var ids = options.splitIDs().ids
        if all {
            ids = try await RecordingStore(database: database).readyIds()
        }
        try await JobsCommand.each(ids) { id in
            let job = try await queue.retry(recordingId: id)
            return "recording \(id): job \(job.id ?? 0) queued"
        }
    }
}

/// `lessonlink plan`: for every school (or one), the best tier its classrooms can stream at once,
/// flagging the under-served ones for the county.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Which tier each school's classrooms can stream at once; under-served schools flagged.")

    @Option(help: "Only this school.") var school: Int64?
    @Option(help: "Classrooms streaming at once (default: all of each school's).") var classrooms: Int?
    @Option(help: "Fraction of each link kept free.") var headroom = 0.3
    @Flag(help: "Instead: the hours of video the county records a day against its transcoders' measured capacity.")
    var transcode = false
    @Option(help: "With --transcode: lessons each recording classroom records a day.") var lessonsPerDay = 2.0
    @Option(help: "With --transcode: minutes a lesson lasts.") var lessonMinutes = 45.0
    @Option(help: "With --transcode: hours a day the runners are available.") var runnerHours = 24.0
    @Option(help: "With --transcode: the server's own worker speed (× real time), if it transcodes too.") var workerSpeed: Double?
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let config = try await options.load()
        let database = try config.openDatabase()
        if transcode { return try await planTranscoding(database) }
        let planner = TierPlanner(ladder: try Ladder.from(file: config.ladderPath))
        let schools = try await DirectoryStore(database: database).schools().map { ($0.id!, $0.name) }
        print("school".padded(28) + "uplink".padded(9) + "classrooms".padded(12) + "each".padded(11) + "tier".padded(8) + "")
        var underServed = 0
        for (id, name) in schools where school == nil || school == id {
            guard let plan = try await planner.plan(school: id, classrooms: classrooms, headroom: headroom, database: database) else { continue }
            if plan.underServed { underServed += 1 }
            print(
                name.padded(28 - name.count) + "\(plan.uplinkMbps) Mb/s".padded(9) + "\(plan.classrooms)".padded(12)
                    + String(format: "%.1f Mb/s", plan.perClassroomMbps).padded(11) + (plan.tier ?? "none").padded(8)
                    + (plan.underServed ? "under-served" : ""))
        }
        print("\(underServed) under-served")
    }

    private func planTranscoding(_ database: AppDatabase) async throws {
        let classrooms = try await DirectoryStore(database: database).classrooms().filter(\.isRecording).count
        let runners = try await RunnerStore(database: database).list().filter { $0.revokedAt == nil }
        let capacity = TranscodeCapacity(
            classrooms: classrooms, lessonsPerDay: lessonsPerDay, lessonMinutes: lessonMinutes, runnerSpeeds: runners.compactMap(\.speed),
            runnerHours: runnerHours, workerSpeed: workerSpeed)
        print(
            String(
                format: "recorded: %d recording classrooms × %.1f lessons × %.0f min = %.1f h of video a day",
                classrooms, lessonsPerDay, lessonMinutes, capacity.recordedHours))
        print(
            String(
                format: "capacity: %d runners measured (%.2f× real time together, %.0f h a day)%@ = %.1f h a day",
                capacity.runnerSpeeds.count, capacity.runnerSpeeds.reduce(0, +), runnerHours,
                workerSpeed.map { String(format: " + the server's worker (%.2f×, all day)", $0) } ?? "", capacity.capacityHours))
        let unmeasured = runners.count - capacity.runnerSpeeds.count
        if unmeasured > 0 { print("(\(unmeasured) runner(s) have no finished job yet, so no measured speed)") }
        if capacity.share >= 1 {
            print(String(format: "covered: the day's recordings are transcoded within the day (%.0f %% of capacity used)", 100 / capacity.share))
        } else if let missing = capacity.runnersMissing {
            print(String(format: "short: %.0f %% of the day's recordings; about %d more runner(s) like the average one would cover the rest", capacity.share * 100, missing))
        } else {
            print(String(format: "short: %.0f %% of the day's recordings; measure a runner (one finished job) to size the rest", capacity.share * 100))
        }
    }
}
