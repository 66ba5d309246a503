import Foundation
import Media
import Subprocess
import SystemPackage

/// One line the `lessonlink transcode-job` child prints on stdout: progress while it works, then
/// either the result or the error. JSON, one object per line.
public struct ChildReport: Codable, Sendable, Equatable {
    public var progress: Double?
    public var eta: Double?
    public var result: LadderResult?
    /// What probing found (`probe-job`).
    public var info: MediaInfo?
    public var error: String?
    /// The input itself is at fault (not media, truncated, unsupported): retrying cannot help.
    public var permanent: Bool?

    public init(
        progress: Double? = nil, eta: Double? = nil, result: LadderResult? = nil, info: MediaInfo? = nil, error: String? = nil,
        permanent: Bool? = nil
    ) {
        self.progress = progress
        self.eta = eta
        self.result = result
        self.info = info
        self.error = error
        self.permanent = permanent
    }

    /// The line to print, newline included.
    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }

    /// What the child reports for a failed transcode.
    public init(failure: MediaError) {
        let permanent = switch failure.reason {
        case .notMedia, .truncated, .unsupported, .invalidConfiguration: true
        default: false
        }
        self.init(error: failure.description, permanent: permanent)
    }
}

/// Why a child transcode did not produce a result.
public struct TranscodeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// Retrying the same input cannot succeed.
    public var permanent: Bool
    /// The worker stopped it (lease lost, cancelled, shutting down).
    public var stopped: Bool

    public init(_ message: String, permanent: Bool = false, stopped: Bool = false) {
        self.message = message
        self.permanent = permanent
        self.stopped = stopped
    }

    public var description: String { message }
}

/// Runs libav work in child processes of the `lessonlink` executable — `transcode-job` for a
/// ladder, `probe-job` for an upload's probe — so that a crash inside libav on a hostile file
/// kills only the child: the server and its database live on, and the job or upload is retried
/// or failed with the reason.
///
/// Children run at a lower priority (`nice`) so that the lessons being watched are served first:
/// measured on the demo county, a 1080p transcode at nice 0 cut segment delivery to 0.42× its idle
/// rate; at nice 15, 0.97×. The child renices all its threads before libav starts any (on Linux,
/// nice is per thread and only new threads inherit it).
public struct ChildTranscoder: Sendable {
    /// The `lessonlink` executable.
    public var executable: String
    /// The ladder file; nil, the built-in ladder.
    public var ladderPath: String?
    public var threads: Int
    /// Niceness of the children, 0 (as the server) to 19 (only idle time). PeerTube uses 15 for
    /// on-demand transcoding.
    public var nice: Int

    public init(executable: String, ladderPath: String?, threads: Int, nice: Int = 15) {
        self.executable = executable
        self.ladderPath = ladderPath
        self.threads = threads
        self.nice = nice
    }

    /// Transcodes `source` into `output` (which must not exist). `progress` is called for each
    /// report; when it returns false the child is killed and the call throws a `stopped` failure.
    public func run(
        source: String, output: String, progress: @escaping @Sendable (Double, Double?) async -> Bool
    ) async throws(TranscodeFailure) -> LadderResult {
        let report = try await runChild([
            "transcode-job", "--source", source, "--output", output, "--threads", "\(threads)", "--nice", "\(nice)",
        ] + (ladderPath.map { ["--ladder", $0] } ?? []), what: "the transcoder", progress: progress)
        guard let result = report.result else { throw TranscodeFailure("the transcoder exited without a result") }
        return result
    }

    /// Probes `source` in a child: what the file holds, or why it is not usable media
    /// (`permanent`), or that probing crashed.
    public func probe(source: String) async throws(TranscodeFailure) -> MediaInfo {
        let report = try await runChild(["probe-job", "--source", source, "--nice", "\(nice)"], what: "probing", progress: nil)
        guard let info = report.info else { throw TranscodeFailure("probing ended without a result") }
        return info
    }

    /// Runs one child to its end and returns its final report; a failure report, a non-zero exit
    /// or a signal becomes a `TranscodeFailure`.
    private func runChild(
        _ arguments: [String], what: String, progress: (@Sendable (Double, Double?) async -> Bool)?
    ) async throws(TranscodeFailure) -> ChildReport {
        let outcome: ExecutionResult<ChildOutcome, SequenceOutput, FileDescriptorOutput>
        do {
            outcome = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), input: .none, output: .sequence,
                error: .currentStandardError
            ) { execution in
                var last = ChildOutcome()
                let decoder = JSONDecoder()
                for try await line in execution.standardOutput.strings() {
                    guard let report = try? decoder.decode(ChildReport.self, from: Data(line.utf8)) else { continue }
                    if let fraction = report.progress, let progress, !(await progress(fraction, report.eta)) {
                        // Killed by the teardown that follows a throwing body.
                        throw TranscodeFailure("stopped", stopped: true)
                    }
                    if report.result != nil || report.info != nil || report.error != nil { last.report = report }
                }
                return last
            }
        } catch let failure as TranscodeFailure {
            throw failure
        } catch is CancellationError {
            throw TranscodeFailure("stopped", stopped: true)
        } catch {
            if Task.isCancelled { throw TranscodeFailure("stopped", stopped: true) }
            throw TranscodeFailure("could not run \(executable): \(error)")
        }
        let report = outcome.closureResult.report
        switch outcome.terminationStatus {
        case .exited(0):
            if let report, report.error == nil { return report }
            throw TranscodeFailure("\(what) exited without a result")
        case .exited(let code):
            throw TranscodeFailure(report?.error ?? "\(what) exited with status \(code)", permanent: report?.permanent ?? false)
        case .signaled(let signal):
            if Task.isCancelled { throw TranscodeFailure("stopped", stopped: true) }
            throw TranscodeFailure("\(what) crashed (signal \(signal)\(Self.signalName(signal)))")
        }
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: ", segmentation fault"
        case SIGABRT: ", aborted"
        case SIGBUS: ", bus error"
        case SIGFPE: ", arithmetic error"
        case SIGKILL: ", killed"
        default: ""
        }
    }
}

/// What the body of a child run collects.
struct ChildOutcome: Sendable {
    var report: ChildReport?
}
