import Catalog
import Crypto
import Foundation
import HLS
import Media

/// The server's side of remote transcoding: runners take jobs from the same durable queue as the
/// in-process worker, with the same leases, back-off and attempt limits.
///
/// The protocol follows PeerTube's runners (register, request, accept, update, success, error,
/// abort) with stronger guarantees. Accepting a job leases it to `runner-<id>-<job token>`: the
/// job token, handed to that runner only, is the lease, so a runner can touch no job but the ones
/// it holds, and a lease that expired, was cancelled or was revoked ends its job token with it
/// (the next call is refused, and an `update` tells the runner to stop). Result files go into the
/// job's own staging folder only; `success` publishes them only after every file's size and
/// SHA-256 match the runner's manifest, nothing else is there, and every playlist names files
/// that exist — a result that does not hold together costs the job an attempt and is retried.
public struct RunnerJobs: Sendable {
    public let queue: JobQueue
    public let runners: RunnerStore
    let media: MediaLayout
    /// The server's ladder file, sent to runners (nil: they use the built-in ladder, as the server does).
    public let ladder: String?

    public init(queue: JobQueue, runners: RunnerStore, media: MediaLayout, ladder: String?) {
        self.queue = queue
        self.runners = runners
        self.media = media
        self.ladder = ladder
    }

    static func ownerPrefix(_ runnerId: Int64) -> String { "runner-\(runnerId)-" }

    static func owner(_ runner: Runner, token: String) -> String { ownerPrefix(runner.id ?? 0) + token }

    /// A job a runner may accept.
    public struct Offer: Codable, Sendable, Equatable {
        public var id: Int64
        public var recordingId: Int64
        public var durationSeconds: Double?
    }

    /// What a runner needs for a job it accepted.
    public struct Assignment: Codable, Sendable, Equatable {
        public var jobId: Int64
        /// The lease: every later call about this job carries it.
        public var jobToken: String
        public var recordingId: Int64
        public var sourceSize: Int64
        public var sourceSha256: String?
        public var durationSeconds: Double?
        /// The ladder YAML to transcode with (absent: the built-in ladder).
        public var ladder: String?
        /// Send an update well within this many seconds, or the job goes back to the queue.
        public var leaseSeconds: Double
    }

    /// One file of a result, as the runner says it made it.
    public struct ResultFile: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String

        public init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    /// What `success` carries: every file, and the transcoder's account of the tiers.
    public struct ResultManifest: Codable, Sendable {
        public var files: [ResultFile]
        public var video: [RenditionSummary]
        public var audio: [RenditionSummary]
        /// Seconds of media transcoded.
        public var duration: Double

        public init(files: [ResultFile], video: [RenditionSummary], audio: [RenditionSummary], duration: Double) {
            self.files = files
            self.video = video
            self.audio = audio
            self.duration = duration
        }
    }

    /// Runnable jobs, oldest first (after putting back those whose lease ran out).
    public func available(limit: Int = 5) async throws -> [Offer] {
        try await queue.requeueExpired()
        return try await queue.runnable(limit: limit).map { Offer(id: $0.job.id ?? 0, recordingId: $0.job.recordingId, durationSeconds: $0.duration) }
    }

    /// Leases job `id` to `runner`, if nobody has it.
    public func accept(_ id: Int64, runner: Runner) async throws -> Assignment {
        try await queue.requeueExpired()
        let token = RunnerStore.randomToken()
        guard let job = try await queue.lease(owner: Self.owner(runner, token: token), only: id) else { throw RunnerError.taken(id) }
        media.remove(media.staging(job))
        let recording = try await queue.database.read { db in try Recording.fetchOne(db, key: job.recordingId) }
        guard let source = try await media.sourcePath(of: job.recordingId, database: queue.database), let recording else {
            _ = try await queue.fail(job, owner: Self.owner(runner, token: token), error: "the recording's source file is missing", permanent: true)
            throw RunnerError.notFound("job \(id)'s source file is missing")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int64) ?? recording.sourceSize ?? 0
        return Assignment(
            jobId: id, jobToken: token, recordingId: job.recordingId, sourceSize: size, sourceSha256: recording.sourceSha256,
            durationSeconds: recording.mediaInfo?.duration, ladder: ladder, leaseSeconds: queue.leaseDuration)
    }

    /// The job, if `runner` holds it under `token`.
    public func held(_ id: Int64, runner: Runner, token: String) async throws -> TranscodeJob {
        let owner = Self.owner(runner, token: token)
        let job = try await queue.database.read { db in try TranscodeJob.fetchOne(db, key: id) }
        guard let job, job.state == .running, job.leaseOwner == owner else { throw RunnerError.notYourJob(id) }
        return job
    }

