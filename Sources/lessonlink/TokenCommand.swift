import ArgumentParser
import Foundation
import Server

/// `lessonlink token USER`: a long-lived bearer token for a device (a school's mirror, a classroom screen).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Issue a bearer token for an account (for lessonlink mirror on a school's machine).")

    @Argument var username: String
    @Option(name: .long, help: "Days the token stays valid.") var days = 365
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let token = try await Bootstrap.issueToken(config: try await options.load(), username: username, lifetime: TimeInterval(days) * 86400)
        print(token)
    }
}

/// `lessonlink mirror …`: runs the `lessonlink-mirror` executable installed next to this one, in
/// place of this process (so the mirror's memory is only its own).
struct MirrorPassthrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror", abstract: "Mirror the packs addressed to a school (see lessonlink mirror --help).")

    @Argument(parsing: .captureForPassthrough, help: .hidden)
    var arguments: [String] = []

    func run() throws {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let helper = ((own as NSString).deletingLastPathComponent as NSString).appendingPathComponent("lessonlink-mirror")
        guard FileManager.default.isExecutableFile(atPath: helper) else {
            throw ValidationError("lessonlink-mirror is not installed next to \(own); build it with swift build")
        }
        let argv = [helper] + arguments
        var pointers = argv.map { strdup($0) } + [nil]
        execv(helper, &pointers)
        throw ValidationError("could not start \(helper): \(String(cString: strerror(errno)))")
    }
}
