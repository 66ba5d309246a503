import Catalog
import Crypto
import Delivery
import Foundation
import Transcoding
import GRDB
import Logging
import Media
import NIOPosix
import ServiceLifecycle
import PackSync

/// Turns a finished upload into a queued recording, in the background so the last PATCH returns
/// at once: finish the SHA-256 (computed while the bytes streamed in), refuse duplicate content,
/// probe the file (non-media fails with the probe's message on the recording), move it to
/// `storage/sources/<recording>/`, and queue a transcode job.
///
/// At start it also picks up uploads that finished before a restart but were never processed.
final class UploadProcessor: Service, Sendable {
    let database: AppDatabase
    let config: ServerConfig
    let registry: UploadRegistry
    let logger: Logger
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init(database: AppDatabase, config: ServerConfig, registry: UploadRegistry, logger: Logger) {
        self.database = database
        self.config = config
        self.registry = registry
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream()
    }

    func enqueue(_ id: String) { continuation.yield(id) }

    func run() async throws {
        let pending = try await database.writer.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM upload WHERE completedAt IS NOT NULL AND processedAt IS NULL")
        }
        for id in pending { await process(id) }
        for await id in stream.cancelOnGracefulShutdown() { await process(id) }
    }

    /// Processes one upload; every failure ends up on the recording, never lost in a log.
    func process(_ id: String) async {
        do {
            try await processOrThrow(id)
        } catch {
            logger.error("processing an upload failed", metadata: ["upload": "\(id)", "error": "\(error)"])
        }
    }

    private func processOrThrow(_ id: String) async throws {
        guard let upload = try await database.writer.read({ db in try Upload.fetchOne(db, key: id) }),
            upload.completedAt != nil, upload.processedAt == nil, let recordingId = upload.recordingId
        else { return }
        let path = config.uploadDataPath(id)
        var hash = await registry.hash(id, offset: upload.length)?.hash
        if hash == nil {
            // The running hash did not survive a restart: read the file back, once.
            hash = try await UploadFile.hashPrefix(path: path, length: upload.length)
        }
        let sha256 = hash!.finalize().map { String(format: "%02x", $0) }.joined()
        await registry.forget(id)

        let original = try await database.writer.read { db in
            try Recording.fetchOne(
                db,
                sql: "SELECT * FROM recording WHERE sourceSha256 = ? AND deletedAt IS NULL AND state != 'failed' AND id != ?",
                arguments: [sha256, recordingId])
        }
        if let original {
            try await finish(
                upload, recordingId: recordingId, sha256: sha256, info: nil, sourcePath: nil,
                failure: "the same file was already uploaded as recording \(original.id!) (“\(original.title)”)")
            try? FileManager.default.removeItem(atPath: path)
            return
        }

        // Probing is blocking libav I/O: it runs on the thread pool, never on the event loops.
        let probed: Result<MediaInfo, MediaError> =
            (try? await NIOThreadPool.singleton.runIfActive {
                Result { () throws(MediaError) in try MediaInfo.probe(path) }
            }) ?? .failure(MediaError(.io, step: "probing", message: "the server is shutting down"))
        switch probed {
        case .failure(let error):
            try await finish(upload, recordingId: recordingId, sha256: sha256, info: nil, sourcePath: nil, failure: error.description)
            try? FileManager.default.removeItem(atPath: path)
        case .success(let info):
            let folder = "\(config.sourcesDirectory)/\(recordingId)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let name = "source" + Self.fileExtension(UploadMetadata.filename(upload.metadata))
            if rename(path, "\(folder)/\(name)") != 0 {
                throw UploadFileError.io(errno, "moving")
            }
            try await finish(
                upload, recordingId: recordingId, sha256: sha256, info: info, sourcePath: "sources/\(recordingId)/\(name)",
                failure: nil)
        }
    }

    private func finish(
        _ upload: Upload, recordingId: Int64, sha256: String, info: MediaInfo?, sourcePath: String?, failure: String?
    ) async throws {
        try await database.writer.write { db in
            guard var recording = try Recording.fetchOne(db, key: recordingId) else { return }
            recording.sourceSha256 = sha256
            recording.sourceSize = upload.length
            recording.mediaInfo = info
            recording.sourcePath = sourcePath
            recording.failure = failure
            recording.state = failure == nil ? .queued : .failed
            try RecordingStore.update(&recording, db)
            if failure == nil {
                try JobQueue.enqueue(recordingId: recordingId, maxAttempts: config.transcodeMaxAttempts, db)
            }
            try db.execute(sql: "UPDATE upload SET processedAt = ? WHERE id = ?", arguments: [Date(), upload.id])
        }
        logger.info(
            "upload processed",
            metadata: ["upload": "\(upload.id)", "recording": "\(recordingId)", "state": "\(failure == nil ? "queued" : "failed")"])
    }

    /// A safe extension from the client's file name (`.mp4`), or none.
    static func fileExtension(_ filename: String?) -> String {
        guard let filename, let dot = filename.lastIndex(of: ".") else { return "" }
        let ext = filename[filename.index(after: dot)...].lowercased()
        return ext.count <= 5 && !ext.isEmpty && ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) ? ".\(ext)" : ""
    }
}

