import WebServing
import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Review

/// Review by the county and city teaching-research offices: a teacher submits a ready recording
/// (`POST /api/v1/recordings/{id}/review`); reviewers take it from their office's queue
/// (`/api/v1/reviews`), claim it, and approve or return it with rubric scores; an admin may
/// revoke an approval. Every step is kept in the submission's history.
struct ReviewsController {
    let store: ReviewStore
    let comments: CommentStore
    let shelf: TextbookShelf
    let posters: PosterLinks

    var recordingRoutes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.post(":id/review", use: submit)
        routes.get(":id/review", use: submission)
        routes.get(":id/comments", use: threads)
        routes.post(":id/comments", use: comment)
        return routes
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("reviews", use: queue)
        routes.post("reviews/:id/claim", use: claim)
        routes.post("reviews/:id/release", use: release)
        routes.post("reviews/:id/decision", use: decide)
        routes.post("reviews/:id/revoke", use: revoke)
        routes.get("review-rubric", use: rubric)
        routes.post("textbook-volumes/:id/review", use: submitVolume)
        routes.get("textbooks", use: editions)
        routes.get("textbooks/:id", use: volume)
        return routes
    }

    struct Threads: ResponseEncodable {
        var items: [CommentStore.Comment]
    }

    struct CommentRequest: Decodable {
        var position: Double?
        var parentId: Int64?
        var body: String

        enum CodingKeys: String, CodingKey { case position, parentId, body }

        /// Absent and `null` are not the same here: the document says a comment names its
        /// moment or its thread, so an explicit null is refused rather than read as absent.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            for key in [CodingKeys.position, .parentId] where try container.contains(key) && container.decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(
                    Double.self, .init(codingPath: [key], debugDescription: "\(key.rawValue) is a number when given, not null"))
            }
            position = try container.decodeIfPresent(Double.self, forKey: .position)
            parentId = try container.decodeIfPresent(Int64.self, forKey: .parentId)
            body = try container.decode(String.self, forKey: .body)
        }
    }

    struct Editions: ResponseEncodable {
        var items: [TextbookShelf.Edition]
    }

    struct Queue: ResponseEncodable {
        var items: [ReviewStore.View]
    }

    struct DecisionRequest: Decodable {
        enum Decision: String, Decodable {
            case approve, `return`
        }
        var decision: Decision
        var scores: [String: Int]
        var comment: String?
    }

    struct RevokeRequest: Decodable {
        var reason: String
    }

    struct RubricResponse: ResponseEncodable {
        struct Criterion: Encodable {
            var key: String
            var description: String
            var min: Int
            var max: Int
        }
        var criteria: [Criterion]
    }

    @Sendable func submit(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "recording")
        return try await refusals { try await store.submit(recordingId: id, by: person) }
    }

    @Sendable func submission(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "recording")
        return try await refusals { try await store.submission(recordingId: id, for: person) }
    }

    @Sendable func queue(_ request: Request, context: AppRequestContext) async throws -> Queue {
        let person = try context.requirePerson()
        let parameters = request.uri.queryParameters
        let subject = parameters["subject"].map(String.init)
        if let subject, subject.isEmpty || subject.unicodeScalars.count > 50 { throw APIError.badRequest("subject must be 1 to 50 characters") }
        let grade = try QueryValue.integer(parameters["grade"], "grade", in: 1...12)
        return Queue(items: try await refusals { try await store.queue(for: person, subject: subject, grade: grade) })
    }

    @Sendable func claim(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "submission")
        return try await refusals { try await store.claim(id, by: person) }
    }

    @Sendable func release(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "submission")
        return try await refusals { try await store.claim(id, release: true, by: person) }
    }

    @Sendable func decide(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "submission")
        let body = try await request.decodeJSON(as: DecisionRequest.self, context: context)
        if let comment = body.comment, comment.unicodeScalars.count > 5000 { throw APIError.badRequest("comment is limited to 5000 characters") }
        return try await refusals {
            try await store.decide(id, approve: body.decision == .approve, scores: body.scores, comment: body.comment ?? "", by: person)
        }
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "submission")
        let body = try await request.decodeJSON(as: RevokeRequest.self, context: context)
        guard body.reason.unicodeScalars.count <= 2000 else { throw APIError.badRequest("reason is limited to 2000 characters") }
        return try await refusals { try await store.revoke(id, reason: body.reason, by: person) }
    }

    @Sendable func submitVolume(_ request: Request, context: AppRequestContext) async throws -> ReviewStore.VolumeSubmission {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "textbook volume")
        return try await refusals { try await store.submitVolume(id, by: person) }
    }

    @Sendable func threads(_ request: Request, context: AppRequestContext) async throws -> Threads {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "recording")
        return Threads(items: try await refusals { try await comments.threads(recordingId: id, for: person) })
    }

    @Sendable func comment(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<CommentStore.Comment> {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "recording")
        let body = try await request.decodeJSON(as: CommentRequest.self, context: context)
        guard body.body.unicodeScalars.count <= 2000 else { throw APIError.badRequest("body is limited to 2000 characters") }
        if let position = body.position, !(0...86400).contains(position) { throw APIError.badRequest("position must be 0 to 86400 seconds") }
        if body.parentId == nil, body.position == nil { throw APIError.badRequest("a comment needs a position (seconds), a reply a parentId") }
        if let parent = body.parentId, parent <= 0 { throw APIError.badRequest("parentId must be an id (a positive whole number)") }
        let created = try await refusals {
            try await comments.add(recordingId: id, position: body.position, parentId: body.parentId, body: body.body, by: person)
        }
        return EditedResponse(status: .created, response: created)
    }

    @Sendable func editions(_ request: Request, context: AppRequestContext) async throws -> Editions {
        _ = try context.requirePerson()
        return Editions(items: try await shelf.editions())
    }

    @Sendable func volume(_ request: Request, context: AppRequestContext) async throws -> TextbookShelf.VolumeTree {
        _ = try context.requirePerson()
        let id = try context.rowId(of: "textbook volume")
        var tree = try await refusals { try await shelf.volume(id) }
        for unit in tree.units.indices {
            for lesson in tree.units[unit].lessons.indices {
                for index in tree.units[unit].lessons[lesson].recordings.indices {
                    let recording = tree.units[unit].lessons[lesson].recordings[index]
                    tree.units[unit].lessons[lesson].recordings[index].posterUrl = posters.url(recordingId: recording.id, version: recording.mediaVersion)
                }
            }
        }
        return tree
    }

    @Sendable func rubric(_ request: Request, context: AppRequestContext) async throws -> RubricResponse {
        _ = try context.requirePerson()
        return RubricResponse(criteria: store.rubric.criteria.map { .init(key: $0.key, description: $0.description, min: $0.min, max: $0.max) })
    }



    /// The rubric's scores as the API document states them (substituted into the served
    /// document), so clients and fuzzers know the exact criteria this server expects.
    static func scoresSchema(_ rubric: Rubric) -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        let properties = rubric.criteria.map { "\(quoted($0.key)): {type: integer, minimum: \($0.min), maximum: \($0.max)}" }
        return "    RubricScores: {type: object, additionalProperties: false, required: [\(rubric.criteria.map { quoted($0.key) }.joined(separator: ", "))], "
            + "properties: {\(properties.joined(separator: ", "))}}"
    }
}

/// Runs a review store call, turning its refusals into the API's errors.
func refusals<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ReviewError {
        switch error {
        case .forbidden(let why): throw APIError(.forbidden, "forbidden", why)
        case .conflict(let why): throw APIError(.conflict, "conflict", why)
        case .notFound(let what): throw APIError.notFound(what)
        case .invalid(let why): throw APIError.badRequest(why)
        }
    }
}

extension ReviewStore.View: ResponseEncodable {}
extension ReviewStore.VolumeSubmission: ResponseEncodable {}
extension CommentStore.Comment: ResponseEncodable {}
extension TextbookShelf.VolumeTree: ResponseEncodable {}
