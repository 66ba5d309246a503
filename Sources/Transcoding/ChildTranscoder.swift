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
    public var error: String?
    /// The input itself is at fault (not media, truncated, unsupported): retrying cannot help.
    public var permanent: Bool?

    public init(progress: Double? = nil, eta: Double? = nil, result: LadderResult? = nil, error: String? = nil, permanent: Bool? = nil) {
        self.progress = progress
        self.eta = eta
        self.result = result
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

/// Runs the ladder transcode in a child process, `lessonlink transcode-job`, so that a crash
/// inside libav on a hostile file kills only the child: the server and its database live on,
/// and the job is retried or failed with the reason.
public struct ChildTranscoder: Sendable {
    /// The `lessonlink` executable.
    public var executable: String
    public var ladderPath: String
    public var threads: Int

    public init(executable: String, ladderPath: String, threads: Int) {
        self.executable = executable
        self.ladderPath = ladderPath
        self.threads = threads
    }

    /// Transcodes `source` into `output` (which must not exist). `progress` is called for each
    /// report; when it returns false the child is killed and the call throws a `stopped` failure.
    public func run(
        source: String, output: String, progress: @escaping @Sendable (Double, Double?) async -> Bool
    ) async throws(TranscodeFailure) -> LadderResult {
        let arguments = [
            "transcode-job", "--source", source, "--output", output, "--ladder", ladderPath, "--threads", "\(threads)",
        ]
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
                    if let fraction = report.progress, !(await progress(fraction, report.eta)) {
                        // Killed by the teardown that follows a throwing body.
                        throw TranscodeFailure("stopped", stopped: true)
                    }
                    if report.result != nil || report.error != nil { last.report = report }
                }
                return last
            }
        } catch let failure as TranscodeFailure {
            throw failure
        } catch is CancellationError {
            throw TranscodeFailure("stopped", stopped: true)
        } catch {
            if Task.isCancelled { throw TranscodeFailure("stopped", stopped: true) }
            throw TranscodeFailure("could not run the transcoder (\(executable)): \(error)")
        }
        let report = outcome.closureResult.report
        switch outcome.terminationStatus {
        case .exited(0):
            if let result = report?.result { return result }
            throw TranscodeFailure("the transcoder exited without a result")
        case .exited(let code):
            throw TranscodeFailure(report?.error ?? "the transcoder exited with status \(code)", permanent: report?.permanent ?? false)
        case .signaled(let signal):
            if Task.isCancelled { throw TranscodeFailure("stopped", stopped: true) }
            throw TranscodeFailure("the transcoder crashed (signal \(signal)\(signal == SIGSEGV ? ", segmentation fault" : ""))")
        }
    }
}

/// What the body of a child run collects.
struct ChildOutcome: Sendable {
    var report: ChildReport?
}
