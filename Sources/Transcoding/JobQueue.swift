import Catalog
import Foundation
import GRDB
import Media

extension Rendition {
    /// The catalog's row for one tier the transcoder wrote.
    init(recordingId: Int64, version: String, kind: Kind, summary: RenditionSummary) {
        self.init(
            recordingId: recordingId, version: version, name: summary.name, kind: kind, playlist: summary.playlist,
            width: summary.width, height: summary.height, codecs: summary.codecs, averageBitRate: summary.averageBitRate,
            peakBitRate: summary.peakBitRate, size: Int64(summary.size), segmentCount: summary.segmentCount,
            duration: summary.duration)
    }
}

/// Errors the queue reports to the server and the command line.
public enum JobQueueError: Error, Equatable, Sendable {
    case recordingNotFound
    /// Nothing to retry or cancel, or the recording has no source to transcode.
    case notApplicable(String)
}

/// The durable transcode queue: rows in `transcodeJob`, leased atomically by workers.
///
/// Every transition is one SQLite write transaction, so two workers (or a worker and an admin's
/// cancel) never both win. The recording's state follows the job's (`RecordingLifecycle`).
public struct JobQueue: Sendable {
    public let database: AppDatabase
    /// How long a lease lasts without a heartbeat.
    public var leaseDuration: TimeInterval
    /// Back-off before the second attempt; doubled for each later one.
    public var retryDelay: TimeInterval
    public var maxAttempts: Int

    public init(database: AppDatabase, leaseDuration: TimeInterval = 30, retryDelay: TimeInterval = 10, maxAttempts: Int = 3) {
        self.database = database
        self.leaseDuration = leaseDuration
        self.retryDelay = retryDelay
        self.maxAttempts = maxAttempts
    }

    // MARK: - Adding work

    /// Queues a transcode of a recording unless one is already queued or running; returns the
    /// active job. A recording with published media stays `ready` (its old renditions keep
    /// playing until the new ones are published); otherwise it becomes `queued`.
    @discardableResult
    public static func enqueue(recordingId: Int64, maxAttempts: Int = 3, _ db: Database) throws -> TranscodeJob {
        if let active = try activeJob(recordingId: recordingId, db) { return active }
        var job = TranscodeJob(recordingId: recordingId, maxAttempts: maxAttempts)
        try job.insert(db)
        try RecordingStore.transition(recordingId, .transcodeQueued, db)
        return job
    }

    /// Queues a new transcode of a recording that has a source: a retry after failure, or a
    /// re-transcode with a changed ladder.
    @discardableResult
    public func retry(recordingId: Int64) async throws -> TranscodeJob {
        let maxAttempts = self.maxAttempts
        return try await database.write { db in
            guard let recording = try Recording.fetchOne(db, key: recordingId), recording.deletedAt == nil else {
                throw JobQueueError.recordingNotFound
            }
            guard recording.sourcePath != nil, recording.mediaInfo != nil else {
                throw JobQueueError.notApplicable("the recording has no usable source file to transcode")
            }
            return try Self.enqueue(recordingId: recordingId, maxAttempts: maxAttempts, db)
        }
    }

    /// Cancels a recording's queued or running job. A running one stops when its worker next
    /// heartbeats (within a few seconds) and its temporary files are removed.
    @discardableResult
    public func cancel(recordingId: Int64, now: Date = Date()) async throws -> TranscodeJob {
        try await database.write { db in
            guard var job = try Self.activeJob(recordingId: recordingId, db) else {
                throw JobQueueError.notApplicable("the recording has no queued or running transcode")
            }
            job.state = .cancelled
            job.finishedAt = now
            job.leaseOwner = nil
            job.leaseExpiresAt = nil
            try job.update(db)
            try Self.settleRecording(job, failure: "transcoding was cancelled", db)
            return job
        }
    }

    // MARK: - Leasing and running

