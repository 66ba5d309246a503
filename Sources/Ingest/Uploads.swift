import Catalog
import Crypto
import Foundation
import Logging
import NIOCore

/// Limits and lifetimes of uploads, from configuration.
public struct UploadSettings: Sendable {
    /// Largest upload accepted, bytes (`Tus-Max-Size`).
    public var maxSize: Int64
    /// An unfinished upload is kept this long after its last byte.
    public var expiry: TimeInterval
    /// Bytes all unfinished uploads may reserve together; nil: the disk's free space.
    public var quota: Int64?

    public init(maxSize: Int64 = 20 << 30, expiry: TimeInterval = 7 * 24 * 3600, quota: Int64? = nil) {
        self.maxSize = maxSize
        self.expiry = expiry
        self.quota = quota
    }
}

/// Resumable uploads (the state behind tus 1.0.0, without HTTP): create one, find it, stream
/// bytes into it, terminate it. A finished upload is handed to the `UploadProcessor`.
///
/// Durability: an offset is stored only after the bytes below it are fsynced, so a crash loses
/// nothing acknowledged and the client resumes from the stored offset.
public struct Uploads: Sendable {
    public let store: UploadStore
    let layout: StorageLayout
    let settings: UploadSettings
    let registry: UploadRegistry
    let processor: UploadProcessor

    public init(database: AppDatabase, layout: StorageLayout, settings: UploadSettings, processor: UploadProcessor) {
        self.store = UploadStore(database: database)
        self.layout = layout
        self.settings = settings
        self.registry = processor.registry
        self.processor = processor
    }

    public var maxSize: Int64 { settings.maxSize }

    /// The title of a lesson uploaded without one (未命名课例: "untitled lesson").
    public static let untitled = "未命名课例"

    // MARK: - Creation

    /// Creates an upload and its recording from the client's `Upload-Length` and
    /// `Upload-Metadata` headers.
    public func create(by person: Person, length lengthText: String?, metadataHeader: String) async throws -> Upload {
        guard person.role == .teacher || person.role == .admin else {
            throw IngestError(.forbidden, "forbidden", "only teachers and county admins upload recordings")
        }
        guard let lengthText else {
            throw IngestError(.invalid, "missing_length", "Upload-Length is required (deferred lengths are not supported)")
        }
        guard lengthText.allSatisfy(\.isASCII), lengthText.allSatisfy(\.isNumber), lengthText.count <= 19,
            let length = Int64(lengthText)
        else {
            throw IngestError(.invalid, "invalid_length", "Upload-Length must be a non-negative whole number of bytes")
        }
        guard length <= settings.maxSize else {
            throw IngestError(
                .tooLarge, "too_large", "Upload-Length \(length) exceeds the limit of \(settings.maxSize) bytes (Tus-Max-Size)")
        }
        let metadata: [String: String]
        do {
            metadata = try UploadMetadata.parse(metadataHeader)
        } catch {
            throw IngestError(.invalid, "invalid_metadata", "Upload-Metadata: \(error.message)")
        }
        // A generic tus client may send no metadata at all: the lesson gets a placeholder title
        // its teacher can change later.
        let named = [metadata["title"], metadata["filename"]].compactMap { $0?.trimmingCharacters(in: .whitespaces) }
        let title = named.first { !$0.isEmpty } ?? Self.untitled
        guard title.count <= 200 else {
            throw IngestError(.invalid, "invalid_metadata", "Upload-Metadata: the title is limited to 200 characters")
        }
        if let day = metadata["recordedOn"], !Recording.isDay(day) {
            throw IngestError(.invalid, "invalid_metadata", "recordedOn must be a date like 2026-09-01")
        }
        try await checkSpace(for: length)
        let upload = try await store.create(
            id: Self.newId(), by: person, length: length, metadataHeader: metadataHeader,
            recording: .init(
                title: title, description: metadata["description"] ?? "", recordedOn: metadata["recordedOn"],
                lesson: metadata["lesson"], classroom: metadata["classroom"], school: metadata["school"]),
            now: Date(), expiry: settings.expiry)
        try FileManager.default.createDirectory(atPath: layout.uploads, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: layout.uploadData(upload.id), contents: nil) else {
            throw IngestError(.insufficientStorage, "storage_unavailable", "the server could not create the upload file")
        }
        if length == 0 { try await complete(upload.id) }
        return upload
    }

