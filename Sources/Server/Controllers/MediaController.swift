import WebServing
import HLS
import CLinux
import Catalog
import Delivery
import Foundation
import GRDB
import Hummingbird
import Media
import Transcoding
import Synchronization
import _NIOFileSystem

/// Serves published HLS files: `GET`/`HEAD /media/{recording}/{version}/{token}/…`.
///
/// The token in the path is the permission (players cannot send headers); files come from
/// `storage/media/<recording>/<version>/`, streamed from disk in chunks (NIOFileSystem), with `Range`, validators (`ETag`, `Last-Modified`) and conditional requests, and
/// cache lifetimes that let a school's proxy or mirror keep segments for good.
///
/// With media in an object store, the version folder holds only the playlists and poster: a
/// segment or init segment not on disk is answered by `bucket` (a presigned redirect, or proxied),
/// and with presigned links each media playlist is rewritten to name its segments by their
/// presigned URLs, so players fetch them from the store (or its CDN) without a redirect each.
struct MediaController {
    let signer: PlaybackSigner
    let mediaRoot: String
    /// With the hot-segment cache.
    let files: FileResponder
    let liveness: RecordingLiveness
    var bucket: BucketResponder? = nil

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
        if let bucket, !MediaLayout.keptLocally(relative), !FileManager.default.fileExists(atPath: "\(folder)/\(relative)") {
            return try await bucket.respond(
                key: "\(MediaLayout.bucketPrefix(recordingId, version))/\(relative)", to: request,
                contentType: MediaFiles.contentType(relative), cacheControl: MediaFiles.cacheControl(relative), headers: cors)
        }
        if let bucket, bucket.presigned, MediaFiles.isPlaylist(relative),
            let text = try? String(contentsOfFile: "\(folder)/\(relative)", encoding: .utf8)
        {
            return Self.pointed(text, at: relative, in: folder, prefix: MediaLayout.bucketPrefix(recordingId, version), bucket: bucket, headers: cors)
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

extension MediaController {
    /// A media playlist whose segments and init segment are named by presigned links into the
    /// store — unless the version's files are on this disk (published before the store was
    /// configured, or fetched back for a pack), when the playlist is served as it is.
    static func pointed(_ text: String, at relative: String, in folder: String, prefix: String, bucket: BucketResponder, headers: HTTPFields) -> Response {
        let tierFolder = (relative as NSString).deletingLastPathComponent
        let now = Date()
        var local: Bool?
        let body = HLSPlaylist.mapURIs(text) { uri in
            guard !uri.hasSuffix(".m3u8"), !uri.contains("://") else { return uri }
            let path = tierFolder.isEmpty ? uri : "\(tierFolder)/\(uri)"
            if local == nil { local = FileManager.default.fileExists(atPath: "\(folder)/\(path)") }
            return local == true ? uri : bucket.link("\(prefix)/\(path)", now: now)
        }
        var fields = headers
        fields[.contentType] = MediaFiles.contentType(relative)
        // The links in it are good for the playback link's lifetime; a minute is safe to keep.
        fields[.cacheControl] = "private, max-age=60"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
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
