import WebServing
import Catalog
import Foundation
import GRDB
import Delivery
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Transcoding

/// The catalog of recorded lessons: `GET /api/v1/recordings` (search, filters, cursor pages),
/// `GET/PATCH/DELETE /api/v1/recordings/{id}`.
struct RecordingsController {
    let database: AppDatabase
    let queue: JobQueue
    let signer: PlaybackSigner
    let playbackLifetime: TimeInterval
    let layout: StorageLayout
    var store: RecordingStore { RecordingStore(database: database) }
    var directory: DirectoryStore { DirectoryStore(database: database) }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(use: list)
        routes.get(":id", use: get)
        routes.patch(":id", use: update)
        routes.delete(":id", use: delete)
        routes.get(":id/playback", use: playback)
        routes.get(":id/events", use: events)
        routes.post(":id/transcode", use: retranscode)
        routes.delete(":id/transcode", use: cancelTranscode)
        return routes
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse {
        let viewer = Viewer(try context.requirePerson())
        let parameters = request.uri.queryParameters
        var query = RecordingQuery()
        query.text = parameters["q"].map(String.init)
        query.subject = parameters["subject"].map(String.init)
        query.grade = try QueryValue.integer(parameters["grade"], "grade", in: 1...12)
        query.volumeId = try QueryValue.id(parameters["volume"], "volume")
        query.districtId = try QueryValue.id(parameters["district"], "district")
        query.schoolId = try QueryValue.id(parameters["school"], "school")
        query.teacherId = try QueryValue.id(parameters["teacher"], "teacher")
        if let state = parameters["state"] {
            guard let value = Recording.State(rawValue: String(state)) else {
                throw APIError.badRequest(
                    "state must be one of \(Recording.State.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.state = value
        }
        if let sort = parameters["sort"] {
            guard let value = RecordingQuery.Sort(rawValue: String(sort)) else {
                throw APIError.badRequest("sort must be one of \(RecordingQuery.Sort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.sort = value
        }
        if let limit = try QueryValue.integer(parameters["limit"], "limit", in: 1...100) { query.limit = limit }
        query.cursor = parameters["cursor"].map(String.init)
        if let text = query.text, text.count > 200 { throw APIError.badRequest("search text is limited to 200 characters") }
        do {
            let page = try await store.list(query, viewer: viewer)
            return PageResponse(items: page.items.map(withPoster), nextCursor: page.nextCursor)
        } catch CatalogError.invalidCursor {
            throw APIError.badRequest("cursor is not one this server issued", code: "invalid_cursor")
        }
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> RecordingSummary {
        let viewer = Viewer(try context.requirePerson())
        return try await visible(try context.rowId(of: "recording"), viewer: viewer, renditions: true)
    }

    /// A PATCH body. For the nullable fields, absent means "leave it" and `null` means "clear it",
    /// which synthesized decoding cannot tell apart.
    struct Changes: Decodable {
        var title: String?
        var description: String?
        var lessonId: Int64??
        var classroomId: Int64??
        var recordedOn: String??

        enum CodingKeys: String, CodingKey { case title, description, lessonId, classroomId, recordedOn }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            title = try container.decodeIfPresent(String.self, forKey: .title)
            description = try container.decodeIfPresent(String.self, forKey: .description)
            func clearable<T: Decodable>(_ key: CodingKeys) throws -> T?? {
                guard container.contains(key) else { return nil }
                return .some(try container.decodeNil(forKey: key) ? nil : container.decode(T.self, forKey: key))
            }
            lessonId = try clearable(.lessonId)
            classroomId = try clearable(.classroomId)
            recordedOn = try clearable(.recordedOn)
        }
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> RecordingSummary {
        let viewer = Viewer(try context.requirePerson())
        let id = try context.rowId(of: "recording")
        let summary = try await visible(id, viewer: viewer)
        guard viewer.mayEdit(teacherId: summary.teacher.id, districtId: summary.districtId) else { throw APIError.forbidden }
        let changes = try await request.decodeJSON(as: Changes.self, context: context)
        if let title = changes.title, title.trimmingCharacters(in: .whitespaces).isEmpty || title.count > 200 {
            throw APIError.badRequest("title must be 1 to 200 characters")
        }
        if let description = changes.description, description.count > 5000 {
            throw APIError.badRequest("description is limited to 5000 characters")
        }
        if case .some(.some(let day)) = changes.recordedOn, !Recording.isDay(day) {
            throw APIError.badRequest("recordedOn must be a date like 2026-09-01")
        }
        do {
            let edit = RecordingStore.Edit(
                title: changes.title, description: changes.description, lessonId: changes.lessonId,
                classroomId: changes.classroomId, recordedOn: changes.recordedOn)
            guard try await store.edit(id, edit) else { throw APIError.notFound("recording") }
        } catch CatalogError.unknownLesson(let lessonId) {
            throw APIError(.notFound, "unknown_lesson", "no textbook lesson \(lessonId)")
        } catch CatalogError.unknownClassroom(let classroomId) {
            throw APIError(.notFound, "unknown_classroom", "classroom \(classroomId) is not in the recording's school")
        }
        return try await visible(id, viewer: viewer, renditions: true)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let viewer = Viewer(try context.requirePerson())
        let id = try context.rowId(of: "recording")
        let summary = try await visible(id, viewer: viewer)
        guard viewer.mayEdit(teacherId: summary.teacher.id, districtId: summary.districtId) else { throw APIError.forbidden }
        try await store.delete(id)
        return Response(status: .noContent)
    }

    // MARK: - Playback

    private func withPoster(_ summary: RecordingSummary) -> RecordingSummary {
        var summary = summary
        summary.posterUrl = posters.url(recordingId: summary.id, version: summary.mediaVersion)
        return summary
    }

    var posters: PosterLinks { PosterLinks(signer: signer, lifetime: playbackLifetime, layout: layout) }

    struct PlaybackResponse: ResponseEncodable {
        /// The signed master playlist; its relative URIs carry the token along.
        var url: String
        var posterUrl: String?
        var expiresAt: Date
        var version: String
        /// The tier to start with, from the classroom's link (players then adapt).
        var startTier: String?
        var renditions: [Rendition]
    }

    /// `GET …/playback`: a signed master URL for whoever may watch the recording.
    @Sendable func playback(_ request: Request, context: AppRequestContext) async throws -> PlaybackResponse {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "recording")
        let summary = try await visible(id, viewer: Viewer(person))
        guard let (version, renditions) = try await store.published(id) else {
            throw APIError(.conflict, "not_ready", "the lesson is not ready to play yet (it is \(summary.state.rawValue))")
        }
        var linkMbps: Int?
        if let classroom = person.classroomId { linkMbps = try await directory.classroom(classroom)?.linkMbps }
        let expires = Date().addingTimeInterval(playbackLifetime)
        let base = "/media/\(id)/\(version)/\(signer.token(recordingId: id, expires: expires))"
        let hasPoster = renditions.contains { $0.kind == .video }
        return PlaybackResponse(
            url: "\(base)/master.m3u8", posterUrl: hasPoster ? "\(base)/poster.jpg" : nil, expiresAt: expires, version: version,
            startTier: Self.startTier(renditions, linkMbps: linkMbps), renditions: renditions)
    }

    /// The largest video tier whose peak rate fits in half the classroom's link (the other half
    /// is for everything else on it), or the smallest when none fits; without a classroom (a
    /// teacher at a desk), the largest.
    static func startTier(_ renditions: [Rendition], linkMbps: Int?) -> String? {
        let video = renditions.filter { $0.kind == .video }.sorted { ($0.height ?? 0) > ($1.height ?? 0) }
        guard let linkMbps else { return video.first?.name }
        let budget = Double(linkMbps) * 1_000_000 / 2
        return (video.first { Double($0.peakBitRate) <= budget } ?? video.last)?.name
    }

    // MARK: - Live state

    /// One Server-Sent Event: the recording's state and its latest transcode.
    struct StateEvent: Encodable, Equatable {
        var state: Recording.State
        var failure: String?
        var transcode: TranscodeStatus?
    }

    /// `GET …/events`: Server-Sent Events with the recording's state and transcode progress, sent
    /// when they change, until the recording is ready or failed. The worker may be another
    /// process, so this reads the database (once a second) rather than listening in memory.
    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> Response {
        let viewer = Viewer(try context.requirePerson())
        let id = try context.rowId(of: "recording")
        _ = try await visible(id, viewer: viewer)
        let store = self.store
        return ServerSentEvents.poll(event: "state", every: .seconds(1), keepAlive: 15) { () -> (value: StateEvent, last: Bool)? in
            guard let summary = try await store.summary(id, viewer: viewer) else { return nil }
            let finished =
                (summary.state == .ready || summary.state == .failed) && summary.transcode?.state != .running
                && summary.transcode?.state != .queued
            return (StateEvent(state: summary.state, failure: summary.failure, transcode: summary.transcode), finished)
        }
    }

    // MARK: - Transcoding

    /// `POST …/transcode`: retry a failed transcode, or re-run a ready one (after a ladder change).
    @Sendable func retranscode(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TranscodeStatus> {
        let id = try await transcodeTarget(context)
        do {
            let job = try await queue.retry(recordingId: id)
            return EditedResponse(status: .accepted, response: TranscodeStatus(job))
        } catch let error as JobQueueError {
            throw Self.apiError(error)
        }
    }

    /// `DELETE …/transcode`: cancel a queued or running transcode.
    @Sendable func cancelTranscode(_ request: Request, context: AppRequestContext) async throws -> TranscodeStatus {
        let id = try await transcodeTarget(context)
        do {
            return TranscodeStatus(try await queue.cancel(recordingId: id))
        } catch let error as JobQueueError {
            throw Self.apiError(error)
        }
    }

    /// The recording, if this person may run its transcodes: county admins and its own teacher.
    private func transcodeTarget(_ context: AppRequestContext) async throws -> Int64 {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "recording")
        let summary = try await visible(id, viewer: Viewer(person))
        guard person.role == .admin || (person.role == .teacher && person.id == summary.teacher.id) else {
            throw APIError.forbidden
        }
        return id
    }

    static func apiError(_ error: JobQueueError) -> APIError {
        switch error {
        case .recordingNotFound: APIError.notFound("recording")
        case .notApplicable(let why): APIError(.conflict, "not_applicable", why)
        }
    }

    private func visible(_ id: Int64, viewer: Viewer, renditions: Bool = false) async throws -> RecordingSummary {
        guard let summary = try await store.summary(id, viewer: viewer, renditions: renditions) else {
            throw APIError.notFound("recording")
        }
        return summary
    }



}

struct PageResponse: ResponseEncodable {
    var items: [RecordingSummary]
    var nextCursor: String?
}

extension RecordingSummary: ResponseEncodable {}
extension TranscodeStatus: ResponseEncodable {}

/// A listing shows each published lesson's poster: a signed link, valid as long as a playback
/// link, to the version's `poster.jpg` when it has one (audio-only lessons do not).
struct PosterLinks {
    let signer: PlaybackSigner
    let lifetime: TimeInterval
    let layout: StorageLayout

    func url(recordingId: Int64, version: String?) -> String? {
        guard let version, FileManager.default.fileExists(atPath: "\(layout.version(recordingId, version))/poster.jpg") else { return nil }
        let token = signer.token(recordingId: recordingId, expires: Date().addingTimeInterval(lifetime))
        return "/media/\(recordingId)/\(version)/\(token)/poster.jpg"
    }
}