    /// The source file of a held job, for the runner to download (with `Range`).
    public func source(of job: TranscodeJob) async throws -> String {
        guard let path = try await media.sourcePath(of: job.recordingId, database: queue.database) else {
            throw RunnerError.notFound("job \(job.id ?? 0)'s source file is missing")
        }
        return path
    }

    /// Progress from the runner; extends the lease. False: stop (cancelled, or the lease is lost).
    public func update(_ job: TranscodeJob, runner: Runner, token: String, progress: Double, eta: Double?) async throws -> Bool {
        try await queue.heartbeat(job, owner: Self.owner(runner, token: token), progress: min(1, max(0, progress)), eta: eta)
    }

    /// Where a result file of a held job is written: inside the job's staging folder, always.
    public func resultFile(_ job: TranscodeJob, path: String) throws -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !path.isEmpty, components.count <= 4,
            components.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") && $0.unicodeScalars.allSatisfy(allowed.contains) })
        else { throw RunnerError.invalid("'\(path)' is not a result file name (letters, digits, '.', '-', '_'; no hidden parts)") }
        return "\(media.staging(job))/\(path)"
    }

    /// The files received whole so far for a held job (a runner resumes its upload from here).
    public func received(_ job: TranscodeJob) -> [String: Int64] {
        Self.files(below: media.staging(job)).filter { !$0.key.hasPrefix(Self.partialFolder + "/") }
    }

    // MARK: - Result files over tus

    /// Where result files being uploaded (tus) grow until complete: a hidden folder of the job's
    /// staging folder (runners' names cannot be hidden), each named by its path (`/` as `+`) and
    /// its declared length (`360p+seg_00001.m4s@1843221`), so the state survives a restart.
    static let partialFolder = ".partial"

    /// A result file's upload: bytes received of the length declared.
    public struct ResultUpload: Sendable, Equatable {
        public var offset: Int64
        public var length: Int64
        /// The partial file (nil once the file is complete).
        public var partial: String?

        public init(offset: Int64, length: Int64, partial: String?) {
            self.offset = offset
            self.length = length
            self.partial = partial
        }
    }

    func partialPath(_ job: TranscodeJob, path: String, length: Int64) -> String {
        "\(media.staging(job))/\(Self.partialFolder)/\(path.replacingOccurrences(of: "/", with: "+"))@\(length)"
    }

    /// Starts (or starts again) the upload of a result file of `length` bytes: what was there
    /// under that name, partial or whole, is dropped. A file of no bytes is complete at once.
    public func createUpload(_ job: TranscodeJob, path: String, length: Int64) throws -> ResultUpload {
        let final = try resultFile(job, path: path)
        if let existing = upload(job, path: path)?.partial { try? FileManager.default.removeItem(atPath: existing) }
        try? FileManager.default.removeItem(atPath: final)
        let partial = partialPath(job, path: path, length: length)
        do {
            try FileManager.default.createDirectory(atPath: (partial as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: partial, contents: nil) else { throw RunnerError.storage("cannot create \(path)") }
        } catch let error as RunnerError {
            throw error
        } catch {
            throw RunnerError.storage("cannot create \(path): \(error.localizedDescription)")
        }
        if length == 0 { try completeUpload(job, path: path, partial: partial) }
        return ResultUpload(offset: 0, length: length, partial: length == 0 ? nil : partial)
    }

    /// Where the upload of `path` stands, or nil when it was never begun.
    public func upload(_ job: TranscodeJob, path: String) -> ResultUpload? {
        guard let final = try? resultFile(job, path: path) else { return nil }
        let folder = "\(media.staging(job))/\(Self.partialFolder)"
        let prefix = path.replacingOccurrences(of: "/", with: "+") + "@"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) {
            guard let length = Int64(name.dropFirst(prefix.count)) else { continue }
            let partial = "\(folder)/\(name)"
            let size = (try? FileManager.default.attributesOfItem(atPath: partial))?[.size] as? NSNumber
            return ResultUpload(offset: size?.int64Value ?? 0, length: length, partial: partial)
        }
        guard let size = (try? FileManager.default.attributesOfItem(atPath: final))?[.size] as? NSNumber else { return nil }
        return ResultUpload(offset: size.int64Value, length: size.int64Value, partial: nil)
    }

    /// Moves a partial file that has all its bytes to its name: from now on it counts as received.
    public func completeUpload(_ job: TranscodeJob, path: String, partial: String) throws {
        let final = try resultFile(job, path: path)
        do {
            try FileManager.default.createDirectory(atPath: (final as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw RunnerError.storage("cannot create a folder for \(path)")
        }
        guard rename(partial, final) == 0 else { throw RunnerError.storage("cannot keep \(path): \(String(cString: strerror(errno)))") }
    }

    /// Every regular file below `folder` (relative paths) with its size: a result as the runner
    /// made it, or as the server received it.
    public static func files(below folder: String) -> [String: Int64] {
        var found: [String: Int64] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let relative = enumerator?.nextObject() as? String {
            let attributes = enumerator?.fileAttributes
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            found[relative] = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return found
    }

    /// Checks the result against the manifest and publishes it. A result that does not hold
    /// together is removed, the attempt fails (the job is retried), and the reason is thrown.
    public func succeed(_ job: TranscodeJob, runner: Runner, token: String, manifest: ResultManifest) async throws {
        let owner = Self.owner(runner, token: token)
        let staging = media.staging(job)
        let problem = await Task.detached { [self] in check(manifest, in: staging, job: job) }.value
        if let problem {
            media.remove(staging)
            _ = try await queue.fail(job, owner: owner, error: "runner \(runner.name) sent a result that does not hold together: \(problem)")
            try await runners.recordFailure(runner.id ?? 0)
            throw RunnerError.badResult(problem)
        }
        let target = media.versionDirectory(job)
        media.remove(target)
        // Uploads begun and never finished: not part of the result.
        media.remove("\(staging)/\(Self.partialFolder)")
        do {
            try await media.publish(job, staging: staging, to: target)
        } catch {
            // The store is unreachable or refused: the runner's work is kept for its retry.
            throw RunnerError.storage("publishing to the object store failed: \(error)")
        }
        guard try await queue.succeed(job, owner: owner, video: manifest.video, audio: manifest.audio) else {
            await media.discard(job)
            throw RunnerError.notYourJob(job.id ?? 0)
        }
        media.trim(target)
        let work = Date().timeIntervalSince(job.startedAt ?? Date())
        try await runners.recordSuccess(runner.id ?? 0, mediaSeconds: manifest.duration, workSeconds: work)
    }

    /// The first thing wrong with a result, or nil: the file set, each size and SHA-256, the
    /// playlists' references, the tiers' playlists.
    func check(_ manifest: ResultManifest, in staging: String, job: TranscodeJob) -> String? {
        let present = received(job)
        let listed = Dictionary(manifest.files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        if let extra = present.keys.sorted().first(where: { listed[$0] == nil }) { return "\(extra) is not in the manifest" }
        if let missing = listed.keys.sorted().first(where: { present[$0] == nil }) { return "\(missing) was never uploaded" }
        guard listed["master.m3u8"] != nil else { return "there is no master.m3u8" }
        for file in manifest.files.sorted(by: { $0.path < $1.path }) {
            if present[file.path] != file.size { return "\(file.path) is \(present[file.path] ?? 0) bytes, the manifest says \(file.size)" }
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: "\(staging)/\(file.path)"), options: .alwaysMapped) else {
                return "\(file.path) cannot be read"
            }
            let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            if sha != file.sha256 { return "\(file.path) has SHA-256 \(sha), the manifest says \(file.sha256)" }
            if file.path.hasSuffix(".m3u8"), let problem = Self.playlistProblem(String(decoding: data, as: UTF8.self), at: file.path, files: listed) {
                return problem
            }
        }
        for tier in manifest.video + manifest.audio where listed[tier.playlist] == nil {
            return "tier \(tier.name)'s playlist \(tier.playlist) is not in the result"
        }
        return nil
    }

    /// A playlist that is not HLS, or names a file the result does not have.
    static func playlistProblem(_ text: String, at path: String, files: [String: ResultFile]) -> String? {
        guard text.hasPrefix("#EXTM3U") else { return "\(path) is not an HLS playlist" }
        let folder = (path as NSString).deletingLastPathComponent
        for reference in HLSPlaylist.references(text) {
            let resolved = URL(fileURLWithPath: "/" + (folder.isEmpty ? reference : "\(folder)/\(reference)")).standardizedFileURL.path.dropFirst()
            if files[String(resolved)] == nil { return "\(path) names \(reference), which is not in the result" }
        }
        return nil
    }

    /// The runner could not transcode: the attempt fails with its reason (retried after back-off
    /// unless `permanent` — a source no transcoder can read).
    public func fail(_ job: TranscodeJob, runner: Runner, token: String, message: String, permanent: Bool) async throws {
        media.remove(media.staging(job))
        _ = try await queue.fail(job, owner: Self.owner(runner, token: token), error: "runner \(runner.name): \(message)", permanent: permanent)
        try await runners.recordFailure(runner.id ?? 0)
    }

    /// The runner gives the job back (it is stopping): queued again without using up an attempt.
    public func abort(_ job: TranscodeJob, runner: Runner, token: String) async throws {
        media.remove(media.staging(job))
        _ = try await queue.park(job, owner: Self.owner(runner, token: token))
    }
}
