import Catalog
import Crypto
import Foundation
import GRDB
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import Synchronization

/// Resumable uploads, tus 1.0.0 (https://tus.io/protocols/resumable-upload) at `/api/v1/uploads`:
/// core protocol plus the creation, creation-with-upload, termination, checksum and expiration
/// extensions.
struct UploadsController {
    let database: AppDatabase
    let config: ServerConfig
    let registry: UploadRegistry
    let processor: UploadProcessor
    let metrics: ServerMetrics

    static let version = "1.0.0"
    static let extensions = "creation,creation-with-upload,termination,checksum,expiration"
    static let checksumAlgorithms = "sha1,sha256"

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.on("", method: .options, use: options)
        routes.post(use: create)
        routes.on(":id", method: .head, use: head)
        routes.patch(":id", use: patch)
        routes.delete(":id", use: delete)
        return routes
    }

    // MARK: - Discovery

    @Sendable func options(_ request: Request, context: AppRequestContext) async throws -> Response {
        var headers = Self.tusHeaders
        headers[.tusVersion] = Self.version
        headers[.tusExtension] = Self.extensions
        headers[.tusMaxSize] = "\(config.uploadMaxSize)"
        headers[.tusChecksumAlgorithm] = Self.checksumAlgorithms
        return Response(status: .noContent, headers: headers)
    }

    // MARK: - Creation

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        guard person.role == .teacher || person.role == .admin else {
            throw Self.error(.forbidden, "forbidden", "only teachers and county admins upload recordings")
        }
        guard let lengthText = request.headers[.uploadLength] else {
            throw Self.error(.badRequest, "missing_length", "Upload-Length is required (deferred lengths are not supported)")
        }
        guard lengthText.allSatisfy(\.isASCII), lengthText.allSatisfy(\.isNumber), lengthText.count <= 19,
            let length = Int64(lengthText)
        else {
            throw Self.error(.badRequest, "invalid_length", "Upload-Length must be a non-negative whole number of bytes")
        }
        guard length <= config.uploadMaxSize else {
            throw Self.error(
                .contentTooLarge, "too_large", "Upload-Length \(length) exceeds the limit of \(config.uploadMaxSize) bytes (Tus-Max-Size)")
        }
        let metadataHeader = request.headers[.uploadMetadata] ?? ""
        let metadata: [String: String]
        do {
            metadata = try UploadMetadata.parse(metadataHeader)
        } catch {
            throw Self.error(.badRequest, "invalid_metadata", "Upload-Metadata: \(error.message)")
        }
        try await checkSpace(for: length)

        let id = Authenticator.newToken()
        let now = Date()
        let upload = try await database.writer.write { [config] db -> Upload in
            let schoolId = try Self.schoolId(for: person, metadata: metadata, db)
            let title = (metadata["title"] ?? metadata["filename"] ?? "").trimmingCharacters(in: .whitespaces)
            guard !title.isEmpty, title.count <= 200 else {
                throw Self.error(.badRequest, "invalid_metadata", "Upload-Metadata needs a title (or filename) of 1 to 200 characters")
            }
            var recording = Recording(
                title: title, description: metadata["description"] ?? "", teacherId: person.id!, schoolId: schoolId,
                recordedOn: metadata["recordedOn"], state: .uploading, createdAt: now)
            if let day = recording.recordedOn, !RecordingsController.isDay(day) {
                throw Self.error(.badRequest, "invalid_metadata", "recordedOn must be a date like 2026-09-01")
            }
            if let lesson = metadata["lesson"] {
                guard let lessonId = Int64(lesson), try TextbookLesson.fetchOne(db, key: lessonId) != nil else {
                    throw Self.error(.badRequest, "unknown_lesson", "Upload-Metadata names textbook lesson '\(lesson)', which does not exist")
                }
                recording.lessonId = lessonId
            }
            if let classroom = metadata["classroom"] {
                guard let classroomId = Int64(classroom), let room = try Classroom.fetchOne(db, key: classroomId),
                    room.schoolId == schoolId
                else {
                    throw Self.error(.badRequest, "unknown_classroom", "classroom '\(classroom)' is not in the uploading school")
                }
                recording.classroomId = classroomId
            }
            try RecordingStore.insert(&recording, db)
            let upload = Upload(
                id: id, ownerId: person.id!, recordingId: recording.id, length: length, metadata: metadataHeader,
                createdAt: now, expiresAt: now.addingTimeInterval(config.uploadExpiry))
            try upload.insert(db)
            return upload
        }
        try FileManager.default.createDirectory(atPath: config.uploadsDirectory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: dataPath(id), contents: nil) else {
            throw Self.error(.insufficientStorage, "storage_unavailable", "the server could not create the upload file")
        }
        var headers = Self.tusHeaders
        headers[.location] = "/api/v1/uploads/\(id)"
        headers[.uploadExpires] = Self.httpDate(upload.expiresAt)
        // creation-with-upload: the first chunk may come with the POST.
        if request.headers[.contentType] == "application/offset+octet-stream" {
            let result = try await receive(request, context: context, uploadId: id, expectedOffset: 0)
            headers[.uploadOffset] = "\(result)"
        } else if length == 0 {
            try await complete(id)
        }
        return Response(status: .created, headers: headers)
    }

    // MARK: - Core

    @Sendable func head(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let upload = try await owned(try context.parameters.require("id"), by: person)
        var headers = Self.tusHeaders
        headers[.uploadOffset] = "\(upload.offset)"
        headers[.uploadLength] = "\(upload.length)"
        headers[.cacheControl] = "no-store"
        headers[.uploadExpires] = Self.httpDate(upload.expiresAt)
        if !upload.metadata.isEmpty { headers[.uploadMetadata] = upload.metadata }
        return Response(status: .ok, headers: headers)
    }

    @Sendable func patch(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let id = try context.parameters.require("id")
        _ = try await owned(id, by: person)
        guard request.headers[.contentType] == "application/offset+octet-stream" else {
            throw Self.error(.unsupportedMediaType, "wrong_content_type", "PATCH bodies must be Content-Type: application/offset+octet-stream")
        }
        guard let offsetText = request.headers[.uploadOffset], offsetText.allSatisfy(\.isNumber), let offset = Int64(offsetText) else {
            throw Self.error(.badRequest, "missing_offset", "Upload-Offset must be a non-negative whole number")
        }
        let newOffset = try await receive(request, context: context, uploadId: id, expectedOffset: offset)
        var headers = Self.tusHeaders
        headers[.uploadOffset] = "\(newOffset)"
        return Response(status: .noContent, headers: headers)
    }

    // MARK: - Termination

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let id = try context.parameters.require("id")
        let upload = try await owned(id, by: person)
        // Stops a writer still streaming into it, then removes it.
        let token = await registry.acquire(id) {}
        do {
            try await database.writer.write { db in
                try Upload.deleteOne(db, key: id)
                if let recordingId = upload.recordingId, upload.completedAt == nil {
                    try RecordingStore.softDelete(recordingId, db)
                }
            }
        } catch {
            await registry.release(id, token: token)
            throw error
        }
        await registry.forget(id)
        await registry.release(id, token: token)
        try? FileManager.default.removeItem(atPath: dataPath(id))
        return Response(status: .noContent, headers: Self.tusHeaders)
    }

    // MARK: - Receiving bytes

    /// Streams a request body into the upload at `expectedOffset`; returns the new durable offset.
    private func receive(_ request: Request, context: AppRequestContext, uploadId id: String, expectedOffset: Int64) async throws -> Int64 {
        let checksum = try Self.checksum(request.headers[.uploadChecksum])
        // The body is consumed in a task the registry can cancel, so that a newer request for the
        // same upload takes over from one whose client has gone away. The lease is released only
        // after that task has committed what it made durable.
        let handle = ConsumerHandle()
        let token = await registry.acquire(id) { handle.cancel() }
        let consumer = Task<Int64, any Error> {
            try await consume(request.body, uploadId: id, expectedOffset: expectedOffset, checksum: checksum, logger: context.logger)
        }
        handle.set(consumer)
        do {
            let offset = try await withTaskCancellationHandler {
                try await consumer.value
            } onCancel: {
                consumer.cancel()
            }
            await registry.release(id, token: token)
            return offset
        } catch {
            await registry.release(id, token: token)
            throw error
        }
    }

    private func consume(
        _ body: RequestBody, uploadId id: String, expectedOffset: Int64, checksum: Checksum?, logger: Logger
    ) async throws -> Int64 {
        guard let upload = try await database.writer.read({ db in try Upload.fetchOne(db, key: id) }) else {
            throw Self.error(.notFound, "not_found", "upload not found")
        }
        if upload.expiresAt < Date() { throw Self.error(.gone, "expired", "this upload expired; start a new one") }
        guard upload.offset == expectedOffset else {
            throw Self.error(
                .conflict, "offset_mismatch", "Upload-Offset \(expectedOffset) does not match the server's offset \(upload.offset); ask with HEAD and resume from there")
        }
        let file = try UploadFile(path: dataPath(id), offset: upload.offset)
        var hash = try await runningHash(id, upload)
        var chunkHash = checksum.map { $0.makeHasher() }
        var received: Int64 = 0
        metrics.uploadsInProgress.increment()
        defer { metrics.uploadsInProgress.decrement() }
        do {
            for try await buffer in body {
                try Task.checkCancellation()
                let count = Int64(buffer.readableBytes)
                if upload.offset + received + count > upload.length {
                    try await file.truncate(to: upload.offset)
                    throw Self.error(.contentTooLarge, "exceeds_length", "the body goes past Upload-Length \(upload.length); the chunk was discarded")
                }
                buffer.withUnsafeReadableBytes { bytes in
                    hash.update(bufferPointer: bytes)
                    chunkHash?.update(bytes)
                }
                try await file.append(buffer)
                received += count
                metrics.bytesReceived.increment(by: Int64(count))
            }
            try Task.checkCancellation()
            try await file.sync()
        } catch let error as UploadFileError {
            try? await file.truncate(to: upload.offset)
            if error.isDiskFull {
                throw Self.error(.insufficientStorage, "disk_full", "the server's disk is full; nothing of this chunk was kept, resume later")
            }
            throw Self.error(.internalServerError, "storage_error", error.message)
        } catch let error as APIError {
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
            throw Self.error(
                HTTPResponse.Status(code: 460, reasonPhrase: "Checksum Mismatch"), "checksum_mismatch",
                "the chunk's \(checksum.algorithm) does not match Upload-Checksum; it was discarded, send it again")
        }
        let newOffset = upload.offset + received
        try await commit(id, from: upload.offset, to: newOffset, length: upload.length, hash: HashState(hash: hash))
        return newOffset
    }

    /// Records a durable offset, and hands a finished upload to the processor.
    private func commit(_ id: String, from old: Int64, to new: Int64, length: Int64, hash: HashState) async throws {
        let expiry = Date().addingTimeInterval(config.uploadExpiry)
        try await database.writer.write { db in
            try db.execute(
                sql: #"UPDATE upload SET "offset" = ?, expiresAt = ? WHERE id = ? AND "offset" = ?"#,
                arguments: [new, expiry, id, old])
        }
        await registry.store(id, offset: new, hash: hash.hash)
        if new == length { try await complete(id) }
    }

    private func complete(_ id: String) async throws {
        try await database.writer.write { db in
            try db.execute(sql: "UPDATE upload SET completedAt = ? WHERE id = ? AND completedAt IS NULL", arguments: [Date(), id])
        }
        // Hashing is already done and probing happens in the background: the last PATCH returns now.
        processor.enqueue(id)
    }

    private func runningHash(_ id: String, _ upload: Upload) async throws -> SHA256 {
        if let state = await registry.hash(id, offset: upload.offset) { return state.hash }
        if upload.offset == 0 { return SHA256() }
        // After a restart the running hash is gone: read back what is on disk, once.
        return try await UploadFile.hashPrefix(path: dataPath(id), length: upload.offset)
    }

    // MARK: - Helpers

    func dataPath(_ id: String) -> String { config.uploadDataPath(id) }

    /// The upload, if `person` owns it (or is an admin); anyone else gets 404, as existence must
    /// not leak. Expired uploads answer 410.
    private func owned(_ id: String, by person: Person) async throws -> Upload {
        guard id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
            let upload = try await database.writer.read({ db in try Upload.fetchOne(db, key: id) }),
            upload.ownerId == person.id || person.role == .admin
        else { throw Self.error(.notFound, "not_found", "upload not found") }
        if upload.expiresAt < Date() && upload.completedAt == nil {
            throw Self.error(.gone, "expired", "this upload expired; start a new one")
        }
        return upload
    }

    /// The school a new recording belongs to: a teacher's own; an admin names one.
    private static func schoolId(for person: Person, metadata: [String: String], _ db: Database) throws -> Int64 {
        if person.role == .teacher {
            guard let schoolId = person.schoolId else {
                throw error(.forbidden, "forbidden", "your account is not attached to a school")
            }
            return schoolId
        }
        guard let text = metadata["school"], let schoolId = Int64(text), try School.fetchOne(db, key: schoolId) != nil else {
            throw error(.badRequest, "invalid_metadata", "an admin's upload must name an existing school in Upload-Metadata")
        }
        return schoolId
    }

    /// 507 when the declared length cannot fit: on the disk (minus what unfinished uploads may
    /// still write) or within `uploads.quota`.
    private func checkSpace(for length: Int64) async throws {
        let reserved = try await database.writer.read { db in
            try Int64.fetchOne(
                db, sql: #"SELECT COALESCE(SUM(length - "offset"), 0) FROM upload WHERE completedAt IS NULL AND expiresAt > ?"#,
                arguments: [Date()]) ?? 0
        }
        if let quota = config.uploadQuota {
            let held = try await database.writer.read { db in
                try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(length), 0) FROM upload WHERE completedAt IS NULL AND expiresAt > ?", arguments: [Date()]) ?? 0
            }
            if held + length > quota {
                throw Self.error(
                    .insufficientStorage, "quota_exceeded",
                    "uploads in progress may hold \(quota) bytes; \(held) are taken, so \(length) more do not fit")
            }
        }
        try FileManager.default.createDirectory(atPath: config.uploadsDirectory, withIntermediateDirectories: true)
        var stats = statvfs()
        if statvfs(config.uploadsDirectory, &stats) == 0 {
            let free = Int64(stats.f_bavail) * Int64(stats.f_frsize)
            if length > free - reserved {
                throw Self.error(
                    .insufficientStorage, "disk_full", "the server's disk has \(max(0, free - reserved)) bytes free for uploads; \(length) do not fit")
            }
        }
    }

    static var tusHeaders: HTTPFields { [.tusResumable: version] }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> APIError {
        APIError(status, code, message, headers: tusHeaders)
    }

    static func requireTusVersion(_ request: Request) throws {
        guard let version = request.headers[.tusResumable] else {
            throw APIError(.preconditionFailed, "tus_version", "Tus-Resumable: 1.0.0 is required", headers: [.tusVersion: Self.version])
        }
        guard version == Self.version else {
            throw APIError(
                .preconditionFailed, "tus_version", "this server speaks tus \(Self.version), not \(version)",
                headers: [.tusVersion: Self.version, .tusResumable: Self.version])
        }
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    // MARK: - Checksums (tus checksum extension)

    struct Checksum {
        enum Algorithm: String { case sha1, sha256 }
        var algorithm: Algorithm
        var expected: Data

        func makeHasher() -> ChunkHasher {
            switch algorithm {
            case .sha1: .sha1(Insecure.SHA1())
            case .sha256: .sha256(SHA256())
            }
        }
    }

    enum ChunkHasher {
        case sha1(Insecure.SHA1)
        case sha256(SHA256)

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            switch self {
            case .sha1(var hasher):
                hasher.update(bufferPointer: bytes)
                self = .sha1(hasher)
            case .sha256(var hasher):
                hasher.update(bufferPointer: bytes)
                self = .sha256(hasher)
            }
        }

        func finalize() -> Data {
            switch self {
            case .sha1(let hasher): Data(hasher.finalize())
            case .sha256(let hasher): Data(hasher.finalize())
            }
        }
    }

    static func checksum(_ header: String?) throws -> Checksum? {
        guard let header else { return nil }
        let parts = header.split(separator: " ")
        guard parts.count == 2 else {
            throw error(.badRequest, "invalid_checksum", "Upload-Checksum must be '<algorithm> <base64 digest>'")
        }
        guard let algorithm = Checksum.Algorithm(rawValue: parts[0].lowercased()) else {
            throw error(.badRequest, "unsupported_checksum", "checksum algorithm '\(parts[0])' is not supported; use \(checksumAlgorithms)")
        }
        guard let digest = Data(base64Encoded: String(parts[1])) else {
            throw error(.badRequest, "invalid_checksum", "the Upload-Checksum digest is not valid base64")
        }
        return Checksum(algorithm: algorithm, expected: digest)
    }
}

