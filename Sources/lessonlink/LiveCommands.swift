import ArgumentParser
import Foundation
import Media

/// `lessonlink live-ingest`: the child the server runs for one publish of a live session. Reads
/// FLV on stdin (from the RTMP front) or listens for one SRT caller, writes the session's live
/// HLS and archive copy, and reports JSON lines (`LiveReport`) on stdout.
struct LiveIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live-ingest", abstract: "Relay one live publish into HLS (reports JSON lines).", shouldDisplay: false)

    @Option(help: "The session's live folder.") var directory: String
    @Option(help: "The ladder file (default: the built-in ladder).") var ladder: String?
    @Option(help: "`pipe:0` for FLV on stdin, or an srt:// listener URL.") var input = "pipe:0"
    @Option(help: "SRT passphrase (AES); read from the environment variable LESSONLINK_SRT_PASSPHRASE when empty.")
    var passphrase = ""
    @Option var threads = 0
    @Option var nice = 0

    func run() throws {
        ChildProcess.start(nice: nice)
        let srt = input.hasPrefix("srt://")
        var options: [String: String] = [:]
        if srt {
            let secret = passphrase.isEmpty ? ProcessInfo.processInfo.environment["LESSONLINK_SRT_PASSPHRASE"] ?? "" : passphrase
            if !secret.isEmpty { options["passphrase"] = secret }
        }
        let live = LiveIngestSettings(
            input: input, format: srt ? "mpegts" : "flv", protocols: srt ? "srt" : "pipe", inputOptions: options, directory: directory,
            ladder: (try? Ladder.from(file: ladder)) ?? .default, threads: threads)
        let ingest = LiveIngest(settings: live) { line in
            let text = line.line
            if write(STDOUT_FILENO, text, text.utf8.count) < 0 { Foundation.exit(3) }
        }
        // SIGTERM (the session ended, the server stops) ends the publish cleanly: segments closed.
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { ingest.cancel() }
        source.resume()
        // A server killed outright cannot signal us: an orphaned SRT listener would hold its port.
        let parent = getppid()
        let watchdog = DispatchSource.makeTimerSource(queue: .global())
        watchdog.schedule(deadline: .now() + 1, repeating: 1)
        watchdog.setEventHandler {
            if getppid() != parent { ingest.cancel() }
        }
        watchdog.resume()
        do {
            try ingest.run()
        } catch where error.reason == .cancelled {
            // Told to stop before a publisher came (an SRT listener giving way): nothing to report.
            let text = LiveReport(.ended).line
            _ = write(STDOUT_FILENO, text, text.utf8.count)
        } catch {
            let text = LiveReport(.failed, message: error.description).line
            _ = write(STDOUT_FILENO, text, text.utf8.count)
            throw ExitCode(2)
        }
    }
}

/// `lessonlink live-archive`: joins a live session's publishes into one source file.
struct LiveArchiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live-archive", abstract: "Join a live session's received parts into one file.", shouldDisplay: false)

    @Option var output: String
    @Argument var parts: [String]

    func run() throws {
        ChildProcess.start(nice: 10)
        do {
            let seconds = try LiveArchive.join(parts: parts, output: output)
            print(#"{"duration":\#(seconds)}"#)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
    }
}
