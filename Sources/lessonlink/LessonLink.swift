import ArgumentParser
import Media

/// The `lessonlink` command: one binary for every LessonLink task.
@main
struct LessonLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lessonlink",
        abstract: "LessonLink: a county's hub for recorded lessons.",
        version: "0.1.0 (\(Libav.versions))",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, SeedCommand.self, UserCommand.self, JobsCommand.self, RetranscodeCommand.self, PlanCommand.self,
            MirrorPassthrough.self, TokenCommand.self, ProbeCommand.self, TranscodeCommand.self, TranscodeJobCommand.self,
            ProbeJobCommand.self, SessionsCommand.self, CredentialCommand.self, ReviewOfficeCommand.self, LiveIngestCommand.self,
            LiveArchiveCommand.self,
        ]
    )
}

/// Options shared by commands that touch media.
struct MediaOptions: ParsableArguments {
    @Flag(name: .long, help: "Print libav's warnings on stderr.")
    var verbose = false

    func apply() {
        Libav.setLogLevel(verbose ? .warning : .quiet)
    }
}
