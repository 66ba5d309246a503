import Catalog
import Foundation
import GRDB
import Media
import Testing
import TestSupport
import Transcoding

/// A recording with a source, in an in-memory database with the real migrations.
struct QueueFixture {
    let database: AppDatabase
    let recordingId: Int64
    var queue: JobQueue

    init(maxAttempts: Int = 3, migrations: [AppDatabase.Migration] = []) async throws {
        database = try AppDatabase.inMemory(migrations: migrations)
        recordingId = try await database.write { db in
            try db.execute(sql: """
                INSERT INTO district(id, name) VALUES (1, '城关学区');
                INSERT INTO school(id, districtId, name, kind) VALUES (1, 1, '城关小学', 'lead');
                INSERT INTO person(id, username, displayName, passwordHash, role, schoolId, districtId, createdAt)
                    VALUES (1, 'wang', '王丽', 'x', 'teacher', 1, 1, '2026-01-01');
                """)
            var recording = Recording(title: "秋天的雨", teacherId: 1, schoolId: 1, state: .queued)
            recording.sourcePath = "sources/1/source.mp4"
            recording.mediaInfo = SourceMedia(container: "mov,mp4", duration: 3, bitRate: 1000, size: 1000)
            try RecordingStore.insert(&recording, db)
            return recording.id!
        }
        queue = JobQueue(database: database, leaseDuration: 30, retryDelay: 10, maxAttempts: maxAttempts)
    }

    func enqueue() async throws -> TranscodeJob {
        try await database.write { db in try JobQueue.enqueue(recordingId: recordingId, maxAttempts: queue.maxAttempts, db) }
    }

    func recording() async throws -> Recording {
        try await database.read { db in try Recording.fetchOne(db, key: recordingId)! }
    }

    func job(_ id: Int64?) async throws -> TranscodeJob {
        try await database.read { db in try TranscodeJob.fetchOne(db, key: id)! }
    }
}

let rendition = RenditionSummary(
    name: "360p", playlist: "360p/index.m3u8", width: 640, height: 360, codecs: "avc1.64001e", averageBitRate: 800_000,
    peakBitRate: 1_000_000, size: 300_000, segmentCount: 1, duration: 3)

