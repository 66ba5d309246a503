import ArgumentParser
import Catalog
import Foundation
import Hummingbird
import Logging
import MirrorSite
import Media
import Server

/// Options every server-side command shares: the configuration file, and `--key value` overrides
/// of any configuration key (`--http-port 9090`, `--storage-root /srv/lessonlink`).
struct ServerOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Configuration file (default: $LESSONLINK_CONFIG, else ./config/lessonlink.yaml, else /etc/lessonlink/lessonlink.yaml).")
    var config: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var overrides: [String] = []

    func load() async throws -> ServerConfig {
        try await ServerConfig.load(configFlag: config, arguments: splitIDs().overrides)
    }

    /// Recording ids given before or between the overrides (`jobs retry 12 13 --storage-root X`).
    /// They share the catch-all argument: argument-parser allows one positional array only.
    func splitIDs() -> (ids: [Int64], overrides: [String]) {
        var ids: [Int64] = []
        var rest: [String] = []
        var previousWasFlag = false
        for token in overrides {
            if !previousWasFlag, let id = Int64(token) {
                ids.append(id)
            } else {
                rest.append(token)
                previousWasFlag = token.hasPrefix("--") && !token.contains("=")
                continue
            }
            previousWasFlag = false
        }
        return (ids, rest)
    }
}

/// `lessonlink serve`: the HTTP server with its background services.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the LessonLink server.",
        discussion: "Any configuration key can be overridden: --http-port 9090, --storage-root PATH …")

    @Option(name: .long, help: "Serve this mirror folder read-only (a school's LAN) instead of the county server.")
    var mirror: String?

    @OptionGroup var options: ServerOptions

    func run() async throws {
        var logger = Logger(label: "lessonlink")
        logger.logLevel = .info
        let config = try await options.load()
        if let mirror {
            guard FileManager.default.fileExists(atPath: mirror) else { throw ValidationError("--mirror: \(mirror) does not exist") }
            try await buildMirrorApplication(root: mirror, host: config.host, port: config.port, logger: logger).runService()
            return
        }
        let app = try await buildApplication(config, logger: logger)
        try await app.runService()
    }
}

/// `lessonlink seed --demo`: load the demonstration county.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seed", abstract: "Load the demonstration county.")

    @Flag(name: .long, help: "Load config/demo-county.yaml.")
    var demo = false

    @Option(name: .long, help: "The county file (default: demo-county.yaml beside the configuration file).")
    var file: String?

    @Option(name: .long, help: "Also add this many synthetic recordings (for benchmarks).")
    var recordings = 0

    @Option(name: .long, help: "Orders to add when there are none: a term of them in every state (50000: a few years, for benchmarks).")
    var orders = 240

    @OptionGroup var options: ServerOptions

    func run() async throws {
        guard demo else { throw ValidationError("say --demo to load the demonstration county") }
        let config = try await options.load()
        let besideConfig = config.file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("demo-county.yaml").path }
        let county = try DemoCounty.load(path: file ?? besideConfig ?? "config/demo-county.yaml")
        let database = try config.openDatabase()
        let hash = try await Bootstrap.hash(DemoCounty.password, config: config)
        let counts = try await county.seed(into: database, passwordHash: hash)
        print(
            "\(counts.districts) districts, \(counts.schools) schools, \(counts.recordingClassrooms) recording classrooms, "
                + "\(counts.volumes) textbook volumes (\(counts.lessons) lessons), \(counts.accounts) accounts")
        print("demo accounts use the password '\(DemoCounty.password)'")
        let placed = try await county.seedOrders(orders, into: database, passwordHash: hash)
        if placed > 0 { print("added \(placed) orders") }
        if recordings > 0 {
            let made = try await county.seedRecordings(recordings, into: database, passwordHash: hash)
            print("added \(made) recordings")
        }
    }
}

/// `lessonlink user add|passwd|rename|list`: accounts without the web.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage accounts.", subcommands: [Add.self, Passwd.self, Rename.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an account; reads the password from stdin.")
        @Argument var username: String
        @Option(name: .long) var name: String?
        @Option(name: .long, help: "admin, coordinator, teacher, classroom or reviewer.") var role: String
        @Option(name: .long) var district: Int64?
        @Option(name: .long) var school: Int64?
        @Option(name: .long) var classroom: Int64?
        @OptionGroup var options: ServerOptions

        func run() async throws {
            guard let role = Person.Role(rawValue: role) else {
                throw ValidationError("role must be one of \(Person.Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let password = try readPassword()
            let person = try await Bootstrap.addUser(
                config: try await options.load(), username: username, displayName: name ?? username, role: role,
                password: password, district: district, school: school, classroom: classroom)
            print("added \(person.username) (\(person.role.rawValue)), id \(person.id ?? 0)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a password (from stdin); signs the user out everywhere.")
        @Argument var username: String
        @OptionGroup var options: ServerOptions

        func run() async throws {
            try await Bootstrap.setPassword(config: try await options.load(), username: username, password: try readPassword())
            print("password changed for \(username)")
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a person's display name; their recordings are found by the new name at once.")
        @Argument var username: String
        @Argument var name: String
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            let name = name.trimmingCharacters(in: .whitespaces)
            guard (1...100).contains(name.count) else { throw ValidationError("the name must be 1 to 100 characters") }
            guard try await DirectoryStore(database: try config.openDatabase()).rename(person: username, to: name) else {
                throw CommandFailure("there is no user '\(username)'")
            }
            print("\(username) is now \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            for person in try await Bootstrap.listUsers(config: try await options.load()) {
                let scope = [person.districtId.map { "district \($0)" }, person.schoolId.map { "school \($0)" }]
                    .compactMap { $0 }.joined(separator: ", ")
                print("\(person.username)\t\(person.role.rawValue)\t\(person.displayName)\t\(scope)\(person.disabled ? "\tdisabled" : "")")
            }
        }
    }
}

/// The first line of stdin: passwords never go on the command line, where `ps` would show them.
func readPassword() throws -> String {
    guard let line = readLine(strippingNewline: true), line.count >= 8 else {
        throw ValidationError("give the password (at least 8 characters) on standard input")
    }
    return line
}