    /// Leases the oldest runnable job (or job `only`, if it is runnable) to `owner`, or returns
    /// nil when there is none.
    public func lease(owner: String, only: Int64? = nil, now: Date = Date()) async throws -> TranscodeJob? {
        let leaseDuration = self.leaseDuration
        return try await database.write { db in
            guard var job = try TranscodeJob.fetchOne(
                db,
                sql: """
                    SELECT * FROM transcodeJob
                    WHERE state = 'queued' AND (notBefore IS NULL OR notBefore <= ?) AND (? IS NULL OR id = ?)
                    ORDER BY id LIMIT 1
                    """, arguments: [now, only, only])
            else { return nil }
            job.state = .running
            job.attempts += 1
            job.leaseOwner = owner
            job.leaseExpiresAt = now.addingTimeInterval(leaseDuration)
            job.heartbeatAt = now
            job.startedAt = now
            job.progress = 0
            job.etaSeconds = nil
            try job.update(db)
            try RecordingStore.transition(job.recordingId, .transcodeStarted, db)
            return job
        }
    }

    /// Records progress and extends the lease. Returns false when the lease is no longer this
    /// worker's (the job was cancelled, or it expired and went back to the queue): stop the work.
    public func heartbeat(_ job: TranscodeJob, owner: String, progress: Double, eta: Double?, now: Date = Date()) async throws -> Bool {
        let leaseDuration = self.leaseDuration
        return try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE transcodeJob SET progress = ?, etaSeconds = ?, heartbeatAt = ?, leaseExpiresAt = ?
                    WHERE id = ? AND state = 'running' AND leaseOwner = ?
                    """,
                arguments: [progress, eta, now, now.addingTimeInterval(leaseDuration), job.id, owner])
            return db.changesCount == 1
        }
    }

    /// Ends an attempt that failed: back to the queue after a back-off, or `failed` once the
    /// attempts are used up (then the recording shows the error). Returns the job as stored.
    @discardableResult
    public func fail(_ job: TranscodeJob, owner: String, error message: String, permanent: Bool = false, now: Date = Date()) async throws -> TranscodeJob? {
        let retryDelay = self.retryDelay
        return try await database.write { db in
            guard var current = try TranscodeJob.fetchOne(db, key: job.id), current.state == .running, current.leaseOwner == owner else {
                return nil
            }
            current.lastError = message
            current.leaseOwner = nil
            current.leaseExpiresAt = nil
            if permanent || current.attempts >= current.maxAttempts {
                current.state = .failed
                current.finishedAt = now
                try current.update(db)
                try Self.settleRecording(current, failure: message, db)
            } else {
                current.state = .queued
                current.notBefore = now.addingTimeInterval(retryDelay * pow(2, Double(current.attempts - 1)))
                try current.update(db)
            }
            return current
        }
    }

    /// Publishes a finished job in one transaction: renditions, the recording's media version and
    /// state, and the job's success. Returns false (and changes nothing) when the lease was lost
    /// or the recording was deleted meanwhile; the caller then removes the files it made.
    public func succeed(_ job: TranscodeJob, owner: String, video: [RenditionSummary], audio: [RenditionSummary], now: Date = Date()) async throws -> Bool {
        try await database.write { db in
            guard var current = try TranscodeJob.fetchOne(db, key: job.id), current.state == .running, current.leaseOwner == owner,
                var recording = try Recording.fetchOne(db, key: job.recordingId), recording.deletedAt == nil
            else { return false }
            try Rendition.filter(Column("recordingId") == job.recordingId).deleteAll(db)
            for (kind, summaries) in [(Rendition.Kind.video, video), (.audio, audio)] {
                for summary in summaries {
                    var rendition = Rendition(recordingId: job.recordingId, version: job.version, kind: kind, summary: summary)
                    try rendition.insert(db)
                }
            }
            recording.mediaVersion = job.version
            recording.mediaPublishedAt = now
            try RecordingStore.transition(&recording, .transcodePublished, db)
            current.state = .succeeded
            current.progress = 1
            current.etaSeconds = nil
            current.leaseOwner = nil
            current.leaseExpiresAt = nil
            current.finishedAt = now
            try current.update(db)
            return true
        }
    }

    /// Puts a running job back without using up an attempt: its worker is shutting down.
    @discardableResult
    public func park(_ job: TranscodeJob, owner: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE transcodeJob SET state = 'queued', attempts = max(attempts - 1, 0), leaseOwner = NULL,
                        leaseExpiresAt = NULL, progress = 0, etaSeconds = NULL
                    WHERE id = ? AND state = 'running' AND leaseOwner = ?
                    """, arguments: [job.id, owner])
            return db.changesCount == 1
        }
    }

    // MARK: - Recovery

    /// Puts back every running job whose lease has run out (its worker died or hung).
    @discardableResult
    public func requeueExpired(now: Date = Date()) async throws -> Int {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE transcodeJob SET state = 'queued', leaseOwner = NULL, leaseExpiresAt = NULL,
                        lastError = coalesce(lastError, 'the worker stopped responding')
                    WHERE state = 'running' AND leaseExpiresAt < ?
                    """, arguments: [now])
            return db.changesCount
        }
    }

    /// Puts back every job a previous run of this node held: that process is gone.
    @discardableResult
    public func requeueOwned(by owner: String) async throws -> Int {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE transcodeJob SET state = 'queued', leaseOwner = NULL, leaseExpiresAt = NULL
                    WHERE state = 'running' AND leaseOwner = ?
                    """, arguments: [owner])
            return db.changesCount
        }
    }

    /// Whether a job is still this worker's to run.
    public func isHeld(_ job: TranscodeJob, by owner: String) async throws -> Bool {
        try await database.read { db in
            try TranscodeJob.fetchOne(db, key: job.id).map { $0.state == .running && $0.leaseOwner == owner } ?? false
        }
    }

    /// Runnable jobs, oldest first, with their source's duration: what a runner may accept.
    public func runnable(limit: Int, now: Date = Date()) async throws -> [(job: TranscodeJob, duration: Double?)] {
        try await database.read { db in
            let jobs = try TranscodeJob.fetchAll(
                db,
                sql: """
                    SELECT * FROM transcodeJob
                    WHERE state = 'queued' AND (notBefore IS NULL OR notBefore <= ?)
                    ORDER BY id LIMIT ?
                    """, arguments: [now, limit])
            return try jobs.map { job in (job, try Recording.fetchOne(db, key: job.recordingId)?.mediaInfo?.duration) }
        }
    }

    /// Seconds of media waiting (queued, and the rest of what is running): the queue's drain time
    /// at a known speed.
    public func pendingMediaSeconds() async throws -> Double {
        try await database.read { db in
            let jobs = try TranscodeJob.filter([TranscodeJob.State.queued, .running].contains(TranscodeJob.Columns.state)).fetchAll(db)
            return try jobs.reduce(0) { total, job in
                let duration = try Recording.fetchOne(db, key: job.recordingId)?.mediaInfo?.duration ?? 0
                return total + duration * (job.state == .running ? 1 - job.progress : 1)
            }
        }
    }

    /// When the longest-waiting queued job was queued (nil: nothing waits): how far behind the
    /// workers are, for readiness.
    public func oldestQueued() async throws -> Date? {
        try await database.read { db in
            try Date.fetchOne(db, sql: "SELECT MIN(createdAt) FROM transcodeJob WHERE state = 'queued'")
        }
    }

    /// How many jobs are in each state (the Prometheus gauge, read at scrape time: the worker may
    /// be another process).
    public func countsByState() async throws -> [TranscodeJob.State: Int] {
        try await database.read { db in
            var counts: [TranscodeJob.State: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS count FROM transcodeJob GROUP BY state") {
                if let state = TranscodeJob.State(rawValue: row["state"]) { counts[state] = row["count"] }
            }
            return counts
        }
    }

    /// Jobs, newest first, for `lessonlink jobs list` and the API.
    public func list(states: [TranscodeJob.State] = TranscodeJob.State.allCases, limit: Int = 100) async throws -> [TranscodeJob] {
        try await database.read { db in
            try TranscodeJob.filter(states.contains(TranscodeJob.Columns.state)).order(Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    /// The id of the recording's queued or running job, if any (its folders a sweep must leave alone).
    public func activeJobId(recordingId: Int64) async throws -> Int64? {
        try await database.read { db in try Self.activeJob(recordingId: recordingId, db)?.id }
    }

    /// The recording's queued or running job; the schema allows one at most.
    static func activeJob(recordingId: Int64, _ db: Database) throws -> TranscodeJob? {
        try TranscodeJob.filter(
            TranscodeJob.Columns.recordingId == recordingId && [TranscodeJob.State.queued, .running].contains(TranscodeJob.Columns.state)
        ).fetchOne(db)
    }

    /// After a job ends without success: a recording with published media stays `ready`;
    /// one without becomes `failed` with the reason (`RecordingLifecycle`).
    static func settleRecording(_ job: TranscodeJob, failure: String, _ db: Database) throws {
        try RecordingStore.transition(job.recordingId, .transcodeStopped(reason: failure), db)
    }
}