@Suite("Durable transcode queue")
struct JobQueueTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("A job is leased once; the recording follows it to ready with its renditions")
    func leaseAndPublish() async throws {
        let fixture = try await QueueFixture()
        let queued = try await fixture.enqueue()
        // Queuing again while one is active returns the same job.
        #expect(try await fixture.enqueue().id == queued.id)
        let job = try #require(try await fixture.queue.lease(owner: "a", now: start))
        #expect(job.attempts == 1 && job.state == .running)
        #expect(try await fixture.queue.lease(owner: "b", now: start) == nil, "leased once")
        #expect(try await fixture.recording().state == .processing)

        #expect(try await fixture.queue.heartbeat(job, owner: "a", progress: 0.5, eta: 2, now: start.addingTimeInterval(20)))
        #expect(try await fixture.queue.heartbeat(job, owner: "b", progress: 0.9, eta: 1, now: start) == false, "not b's lease")
        // The heartbeat at +20 s moved the expiry to +50 s: nothing to re-queue at +40 s.
        #expect(try await fixture.queue.requeueExpired(now: start.addingTimeInterval(40)) == 0)
        #expect(try await fixture.job(job.id).progress == 0.5)

        #expect(try await fixture.queue.succeed(job, owner: "a", video: [rendition], audio: [], now: start))
        let recording = try await fixture.recording()
        #expect(recording.state == .ready && recording.mediaVersion == job.version)
        let renditions = try await fixture.database.read { db in try Rendition.fetchAll(db) }
        #expect(renditions.map(\.name) == ["360p"] && renditions.first?.version == "v\(job.id!)")
        #expect(try await fixture.job(job.id).state == .succeeded)
    }

    @Test("A dead worker's job comes back when its lease expires, and at the node's next start")
    func recovery() async throws {
        let fixture = try await QueueFixture()
        _ = try await fixture.enqueue()
        let job = try #require(try await fixture.queue.lease(owner: "node-1", now: start))
        #expect(try await fixture.queue.requeueExpired(now: start.addingTimeInterval(29)) == 0)
        #expect(try await fixture.queue.requeueExpired(now: start.addingTimeInterval(31)) == 1)
        // The old holder's heartbeat and result no longer count.
        #expect(try await fixture.queue.heartbeat(job, owner: "node-1", progress: 0.7, eta: nil, now: start) == false)
        #expect(try await fixture.queue.succeed(job, owner: "node-1", video: [rendition], audio: [], now: start) == false)

        let again = try #require(try await fixture.queue.lease(owner: "node-1", now: start.addingTimeInterval(32)))
        #expect(again.id == job.id && again.attempts == 2)
        #expect(try await fixture.queue.requeueOwned(by: "node-2") == 0)
        #expect(try await fixture.queue.requeueOwned(by: "node-1") == 1)
        #expect(try await fixture.job(job.id).state == .queued)
    }

    @Test("Failures back off exponentially; the last attempt fails the recording with the error")
    func backoff() async throws {
        let fixture = try await QueueFixture(maxAttempts: 3)
        _ = try await fixture.enqueue()
        var now = start
        for attempt in 1...2 {
            let job = try #require(try await fixture.queue.lease(owner: "a", now: now))
            let stored = try #require(try await fixture.queue.fail(job, owner: "a", error: "crashed (signal 11)", now: now))
            let delay = 10 * pow(2, Double(attempt - 1))
            #expect(stored.state == .queued && stored.notBefore == now.addingTimeInterval(delay))
            #expect(try await fixture.queue.lease(owner: "a", now: now.addingTimeInterval(delay - 1)) == nil, "still backing off")
            now = now.addingTimeInterval(delay)
        }
        let last = try #require(try await fixture.queue.lease(owner: "a", now: now))
        #expect(last.attempts == 3)
        #expect(try await fixture.queue.fail(last, owner: "a", error: "crashed (signal 11)", now: now)?.state == .failed)
        let recording = try await fixture.recording()
        #expect(recording.state == .failed && recording.failure == "crashed (signal 11)")
    }

    @Test("A permanent failure does not retry; parking on shutdown does not use an attempt")
    func permanentAndPark() async throws {
        let fixture = try await QueueFixture()
        _ = try await fixture.enqueue()
        let job = try #require(try await fixture.queue.lease(owner: "a", now: start))
        #expect(try await fixture.queue.park(job, owner: "a"))
        let parked = try await fixture.job(job.id)
        #expect(parked.state == .queued && parked.attempts == 0)
        let again = try #require(try await fixture.queue.lease(owner: "a", now: start))
        #expect(try await fixture.queue.fail(again, owner: "a", error: "not a video", permanent: true, now: start)?.state == .failed)
        #expect(try await fixture.recording().failure == "not a video")
    }

    @Test("Cancel and retry; a ready recording stays ready while it is transcoded again")
    func cancelAndRetry() async throws {
        let fixture = try await QueueFixture()
        _ = try await fixture.enqueue()
        let running = try #require(try await fixture.queue.lease(owner: "a", now: start))
        _ = try await fixture.queue.cancel(recordingId: fixture.recordingId)
        #expect(try await fixture.queue.heartbeat(running, owner: "a", progress: 0.2, eta: nil) == false, "the worker learns of it")
        #expect(try await fixture.recording().state == .failed)
        await #expect(throws: JobQueueError.self) { try await fixture.queue.cancel(recordingId: fixture.recordingId) }

        let retried = try await fixture.queue.retry(recordingId: fixture.recordingId)
        #expect(retried.id != running.id)
        #expect(try await fixture.recording().state == .queued)
        let job = try #require(try await fixture.queue.lease(owner: "a", now: start))
        #expect(try await fixture.queue.succeed(job, owner: "a", video: [rendition], audio: [], now: start))

        // A re-run keeps the published version playing until it is replaced.
        let rerun = try await fixture.queue.retry(recordingId: fixture.recordingId)
        let leased = try #require(try await fixture.queue.lease(owner: "a", now: start))
        #expect(leased.id == rerun.id)
        #expect(try await fixture.recording().state == .ready)
        _ = try await fixture.queue.fail(leased, owner: "a", error: "disk full", permanent: true, now: start)
        let recording = try await fixture.recording()
        #expect(recording.state == .ready && recording.mediaVersion == job.version)
    }
}