    /// The upload's id is its URL, so it must be unguessable.
    static func newId() -> String { Data.randomToken() }

    /// 507 when the declared length cannot fit: on the disk (minus what unfinished uploads may
    /// still write) or within the quota.
    private func checkSpace(for length: Int64) async throws {
        let reserved = try await store.reservations(now: Date())
        if let quota = settings.quota, reserved.declared + length > quota {
            throw IngestError(
                .insufficientStorage, "quota_exceeded",
                "uploads in progress may hold \(quota) bytes; \(reserved.declared) are taken, so \(length) more do not fit")
        }
        try FileManager.default.createDirectory(atPath: layout.uploads, withIntermediateDirectories: true)
        var stats = statvfs()
        if statvfs(layout.uploads, &stats) == 0 {
            let free = Int64(stats.f_bavail) * Int64(stats.f_frsize)
            if length > free - reserved.toWrite {
                throw IngestError(
                    .insufficientStorage, "disk_full",
                    "the server's disk has \(max(0, free - reserved.toWrite)) bytes free for uploads; \(length) do not fit")
            }
        }
    }

    // MARK: - Finding

    /// The upload, if `person` owns it (or is an admin); anyone else gets not-found, as existence
    /// must not leak. Unfinished expired uploads are gone.
    public func owned(_ id: String, by person: Person) async throws -> Upload {
        guard id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
            let upload = try await store.upload(id), upload.ownerId == person.id || person.role == .admin
        else { throw IngestError.notFound }
        if upload.expiresAt < Date() && upload.completedAt == nil { throw IngestError.expired }
        return upload
    }

    // MARK: - Receiving bytes

    /// Streams `body` into the upload at `expectedOffset`; returns the new durable offset.
    /// `received` is told of every buffer written (for metrics).
    ///
    /// One request at a time writes an upload: a newer request for the same upload (a client that
    /// resumed before the server noticed its old connection died) takes over, and this one stops,
    /// commits what it made durable, and throws `CancellationError`.
    public func receive<Body: AsyncSequence & Sendable>(
        _ body: Body, into id: String, at expectedOffset: Int64, checksum: UploadChecksum?, logger: Logger,
        received: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        let (takeover, signal) = AsyncStream<Void>.makeStream()
        let token = await registry.acquire(id) { signal.finish() }
        defer { signal.finish() }
        do {
            let offset = try await withThrowingTaskGroup(of: Int64?.self) { group in
                group.addTask {
                    try await consume(body, into: id, at: expectedOffset, checksum: checksum, logger: logger, received: received)
                }
                group.addTask {
                    for await _ in takeover {}
                    return nil
                }
                // The first to finish decides: the bytes are in, or another request took over
                // (then the consumer is cancelled and its CancellationError ends the group).
                var result: Int64?
                while let next = try await group.next() {
                    group.cancelAll()
                    signal.finish()
                    if let next { result = next }
                }
                guard let result else { throw CancellationError() }
                return result
            }
            await registry.release(id, token: token)
            return offset
        } catch {
            await registry.release(id, token: token)
            throw error
        }
    }