/// tus `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
enum UploadMetadata {
    struct Invalid: Error { var message: String }

    static func parse(_ header: String) throws(Invalid) -> [String: String] {
        var result: [String: String] = [:]
        guard !header.trimmingCharacters(in: .whitespaces).isEmpty else { return result }
        guard header.count <= 4096 else { throw Invalid(message: "longer than 4096 characters") }
        for pair in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
            guard let key = parts.first, parts.count <= 2, !key.isEmpty,
                key.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "," })
            else { throw Invalid(message: "each entry must be 'key base64value'") }
            guard result[String(key)] == nil else { throw Invalid(message: "key '\(key)' appears twice") }
            var value = ""
            if parts.count == 2 {
                guard let data = Data(base64Encoded: String(parts[1])), let text = String(data: data, encoding: .utf8) else {
                    throw Invalid(message: "the value of '\(key)' is not base64-encoded UTF-8")
                }
                value = text
            }
            result[String(key)] = value
        }
        return result
    }
}

extension HTTPField.Name {
    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let tusVersion = HTTPField.Name("Tus-Version")!
    static let tusExtension = HTTPField.Name("Tus-Extension")!
    static let tusMaxSize = HTTPField.Name("Tus-Max-Size")!
    static let tusChecksumAlgorithm = HTTPField.Name("Tus-Checksum-Algorithm")!
    static let uploadOffset = HTTPField.Name("Upload-Offset")!
    static let uploadLength = HTTPField.Name("Upload-Length")!
    static let uploadMetadata = HTTPField.Name("Upload-Metadata")!
    static let uploadExpires = HTTPField.Name("Upload-Expires")!
    static let uploadChecksum = HTTPField.Name("Upload-Checksum")!
}

/// The task consuming an upload's body, cancellable by a request that takes over.
/// A cancel that arrives before the task is set cancels it as soon as it is.
final class ConsumerHandle: Sendable {
    private let state = Mutex<(task: Task<Int64, any Error>?, cancelled: Bool)>((nil, false))

    func set(_ task: Task<Int64, any Error>) {
        let cancelled = state.withLock { state in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    func cancel() {
        let task = state.withLock { state in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }
}
