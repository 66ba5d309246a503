import Catalog
import Crypto
import Foundation
import GRDB
import Media
import Testing
import Transcoding

/// A storage root with one queued recording, and the runners' tables.
private struct RunnerFixture {
    let root: String
    let database: AppDatabase
    let jobs: RunnerJobs
    let recordingId: Int64

    init() async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-runners-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(root)/sources/1", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 5000).write(to: URL(fileURLWithPath: "\(root)/sources/1/source.mp4"))
        let queued = try await QueueFixture(maxAttempts: 4, migrations: RunnerStore.migrations)
        _ = try await queued.enqueue()
        database = queued.database
        recordingId = queued.recordingId
        jobs = RunnerJobs(
            queue: JobQueue(database: database, leaseDuration: 30, retryDelay: 0, maxAttempts: 4), runners: RunnerStore(database: database),
            media: MediaLayout(storageRoot: root), ladder: "segmentDuration: 4\n")
    }

    func runner(_ name: String) async throws -> (Runner, String) {
        let registration = try await jobs.runners.createRegistration()
        return try await jobs.runners.register(registrationToken: registration, name: name)
    }

    /// Writes a result into the job's staging folder; returns its manifest.
    func write(_ files: [String: String], job: TranscodeJob) throws -> [RunnerJobs.ResultFile] {
        try files.sorted { $0.key < $1.key }.map { path, text in
            let target = try jobs.resultFile(job, path: path)
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: target, atomically: false, encoding: .utf8)
            return .init(path: path, size: Int64(text.utf8.count), sha256: SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined())
        }
    }

    static let result = [
        "master.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n",
        "360p/index.m3u8": "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:3,\nseg_00000.m4s\n#EXT-X-ENDLIST\n",
        "360p/init.mp4": "init", "360p/seg_00000.m4s": "segment",
    ]
    static let tier = RenditionSummary(
        name: "360p", playlist: "360p/index.m3u8", width: 640, height: 360, codecs: "avc1.64001e", averageBitRate: 800_000,
        peakBitRate: 900_000, size: 11, segmentCount: 1, duration: 3)
}

@Suite("Remote runners")
struct RunnerJobsTests {
    @Test("A registration token is spent once; a revoked runner is refused and its jobs go back to the queue")
    func registration() async throws {
        let fixture = try await RunnerFixture()
        let store = fixture.jobs.runners
        let registration = try await store.createRegistration()
        let (runner, token) = try await store.register(registrationToken: registration, name: "学校机房")
        #expect(try await store.authenticate(token: token).id == runner.id)
        await #expect(throws: RunnerError.self) { try await store.register(registrationToken: registration, name: "again") }
        let expired = try await store.createRegistration(lifetime: 60, now: Date().addingTimeInterval(-120))
        await #expect(throws: RunnerError.self) { try await store.register(registrationToken: expired, name: "late") }

        let offer = try #require(try await fixture.jobs.available().first)
        let assignment = try await fixture.jobs.accept(offer.id, runner: runner)
        #expect(assignment.sourceSize == 5000 && assignment.ladder == "segmentDuration: 4\n" && assignment.durationSeconds == 3)
        await #expect(throws: RunnerError.taken(offer.id)) { try await fixture.jobs.accept(offer.id, runner: runner) }
        #expect(try await store.revoke(runner.id!))
        await #expect(throws: RunnerError.self) { try await store.authenticate(token: token) }
        #expect(try await fixture.jobs.available().map(\.id) == [offer.id], "the revoked runner's job is queued again")
    }

    @Test("A result is published only when every file matches the manifest and every playlist its files")
    func results() async throws {
        let fixture = try await RunnerFixture()
        let (runner, _) = try await fixture.runner("r1")
        let offer = try #require(try await fixture.jobs.available().first)
        let first = try await fixture.jobs.accept(offer.id, runner: runner)
        let held = try await fixture.jobs.held(offer.id, runner: runner, token: first.jobToken)
        await #expect(throws: RunnerError.notYourJob(offer.id)) { try await fixture.jobs.held(offer.id, runner: runner, token: "guess") }
        for bad in ["../v9/x", ".job-2/x", "a//b", "", "360p/seg 1.m4s", "a/b/c/d/e"] {
            #expect(throws: RunnerError.self, "\(bad)") { try fixture.jobs.resultFile(held, path: bad) }
        }
        try await fixture.jobs.abort(held, runner: runner, token: first.jobToken)

        // Each way a result can fail to hold together; each costs an attempt, the fourth the job.
        let zeros = String(repeating: "0", count: 64)
        let cases: [(what: String, edit: ([RunnerJobs.ResultFile]) -> [RunnerJobs.ResultFile], replaced: [String: String], expected: String)] = [
            ("a file the runner did not list", { Array($0.dropLast()) }, [:], "is not in the manifest"),
            ("a listed file never sent", { $0 + [.init(path: "360p/seg_00001.m4s", size: 1, sha256: zeros)] }, [:], "was never uploaded"),
            ("bytes that are not the manifest's", { $0.map { $0.path == "360p/init.mp4" ? .init(path: $0.path, size: $0.size, sha256: zeros) : $0 } },
             [:], "360p/init.mp4 has SHA-256"),
            ("a playlist naming a missing segment", { $0 }, ["360p/index.m3u8": "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\nseg_00009.m4s\n"],
             "360p/index.m3u8 names seg_00009.m4s"),
        ]
        for (index, example) in cases.enumerated() {
            let assignment = try await fixture.jobs.accept(offer.id, runner: runner)
            let job = try await fixture.jobs.held(offer.id, runner: runner, token: assignment.jobToken)
            let files = try fixture.write(RunnerFixture.result.merging(example.replaced) { $1 }, job: job)
            let manifest = RunnerJobs.ResultManifest(files: example.edit(files), video: [RunnerFixture.tier], audio: [], duration: 3)
            do {
                try await fixture.jobs.succeed(job, runner: runner, token: assignment.jobToken, manifest: manifest)
                Issue.record("\(example.what) was published")
            } catch RunnerError.badResult(let why) {
                #expect(why.contains(example.expected), "\(example.what): \(why)")
            }
            let state = try await fixture.database.read { db in try TranscodeJob.fetchOne(db, key: offer.id)!.state }
            #expect(state == (index < 3 ? .queued : .failed), "\(example.what)")
            #expect(!FileManager.default.fileExists(atPath: "\(fixture.root)/media/\(fixture.recordingId)/\(job.version)"))
        }
        #expect(try await fixture.jobs.runners.list().first?.failures == 4)
    }

