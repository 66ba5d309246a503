import Catalog
import Foundation
import Logging
import Media
import ServiceLifecycle
import Synchronization

/// Runs transcode jobs from the durable queue, each in a child process, and publishes the results.
///
/// `concurrency` jobs run at once, each with the child's own thread budget. On start, jobs this
/// node held in a previous run are put back; while running, a heartbeat extends each lease and
/// carries progress; on graceful shutdown running children are stopped and their jobs parked
/// (queued again without using up an attempt).
public struct TranscodeWorker: Service {
    public var queue: JobQueue
    public var transcoder: ChildTranscoder
    public var media: MediaLayout
    /// This worker's name in leases; unique per worker process.
    public var node: String
    public var concurrency: Int
    /// How often an idle worker looks for work.
    public var pollInterval: TimeInterval
    public var logger: Logger

    public init(
        queue: JobQueue, transcoder: ChildTranscoder, media: MediaLayout, node: String, concurrency: Int,
        pollInterval: TimeInterval = 1, logger: Logger
    ) {
        self.queue = queue
        self.transcoder = transcoder
        self.media = media
        self.node = node
        self.concurrency = max(1, concurrency)
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        let requeued = try await queue.requeueOwned(by: node)
        if requeued > 0 { logger.info("re-queued jobs of a previous run", metadata: ["count": "\(requeued)"]) }
        await withDiscardingTaskGroup { group in
            for _ in 0..<concurrency {
                group.addTask { await loop() }
            }
        }
    }

    private func loop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await queue.requeueExpired()
                if let job = try await queue.lease(owner: node) {
                    await execute(job)
                    continue
                }
            } catch {
                logger.error("job queue unavailable", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(pollInterval)) }
        }
    }

    /// Runs one leased job to its end: published, retried later, failed, or parked.
    func execute(_ job: TranscodeJob) async {
        let metadata: Logger.Metadata = ["job": "\(job.id ?? 0)", "recording": "\(job.recordingId)", "attempt": "\(job.attempts)"]
        logger.info("transcode started", metadata: metadata)
        guard let source = try? await media.sourcePath(of: job.recordingId, database: queue.database) else {
            _ = try? await queue.fail(job, owner: node, error: "the recording's source file is missing", permanent: true)
            return
        }
        let staging = media.staging(job)
        let target = media.versionDirectory(job)
        // Leftovers of an attempt that died: never published, as this job has not succeeded.
        media.remove(staging)
        media.remove(target)
        do {
            try FileManager.default.createDirectory(atPath: media.recordingDirectory(job.recordingId), withIntermediateDirectories: true)
        } catch {
            _ = try? await queue.fail(job, owner: node, error: "cannot create the media folder: \(error)")
            return
        }

        let outcome = await runChild(job, source: source, staging: staging)
        switch outcome {
        case .success(let result):
            do {
                try await media.publish(job, staging: staging, to: target)
                if try await queue.succeed(job, owner: node, video: result.video, audio: result.audio) {
                    media.trim(target)
                    logger.info("transcode published", metadata: metadata.merging(["version": "\(job.version)", "speed": "\(result.speed)"]) { $1 })
                } else {
                    // Cancelled or deleted while finishing: these files belong to nothing.
                    await media.discard(job)
                    logger.info("transcode finished but no longer wanted", metadata: metadata)
                }
            } catch {
                media.remove(staging)
                await media.discard(job)
                _ = try? await queue.fail(job, owner: node, error: "publishing failed: \(error)")
            }
        case .failure(let failure):
            media.remove(staging)
            if failure.stopped {
                if Task.isShuttingDownGracefully || Task.isCancelled {
                    _ = try? await queue.park(job, owner: node)
                    logger.info("transcode parked for the next start", metadata: metadata)
                } else {
                    logger.info("transcode stopped (cancelled or lease lost)", metadata: metadata)
                }
            } else {
                let stored = try? await queue.fail(job, owner: node, error: failure.message, permanent: failure.permanent)
                logger.warning(
                    "transcode failed", metadata: metadata.merging(["error": "\(failure.message)", "state": "\(stored?.state.rawValue ?? "?")"]) { $1 })
            }
        }
    }

    /// Runs the child while a heartbeat keeps the lease and reports progress; a lost lease
    /// (cancellation, expiry) or shutdown stops the child.
    private func runChild(_ job: TranscodeJob, source: String, staging: String) async -> Result<LadderResult, TranscodeFailure> {
        let latest = LatestProgress()
        let queue = self.queue
        let node = self.node
        // Often enough for a live progress bar, and well inside the lease.
        let interval = min(1, max(0.1, queue.leaseDuration / 3))
        let transcoder = self.transcoder
        return await withTaskGroup(of: Result<LadderResult, TranscodeFailure>?.self) { group in
            group.addTask {
                do {
                    let result = try await cancelWhenGracefulShutdown {
                        try await transcoder.run(source: source, output: staging) { fraction, eta in
                            latest.value.withLock { $0 = (fraction, eta) }
                            return !Task.isCancelled
                        }
                    }
                    return .success(result)
                } catch let failure as TranscodeFailure {
                    return .failure(failure)
                } catch {
                    return .failure(TranscodeFailure("stopped", stopped: true))
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(interval))
                    if Task.isCancelled { return nil }
                    let (fraction, eta) = latest.value.withLock { $0 }
                    let held = (try? await queue.heartbeat(job, owner: node, progress: fraction, eta: eta)) ?? true
                    if !held { return .failure(TranscodeFailure("the job was cancelled or its lease lost", stopped: true)) }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(TranscodeFailure("stopped", stopped: true))
        }
    }
}

/// The child's last progress report (fraction, seconds left), read by the heartbeat.
public final class LatestProgress: Sendable {
    public let value = Mutex<(Double, Double?)>((0, nil))

    public init() {}
}