    private func consume<Body: AsyncSequence & Sendable>(
        _ body: Body, into id: String, at expectedOffset: Int64, checksum: UploadChecksum?, logger: Logger,
        received count: @Sendable (Int) -> Void
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        guard let upload = try await store.upload(id) else { throw IngestError.notFound }
        if upload.expiresAt < Date() { throw IngestError.expired }
        guard upload.offset == expectedOffset else {
            throw IngestError(
                .conflict, "offset_mismatch",
                "Upload-Offset \(expectedOffset) does not match the server's offset \(upload.offset); ask with HEAD and resume from there")
        }
        let file = try UploadFile(path: layout.uploadData(id), offset: upload.offset)
        var hash = try await runningHash(id, upload)
        var chunkHash = checksum?.makeHasher()
        var received: Int64 = 0
        do {
            for try await buffer in body {
                try Task.checkCancellation()
                let size = Int64(buffer.readableBytes)
                if upload.offset + received + size > upload.length {
                    try await file.truncate(to: upload.offset)
                    throw IngestError(
                        .tooLarge, "exceeds_length", "the body goes past Upload-Length \(upload.length); the chunk was discarded")
                }
                buffer.withUnsafeReadableBytes { bytes in
                    hash.update(bufferPointer: bytes)
                    chunkHash?.update(bytes)
                }
                try await file.append(buffer)
                received += size
                count(Int(size))
            }
            try Task.checkCancellation()
            try await file.sync()
        } catch let error as UploadFileError {
            try? await file.truncate(to: upload.offset)
            if error.isDiskFull {
                throw IngestError(
                    .insufficientStorage, "disk_full", "the server's disk is full; nothing of this chunk was kept, resume later")
            }
            throw IngestError(.storage, "storage_error", error.message)
        } catch let error as IngestError {
            throw error
        } catch {
            // The client went away or a newer request took over. Without a checksum, keep what
            // arrived (that is what makes resuming cheap on a flaky link); with one, the chunk
            // cannot be verified and is dropped.
            if checksum == nil, (try? await file.sync()) != nil, received > 0 {
                try await commit(id, from: upload.offset, to: upload.offset + received, length: upload.length, hash: HashState(hash: hash))
                logger.info("upload interrupted, kept received bytes", metadata: ["upload": "\(id)", "offset": "\(upload.offset + received)"])
            } else {
                try? await file.truncate(to: upload.offset)
            }
            throw error
        }
        if let checksum, let chunkHash, chunkHash.finalize() != checksum.expected {
            try await file.truncate(to: upload.offset)
            throw IngestError(
                .checksumMismatch, "checksum_mismatch",
                "the chunk's \(checksum.algorithm) does not match Upload-Checksum; it was discarded, send it again")
        }
        let newOffset = upload.offset + received
        try await commit(id, from: upload.offset, to: newOffset, length: upload.length, hash: HashState(hash: hash))
        return newOffset
    }

    /// Records a durable offset, and hands a finished upload to the processor.
    private func commit(_ id: String, from old: Int64, to new: Int64, length: Int64, hash: HashState) async throws {
        try await store.commit(id, from: old, to: new, expiresAt: Date().addingTimeInterval(settings.expiry))
        await registry.store(id, offset: new, hash: hash)
        if new == length { try await complete(id) }
    }

    private func complete(_ id: String) async throws {
        try await store.markCompleted(id)
        // Hashing is already done and probing happens in the background: the last PATCH returns now.
        processor.enqueue(id)
    }

    private func runningHash(_ id: String, _ upload: Upload) async throws -> SHA256 {
        if let state = await registry.hash(id, offset: upload.offset) { return state.hash }
        if upload.offset == 0 { return SHA256() }
        // After a restart the running hash is gone: read back what is on disk, once.
        return try await UploadFile.hashPrefix(path: layout.uploadData(id), length: upload.offset)
    }

    // MARK: - Termination

    /// Stops a writer still streaming into the upload, then removes it and its bytes.
    public func terminate(_ upload: Upload) async throws {
        let token = await registry.acquire(upload.id) {}
        do {
            try await store.terminate(upload)
        } catch {
            await registry.release(upload.id, token: token)
            throw error
        }
        await registry.forget(upload.id)
        await registry.release(upload.id, token: token)
        try? FileManager.default.removeItem(atPath: layout.uploadData(upload.id))
    }
}

extension Uploads {
    /// What one sweep removed.
    public struct Swept: Sendable {
        public var expired = 0
        public var abandoned = 0
        public var deletedSources = 0
        public var isEmpty: Bool { expired == 0 && abandoned == 0 && deletedSources == 0 }
    }

    /// Removes what can never be used: unfinished uploads past their expiry (their recordings fail
    /// with the reason) or whose recording was deleted, and the sources of deleted recordings.
    public func sweep(now: Date = Date(), logger: Logger) async throws -> Swept {
        let (expired, abandoned) = try await store.sweep(now: now)
        for id in expired + abandoned {
            try? FileManager.default.removeItem(atPath: layout.uploadData(id))
        }
        var swept = Swept(expired: expired.count, abandoned: abandoned.count)
        let layout = self.layout
        swept.deletedSources = try await RecordingStore(database: store.database).purgeDeletedSources { id in
            let folder = layout.sourceFolder(id)
            do {
                if FileManager.default.fileExists(atPath: folder) { try FileManager.default.removeItem(atPath: folder) }
            } catch {
                logger.error("could not remove a deleted recording's files", metadata: ["recording": "\(id)", "error": "\(error)"])
                throw error
            }
        }
        return swept
    }
}
