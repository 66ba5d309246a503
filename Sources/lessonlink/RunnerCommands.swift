import ArgumentParser
import Foundation
import Logging
import RemoteRunner
import Server
import ServiceLifecycle
import Transcoding

/// `lessonlink runner --server URL --token T`: transcode for a LessonLink server from this machine.
struct RunnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runner", abstract: "Transcode for a LessonLink server from this machine (no shared disk or database).",
        discussion: """
            The first start registers with a one-time token from an admin (lessonlink runner-token, on the server) and keeps
            the runner's own token in --state-dir; later starts need no token. SIGTERM gives running jobs back.
            """)

    @Option(help: "The server's address, e.g. http://lessonlink.county:8080.")
    var server: String

    @Option(help: "A registration token (only the first time).")
    var token: String?

    @Option(help: "This runner's name on the admin page (default: the host name).")
    var name: String?

    @Option(help: "Jobs at once.")
    var concurrency = 1

    @Option(help: "Threads for each job's transcoder.")
    var threads = 2

    @Option(help: "Niceness of the transcoder children (0-19).")
    var nice = 10

    @Option(help: "Where the runner keeps its token and its jobs' files.")
    var stateDir = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".lessonlink-runner").path

    struct State: Codable {
        var server: String
        var runnerId: Int64
        var runnerToken: String
    }

    func run() async throws {
        var logger = Logger(label: "lessonlink.runner")
        logger.logLevel = .info
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        let stateFile = "\(stateDir)/runner.json"
        var state = FileManager.default.contents(atPath: stateFile).flatMap { try? JSONDecoder().decode(State.self, from: $0) }
        if state?.server != server { state = nil }
        if state == nil {
            guard let token else { throw ValidationError("this runner is not registered with \(server) yet: give --token (lessonlink runner-token)") }
            let registered = try await RemoteRunner.register(
                server: server, registrationToken: token, name: name ?? ProcessInfo.processInfo.hostName)
            state = State(server: server, runnerId: registered.id, runnerToken: registered.token)
            try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: stateFile), options: .atomic)
            _ = chmod(stateFile, 0o600)
            logger.info("registered", metadata: ["runner": "\(registered.id)"])
        }
        let runner = RemoteRunner(
            settings: .init(
                server: server, runnerToken: state!.runnerToken, concurrency: concurrency, threads: threads, nice: max(0, min(19, nice)),
                executable: ServerConfig.currentExecutable, workFolder: "\(stateDir)/work"),
            logger: logger)
        try await ServiceGroup(services: [runner], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}

/// `lessonlink runner-token`: a one-time registration token for a new runner (on the server).
struct RunnerTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runner-token", abstract: "Make a one-time token a new runner registers with.")

    @Option(help: "Days the token stays valid.")
    var days = 7

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let config = try await options.load()
        let token = try await RunnerStore(database: try config.openDatabase()).createRegistration(lifetime: Double(days) * 86_400)
        print(token)
    }
}

/// `lessonlink runners [revoke ID]`: the runners, and how long the queue takes them.
struct RunnersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runners", abstract: "List transcoding runners, or revoke one.", subcommands: [List.self, Revoke.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Runners: last contact, jobs done, failures, speed; the queue's drain time.")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            let database = try config.openDatabase()
            let store = RunnerStore(database: database)
            let runners = try await store.list()
            print("id".padded(5) + "name".padded(24) + "last contact".padded(22) + "jobs".padded(7) + "failures".padded(10) + "speed")
            for runner in runners {
                let contact = runner.revokedAt != nil ? "revoked" : runner.lastContactAt.map { ISO8601DateFormatter().string(from: $0) } ?? "never"
                print(
                    "\(runner.id ?? 0)".padded(5) + runner.name.padded(24) + contact.padded(22) + "\(runner.jobsDone)".padded(7)
                        + "\(runner.failures)".padded(10) + (runner.speed.map { String(format: "%.2f× real time", $0) } ?? "—"))
            }
            let drain = try await store.drain(config.jobQueue(database))
            print(
                String(format: "queue: %.1f h of video", drain.waiting / 3600)
                    + (drain.seconds.map { String(format: "; %.1f h to drain at the runners' measured %.2f× real time", $0 / 3600, drain.speed) } ?? ""))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a runner's next call; its jobs go back to the queue.")
        @Argument var id: Int64
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            guard try await RunnerStore(database: try config.openDatabase()).revoke(id) else { throw CommandFailure("there is no runner \(id) not revoked") }
            print("runner \(id) revoked")
        }
    }
}