extension UploadMetadata {
    static func filename(_ header: String) -> String? { (try? parse(header))?["filename"] }
}

/// Periodically removes what has expired: unfinished uploads (their files, and their recordings
/// marked failed so the teacher sees why) and signed-in sessions.
struct Sweeper: Service {
    let database: AppDatabase
    let config: ServerConfig
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await sweep()
            // Woken by graceful shutdown too, so the server stops at once.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(config.sweepInterval)) }
        }
    }

    func sweep(now: Date = Date()) async throws {
        let (expired, abandoned, deleted) = try await database.writer.write { db in
            let expired = try Upload.filter(Upload.Columns.completedAt == nil && Upload.Columns.expiresAt < now).fetchAll(db)
            for upload in expired {
                if let recordingId = upload.recordingId, var recording = try Recording.fetchOne(db, key: recordingId) {
                    recording.state = .failed
                    recording.failure = "the upload expired before it finished; upload the file again"
                    try RecordingStore.update(&recording, db)
                }
                try upload.delete(db)
            }
            // Unfinished uploads of recordings deleted meanwhile: nothing will ever use their bytes.
            let abandoned = try String.fetchAll(
                db,
                sql: """
                    SELECT u.id FROM upload u JOIN recording r ON r.id = u.recordingId
                    WHERE u.completedAt IS NULL AND r.deletedAt IS NOT NULL
                    """)
            try Upload.deleteAll(db, keys: abandoned)
            // Deleted recordings still holding files; the row itself stays (orders and packs may
            // name it), without its files.
            let deleted = try Int64.fetchAll(
                db, sql: "SELECT id FROM recording WHERE deletedAt IS NOT NULL AND sourcePath IS NOT NULL")
            try AuthSession.filter(AuthSession.Columns.expiresAt < now).deleteAll(db)
            return (expired.map(\.id), abandoned, deleted)
        }
        for id in expired + abandoned {
            try? FileManager.default.removeItem(atPath: config.uploadDataPath(id))
        }
        var purged = 0
        for id in deleted {
            let directory = "\(config.sourcesDirectory)/\(id)"
            do {
                if FileManager.default.fileExists(atPath: directory) { try FileManager.default.removeItem(atPath: directory) }
                try await database.writer.write { db in
                    try db.execute(sql: "UPDATE recording SET sourcePath = NULL WHERE id = ?", arguments: [id])
                }
                purged += 1
            } catch {
                logger.error("could not remove a deleted recording's files", metadata: ["recording": "\(id)", "error": "\(error)"])
            }
        }
        let media = try await MediaLayout(storageRoot: config.storageRoot).sweep(
            database: database, keepOldVersions: config.keepOldVersions, now: now)
        let packs = try await PackStore(database: database).sweep(
            store: ObjectStore(root: config.objectsDirectory), keepOldVersions: config.packKeepOldVersions, now: now)
        if !expired.isEmpty || !abandoned.isEmpty || purged > 0 || !media.isEmpty || packs.versions > 0 || packs.bytes > 0 {
            logger.info(
                "swept", metadata: ["expiredUploads": "\(expired.count)", "abandonedUploads": "\(abandoned.count)", "deletedRecordings": "\(purged)",
                    "mediaFolders": "\(media.count)", "packVersions": "\(packs.versions)", "packBytes": "\(packs.bytes)"])
        }
    }
}
