import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import Media
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Transcoding

/// A transcoding runner on another machine: it takes jobs from a LessonLink server over HTTP, with
/// no shared disk or database.
///
/// For each job: accept (the lease) → download the source (resuming with `Range`) → transcode in
/// a child process exactly as the server's own worker does → upload every result file into the
/// job's staging folder over tus (files already received are skipped, a cut one resumes from
/// the offset the server reports) → report
/// success with a manifest of every file's size and SHA-256, which the server checks before it
/// publishes. An update every few seconds carries progress and keeps the lease; a 409 answer
/// (cancelled, lease lost, runner revoked) stops the child at once. On SIGTERM running jobs are
/// given back (`abort`) without using up an attempt.
public struct RemoteRunner: Service {
    public struct Settings: Sendable {
        /// The server's base URL (`http://lessonlink.county:8080`).
        public var server: String
        public var runnerToken: String
        /// Jobs at once, and threads for each child.
        public var concurrency: Int
        public var threads: Int
        public var nice: Int
        /// The `lessonlink` executable that runs `transcode-job` children.
        public var executable: String
        /// Where sources and results are kept while a job runs.
        public var workFolder: String
        /// How often an idle runner asks for work.
        public var pollInterval: TimeInterval

        public init(
            server: String, runnerToken: String, concurrency: Int, threads: Int, nice: Int, executable: String, workFolder: String,
            pollInterval: TimeInterval = 2
        ) {
            self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
            self.runnerToken = runnerToken
            self.concurrency = max(1, concurrency)
            self.threads = threads
            self.nice = nice
            self.executable = executable
            self.workFolder = workFolder
            self.pollInterval = pollInterval
        }
    }

