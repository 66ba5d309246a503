import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Orders
import ServiceLifecycle
import WebServing

/// Orders (学校点单、学区派单、领衔校接单、平台评单) under `/api/v1/orders`: place, the inbox (with
/// Server-Sent Events), one order with its history, each step, attachments, suggestions from the
/// catalog, and the county view with its CSV export.
struct OrdersController {
    let store: OrderStore
    let stats: OrderStats
    let attachmentMaxSize: Int

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(use: list)
        routes.post(use: place)
        routes.get("stats", use: county)
        routes.get("events", use: events)
        routes.get(":id", use: get)
        routes.get(":id/suggestions", use: suggestions)
        routes.post(":id/dispatch", use: dispatch)
        routes.post(":id/fulfil", use: fulfil)
        routes.post(":id/accept", use: accept)
        routes.post(":id/decline", use: decline)
        routes.post(":id/deliver", use: deliver)
        routes.post(":id/rate", use: rate)
        routes.post(":id/rework", use: rework)
        routes.post(":id/cancel", use: cancel)
        routes.post(":id/attachments", use: attach)
        routes.get(":id/attachments/:attachment", use: attachment)
        return routes
    }

    struct Inbox: ResponseEncodable {
        var items: [OrderStore.View]
        /// Orders waiting for a step of this person's (the home page's count).
        var todo: Int
    }

    struct PlaceRequest: Decodable {
        var volumeId: Int64?
        var lessonIds: [Int64]?
        var topic: String?
        var grade: Int
        var classes: Int
        var pupils: String?
        var format: ResourceOrder.Format
        var neededBy: String
    }

    struct DispatchRequest: Decodable {
        var leadSchoolId: Int64
        var dueOn: String
    }

    struct AcceptRequest: Decodable {
        var responsibleTeacherId: Int64
    }

    struct ReasonRequest: Decodable {
        var reason: String
    }

    struct CancelRequest: Decodable {
        var reason: String?
    }

    struct DeliverRequest: Decodable {
        struct PackRef: Decodable {
            var packId: Int64
            var version: Int
        }
        var packs: [PackRef]?
        var recordingIds: [Int64]?
        var note: String?

        var items: OrderStore.Items {
            OrderStore.Items(packVersions: (packs ?? []).map { ($0.packId, $0.version) }, recordingIds: recordingIds ?? [])
        }
    }

    struct RateRequest: Decodable {
        var fit: Int
        var quality: Int
        var timeliness: Int
        var comment: String?
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Inbox {
        let person = try context.requirePerson()
        let query = request.uri.queryParameters
        var filter = OrderStore.Filter()
        if let role = query["role"] {
            guard let value = OrderStore.Role(rawValue: String(role)) else {
                throw APIError.badRequest("role must be one of \(OrderStore.Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.role = value
        }
        if let state = query["state"] {
            guard let value = OrderState(rawValue: String(state)) else {
                throw APIError.badRequest("state must be one of \(OrderState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.state = value
        }
        filter.overdue = try QueryValue.boolean(query["overdue"], "overdue")
        filter.todo = try QueryValue.boolean(query["todo"], "todo") ?? false
        filter.limit = try QueryValue.integer(query["limit"], "limit", in: 1...500) ?? 100
        let items = try await orderRefusals { try await store.list(filter, for: person) }
        return Inbox(items: items, todo: try await orderRefusals { try await store.todoCount(for: person) })
    }

    @Sendable func place(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<OrderStore.View> {
        let person = try context.requirePerson()
        let body = try await request.decodeJSON(as: PlaceRequest.self, context: context)
        guard (1...12).contains(body.grade) else { throw APIError.badRequest("grade must be 1 to 12") }
        guard (1...50).contains(body.classes) else { throw APIError.badRequest("classes must be 1 to 50") }
        guard (body.pupils ?? "").unicodeScalars.count <= 2000 else { throw APIError.badRequest("pupils is limited to 2000 characters") }
        guard (body.topic ?? "").unicodeScalars.count <= 200 else { throw APIError.badRequest("topic is limited to 200 characters") }
        guard (body.lessonIds ?? []).count <= 200 else { throw APIError.badRequest("at most 200 lessons in one order") }
        if body.volumeId != nil, body.topic != nil { throw APIError.badRequest("order a volume or a topic, not both") }
        if body.volumeId == nil, body.lessonIds != nil { throw APIError.badRequest("lessonIds need their volumeId") }
        let new = OrderStore.NewOrder(
            volumeId: body.volumeId, lessonIds: body.lessonIds ?? [], topic: body.topic, grade: body.grade, classes: body.classes,
            pupils: body.pupils ?? "", format: body.format, neededBy: body.neededBy)
        let view = try await orderRefusals { try await store.place(new, by: person) }
        return EditedResponse(status: .created, headers: [.location: "/api/v1/orders/\(view.id)"], response: view)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "order")
        return try await orderRefusals { try await store.order(id, for: person) }
    }

    @Sendable func suggestions(_ request: Request, context: AppRequestContext) async throws -> OrderStore.Suggestions {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "order")
        return try await orderRefusals { try await store.suggestions(id, for: person) }
    }

    @Sendable func dispatch(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: DispatchRequest.self, context: context)
        return try await orderRefusals { try await store.dispatch(id, to: body.leadSchoolId, dueOn: body.dueOn, by: person) }
    }

    @Sendable func fulfil(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: DeliverRequest.self, context: context)
        return try await orderRefusals { try await store.fulfil(id, body.items, by: person) }
    }

    @Sendable func accept(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: AcceptRequest.self, context: context)
        return try await orderRefusals { try await store.accept(id, responsibleTeacherId: body.responsibleTeacherId, by: person) }
    }

    @Sendable func decline(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: ReasonRequest.self, context: context)
        try Self.limit(body.reason, "reason")
        return try await orderRefusals { try await store.decline(id, reason: body.reason, by: person) }
    }

    @Sendable func deliver(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: DeliverRequest.self, context: context)
        try Self.limit(body.note ?? "", "note")
        return try await orderRefusals { try await store.deliver(id, body.items, note: body.note ?? "", by: person) }
    }

    @Sendable func rate(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: RateRequest.self, context: context)
        try Self.limit(body.comment ?? "", "comment")
        let rating = OrderStore.Rating(fit: body.fit, quality: body.quality, timeliness: body.timeliness, comment: body.comment ?? "")
        return try await orderRefusals { try await store.rate(id, rating, by: person) }
    }

    @Sendable func rework(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: ReasonRequest.self, context: context)
        try Self.limit(body.reason, "reason")
        return try await orderRefusals { try await store.rework(id, reason: body.reason, by: person) }
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> OrderStore.View {
        let (person, id) = try ids(context)
        let body = try await request.decodeJSON(as: CancelRequest.self, context: context)
        try Self.limit(body.reason ?? "", "reason")
        return try await orderRefusals { try await store.cancel(id, reason: body.reason ?? "", by: person) }
    }

    /// A file as the raw body, its name in `?name=`.
    @Sendable func attach(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<OrderStore.Attachment> {
        let (person, id) = try ids(context)
        guard let name = request.uri.queryParameters["name"].map(String.init), !name.isEmpty else {
            throw APIError.badRequest("name: the file's name, in the query (?name=课表.jpg)")
        }
        let data: Data
        do {
            data = Data(buffer: try await request.body.collect(upTo: attachmentMaxSize))
        } catch {
            throw APIError(.contentTooLarge, "too_large", "an order's attachment is limited to \(attachmentMaxSize >> 20) MB")
        }
        let type = request.headers[.contentType] ?? "application/octet-stream"
        let attachment = try await orderRefusals { try await store.attach(id, name: name, contentType: type, data: data, by: person) }
        return EditedResponse(status: .created, response: attachment)
    }

    @Sendable func attachment(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (person, id) = try ids(context)
        let attachmentId = try context.rowId("attachment", of: "attachment")
        let (found, path) = try await orderRefusals { try await store.attachment(id, attachmentId, for: person) }
        guard let data = FileManager.default.contents(atPath: path) else { throw APIError.notFound("attachment") }
        let encoded = found.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "attachment"
        return Response(
            status: .ok,
            headers: [.contentType: found.contentType, .contentDisposition: "attachment; filename*=UTF-8''\(encoded)", .eTag: "\"\(found.sha256)\""],
            body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    /// The county view as JSON, or every order as CSV (`?format=csv`) for Excel.
    @Sendable func county(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        switch request.uri.queryParameters["format"].map(String.init) {
        case nil, "json":
            let report = try await orderRefusals { try await stats.report(for: person) }
            return try report.response(from: request, context: context)
        case "csv":
            let csv = try await orderRefusals { try await stats.csv(for: person) }
            return Response(
                status: .ok,
                headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"orders.csv\""],
                body: .init(byteBuffer: ByteBuffer(data: csv)))
        default:
            throw APIError.badRequest("format must be json or csv")
        }
    }

    /// Server-Sent Events: `inbox` (the to-do count) at once, then `order` (the order as this
    /// person sees it) whenever one of theirs changes, with the new count.
    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        let store = self.store
        let initial = try await orderRefusals { try await store.todoCount(for: person) }
        let body = ResponseBody { writer in
            let (subscription, changes) = await store.hub.subscribe()
            enum Item { case change(OrderHub.Change), tick }
            let (items, input) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(256))
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await change in changes { input.yield(.change(change)) }
                        input.finish()
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(15))
                            input.yield(.tick)
                        }
                    }
                    try await writer.write(try ServerSentEvents.event("inbox", ["todo": initial]))
                    for await item in items {
                        if Task.isShuttingDownGracefully { break }
                        switch item {
                        case .tick:
                            try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                        case .change(let change):
                            guard Self.concerns(change, person), let view = try? await store.order(change.orderId, for: person) else { continue }
                            try await writer.write(try ServerSentEvents.event("order", view))
                            let count = try await store.todoCount(for: person)
                            try await writer.write(try ServerSentEvents.event("inbox", ["todo": count]))
                        }
                    }
                    group.cancelAll()
                }
            } catch {
                await store.hub.unsubscribe(subscription)
                throw error
            }
            await store.hub.unsubscribe(subscription)
            try await writer.finish(nil)
        }
        return ServerSentEvents.response(body)
    }

    static func concerns(_ change: OrderHub.Change, _ person: Person) -> Bool {
        switch person.role {
        case .admin: true
        case .coordinator: change.districtId == person.districtId
        case .teacher: change.schoolId == person.schoolId || (change.leadSchoolId != nil && change.leadSchoolId == person.schoolId)
        default: false
        }
    }

    private func ids(_ context: AppRequestContext) throws -> (Person, Int64) {
        (try context.requirePerson(), try context.rowId(of: "order"))
    }

    static func limit(_ text: String, _ name: String) throws {
        guard text.unicodeScalars.count <= 2000 else { throw APIError.badRequest("\(name) is limited to 2000 characters") }
    }
}

/// Runs an order store call, turning its refusals into the API's errors.
func orderRefusals<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as OrderError {
        switch error {
        case .forbidden(let why): throw APIError(.forbidden, "forbidden", why)
        case .conflict: throw APIError(.conflict, "conflict", error.message)
        case .notFound(let what): throw APIError.notFound(what)
        case .invalid(let why): throw APIError.badRequest(why)
        }
    }
}

extension OrderStore.View: ResponseEncodable {}
extension OrderStore.Suggestions: ResponseEncodable {}
extension OrderStore.Attachment: ResponseEncodable {}
extension OrderStats.Report: ResponseEncodable {}