@Suite("Media sweep")
struct MediaSweepTests {
    @Test("Replaced versions go after the grace period, stale staging at once; live work stays")
    func sweep() async throws {
        let fixture = try await QueueFixture()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = MediaLayout(storageRoot: root)
        let published = Date(timeIntervalSince1970: 1_800_000_000)
        // Job 1 published v1, a dead job left its staging folder; job 2 is running now.
        _ = try await fixture.enqueue()
        let first = try #require(try await fixture.queue.lease(owner: "a", now: published))
        #expect(try await fixture.queue.succeed(first, owner: "a", video: [rendition], audio: [], now: published))
        let running = try await fixture.queue.retry(recordingId: fixture.recordingId)
        _ = try await fixture.queue.lease(owner: "a", now: published)
        let directory = layout.recordingDirectory(fixture.recordingId)
        let entries = ["v\(first.id!)", "v999", ".job-999", ".job-\(running.id!)", "notes"]
        for entry in entries {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(entry)", withIntermediateDirectories: true)
        }
        let deletedDirectory = layout.recordingDirectory(4242)
        try FileManager.default.createDirectory(atPath: "\(deletedDirectory)/v1", withIntermediateDirectories: true)

        // Within the grace period the replaced v999 stays; stale staging and unknown recordings go.
        try await layout.sweep(database: fixture.database, keepOldVersions: 3600, now: published.addingTimeInterval(60))
        var left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(left == ["v\(first.id!)", "v999", ".job-\(running.id!)", "notes"])
        #expect(!FileManager.default.fileExists(atPath: deletedDirectory))

        try await layout.sweep(database: fixture.database, keepOldVersions: 3600, now: published.addingTimeInterval(7200))
        left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(left == ["v\(first.id!)", ".job-\(running.id!)", "notes"])
    }

    @Test("With a bucket: removed versions leave the store too, kept ones keep only playlists and poster here (put in the store first when it lacks them), and come back on demand")
    func sweepWithBucket() async throws {
        let fixture = try await QueueFixture()
        let bucket = try await MotoServer.shared.bucket()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = MediaLayout(storageRoot: root, bucket: bucket)
        let published = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try await fixture.enqueue()
        let first = try #require(try await fixture.queue.lease(owner: "a", now: published))
        #expect(try await fixture.queue.succeed(first, owner: "a", video: [rendition], audio: [], now: published))
        let files = ["master.m3u8": "#EXTM3U\n", "poster.jpg": "jpeg", "360p/index.m3u8": "#EXTM3U\n", "360p/init.mp4": "init", "360p/seg_00000.m4s": "seg"]
        for version in ["v\(first.id!)", "v999"] {
            let folder = "\(layout.recordingDirectory(fixture.recordingId))/\(version)"
            for (path, text) in files {
                try FileManager.default.createDirectory(atPath: "\(folder)/360p", withIntermediateDirectories: true)
                try Data(text.utf8).write(to: URL(fileURLWithPath: "\(folder)/\(path)"))
            }
            try await bucket.upload(folder: folder, to: MediaLayout.bucketPrefix(fixture.recordingId, version))
        }
        // Published before the store was configured: on this disk only.
        let legacy = "\(layout.recordingDirectory(fixture.recordingId))/v5"
        for (path, text) in files {
            try FileManager.default.createDirectory(atPath: "\(legacy)/360p", withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: "\(legacy)/\(path)"))
        }
        try await bucket.put(data: Data("gone".utf8), key: "media/4242/v1/360p/seg_00000.m4s")
        try FileManager.default.createDirectory(atPath: "\(layout.recordingDirectory(4242))/v1", withIntermediateDirectories: true)

        try await layout.sweep(database: fixture.database, keepOldVersions: 3600, now: published.addingTimeInterval(60))
        #expect(try await bucket.list(prefix: "media/4242/").isEmpty, "a deleted recording's media leaves the store")
        let current = "\(layout.recordingDirectory(fixture.recordingId))/v\(first.id!)"
        #expect(Set(RunnerJobs.files(below: current).keys) == ["master.m3u8", "poster.jpg", "360p/index.m3u8"])
        #expect(try await bucket.list(prefix: "media/\(fixture.recordingId)/v999/").count == files.count, "within the grace period")
        // The version the store lacked was put there whole, then trimmed here.
        #expect(Set(try await bucket.list(prefix: "media/\(fixture.recordingId)/v5/").map(\.key)) == Set(files.keys.map { "media/\(fixture.recordingId)/v5/\($0)" }))
        #expect(try await bucket.data(key: "media/\(fixture.recordingId)/v5/360p/seg_00000.m4s") == Data("seg".utf8))
        #expect(Set(RunnerJobs.files(below: legacy).keys) == ["master.m3u8", "poster.jpg", "360p/index.m3u8"])

        try await layout.sweep(database: fixture.database, keepOldVersions: 3600, now: published.addingTimeInterval(7200))
        #expect(try await bucket.list(prefix: "media/\(fixture.recordingId)/v999/").isEmpty)
        #expect(try await bucket.list(prefix: "media/\(fixture.recordingId)/v\(first.id!)/").count == files.count)

        // Work that reads every file (a pack) fetches them back.
        try await layout.fetch(recordingId: fixture.recordingId, version: "v\(first.id!)")
        #expect(try String(contentsOfFile: "\(current)/360p/seg_00000.m4s", encoding: .utf8) == "seg")
        #expect(Set(RunnerJobs.files(below: current).keys) == Set(files.keys))
    }
}