    public let settings: Settings
    public let logger: Logger
    let http: RunnerHTTP

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        http = RunnerHTTP(server: settings.server, token: settings.runnerToken)
    }

    /// Spends a registration token: the runner's own token, to keep.
    public static func register(server: String, registrationToken: String, name: String) async throws -> (id: Int64, token: String) {
        let http = RunnerHTTP(server: server.hasSuffix("/") ? String(server.dropLast()) : server, token: nil)
        let registered: RunnerMessages.Registered = try await http.json(
            .POST, "/api/v1/runners/register", body: RunnerMessages.Registration(registrationToken: registrationToken, name: name))
        return (registered.runnerId, registered.runnerToken)
    }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: settings.workFolder, withIntermediateDirectories: true)
        logger.info("runner started", metadata: ["server": "\(settings.server)", "concurrency": "\(settings.concurrency)"])
        await withDiscardingTaskGroup { group in
            for _ in 0..<settings.concurrency {
                group.addTask { await loop() }
            }
        }
    }

    private func loop() async {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if try await takeOne() {
                    failures = 0
                    continue
                }
                failures = 0
            } catch RunnerCallError.refused(401, let message) {
                logger.error("the server refuses this runner; stopping", metadata: ["reason": "\(message)"])
                return
            } catch {
                // The server unreachable: back off up to a minute, then try again.
                failures += 1
                logger.warning("cannot reach the server", metadata: ["error": "\(error)"])
            }
            let pause = failures == 0 ? settings.pollInterval : min(60, settings.pollInterval * pow(2, Double(min(failures, 5))))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(pause)) }
        }
    }

    /// Takes and runs one job if there is one; false when there was none.
    private func takeOne() async throws -> Bool {
        let offers: RunnerMessages.Offers = try await http.json(.POST, "/api/v1/runners/jobs/request")
        for offer in offers.jobs {
            let assignment: RunnerJobs.Assignment
            do {
                assignment = try await http.json(.POST, "/api/v1/runners/jobs/\(offer.id)/accept")
            } catch RunnerCallError.refused(409, _) {
                continue  // another runner was quicker
            }
            await execute(assignment)
            return true
        }
        return false
    }

    /// Why a job ended on this side.
    enum Ending: Error {
        /// The server said stop (cancelled, lease lost, revoked): nothing more to tell it.
        case gone(String)
        /// The runner is stopping: give the job back.
        case shutdown
        /// The transcode failed: tell the server, which retries unless permanent.
        case failed(String, permanent: Bool)
    }

    /// Runs one accepted job to its end, and tells the server how it ended.
    func execute(_ job: RunnerJobs.Assignment) async {
        let metadata: Logger.Metadata = ["job": "\(job.jobId)", "recording": "\(job.recordingId)"]
        let folder = "\(settings.workFolder)/job-\(job.jobId)-\(job.jobToken.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        logger.info("job accepted", metadata: metadata)
        let progress = LatestProgress()
        let outcome: Result<Timings, Ending> = await withTaskGroup(of: Result<Timings, Ending>?.self) { group in
            group.addTask {
                do {
                    return .success(try await cancelWhenGracefulShutdown { try await work(job, folder: folder, progress: progress) })
                } catch let ending as Ending {
                    return .failure(ending)
                } catch RunnerCallError.refused(409, let message) {
                    return .failure(.gone(message))
                } catch RunnerCallError.refused(401, let message) {
                    return .failure(.gone(message))
                } catch is CancellationError {
                    return .failure(.shutdown)
                } catch {
                    return .failure(Task.isShuttingDownGracefully || Task.isCancelled ? .shutdown : .failed("\(error)", permanent: false))
                }
            }
            group.addTask {
                // Heartbeats: a third of the lease, at most every 2 s.
                let interval = max(0.2, min(2, job.leaseSeconds / 3))
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(interval))
                    if Task.isCancelled { return nil }
                    let (fraction, eta) = progress.value.withLock { $0 }
                    do {
                        try await http.send(
                            .POST, "/api/v1/runners/jobs/\(job.jobId)/update", job: job.jobToken,
                            body: RunnerMessages.Progress(progress: fraction, etaSeconds: eta))
                    } catch RunnerCallError.refused(let status, let message) where status == 409 || status == 401 {
                        return .failure(.gone(message))
                    } catch {
                        continue  // a missed heartbeat; the lease has room for a few
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(.shutdown)
        }
        switch outcome {
        case .success(let timings):
            logger.info("job published", metadata: metadata.merging(timings.metadata) { $1 })
        case .failure(.gone(let why)):
            logger.notice("job stopped by the server", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
        case .failure(.shutdown):
            _ = try? await http.send(.POST, "/api/v1/runners/jobs/\(job.jobId)/abort", job: job.jobToken)
            logger.info("job given back", metadata: metadata)
        case .failure(.failed(let message, let permanent)):
            _ = try? await http.send(
                .POST, "/api/v1/runners/jobs/\(job.jobId)/error", job: job.jobToken, body: RunnerMessages.Failure(message: message, permanent: permanent))
            logger.warning("job failed", metadata: metadata.merging(["error": "\(message)"]) { $1 })
        }
    }

    /// Seconds each step of a job took: the runner protocol's cost (download, upload, the
    /// server's check and publish) against the transcode's.
    struct Timings {
        var download = 0.0, transcode = 0.0, upload = 0.0, publish = 0.0

        var metadata: Logger.Metadata {
            ["download": "\(Self.format(download))", "transcode": "\(Self.format(transcode))", "upload": "\(Self.format(upload))",
             "publish": "\(Self.format(publish))"]
        }

        static func format(_ seconds: Double) -> String { String(format: "%.3f", seconds) }
    }

    private func work(_ job: RunnerJobs.Assignment, folder: String, progress: LatestProgress) async throws -> Timings {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var timings = Timings()
        var mark = Date()
        func lap() -> Double {
            let now = Date()
            defer { mark = now }
            return now.timeIntervalSince(mark)
        }
        let source = "\(folder)/source"
        try await http.download("/api/v1/runners/jobs/\(job.jobId)/source", job: job.jobToken, to: source, size: job.sourceSize)
        if let expected = job.sourceSha256 {
            let (_, sha) = try FileDigest.of(source)
            guard sha == expected else { throw Ending.failed("the source arrived damaged (SHA-256 mismatch)", permanent: false) }
        }
        var ladderPath: String?
        if let ladder = job.ladder {
            ladderPath = "\(folder)/ladder.yaml"
            try ladder.write(toFile: ladderPath!, atomically: true, encoding: .utf8)
        }
        timings.download = lap()
        let output = "\(folder)/out"
        let transcoder = ChildTranscoder(executable: settings.executable, ladderPath: ladderPath, threads: settings.threads, nice: settings.nice)
        let result: LadderResult
        switch await transcode(transcoder, source: source, output: output, progress: progress) {
        case .success(let done):
            result = done
        case .failure(let failure):
            if failure.stopped { throw CancellationError() }
            throw Ending.failed(failure.message, permanent: failure.permanent)
        }
        timings.transcode = lap()
        let files = try await upload(output, job: job)
        timings.upload = lap()
        let manifest = RunnerJobs.ResultManifest(files: files, video: result.video, audio: result.audio, duration: result.duration)
        try await reportSuccess(manifest, job: job)
        timings.publish = lap()
        return timings
    }

    /// Reports the result. While the server cannot store it (503: its object store is down) or
    /// cannot be reached, the runner asks again with growing pauses — the heartbeats keep the
    /// lease, and the server keeps the files — for up to about ten minutes.
    private func reportSuccess(_ manifest: RunnerJobs.ResultManifest, job: RunnerJobs.Assignment) async throws {
        var pause = 1.0
        var waited = 0.0
        while true {
            do {
                try await http.send(.POST, "/api/v1/runners/jobs/\(job.jobId)/success", job: job.jobToken, body: manifest)
                return
            } catch let error as RunnerCallError {
                switch error {
                case .refused(503, _), .network: break
                default: throw error
                }
                guard waited < 600 else { throw error }
                logger.notice("the server could not take the result yet; asking again", metadata: ["job": "\(job.jobId)", "error": "\(error)"])
            }
            try await Task.sleep(for: .seconds(pause))
            waited += pause
            pause = min(pause * 2, 60)
        }
    }

    private func transcode(
        _ transcoder: ChildTranscoder, source: String, output: String, progress: LatestProgress
    ) async -> Result<LadderResult, TranscodeFailure> {
        do {
            return .success(
                try await transcoder.run(source: source, output: output) { fraction, eta in
                    progress.value.withLock { $0 = (fraction, eta) }
                    return !Task.isCancelled
                })
        } catch {
            return .failure(error)
        }
    }

    /// Sends every file of the result the server does not have yet; returns the manifest entries.
    private func upload(_ output: String, job: RunnerJobs.Assignment) async throws -> [RunnerJobs.ResultFile] {
        let received: RunnerMessages.Received = try await http.json(.GET, "/api/v1/runners/jobs/\(job.jobId)/files", job: job.jobToken)
        let have = Dictionary(received.files.map { ($0.path, $0.size) }, uniquingKeysWith: { first, _ in first })
        var entries: [RunnerJobs.ResultFile] = []
        for relative in RunnerJobs.files(below: output).keys.sorted() {
            let path = "\(output)/\(relative)"
            let (size, sha) = try FileDigest.of(path)
            entries.append(.init(path: relative, size: size, sha256: sha))
            if have[relative] == size { continue }
            var attempt = 0
            while true {
                do {
                    try await http.upload("/api/v1/runners/jobs/\(job.jobId)/files", path: relative, job: job.jobToken, file: path)
                    break
                } catch RunnerCallError.network(let why) where attempt < 5 {
                    // The server is unreachable: try again later, from where the upload got to.
                    attempt += 1
                    logger.warning("upload interrupted; resuming", metadata: ["file": "\(relative)", "error": "\(why)"])
                    try await Task.sleep(for: .seconds(Double(attempt)))
                }
            }
        }
        return entries
    }
}

/// SHA-256 of a file, read a megabyte at a time.
enum FileDigest {
    static func of(_ path: String) throws -> (Int64, String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw RunnerCallError.local("cannot read \(path)") }
        defer { try? handle.close() }
        var hash = SHA256()
        var size: Int64 = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hash.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (size, hash.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
