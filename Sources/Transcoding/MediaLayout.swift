import Catalog
import Foundation
import HLS
import Media
public import ObjectStorage

/// A recording's media folders and the file moves of publishing: the worker's side of
/// `StorageLayout`.
///
/// `media/<recording>/v<job>/` is a published version; `media/<recording>/.job-<job>/` is a job's
/// staging folder, which the transcode child writes into and nothing serves. Publishing — one
/// rename of the staging folder, then the database transaction — happens only in the worker.
///
/// With a `bucket` (`storage.media: s3`) every file of a version is put in the object store
/// under `media/<recording>/v<job>/` before the version is published, and the local folder then
/// keeps only the playlists and the poster: a few kilobytes the server answers players from (and
/// rewrites with links into the store), while the segments — nearly all the bytes — live in the
/// store alone.
public struct MediaLayout: Sendable {
    public var storage: StorageLayout
    public var bucket: S3Bucket?

    public init(storageRoot: String, bucket: S3Bucket? = nil) {
        storage = StorageLayout(root: storageRoot)
        self.bucket = bucket
    }

    /// Where a version's files are in the bucket.
    public static func bucketPrefix(_ recordingId: Int64, _ version: String) -> String { "media/\(recordingId)/\(version)" }

    /// The files a version keeps on the server's disk when its media is in a bucket.
    public static func keptLocally(_ relative: String) -> Bool {
        relative.hasSuffix(".m3u8") || relative == HLSNames.poster
    }

    public var mediaRoot: String { storage.media }
    public func recordingDirectory(_ recordingId: Int64) -> String { storage.mediaFolder(recordingId) }
    public func versionDirectory(_ job: TranscodeJob) -> String { storage.version(job.recordingId, job.version) }
    public func staging(_ job: TranscodeJob) -> String { storage.staging(job.recordingId, job: job.id ?? 0) }

