import WebServing
import Delivery
import Foundation
import HLS
import Hummingbird
import Sessions

/// A live session's source: `GET /api/v1/sync-sessions/{id}/live` (the state, the playback
/// link, and for hosts the publish URLs), and the live HLS itself under
/// `/live/{session}/{token}/…`, signed like recordings' media.
struct LiveController {
    let store: SyncSessionStore
    let relay: LiveRelay
    let signer: PlaybackSigner
    let playbackLifetime: TimeInterval
    let files: FileResponder
    let publicHost: String?
    let srtLatency: Int

    var apiRoutes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(":id/live", use: status)
        return routes
    }

    var mediaRoutes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(":session/:token/**", use: serve)
        routes.head(":session/:token/**", use: serve)
        return routes
    }

    struct Publishing: Encodable {
        var rtmpUrl: String?
        var streamKey: String
        var srtUrl: String?
        var srtPassphrase: String
        /// What a recording host or OBS should be set to.
        var advice: String
    }

    struct Playback: Encodable {
        var url: String
        var expiresAt: Date
    }

    struct Archive: Encodable {
        var state: LiveSource.ArchiveState?
        var recordingId: Int64?
        var failure: String?
    }

    struct View: ResponseEncodable {
        var sessionId: Int64
        var source: LiveRelay.SourceStatus
        var publishes: Int
        var lastPublishAt: Date?
        var playback: Playback
        /// Hosts only: a secret.
        var publishing: Publishing?
        var archive: Archive
    }

    @Sendable func status(_ request: Request, context: AppRequestContext) async throws -> View {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "session")
        let (_, source, mayHost) = try await SyncSessionsController.refusing { try await store.liveSource(id, for: person) }
        let expires = Date().addingTimeInterval(playbackLifetime)
        var publishing: Publishing?
        if mayHost {
            let host = publicHost ?? Self.host(of: request) ?? "127.0.0.1"
            let rtmp = await relay.rtmpPort
            publishing = Publishing(
                rtmpUrl: rtmp.map { "rtmp://\(host):\($0)/live/\(source.streamKey)" }, streamKey: source.streamKey,
                srtUrl: source.srtPort.map {
                    "srt://\(host):\($0)?mode=caller&latency=\(srtLatency * 1000)&passphrase=\(source.srtPassphrase)&pbkeylen=16"
                },
                srtPassphrase: source.srtPassphrase,
                advice: "H.264（High/Main）不超过 1080p，每 2 秒一个关键帧，AAC 声音；网络差时用 SRT。")
        }
        return View(
            sessionId: id, source: await relay.status(of: id), publishes: source.publishes, lastPublishAt: source.lastPublishAt,
            playback: Playback(url: "/live/\(id)/\(signer.token(liveSession: id, expires: expires))/\(HLSNames.master)", expiresAt: expires),
            publishing: publishing,
            archive: Archive(state: source.archiveState, recordingId: source.recordingId, failure: source.archiveFailure))
    }

    /// The host part of the request's authority, without the port.
    static func host(of request: Request) -> String? {
        guard let authority = request.head.authority else { return nil }
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") { return String(authority[...end]) }
        return authority.split(separator: ":").first.map(String.init)
    }

    @Sendable func serve(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let text = context.parameters.get("session"), let id = Int64(text), id > 0, let token = context.parameters.get("token") else {
            throw APIError.notFound("live file")
        }
        switch signer.check(token, liveSession: id) {
        case .valid: break
        case .expired: throw APIError(.forbidden, "expired_token", "this live link has expired; open the session again")
        case .invalid: throw APIError(.forbidden, "invalid_token", "this live link is not valid for this session")
        }
        guard let relative = LiveNames.servedPath(context.parameters.getCatchAll().map(String.init)) else {
            throw APIError.notFound("live file")
        }
        let isPlaylist = MediaFiles.isPlaylist(relative)
        do {
            return try await files.respond(
                "\(relay.folder(id))/\(relative)", to: request,
                .init(
                    contentType: MediaFiles.contentType(relative),
                    // A live playlist changes every segment; a segment never does.
                    cacheControl: isPlaylist ? "no-cache" : "public, max-age=31536000, immutable", compressible: isPlaylist,
                    headers: [.accessControlAllowOrigin: "*"]))
        } catch let error as APIError where error.status == .notFound {
            throw APIError.notFound("live file")
        }
    }
}
