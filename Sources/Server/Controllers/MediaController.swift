import WebServing
import HLS
import CLinux
import Catalog
import Delivery
import Foundation
import GRDB
import Hummingbird
import Media
import Synchronization
import _NIOFileSystem

/// Serves published HLS files: `GET`/`HEAD /media/{recording}/{version}/{token}/…`.
///
/// The token in the path is the permission (players cannot send headers); files come from
/// `storage/media/<recording>/<version>/`, streamed from disk in chunks (NIOFileSystem), with `Range`, validators (`ETag`, `Last-Modified`) and conditional requests, and
/// cache lifetimes that let a school's proxy or mirror keep segments for good.
struct MediaController {
    let signer: PlaybackSigner
    let mediaRoot: String
    /// With the hot-segment cache.
    let files: FileResponder
    let liveness: RecordingLiveness

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(":recording/:version/:token/**", use: serve)
        routes.head(":recording/:version/:token/**", use: serve)
        return routes
    }

    @Sendable func serve(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let recordingText = context.parameters.get("recording"), let recordingId = Int64(recordingText), recordingId > 0,
            let version = context.parameters.get("version"), MediaFiles.isVersion(version),
            let token = context.parameters.get("token")
        else { throw APIError.notFound("media file") }
        switch signer.check(token, recordingId: recordingId) {
        case .valid: break
        case .expired: throw APIError(.forbidden, "expired_token", "this playback link has expired; open the lesson again")
        case .invalid: throw APIError(.forbidden, "invalid_token", "this playback link is not valid for this recording")
        }
        guard let relative = MediaFiles.relativePath(context.parameters.getCatchAll().map(String.init)),
            try await liveness.isLive(recordingId)
        else {
            throw APIError.notFound("media file")
        }
        let folder = "\(mediaRoot)/\(recordingId)/\(version)"
        let cors: HTTPFields = [.accessControlAllowOrigin: "*"]
        if HLSNames.singleTier(of: relative) != nil {
            guard let response = FileResponder.singleTierMaster(named: relative, from: "\(folder)/\(HLSNames.master)", headers: cors) else {
                throw APIError.notFound("media file")
            }
            return response
        }
        do {
            return try await files.respond(
                "\(folder)/\(relative)", to: request,
                .init(
                    contentType: MediaFiles.contentType(relative), cacheControl: MediaFiles.cacheControl(relative),
                    compressible: MediaFiles.isPlaylist(relative), headers: cors))
        } catch let error as APIError where error.status == .notFound {
            throw APIError.notFound("media file")
        }
    }
}

/// Whether a recording still exists (not deleted), remembered for a few seconds: a link issued
/// before a deletion stops working at once rather than at its expiry, without a database read
/// for every segment of every classroom.
final class RecordingLiveness: Sendable {
    let database: AppDatabase
    let memory: TimeInterval
    private let known = Mutex([Int64: (live: Bool, checked: Date)]())

    init(database: AppDatabase, memory: TimeInterval = 5) {
        self.database = database
        self.memory = memory
    }

    func isLive(_ id: Int64, now: Date = Date()) async throws -> Bool {
        if let entry = known.withLock({ $0[id] }), now.timeIntervalSince(entry.checked) < memory { return entry.live }
        let live = try await RecordingStore(database: database).isLive(id)
        known.withLock { known in
            if known.count > 10_000 { known.removeAll() }
            known[id] = (live, now)
        }
        return live
    }
}