    func sourcePath(of recordingId: Int64, database: AppDatabase) async throws -> String? {
        guard let relative = try await RecordingStore(database: database).sourcePath(of: recordingId) else { return nil }
        let path = storage.resolve(relative)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// One rename makes the finished staging folder the version folder, then the parent folder is
    /// synced so the rename survives a power cut before the database says "published". With a
    /// bucket, every file is in the store first: a published version is never missing a segment.
    func publish(_ job: TranscodeJob, staging: String, to target: String) async throws {
        if let bucket { try await Self.put(staging, in: bucket, as: Self.bucketPrefix(job.recordingId, job.version)) }
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

    /// Puts a version's files in the bucket, the master last: its presence there says the version
    /// is there whole.
    static func put(_ folder: String, in bucket: S3Bucket, as prefix: String) async throws {
        try await bucket.upload(folder: folder, to: prefix, excluding: [HLSNames.master]) { HLSNames.contentType(of: $0) }
        try await bucket.put(
            file: "\(folder)/\(HLSNames.master)", key: "\(prefix)/\(HLSNames.master)", contentType: HLSNames.contentType(of: HLSNames.master))
    }

    /// Removes a version that will not be published after all, here and in the bucket.
    func discard(_ job: TranscodeJob) async {
        remove(versionDirectory(job))
        if let bucket { try? await bucket.delete(prefix: Self.bucketPrefix(job.recordingId, job.version)) }
    }

    /// With a bucket: removes the local copies of a just-published version's segments (the store
    /// has them), keeping playlists and poster. Without a bucket, nothing.
    public func trim(_ folder: String) {
        guard bucket != nil else { return }
        for relative in Self.segments(in: folder) { remove("\(folder)/\(relative)") }
    }

    /// The files of a version folder the bucket makes redundant here (all but playlists, poster
    /// and hidden work in progress), those last changed before `before` when given.
    static func segments(in folder: String, before: Date? = nil) -> [String] {
        RunnerJobs.files(below: folder).keys.filter { relative in
            guard !keptLocally(relative), !relative.hasPrefix(".") else { return false }
            guard let before else { return true }
            let changed = (try? FileManager.default.attributesOfItem(atPath: "\(folder)/\(relative)"))?[.modificationDate] as? Date
            return (changed ?? .distantPast) < before
        }
    }

    /// With a bucket: a kept version with segments on this disk last changed before `before` —
    /// fetched back for a pack, or published before the store was configured — loses them here,
    /// once the bucket has the version. One the bucket lacks is put there first, at most two per
    /// sweep, so a county that moves to a store migrates its library in the background without
    /// a sweep running for hours.
    func settle(_ recordingId: Int64, _ version: String, before: Date, moved: inout Int) async throws {
        guard let bucket else { return }
        let folder = storage.version(recordingId, version)
        let old = Self.segments(in: folder, before: before)
        guard !old.isEmpty else { return }
        let prefix = Self.bucketPrefix(recordingId, version)
        if try await bucket.head(key: "\(prefix)/\(HLSNames.master)") == nil {
            guard moved < 2 else { return }
            moved += 1
            try await Self.put(folder, in: bucket, as: prefix)
        }
        for relative in old { remove("\(folder)/\(relative)") }
    }

    /// Brings a published version's files from the bucket back to its local folder (those not
    /// there already), for work that reads them all — assembling a resource pack. The next
    /// sweep trims them again.
    public func fetch(recordingId: Int64, version: String) async throws {
        guard let bucket else { return }
        let folder = storage.version(recordingId, version)
        let prefix = Self.bucketPrefix(recordingId, version)
        let present = RunnerJobs.files(below: folder)
        let missing = try await bucket.list(prefix: prefix + "/").filter { present[String($0.key.dropFirst(prefix.count + 1))] != $0.size }
        guard !missing.isEmpty else { return }
        let staging = "\(folder)/.fetch-\(UUID().uuidString)"
        defer { remove(staging) }
        for object in missing {
            let relative = String(object.key.dropFirst(prefix.count + 1))
            guard MediaFilesShape.isSafe(relative) else { continue }
            let target = "\(staging)/\(relative)"
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try await bucket.download(key: object.key, to: target)
            let final = "\(folder)/\(relative)"
            try FileManager.default.createDirectory(atPath: (final as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if rename(target, final) != 0 { throw MediaError(.io, step: "fetching", message: String(cString: strerror(errno))) }
        }
    }
}

/// Relative paths from a bucket listing that may become local files: no climbing, no hidden names.
enum MediaFilesShape {
    static func isSafe(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.count <= 2 && parts.allSatisfy { !$0.isEmpty && !$0.hasPrefix(".") }
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
        let recordings = RecordingStore(database: database)
        let queue = JobQueue(database: database)
        var removed: [String] = []
        var moved = 0
        for name in names {
            guard let recordingId = Int64(name) else { continue }
            let recording = try await recordings.recording(recordingId)
            let activeJob = try await queue.activeJobId(recordingId: recordingId)
            let directory = recordingDirectory(recordingId)
            guard let recording, recording.deletedAt == nil else {
                // The store first: while it does not answer, the folder stays to say what to delete there.
                if let bucket, (try? await bucket.delete(prefix: "media/\(recordingId)")) == nil { continue }
                remove(directory)
                removed.append(directory)
                continue
            }
            let oldVersionsExpired = (recording.mediaPublishedAt ?? .distantPast).addingTimeInterval(keepOldVersions) < now
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let keep: Bool
                if entry.hasPrefix("v"), let job = Int64(entry.dropFirst()) {
                    keep = entry == recording.mediaVersion || job == activeJob || !oldVersionsExpired
                } else if let job = StorageLayout.stagingJob(entry) {
                    keep = job == activeJob
                } else {
                    keep = true  // not ours: leave it to whoever put it there
                }
                if !keep {
                    if let bucket, entry.hasPrefix("v"), (try? await bucket.delete(prefix: Self.bucketPrefix(recordingId, entry))) == nil {
                        continue
                    }
                    remove("\(directory)/\(entry)")
                    removed.append("\(directory)/\(entry)")
                } else if entry.hasPrefix("v") {
                    // A store that does not answer leaves the segments here until a later sweep.
                    try? await settle(recordingId, entry, before: now.addingTimeInterval(-3600), moved: &moved)
                }
            }
        }
        return removed
    }
}
