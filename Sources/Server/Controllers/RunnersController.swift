import Catalog
import Foundation
import HTTPTypes
import Hummingbird
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
        routes.put("jobs/:id/files/**", use: upload)
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

    /// One result file, whole: written beside its name and renamed once complete, so a cut
    /// upload leaves nothing that looks received; the runner sends it again.
    @Sendable func upload(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, _, job) = try await held(request, context)
        let relative = context.parameters.getCatchAll().joined(separator: "/")
        let path = try mappedSync { try jobs.resultFile(job, path: relative) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = path + ".part"
        try? FileManager.default.removeItem(atPath: temporary)
        var size: Int64 = 0
        do {
            try await FileSystem.shared.withFileHandle(forWritingAt: FilePath(temporary), options: .newFile(replaceExisting: true)) { handle in
                for try await buffer in request.body {
                    guard size + Int64(buffer.readableBytes) <= Self.maxResultFile else {
                        throw APIError(.contentTooLarge, "too_large", "a result file is limited to \(Self.maxResultFile >> 20) MB")
                    }
                    try await handle.write(contentsOf: buffer, toAbsoluteOffset: size)
                    size += Int64(buffer.readableBytes)
                }
                try await handle.synchronize()
            }
            if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared != size {
                throw APIError.badRequest("the body was cut short: \(size) of \(declared) bytes", code: "incomplete")
            }
            guard rename(temporary, path) == 0 else { throw APIError(.internalServerError, "storage_error", "the file could not be kept") }
        } catch let error as FileSystemError where error.code == .resourceExhausted {
            try? FileManager.default.removeItem(atPath: temporary)
            throw APIError(.insufficientStorage, "disk_full", "the server's disk is full; the file was not kept")
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return try PacksController.json(RunnerMessages.Received.File(path: relative, size: size), status: .created)
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
        }
    }
}

extension RunnerJobs.Assignment: ResponseEncodable {}
extension RunnerMessages.Registered: ResponseEncodable {}
extension RunnerMessages.Offers: ResponseEncodable {}
extension RunnerMessages.Received: ResponseEncodable {}
