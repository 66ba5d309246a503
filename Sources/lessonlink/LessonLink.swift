import ArgumentParser
import Catalog
import Media
import Server

/// The `lessonlink` command: one binary for every LessonLink task.
@main
struct LessonLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lessonlink",
        abstract: "LessonLink: a county's hub for recorded lessons.",
        version: LessonLink.versionText,
        subcommands: [
            ServeCommand.self, WorkerCommand.self, SeedCommand.self, UserCommand.self, JobsCommand.self, RetranscodeCommand.self, PlanCommand.self,
            MirrorPassthrough.self, TokenCommand.self, ProbeCommand.self, TranscodeCommand.self, TranscodeJobCommand.self,
            ProbeJobCommand.self, SessionsCommand.self, CredentialCommand.self, ReviewOfficeCommand.self, LiveIngestCommand.self,
            LiveArchiveCommand.self, BackupCommand.self, RestoreCommand.self, InstallCommand.self,
            RunnerCommand.self, RunnerTokenCommand.self, RunnersCommand.self,
        ]
    )

    /// `lessonlink --version`: the release, the newest database migration it knows (a database
    /// with a newer one needs a newer release), and the libav it runs on.
    static var versionText: String {
        let migrations = AppDatabase.knownMigrations(ServerConfig.migrations)
        return """
            lessonlink \(Release.version)
            database schema: \(migrations.count) migrations, newest '\(migrations.last ?? "")'
            \(Libav.versions)
            """
    }
}

/// Options shared by commands that touch media.
struct MediaOptions: ParsableArguments {
    @Flag(name: .long, help: "Print libav's warnings on stderr.")
    var verbose = false

    func apply() {
        Libav.setLogLevel(verbose ? .warning : .quiet)
    }
}
