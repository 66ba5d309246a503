import Catalog
import Foundation
import Media

/// A recording's media folders and the file moves of publishing: the worker's side of
/// `StorageLayout`.
///
/// `media/<recording>/v<job>/` is a published version; `media/<recording>/.job-<job>/` is a job's
/// staging folder, which the transcode child writes into and nothing serves. Publishing — one
/// rename of the staging folder, then the database transaction — happens only in the worker.
public struct MediaLayout: Sendable {
    public var storage: StorageLayout

    public init(storageRoot: String) { storage = StorageLayout(root: storageRoot) }

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
        for name in names {
            guard let recordingId = Int64(name) else { continue }
            let recording = try await recordings.recording(recordingId)
            let activeJob = try await queue.activeJobId(recordingId: recordingId)
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
                    keep = entry == recording.mediaVersion || job == activeJob || !oldVersionsExpired
                } else if let job = StorageLayout.stagingJob(entry) {
                    keep = job == activeJob
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
}
