import Catalog
import Crypto
import Foundation
import Logging
import Media
import ServiceLifecycle
import Transcoding

/// Turns a finished upload into a queued recording, in the background so the last PATCH returns
/// at once: finish the SHA-256 (computed while the bytes streamed in), refuse duplicate content,
/// probe the file in a child process (non-media fails the recording with the probe's message, and
/// a probe that crashes fails it without harming the server), move it to the recording's source
/// folder, and queue a transcode job.
///
/// At start it also picks up uploads that finished before a restart but were never processed.
public final class UploadProcessor: Service, Sendable {
    let database: AppDatabase
    let store: UploadStore
    let layout: StorageLayout
    let prober: ChildTranscoder
    let maxAttempts: Int
    let registry = UploadRegistry()
    let logger: Logger
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    /// `prober` runs the probe children; `maxAttempts` is the transcode jobs' attempt limit.
    public init(database: AppDatabase, layout: StorageLayout, prober: ChildTranscoder, maxAttempts: Int, logger: Logger) {
        self.database = database
        self.store = UploadStore(database: database)
        self.layout = layout
        self.prober = prober
        self.maxAttempts = maxAttempts
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream()
    }

    func enqueue(_ id: String) { continuation.yield(id) }

    public func run() async throws {
        for id in try await store.unprocessed() { await process(id) }
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
        guard let upload = try await store.upload(id), upload.completedAt != nil, upload.processedAt == nil,
            let recordingId = upload.recordingId
        else { return }
        let path = layout.uploadData(id)
        var hash = await registry.hash(id, offset: upload.length)?.hash
        if hash == nil {
            // The running hash did not survive a restart: read the file back, once.
            hash = try await UploadFile.hashPrefix(path: path, length: upload.length)
        }
        let sha256 = hash!.finalize().map { String(format: "%02x", $0) }.joined()
        await registry.forget(id)

        if let original = try await RecordingStore(database: database).sameSource(sha256: sha256, except: recordingId) {
            try await finish(
                upload, recordingId: recordingId, sha256: sha256, accepted: nil,
                failure: "the same file was already uploaded as recording \(original.id!) (“\(original.title)”)")
            try? FileManager.default.removeItem(atPath: path)
            return
        }

        let info: MediaInfo
        do {
            info = try await prober.probe(source: path)
        } catch {
            let message = error.permanent ? error.message : "probing the upload failed: \(error.message)"
            try await finish(upload, recordingId: recordingId, sha256: sha256, accepted: nil, failure: message)
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        let folder = layout.sourceFolder(recordingId)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let name = "source" + Self.fileExtension(UploadMetadata.filename(upload.metadata))
        if rename(path, "\(folder)/\(name)") != 0 {
            throw UploadFileError.io(errno, "moving")
        }
        try await finish(
            upload, recordingId: recordingId, sha256: sha256, accepted: (info, layout.relativeSource(recordingId, name: name)),
            failure: nil)
    }

    /// Records the outcome on the recording in one transaction: accepted and queued, or rejected
    /// with the reason.
    private func finish(
        _ upload: Upload, recordingId: Int64, sha256: String, accepted: (info: MediaInfo, sourcePath: String)?, failure: String?
    ) async throws {
        try await store.recordOutcome(
            of: upload, recordingId: recordingId, sha256: sha256, source: accepted.map { (SourceMedia($0.info), $0.sourcePath) },
            failure: failure, maxAttempts: maxAttempts)
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

extension SourceMedia {
    /// What the catalog keeps of a probe.
    public init(_ info: MediaInfo) {
        let picture = info.primaryVideo
        let sound = info.primaryAudio
        self.init(
            container: info.container, duration: info.duration, bitRate: info.bitRate, size: info.size,
            video: picture.flatMap { stream in
                stream.video.map { details in
                    let size = details.displaySize
                    return Video(
                        codec: stream.codec, width: size.width, height: size.height,
                        frameRate: details.frameRate.isValid ? details.frameRate.doubleValue : nil)
                }
            },
            audio: sound.flatMap { stream in
                stream.audio.map { Audio(codec: stream.codec, channels: $0.channels, sampleRate: $0.sampleRate) }
            })
    }
}
