import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Media
import Transcoding
import WebServing
import _NIOFileSystem

/// Remote transcoding runners over HTTP (`RunnerJobs` holds the rules).
///
/// Two sets of routes: the admins' (`api` group, signed-in people: list runners and the queue's
/// drain time, make registration tokens, revoke), and the runners' protocol, authenticated by the
/// runner's own token (`Authorization: Bearer lrt_…`) and, for a job, the job token its lease
/// gave (`LessonLink-Job-Token`).
struct RunnersController {
    let jobs: RunnerJobs
    let files: FileResponder
    /// The largest result file a runner may upload (a segment, a playlist, a poster).
    static let maxResultFile: Int64 = 1 << 30

    static let jobTokenHeader = HTTPField.Name("LessonLink-Job-Token")!

    // MARK: - Admins

    var adminRoutes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("runners", use: list)
        routes.post("runners/registration-tokens", use: registrationToken)
        routes.post("runners/:id/revoke", use: revoke)
        return routes
    }

    struct RunnerView: Encodable {
        var id: Int64
        var name: String
        var createdAt: Date
        var lastContactAt: Date?
        var revokedAt: Date?
        var jobsDone: Int
        var failures: Int
        /// Media seconds per wall second, measured over its jobs.
        var speed: Double?
    }

    struct RunnerList: ResponseEncodable {
        var items: [RunnerView]
        /// Media seconds waiting in the queue (and left of running jobs).
        var queueSeconds: Double
        /// At the measured speed of the runners that are not revoked; absent when none has a speed yet.
        var drainSeconds: Double?
    }

    struct TokenResponse: ResponseEncodable {
        var token: String
        var expiresAt: Date
    }

    private func requireAdmin(_ context: AppRequestContext) throws {
        guard try context.requirePerson().role == .admin else { throw APIError(.forbidden, "forbidden", "only county admins manage runners") }
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> RunnerList {
        try requireAdmin(context)
        let runners = try await jobs.runners.list()
        let drain = try await jobs.runners.drain(jobs.queue)
        return RunnerList(
            items: runners.map {
                RunnerView(
                    id: $0.id ?? 0, name: $0.name, createdAt: $0.createdAt, lastContactAt: $0.lastContactAt, revokedAt: $0.revokedAt,
                    jobsDone: $0.jobsDone, failures: $0.failures, speed: $0.speed)
            }, queueSeconds: drain.waiting, drainSeconds: drain.seconds)
    }

    @Sendable func registrationToken(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TokenResponse> {
        try requireAdmin(context)
        let lifetime: TimeInterval = 7 * 24 * 3600
        let now = Date()
        let token = try await jobs.runners.createRegistration(lifetime: lifetime, now: now)
        return EditedResponse(status: .created, response: TokenResponse(token: token, expiresAt: now.addingTimeInterval(lifetime)))
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        try requireAdmin(context)
        guard try await jobs.runners.revoke(try context.rowId(of: "runner")) else { throw APIError.notFound("runner") }
        return Response(status: .noContent)
    }

    // MARK: - The runners' protocol

    var protocolRoutes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.post("register", use: register)
        routes.post("jobs/request", use: requestJobs)
        routes.post("jobs/:id/accept", use: accept)
        routes.get("jobs/:id/source", use: source)
        routes.head("jobs/:id/source", use: source)
        routes.post("jobs/:id/update", use: update)
        routes.get("jobs/:id/files", use: received)
        routes.on("jobs/:id/files", method: .options, use: tusOptions)
        routes.post("jobs/:id/files", use: createUpload)
        routes.head("jobs/:id/files/**", use: uploadOffset)
        routes.patch("jobs/:id/files/**", use: appendUpload)
        routes.post("jobs/:id/success", use: success)
        routes.post("jobs/:id/error", use: failure)
        routes.post("jobs/:id/abort", use: abort)
        return routes
    }

    struct UpdateResponse: ResponseEncodable {
        var `continue`: Bool
    }

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<RunnerMessages.Registered> {
        let body = try await request.decodeJSON(as: RunnerMessages.Registration.self, context: context)
        let name = body.name.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count) else { throw APIError.badRequest("name the runner in 1 to 100 characters") }
        let (runner, token) = try await mapped { try await jobs.runners.register(registrationToken: body.registrationToken, name: name) }
        return EditedResponse(
            status: .created, response: RunnerMessages.Registered(runnerId: runner.id ?? 0, name: runner.name, runnerToken: token))
    }

    @Sendable func requestJobs(_ request: Request, context: AppRequestContext) async throws -> RunnerMessages.Offers {
        _ = try await runner(request)
        return RunnerMessages.Offers(jobs: try await jobs.available())
    }

    @Sendable func accept(_ request: Request, context: AppRequestContext) async throws -> RunnerJobs.Assignment {
        let runner = try await runner(request)
        let id = try context.rowId(of: "job")
        return try await mapped { try await jobs.accept(id, runner: runner) }
    }

    @Sendable func source(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, _, job) = try await held(request, context)
        let path = try await mapped { try await jobs.source(of: job) }
        return try await files.respond(path, to: request, .init(contentType: "application/octet-stream", cacheControl: "no-store", chunkSize: 1 << 20))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> UpdateResponse {
        let (runner, token, job) = try await held(request, context)
        let body = try await request.decodeJSON(as: RunnerMessages.Progress.self, context: context)
        guard body.progress.isFinite, (0...1).contains(body.progress) else { throw APIError.badRequest("progress is a fraction from 0 to 1") }
        guard try await jobs.update(job, runner: runner, token: token, progress: body.progress, eta: body.etaSeconds) else {
            throw Self.gone(job.id ?? 0)
        }
        return UpdateResponse(continue: true)
    }

    @Sendable func received(_ request: Request, context: AppRequestContext) async throws -> RunnerMessages.Received {
        let (_, _, job) = try await held(request, context)
        return RunnerMessages.Received(files: jobs.received(job).sorted { $0.key < $1.key }.map { .init(path: $0.key, size: $0.value) })
    }

    // Result files arrive over tus 1.0.0 (core and creation), one upload each, with the runner's
    // and the job's tokens on every request: `POST …/files` with `Upload-Length` and the file's
    // path in `Upload-Metadata` (`path`), then `PATCH` at its `Location` from `Upload-Offset`;
    // after a cut, `HEAD` says how far it got and the client goes on from there.

    static func offsetHeaders(_ offset: Int64) -> HTTPFields {
        [HTTPField.Name.tusResumable: UploadsController.version, .uploadOffset: "\(offset)"]
    }

    /// The job, the result file's path and its upload, for a tus request about one file.
    private func heldUpload(_ request: Request, _ context: AppRequestContext) async throws -> (TranscodeJob, String, RunnerJobs.ResultUpload) {
        let (_, _, job) = try await held(request, context)
        let path = context.parameters.getCatchAll().joined(separator: "/")
        guard let upload = jobs.upload(job, path: path) else { throw APIError.notFound("upload of \(path)") }
        return (job, path, upload)
    }

    /// `OPTIONS …/files`: what this endpoint speaks.
    @Sendable func tusOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.rowId(of: "job")
        return Response(
            status: .noContent,
            headers: [
                .tusResumable: UploadsController.version, .tusVersion: UploadsController.version,
                .tusExtension: "creation", .tusMaxSize: "\(Self.maxResultFile)",
            ])
    }

    /// Runs a tus handler; every answer, errors included, carries `Tus-Resumable`.
    private func tus(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            try UploadsController.requireTusVersion(request)
            var response = try await body()
            response.headers[.tusResumable] = UploadsController.version
            return response
        } catch var error as APIError {
            error.headers[.tusResumable] = UploadsController.version
            throw error
        } catch let error as RunnerError {
            var mapped = Self.apiError(error)
            mapped.headers[.tusResumable] = UploadsController.version
            throw mapped
        }
    }

    /// `POST …/files`: begins (or begins again) the upload of one result file.
    @Sendable func createUpload(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await tus(request) {
            let (_, _, job) = try await held(request, context)
            guard let lengthText = request.headers[.uploadLength], let length = Int64(lengthText), length >= 0 else {
                throw APIError.badRequest("Upload-Length (the file's size in bytes) is required", code: "invalid_length")
            }
            guard length <= Self.maxResultFile else {
                throw APIError(.contentTooLarge, "too_large", "a result file is limited to \(Self.maxResultFile >> 20) MB")
            }
            let metadata: [String: String]
            do {
                metadata = try UploadMetadata.parse(request.headers[.uploadMetadata] ?? "")
            } catch let error as UploadMetadata.Invalid {
                throw APIError.badRequest("Upload-Metadata: \(error.message)", code: "invalid_metadata")
            }
            guard let path = metadata["path"], !path.isEmpty else {
                throw APIError.badRequest("Upload-Metadata must name the file: path <base64 of 360p/seg_00001.m4s>", code: "invalid_metadata")
            }
            _ = try jobs.createUpload(job, path: path, length: length)
            var headers = Self.offsetHeaders(0)
            headers[.location] = "/api/v1/runners/jobs/\(job.id ?? 0)/files/\(path)"
            return Response(status: .created, headers: headers)
        }
    }

    /// `HEAD …/files/{path}`: how many bytes of the file the server has, of how many.
    @Sendable func uploadOffset(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await tus(request) {
            let (_, _, upload) = try await heldUpload(request, context)
            var headers = Self.offsetHeaders(upload.offset)
            headers[.uploadLength] = "\(upload.length)"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers)
        }
    }

    /// `PATCH …/files/{path}`: bytes from `Upload-Offset` on. Each chunk is flushed before the new
    /// offset is answered; the last one moves the file to its name.
    @Sendable func appendUpload(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await tus(request) {
            let (job, path, upload) = try await heldUpload(request, context)
            guard request.headers[.contentType]?.lowercased() == "application/offset+octet-stream" else {
                throw APIError(.unsupportedMediaType, "unsupported_media_type", "PATCH bodies are application/offset+octet-stream")
            }
            guard let offsetText = request.headers[.uploadOffset], let offset = Int64(offsetText), offset >= 0 else {
                throw APIError.badRequest("Upload-Offset is required", code: "invalid_offset")
            }
            guard offset == upload.offset else {
                throw APIError(.conflict, "offset_mismatch", "the server has \(upload.offset) bytes of \(path), not \(offset); HEAD, then go on from there")
            }
            guard let partial = upload.partial else { return Response(status: .noContent, headers: Self.offsetHeaders(upload.offset)) }
            var size = offset
            do {
                try await FileSystem.shared.withFileHandle(forWritingAt: FilePath(partial), options: .modifyFile(createIfNecessary: false)) { handle in
                    for try await buffer in request.body {
                        guard size + Int64(buffer.readableBytes) <= upload.length else {
                            throw APIError(.contentTooLarge, "too_large", "more bytes than the \(upload.length) Upload-Length declared")
                        }
                        try await handle.write(contentsOf: buffer, toAbsoluteOffset: size)
                        size += Int64(buffer.readableBytes)
                    }
                    try await handle.synchronize()
                }
            } catch let error as FileSystemError where error.code == .resourceExhausted {
                throw APIError(.insufficientStorage, "disk_full", "the server's disk is full; send the rest later")
            } catch let error as APIError {
                // Bytes past the declared length are not kept; those before them are.
                _ = truncate(partial, off_t(size))
                throw error
            }
            if size == upload.length { try jobs.completeUpload(job, path: path, partial: partial) }
            return Response(status: .noContent, headers: Self.offsetHeaders(size))
        }
    }

    @Sendable func success(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (runner, token, job) = try await held(request, context)
        let manifest = try await request.decodeJSON(as: RunnerJobs.ResultManifest.self, context: context)
        try await mapped { try await jobs.succeed(job, runner: runner, token: token, manifest: manifest) }
        return Response(status: .noContent)
    }

    @Sendable func failure(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (runner, token, job) = try await held(request, context)
        let body = try await request.decodeJSON(as: RunnerMessages.Failure.self, context: context)
        let message = String(body.message.prefix(2000))
        try await jobs.fail(job, runner: runner, token: token, message: message.isEmpty ? "no reason given" : message, permanent: body.permanent ?? false)
        return Response(status: .noContent)
    }

    @Sendable func abort(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (runner, token, job) = try await held(request, context)
        try await jobs.abort(job, runner: runner, token: token)
        return Response(status: .noContent)
    }

    // MARK: - Who is calling

    private func runner(_ request: Request) async throws -> Runner {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, "unauthenticated", "runners send their token: Authorization: Bearer lrt_…")
        }
        return try await mapped { try await jobs.runners.authenticate(token: String(header.dropFirst(7))) }
    }

    /// The runner, its job token and the job it holds: checked before a body is read, so nobody
    /// but the job's holder learns anything from how the server reads it.
    private func held(_ request: Request, _ context: AppRequestContext) async throws -> (Runner, String, TranscodeJob) {
        let runner = try await runner(request)
        let id = try context.rowId(of: "job")
        guard let token = request.headers[Self.jobTokenHeader], !token.isEmpty else {
            throw APIError(.unauthorized, "unauthenticated", "a job's calls carry its job token: LessonLink-Job-Token")
        }
        let job = try await mapped { try await jobs.held(id, runner: runner, token: token) }
        return (runner, token, job)
    }

    static func gone(_ id: Int64) -> APIError {
        APIError(.conflict, "job_gone", "job \(id) is no longer yours: it was cancelled, or its lease ran out; stop working on it")
    }

    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RunnerError {
            throw Self.apiError(error)
        }
    }

    private func mappedSync<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as RunnerError {
            throw Self.apiError(error)
        }
    }

    static func apiError(_ error: RunnerError) -> APIError {
        switch error {
        case .unauthorized(let why): APIError(.unauthorized, "unauthenticated", why)
        case .notYourJob(let id): gone(id)
        case .taken(let id): APIError(.conflict, "taken", "job \(id) is not waiting: another runner took it, or it was cancelled")
        case .badResult(let why): APIError(.unprocessableContent, "bad_result", "the result was refused and the job will be retried: \(why)")
        case .notFound(let what): APIError(.notFound, "not_found", what)
        case .invalid(let why): APIError.badRequest(why)
        case .storage(let why): APIError(.serviceUnavailable, "storage_unavailable", "\(why); report success again later")
        }
    }
}

extension RunnerJobs.Assignment: ResponseEncodable {}
extension RunnerMessages.Registered: ResponseEncodable {}
extension RunnerMessages.Offers: ResponseEncodable {}
extension RunnerMessages.Received: ResponseEncodable {}
