import CLinux
import Catalog
import Delivery
import Foundation
import GRDB
import Hummingbird
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
    let cache: SegmentCache
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
        if let tier = MediaFiles.singleTier(relative) {
            return try singleTierMaster(tier, at: "\(mediaRoot)/\(recordingId)/\(version)/master.m3u8")
        }
        let path = "\(mediaRoot)/\(recordingId)/\(version)/\(relative)"
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { throw APIError.notFound("media file") }
        let size = Int(status.st_size)
        let modified = Date(timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec))
        let etag = "\"\(size)-\(status.st_mtim.tv_sec)\(status.st_mtim.tv_nsec)\""

        var headers: HTTPFields = [
            .contentType: MediaFiles.contentType(relative),
            .cacheControl: MediaFiles.cacheControl(relative),
            .lastModified: HTTPDate.format(modified),
            .acceptRanges: "bytes",
            .accessControlAllowOrigin: "*",
        ]
        let gzip = MediaFiles.isPlaylist(relative) && Self.acceptsGzip(request.headers[.acceptEncoding])
        if MediaFiles.isPlaylist(relative) { headers[.vary] = "Accept-Encoding" }
        headers[.eTag] = gzip ? "\"\(etag.dropFirst().dropLast())-gz\"" : etag

        if Self.notModified(request.headers, etag: headers[.eTag]!, modified: modified) {
            return Response(status: .notModified, headers: headers)
        }
        let isHead = request.method == .head
        if gzip {
            // Playlists are small (a few KB): read, compress, send.
            guard let data = FileManager.default.contents(atPath: path), let compressed = Self.gzip(data) else {
                throw APIError.notFound("media file")
            }
            headers[.contentEncoding] = "gzip"
            headers[.contentLength] = "\(compressed.count)"
            return Response(status: .ok, headers: headers, body: isHead ? .init() : .init(byteBuffer: ByteBuffer(bytes: compressed)))
        }
        let key = SegmentCache.Key(path: path, modified: Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec))
        var cached = isHead ? nil : cache.get(key)
        if cached == nil, !isHead, cache.wants(size: size) {
            cached = try await Self.read(path, size: size)
            if let cached { cache.put(key, cached) }
        }
        switch ByteRange(header: request.headers[.range], size: size) {
        case .unsatisfiable:
            throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "the range starts past the file's \(size) bytes", headers: [.contentRange: "bytes */\(size)"])
        case .partial(let range):
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            headers[.contentLength] = "\(range.count)"
            let body: ResponseBody =
                if isHead { ResponseBody() } else if let cached {
                    ResponseBody(byteBuffer: cached.getSlice(at: cached.readerIndex + range.lowerBound, length: range.count)!)
                } else { Self.stream(path, range: range) }
            return Response(status: .partialContent, headers: headers, body: body)
        case .whole:
            headers[.contentLength] = "\(size)"
            let body: ResponseBody =
                if isHead || size == 0 { ResponseBody() } else if let cached { ResponseBody(byteBuffer: cached) } else {
                    Self.stream(path, range: 0...(size - 1))
                }
            return Response(status: .ok, headers: headers, body: body)
        }
    }

    private func singleTierMaster(_ tier: String, at path: String) throws -> Response {
        guard let data = FileManager.default.contents(atPath: path),
            let playlist = MediaFiles.singleTierMaster(String(decoding: data, as: UTF8.self), tier: tier)
        else { throw APIError.notFound("media file") }
        return Response(
            status: .ok,
            headers: [
                .contentType: MediaFiles.contentType(path), .cacheControl: MediaFiles.cacheControl(path), .accessControlAllowOrigin: "*",
            ],
            body: .init(byteBuffer: ByteBuffer(string: playlist)))
    }

    /// The file's bytes in `range`, read in 256 KiB chunks through NIOFileSystem as the socket takes
    /// them: memory per response stays one chunk, whatever the segment's size. (The file was
    /// stat'ed already, so unlike `FileIO.loadFile` this does not ask the thread pool again.)
    static func stream(_ path: String, range: ClosedRange<Int>) -> ResponseBody {
        ResponseBody(contentLength: range.count) { writer in
            try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
                let span = Int64(range.lowerBound)..<Int64(range.upperBound + 1)
                for try await chunk in handle.readChunks(in: span, chunkLength: .kibibytes(256)) {
                    try await writer.write(chunk)
                }
            }
            try await writer.finish(nil)
        }
    }

    /// The whole file, for the cache; nil if it changed size under us (then it is streamed).
    static func read(_ path: String, size: Int) async throws -> ByteBuffer? {
        let buffer = try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
            try await handle.readToEnd(maximumSizeAllowed: .bytes(Int64(size)))
        }
        return buffer.readableBytes == size ? buffer : nil
    }

    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { part in
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.first?.lowercased() == "gzip" else { return false }
            return !fields.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "") == "q=0" }
        }
    }

    /// RFC 9110 §13.1: If-None-Match wins over If-Modified-Since.
    static func notModified(_ headers: HTTPFields, etag: String, modified: Date) -> Bool {
        if let match = headers[.ifNoneMatch] {
            return match.split(separator: ",").contains { candidate in
                let tag = candidate.trimmingCharacters(in: .whitespaces)
                return tag == "*" || tag == etag || tag == "W/\(etag)"
            }
        }
        if let since = headers[.ifModifiedSince], let date = HTTPDate.parse(since) {
            return modified.timeIntervalSince1970.rounded(.down) <= date.timeIntervalSince1970
        }
        return false
    }

    static func gzip(_ data: Data) -> Data? {
        let capacity = Int(lessonlink_gzip_bound(UInt(data.count)))
        var output = [UInt8](repeating: 0, count: capacity)
        let written = data.withUnsafeBytes { input in
            output.withUnsafeMutableBufferPointer { buffer in
                lessonlink_gzip(
                    input.bindMemory(to: UInt8.self).baseAddress, UInt(data.count), buffer.baseAddress, UInt(capacity))
            }
        }
        return written == 0 ? nil : Data(output.prefix(Int(written)))
    }
}

/// HTTP dates (RFC 9110 §5.6.7, IMF-fixdate), formatted with `gmtime_r`: this runs for every
/// segment request, and Foundation's formatters cost more than the rest of the headers together.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    static func parse(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT", let day = Int32(fields[1]),
            let month = months.firstIndex(of: String(fields[2])), let year = Int32(fields[3])
        else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3 else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = Int32(month)
        parts.tm_mday = day
        parts.tm_hour = clock[0]
        parts.tm_min = clock[1]
        parts.tm_sec = clock[2]
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
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
