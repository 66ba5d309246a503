import WebServing
import HLS
import Catalog
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Media
import NIOPosix
import _NIOFileSystem
import PackSync
import ServiceLifecycle

/// Resource packs (资源包): `/api/v1/packs`.
///
/// Makers (the lead school's teachers, its coordinator, admins) build a draft — title, notes,
/// targets, items — and publish it; member schools list what is addressed to them and download a
/// version whole (a ZIP with `Range`) or file by file through its manifest, which is what
/// `lessonlink mirror` does.
struct PacksController {
    let packs: PackStore
    let publishing: PackPublishing
    let attachmentMaxSize: Int64
    /// With media in an object store: pack files are sent from there (playlists and the manifest,
    /// small, from here); a version published before the store was configured is sent from disk.
    var bucket: BucketResponder? = nil

    var store: ObjectStore { publishing.publisher.store }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(use: list)
        routes.post(use: create)
        routes.get(":id", use: get)
        routes.patch(":id", use: update)
        routes.delete(":id", use: delete)
        routes.post(":id/items", use: addItem)
        routes.put(":id/items", use: reorder)
        routes.delete(":id/items/:item", use: removeItem)
        routes.post(":id/attachments", use: attach)
        routes.post(":id/publish", use: publish)
        routes.get(":id/publish", use: publishStatus)
        routes.get(":id/publish/events", use: publishEvents)
        for method in [HTTPRequest.Method.get, .head] {
            routes.on(":id/versions/:number/manifest", method: method, use: manifest)
            routes.on(":id/versions/:number/zip", method: method, use: zip)
            routes.on(":id/versions/:number/files/**", method: method, use: file)
        }
        return routes
    }

    struct List: ResponseEncodable {
        var items: [PackStore.Summary]
    }

    struct CreateRequest: Decodable {
        var leadSchoolId: Int64?
        var title: String
        var description: String?
        var notes: String?
        var targets: [PackStore.Target]?
    }

    struct ItemRequest: Decodable {
        var recordingId: Int64
        var title: String?
        var note: String?
        var clipStart: Double?
        var clipEnd: Double?
    }

    struct OrderRequest: Decodable {
        var itemIds: [Int64]
    }

    struct VersionResponse: ResponseEncodable {
        var pack: Int64
        var version: Int
        var manifestSha256: String
        var fileCount: Int
        var totalSize: Int64
        var publishedAt: Date
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> List {
        List(items: try await packs.list(for: try viewer(context)))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<PackStore.PackView> {
        let viewer = try viewer(context)
        let body = try await request.decodeJSON(as: CreateRequest.self, context: context)
        let changes = PackStore.Changes(title: body.title, description: body.description, notes: body.notes, targets: body.targets)
        let view = try await mapped { try await packs.create(by: viewer, leadSchoolId: body.leadSchoolId, changes: changes) }
        return EditedResponse(status: .created, headers: [.location: "/api/v1/packs/\(view.id)"], response: view)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> PackStore.PackView {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        return try await mapped { try await packs.view(id, for: viewer) }
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> PackStore.PackView {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        let changes = try await request.decodeJSON(as: PackStore.Changes.self, context: context)
        return try await mapped { try await packs.edit(id, by: viewer, changes: changes) }
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        try await mapped { try await packs.delete(id, by: viewer) }
        context.logger.info("pack deleted", metadata: ["pack": "\(id)", "by": "\(viewer.personId)"])
        return .noContent
    }

    @Sendable func addItem(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<PackItem> {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        let body = try await request.decodeJSON(as: ItemRequest.self, context: context)
        let item = try await mapped {
            try await packs.addRecording(
                id, by: viewer, recordingId: body.recordingId, title: body.title, note: body.note ?? "", clipStart: body.clipStart,
                clipEnd: body.clipEnd)
        }
        return EditedResponse(status: .created, response: item)
    }

    @Sendable func reorder(_ request: Request, context: AppRequestContext) async throws -> PackStore.PackView {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        let body = try await request.decodeJSON(as: OrderRequest.self, context: context)
        try await mapped { try await packs.reorder(id, itemIds: body.itemIds, by: viewer) }
        return try await mapped { try await packs.view(id, for: viewer) }
    }

    @Sendable func removeItem(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        guard let item = context.parameters.get("item").flatMap(Int64.init) else { throw APIError.notFound("item") }
        try await mapped { try await packs.removeItem(id, itemId: item, by: viewer) }
        return .noContent
    }

    /// `POST /packs/{id}/attachments?name=教案.docx&title=…&note=…`, the file as the raw body.
    /// Stored in the object store as it arrives (hashed on the way), at most `attachmentMaxSize`.
    @Sendable func attach(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<PackItem> {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        guard let name = request.uri.queryParameters["name"].map(String.init), !name.isEmpty, name.count <= 200 else {
            throw APIError.badRequest("name the file (1 to 200 characters): ?name=<file name>")
        }
        let title = request.uri.queryParameters["title"].map(String.init)
        let note = request.uri.queryParameters["note"].map(String.init) ?? ""
        guard (title?.count ?? 0) <= 200, note.count <= 2000 else {
            throw APIError.badRequest("an attachment's title is limited to 200 characters and its note to 2000")
        }
        // Check permission before accepting a byte.
        try await mapped { try await packs.requireMaker(id, viewer: viewer) }
        if let length = request.headers[.contentLength].flatMap(Int64.init), length > attachmentMaxSize {
            throw Self.tooLarge(attachmentMaxSize)
        }
        let object = try await receive(request.body)
        let item = try await mapped { try await packs.addAttachment(id, by: viewer, fileName: name, title: title, note: note, object: object) }
        return EditedResponse(status: .created, response: item)
    }

    /// `POST /packs/{id}/publish`: freezes the draft as a new version, within the request (201
    /// with the version), or with `Prefer: respond-async` in the background (202 with the
    /// status; follow `GET …/publish/events`).
    @Sendable func publish(_ request: Request, context: AppRequestContext) async throws -> Response {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        let async = request.headers[HTTPField.Name("Prefer")!].map { $0.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "respond-async" } } ?? false
        if async {
            let status = try await mapped { try await publishing.start(id, by: viewer) }
            return try Self.json(
                status, status: .accepted,
                headers: [.location: "/api/v1/packs/\(id)/publish", HTTPField.Name("Preference-Applied")!: "respond-async"])
        }
        let version = try await mapped { try await publishing.publish(id, by: viewer) }
        return try Self.json(
            VersionResponse(
                pack: id, version: version.number, manifestSha256: version.manifestSha256 ?? "", fileCount: version.fileCount ?? 0,
                totalSize: version.totalSize ?? 0, publishedAt: version.publishedAt ?? Date()),
            status: .created)
    }

    /// `GET /packs/{id}/publish`: the pack's latest publish since the server started (makers).
    @Sendable func publishStatus(_ request: Request, context: AppRequestContext) async throws -> Response {
        let status = try await latestPublish(context)
        return try Self.json(status, status: .ok)
    }

    /// `GET /packs/{id}/publish/events`: Server-Sent Events (event "publish") with the status as it
    /// changes, until the version is published or the publish failed.
    @Sendable func publishEvents(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.rowId(of: "pack")
        _ = try await latestPublish(context)
        let publishing = self.publishing
        return ServerSentEvents.poll(event: "publish", every: .milliseconds(250)) {
            let status = publishing.status(pack: id) ?? .idle(pack: id)
            return (status, status.isFinished)
        }
    }

    private func latestPublish(_ context: AppRequestContext) async throws -> PackPublishing.PublishStatus {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        try await mapped { try await packs.requireMaker(id, viewer: viewer) }
        return publishing.status(pack: id) ?? .idle(pack: id)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    // MARK: - Downloads

    @Sendable func manifest(_ request: Request, context: AppRequestContext) async throws -> Response {
        let version = try await downloadable(context)
        guard let hash = version.manifestSha256 else { throw APIError.notFound("manifest") }
        return try await FileResponder().respond(
            store.path(of: hash), to: request, .init(contentType: "application/json; charset=utf-8", cacheControl: "private, max-age=31536000, immutable", etag: "\"\(hash)\""))
    }

    /// The whole version as one ZIP: `manifest.json` first, then every file, stored.
    @Sendable func zip(_ request: Request, context: AppRequestContext) async throws -> Response {
        let version = try await downloadable(context)
        guard let hash = version.manifestSha256, let manifestSize = version.manifestSize else { throw APIError.notFound("manifest") }
        let manifestObject = try await NIOThreadPool.singleton.runIfActive { [store] in try ObjectStore.digest(file: store.path(of: hash)) }
        let files = try await packs.files(versionId: version.id!)
        let entries = [ZipLayout.Entry(name: "manifest.json", size: manifestSize, crc32: manifestObject.crc32, source: store.path(of: hash))]
            + files.map { ZipLayout.Entry(name: $0.path, size: $0.size, crc32: $0.crc32, source: store.path(of: $0.sha256)) }
        let layout = ZipLayout(entries: entries, modified: version.publishedAt ?? version.createdAt)
        let name = "pack-\(version.packId)-v\(version.number).zip"
        var headers: HTTPFields = [
            .contentType: "application/zip", .acceptRanges: "bytes", .eTag: "\"\(hash)\"",
            .contentDisposition: "attachment; filename=\"\(name)\"", .cacheControl: "private, max-age=31536000, immutable",
        ]
        if let match = request.headers[.ifRange], match != "\"\(hash)\"" {
            // A resumed download of a different archive must start over (RFC 9110 §13.1.5).
            return Self.zipResponse(layout, range: nil, headers: headers, head: request.method == .head)
        }
        switch ByteRange(header: request.headers[.range], size: Int(layout.length)) {
        case .unsatisfiable:
            throw APIError(
                .rangeNotSatisfiable, "range_not_satisfiable", "the range starts past the archive's \(layout.length) bytes",
                headers: [.contentRange: "bytes */\(layout.length)"])
        case .partial(let range):
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(layout.length)"
            return Self.zipResponse(layout, range: Int64(range.lowerBound)...Int64(range.upperBound), headers: headers, head: request.method == .head)
        case .whole:
            return Self.zipResponse(layout, range: nil, headers: headers, head: request.method == .head)
        }
    }

    static func zipResponse(_ layout: ZipLayout, range: ClosedRange<Int64>?, headers: HTTPFields, head: Bool) -> Response {
        var headers = headers
        let span = range ?? 0...(layout.length - 1)
        headers[.contentLength] = "\(span.count)"
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        if head { return Response(status: status, headers: headers) }
        let body = ResponseBody(contentLength: span.count) { writer in
            for piece in layout.pieces(in: span) {
                switch piece {
                case .bytes(let bytes):
                    try await writer.write(ByteBuffer(bytes: bytes))
                case .file(let path, let offset, let length):
                    try await FileResponder.write(path: path, range: offset..<(offset + length), chunkSize: 1 << 20, to: &writer)
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// One file of a version by its path in the manifest.
    @Sendable func file(_ request: Request, context: AppRequestContext) async throws -> Response {
        let version = try await downloadable(context)
        // The router leaves path components percent-encoded (attachment names are often Chinese).
        let path = context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }.joined(separator: "/")
        guard PackManifest.isSafePath(path) else { throw APIError.notFound("file \(path) in this version") }
        guard let file = try await packs.file(versionId: version.id!, path: path) else {
            // A one-tier master, for native HLS players when someone picks a tier by hand.
            let folder = (path as NSString).deletingLastPathComponent
            if HLSNames.singleTier(of: (path as NSString).lastPathComponent) != nil,
                let master = try await packs.file(versionId: version.id!, path: "\(folder)/\(HLSNames.master)"),
                let response = FileResponder.singleTierMaster(named: (path as NSString).lastPathComponent, from: store.path(of: master.sha256))
            {
                return response
            }
            throw APIError.notFound("file \(path) in this version")
        }
        if let bucket, !MediaFiles.isPlaylist(path), await bucket.has(PackBucket.key(file.sha256)) {
            return try await bucket.respond(
                key: PackBucket.key(file.sha256), to: request, contentType: PackFiles.contentType(path),
                cacheControl: "private, max-age=31536000, immutable", headers: [.eTag: "\"\(file.sha256)\""])
        }
        return try await FileResponder().respond(
            store.path(of: file.sha256), to: request,
            .init(
                contentType: PackFiles.contentType(path), cacheControl: "private, max-age=31536000, immutable",
                etag: "\"\(file.sha256)\"", chunkSize: 1 << 20))
    }

    // MARK: - Helpers

    private func downloadable(_ context: AppRequestContext) async throws -> PackVersion {
        let viewer = try viewer(context)
        let id = try context.rowId(of: "pack")
        guard let number = context.parameters.get("number").flatMap(Int.init) else { throw APIError.notFound("version") }
        return try await mapped { try await packs.publishedVersion(id, number: number, for: viewer) }
    }

    private func viewer(_ context: AppRequestContext) throws -> Viewer {
        Viewer(try context.requirePerson())
    }


    /// Runs `body`, turning pack errors into API errors.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PackError {
            throw Self.apiError(error)
        }
    }

    static func apiError(_ error: PackError) -> APIError {
        switch error {
        case .notFound(let what): APIError.notFound(what)
        case .forbidden(let message): APIError(.forbidden, "forbidden", message)
        case .invalid(let message): APIError.badRequest(message)
        case .conflict(let message): APIError(.conflict, "conflict", message)
        case .gone(let message): APIError(.gone, "gone", message)
        case .storage(let message):
            message.contains(String(cString: strerror(ENOSPC)))
                ? APIError(.insufficientStorage, "disk_full", "the server's disk is full: \(message)")
                : APIError(.internalServerError, "storage_error", message)
        }
    }

    static func tooLarge(_ limit: Int64) -> APIError {
        APIError(.contentTooLarge, "too_large", "attachments are limited to \(limit >> 20) MB")
    }

    /// Streams a request body into a temporary file inside the store, then adopts it under its hash.
    private func receive(_ body: RequestBody) async throws -> ObjectStore.Object {
        let folder = "\(store.root)/incoming"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = "\(folder)/\(UUID().uuidString)"
        var digest = ObjectStore.Digest()
        do {
            try await FileSystem.shared.withFileHandle(
                forWritingAt: FilePath(temporary), options: .newFile(replaceExisting: false)
            ) { handle in
                var offset: Int64 = 0
                for try await buffer in body {
                    buffer.withUnsafeReadableBytes { digest.update($0) }
                    if digest.size > attachmentMaxSize { throw Self.tooLarge(attachmentMaxSize) }
                    try await handle.write(contentsOf: buffer, toAbsoluteOffset: offset)
                    offset += Int64(buffer.readableBytes)
                }
                try await handle.synchronize()
            }
            let object = digest.finish()
            try store.adopt(temporary, as: object)
            return object
        } catch let error as APIError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        } catch let error as FileSystemError where error.code == .resourceExhausted {
            try? FileManager.default.removeItem(atPath: temporary)
            throw APIError(.insufficientStorage, "disk_full", "the server's disk is full; the attachment was not kept")
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}

extension PackStore.PackView: ResponseEncodable {}
extension PackItem: ResponseEncodable {}
