import WebServing
import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Ingest

/// Resumable uploads, tus 1.0.0 (https://tus.io/protocols/resumable-upload) at `/api/v1/uploads`:
/// core protocol plus the creation, creation-with-upload, termination, checksum and expiration
/// extensions. Only the HTTP side lives here — headers in, calls to `Uploads`, headers out; the
/// upload state, durability and processing are the `Ingest` module's.
struct UploadsController {
    let uploads: Uploads
    let metrics: ServerMetrics

    static let version = "1.0.0"
    static let extensions = "creation,creation-with-upload,termination,checksum,expiration"

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
        headers[.tusMaxSize] = "\(uploads.maxSize)"
        headers[.tusChecksumAlgorithm] = UploadChecksum.supported
        return Response(status: .noContent, headers: headers)
    }

    // MARK: - Creation

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let upload = try await Self.tus {
            try await uploads.create(
                by: person, length: request.headers[.uploadLength], metadataHeader: request.headers[.uploadMetadata] ?? "")
        }
        var headers = Self.tusHeaders
        headers[.location] = "/api/v1/uploads/\(upload.id)"
        if let recording = upload.recordingId { headers[.lessonLinkRecording] = "\(recording)" }
        headers[.uploadExpires] = HTTPDate.format(upload.expiresAt)
        // creation-with-upload: the first chunk may come with the POST.
        if request.headers[.contentType] == "application/offset+octet-stream" {
            let offset = try await receive(request, context: context, upload: upload.id, at: 0)
            headers[.uploadOffset] = "\(offset)"
        }
        return Response(status: .created, headers: headers)
    }

    // MARK: - Core

    @Sendable func head(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let id = try context.parameters.require("id")
        let upload = try await Self.tus { try await uploads.owned(id, by: person) }
        var headers = Self.tusHeaders
        headers[.uploadOffset] = "\(upload.offset)"
        headers[.uploadLength] = "\(upload.length)"
        headers[.cacheControl] = "no-store"
        headers[.uploadExpires] = HTTPDate.format(upload.expiresAt)
        if !upload.metadata.isEmpty { headers[.uploadMetadata] = upload.metadata }
        return Response(status: .ok, headers: headers)
    }

    @Sendable func patch(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let id = try context.parameters.require("id")
        _ = try await Self.tus { try await uploads.owned(id, by: person) }
        guard request.headers[.contentType] == "application/offset+octet-stream" else {
            throw Self.error(.unsupportedMediaType, "wrong_content_type", "PATCH bodies must be Content-Type: application/offset+octet-stream")
        }
        guard let offsetText = request.headers[.uploadOffset], offsetText.allSatisfy(\.isNumber), let offset = Int64(offsetText) else {
            throw Self.error(.badRequest, "missing_offset", "Upload-Offset must be a non-negative whole number")
        }
        let newOffset = try await receive(request, context: context, upload: id, at: offset)
        var headers = Self.tusHeaders
        headers[.uploadOffset] = "\(newOffset)"
        return Response(status: .noContent, headers: headers)
    }

    /// Streams the request body into the upload, counting it in the metrics.
    private func receive(_ request: Request, context: AppRequestContext, upload id: String, at offset: Int64) async throws -> Int64 {
        let checksum = try await Self.tus { try UploadChecksum.parse(request.headers[.uploadChecksum]) }
        metrics.uploadsInProgress.increment()
        defer { metrics.uploadsInProgress.decrement() }
        let counter = metrics.bytesReceived
        return try await Self.tus {
            try await uploads.receive(request.body, into: id, at: offset, checksum: checksum, logger: context.logger) { bytes in
                counter.increment(by: Int64(bytes))
            }
        }
    }

    // MARK: - Termination

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        try Self.requireTusVersion(request)
        let id = try context.parameters.require("id")
        try await Self.tus {
            try await uploads.terminate(try await uploads.owned(id, by: person))
        }
        return Response(status: .noContent, headers: Self.tusHeaders)
    }

    // MARK: - tus over HTTP

    static var tusHeaders: HTTPFields { [.tusResumable: version] }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> APIError {
        APIError(status, code, message, headers: tusHeaders)
    }

    /// Runs `body`, answering an `IngestError` with its tus status (and `Tus-Resumable`, which
    /// tus clients expect on errors too).
    static func tus<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as IngestError {
            throw Self.error(status(of: error.reason), error.code, error.message)
        }
    }

    static func status(of reason: IngestError.Reason) -> HTTPResponse.Status {
        switch reason {
        case .invalid: .badRequest
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .gone: .gone
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .checksumMismatch: HTTPResponse.Status(code: 460, reasonPhrase: "Checksum Mismatch")
        case .insufficientStorage: .insufficientStorage
        case .storage: .internalServerError
        }
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
}

extension HTTPField.Name {
    /// The recording an upload makes, on the creation response (the API document links it).
    static let lessonLinkRecording = HTTPField.Name("LessonLink-Recording")!
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