    @Test("A whole result is published as the job's version, and the runner's speed is measured")
    func publish() async throws {
        let fixture = try await RunnerFixture()
        let (runner, _) = try await fixture.runner("r1")
        let offer = try #require(try await fixture.jobs.available().first)
        let assignment = try await fixture.jobs.accept(offer.id, runner: runner)
        let job = try await fixture.jobs.held(offer.id, runner: runner, token: assignment.jobToken)
        #expect(try await fixture.jobs.update(job, runner: runner, token: assignment.jobToken, progress: 0.5, eta: 2))
        let files = try fixture.write(RunnerFixture.result, job: job)
        #expect(fixture.jobs.received(job).count == 4)
        // A tus upload begun and cut: where it stands survives (in the file system), it does not
        // count as received, and it is not published.
        let begun = try fixture.jobs.createUpload(job, path: "360p/seg_00001.m4s", length: 10)
        let partial = try #require(begun.partial)
        try Data("half".utf8).write(to: URL(fileURLWithPath: partial))
        #expect(fixture.jobs.upload(job, path: "360p/seg_00001.m4s") == .init(offset: 4, length: 10, partial: partial))
        #expect(fixture.jobs.received(job)["360p/seg_00001.m4s"] == nil && fixture.jobs.received(job).count == 4)
        // Finished, it takes its name; begun again, the old bytes go.
        let empty = try fixture.jobs.createUpload(job, path: "360p/empty.txt", length: 0)
        #expect(empty.partial == nil && fixture.jobs.received(job)["360p/empty.txt"] == 0)
        #expect(fixture.jobs.upload(job, path: "360p/empty.txt") == .init(offset: 0, length: 0, partial: nil))
        try FileManager.default.removeItem(atPath: try fixture.jobs.resultFile(job, path: "360p/empty.txt"))
        #expect(throws: RunnerError.self) { try fixture.jobs.createUpload(job, path: "../escape", length: 1) }
        try await fixture.jobs.succeed(
            job, runner: runner, token: assignment.jobToken,
            manifest: .init(files: files, video: [RunnerFixture.tier], audio: [], duration: 3))
        let recording = try await fixture.database.read { db in try Recording.fetchOne(db, key: fixture.recordingId)! }
        #expect(recording.state == .ready && recording.mediaVersion == job.version)
        #expect(FileManager.default.fileExists(atPath: "\(fixture.root)/media/\(fixture.recordingId)/\(job.version)/360p/seg_00000.m4s"))
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.root)/media/\(fixture.recordingId)/\(job.version)/.partial"))
        let measured = try #require(try await fixture.jobs.runners.list().first)
        #expect(measured.jobsDone == 1 && measured.mediaSeconds == 3 && measured.speed != nil)
        // Done, the job token is spent.
        await #expect(throws: RunnerError.notYourJob(offer.id)) { try await fixture.jobs.held(offer.id, runner: runner, token: assignment.jobToken) }
    }
}

@Suite("Transcode capacity")
struct TranscodeCapacityTests {
    @Test("The county's recorded hours against the runners' measured speed, and the runners missing")
    func arithmetic() {
        // 135 classrooms × 2 × 45 min = 202.5 h a day; two runners at 1.1× and 0.9×, 10 h a night.
        let short = TranscodeCapacity(classrooms: 135, lessonsPerDay: 2, lessonMinutes: 45, runnerSpeeds: [1.1, 0.9], runnerHours: 10, workerSpeed: 1)
        #expect(short.recordedHours == 202.5 && short.capacityHours == 44)
        #expect(abs(short.share - 44 / 202.5) < 1e-9)
        #expect(short.runnersMissing == 16, "158.5 h left at 10 h a night each")
        let covered = TranscodeCapacity(classrooms: 4, lessonsPerDay: 2, lessonMinutes: 45, runnerSpeeds: [1], runnerHours: 24, workerSpeed: nil)
        #expect(covered.share > 1 && covered.runnersMissing == 0)
        let unmeasured = TranscodeCapacity(classrooms: 10, lessonsPerDay: 2, lessonMinutes: 45, runnerSpeeds: [], runnerHours: 24, workerSpeed: nil)
        #expect(unmeasured.runnersMissing == nil)
    }
}
