import ArgumentParser
import Foundation
import Media
import Transcoding

/// `lessonlink probe-job`: the child process that probes an upload. Probing parses whatever a
/// client sent, so it runs apart from the server: a file that crashes libav costs only this
/// process, and the upload fails with that reason. Reports one JSON line (`ChildReport`).
struct ProbeJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe-job", abstract: "Probe one upload for the server (reports a JSON line).", shouldDisplay: false)

    @Option var source: String
    @Option(help: "Niceness for every thread of this process (0-19).")
    var nice = 0

    /// Test switch: abort (as a libav crash would) when the file's first 64 KiB contain this text.
    static let abortMarkerVariable = "LESSONLINK_PROBE_ABORT_MARKER"

    func run() async throws {
        ChildProcess.start(nice: nice)
        if let marker = ProcessInfo.processInfo.environment[Self.abortMarkerVariable], !marker.isEmpty,
            let head = FileHandle(forReadingAtPath: source)?.readData(ofLength: 64 << 10),
            head.range(of: Data(marker.utf8)) != nil
        {
            abort()
        }
        do {
            ChildProcess.report(ChildReport(info: try MediaInfo.probe(source)))
        } catch {
            ChildProcess.report(ChildReport(failure: error))
            throw ExitCode(2)
        }
    }
}
