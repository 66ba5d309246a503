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
        media.removePartials(of: staging)
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
                try media.publish(staging: staging, to: target)
                if try await queue.succeed(job, owner: node, video: result.video, audio: result.audio) {
                    logger.info("transcode published", metadata: metadata.merging(["version": "\(job.version)", "speed": "\(result.speed)"]) { $1 })
                } else {
                    // Cancelled or deleted while finishing: these files belong to nothing.
                    media.remove(target)
                    logger.info("transcode finished but no longer wanted", metadata: metadata)
                }
            } catch {
                media.remove(staging)
                media.remove(target)
                _ = try? await queue.fail(job, owner: node, error: "publishing failed: \(error)")
            }
        case .failure(let failure):
            media.remove(staging)
            media.removePartials(of: staging)
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

/// The child's last progress report, read by the heartbeat.
final class LatestProgress: Sendable {
    let value = Mutex<(Double, Double?)>((0, nil))
}

/// Where a recording's media lives under the storage root, and the file moves of publishing.
///
/// `media/<recording>/v<job>/` is a published version; `media/<recording>/.job-<job>/` is a job's
/// staging folder (the transcoder itself writes into a hidden `.partial` sibling first).
public struct MediaLayout: Sendable {
    public var storageRoot: String

    public init(storageRoot: String) { self.storageRoot = storageRoot }

    public var mediaRoot: String { "\(storageRoot)/media" }
    public func recordingDirectory(_ recordingId: Int64) -> String { "\(mediaRoot)/\(recordingId)" }
    public func versionDirectory(_ job: TranscodeJob) -> String { "\(recordingDirectory(job.recordingId))/\(job.version)" }
    public func staging(_ job: TranscodeJob) -> String { "\(recordingDirectory(job.recordingId))/.job-\(job.id ?? 0)" }

    func sourcePath(of recordingId: Int64, database: AppDatabase) async throws -> String? {
        let relative = try await database.writer.read { db in
            try String.fetchOne(db, sql: "SELECT sourcePath FROM recording WHERE id = ? AND deletedAt IS NULL", arguments: [recordingId])
        }
        guard let relative else { return nil }
        let path = "\(storageRoot)/\(relative)"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// One rename makes the finished staging folder the version folder, then the parent folder is
    /// synced so the rename survives a power cut before the database says "published".
    func publish(staging: String, to target: String) throws {
        if rename(staging, target) != 0 {
            throw MediaError(.io, step: "publishing", message: String(cString: strerror(errno)))
        }
        let parent = (target as NSString).deletingLastPathComponent
        let descriptor = open(parent, O_RDONLY | O_DIRECTORY)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }

    func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The transcoder's hidden `.partial` siblings of `output`, left when its process was killed.
    func removePartials(of output: String) {
        let directory = (output as NSString).deletingLastPathComponent
        let prefix = ".\((output as NSString).lastPathComponent).partial-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) {
            remove("\(directory)/\(name)")
        }
    }
}

extension MediaLayout {
    /// Removes media nobody will play: folders of deleted recordings, versions replaced more than
    /// `keepOldVersions` ago (players that started on them have had time to finish), and staging
    /// folders of jobs no longer running. The published version, and anything a running job may
    /// still publish, stays. Returns the paths removed.
    @discardableResult
    public func sweep(database: AppDatabase, keepOldVersions: TimeInterval, now: Date = Date()) async throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: mediaRoot)) ?? []
        var removed: [String] = []
        for name in names {
            guard let recordingId = Int64(name) else { continue }
            let (recording, activeJobs) = try await database.writer.read { db in
                (
                    try Recording.fetchOne(db, key: recordingId),
                    Set(try Int64.fetchAll(db, sql: "SELECT id FROM transcodeJob WHERE recordingId = ? AND state IN ('queued', 'running')", arguments: [recordingId]))
                )
            }
            let directory = recordingDirectory(recordingId)
            guard let recording, recording.deletedAt == nil else {
                remove(directory)
                removed.append(directory)
                continue
            }
            let oldVersionsExpired = (recording.mediaPublishedAt ?? .distantPast).addingTimeInterval(keepOldVersions) < now
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let keep: Bool
                if entry.hasPrefix("v"), let job = Int64(entry.dropFirst()) {
                    keep = entry == recording.mediaVersion || activeJobs.contains(job) || !oldVersionsExpired
                } else if let job = Self.stagingJob(entry) {
                    keep = activeJobs.contains(job)
                } else {
                    keep = true  // not ours: leave it to whoever put it there
                }
                if !keep {
                    remove("\(directory)/\(entry)")
                    removed.append("\(directory)/\(entry)")
                }
            }
        }
        return removed
    }

    /// The job of a staging folder (`.job-12`) or of the transcoder's partial sibling of one
    /// (`..job-12.partial-…`).
    static func stagingJob(_ entry: String) -> Int64? {
        var rest = Substring(entry)
        if rest.hasPrefix("..job-") { rest = rest.dropFirst(6) } else if rest.hasPrefix(".job-") { rest = rest.dropFirst(5) } else { return nil }
        return Int64(rest.prefix { $0.isNumber })
    }
}
