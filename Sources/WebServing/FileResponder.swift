import CLinux
import Foundation
import HTTPTypes
import Hummingbird
import HLS
import _NIOFileSystem

/// Files on disk as HTTP responses, for every place that serves them — published media, pack
/// downloads and a school mirror's LAN site: `GET`/`HEAD`, `Range` and `If-Range` (RFC 9110 §14,
/// §13.1.5), validators (`ETag`, `Last-Modified`) and conditional requests (304), gzip for
/// compressible text when the client accepts it, cache lifetimes, and bodies streamed from disk in
/// chunks — or from the hot-file cache, when there is one.
public struct FileResponder: Sendable {
    /// Hot files kept in memory (media segments a synchronized course sends to every classroom).
    var cache: SegmentCache?

    public init(cache: SegmentCache? = nil) { self.cache = cache }

    /// How one file is to be served.
    public struct Options: Sendable {
        public var contentType: String
        public var cacheControl: String
        /// The validator; nil makes one from the file's size, modification time and inode.
        public var etag: String? = nil
        /// Small text (playlists) sent gzipped to clients that accept it.
        public var compressible = false
        public var headers: HTTPFields = [:]
        /// Bytes read from disk at a time: small for segments (memory per response), large for
        /// the multi-gigabyte files of packs (fewer round trips).
        public var chunkSize = 256 << 10

        public init(
            contentType: String, cacheControl: String, etag: String? = nil, compressible: Bool = false, headers: HTTPFields = [:],
            chunkSize: Int = 256 << 10
        ) {
            self.contentType = contentType
            self.cacheControl = cacheControl
            self.etag = etag
            self.compressible = compressible
            self.headers = headers
            self.chunkSize = chunkSize
        }
    }

    /// The file at `path` as `request` asks for it; 404 when there is no such regular file.
    public func respond(_ path: String, to request: Request, _ options: Options) async throws -> Response {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { throw APIError.notFound("file") }
        let size = Int(status.st_size)
        let modified = Date(timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec))
        let etag = options.etag ?? "\"\(size)-\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)-\(status.st_ino)\""
        let gzip = options.compressible && Self.acceptsGzip(request.headers[.acceptEncoding]) && request.headers[.range] == nil

        var headers = options.headers
        headers[.contentType] = options.contentType
        headers[.cacheControl] = options.cacheControl
        headers[.lastModified] = HTTPDate.format(modified)
        headers[.acceptRanges] = "bytes"
        if options.compressible { headers[.vary] = "Accept-Encoding" }
        headers[.eTag] = gzip ? "\"\(etag.dropFirst().dropLast())-gz\"" : etag
        if Self.notModified(request.headers, etag: headers[.eTag]!, modified: modified) {
            return Response(status: .notModified, headers: headers)
        }
        let isHead = request.method == .head
        if gzip {
            // Playlists are small (a few KB): read, compress, send.
            guard let data = FileManager.default.contents(atPath: path), let compressed = Self.gzip(data) else {
                throw APIError.notFound("file")
            }
            headers[.contentEncoding] = "gzip"
            headers[.contentLength] = "\(compressed.count)"
            return Response(status: .ok, headers: headers, body: isHead ? .init() : .init(byteBuffer: ByteBuffer(bytes: compressed)))
        }
        var cached: ByteBuffer?
        if let cache, !isHead {
            let key = SegmentCache.Key(path: path, modified: Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec))
            cached = cache.get(key)
            if cached == nil, cache.wants(size: size) {
                cached = try await Self.read(path, size: size)
                if let cached { cache.put(key, cached) }
            }
        }
        var range = ByteRange(header: request.headers[.range], size: size)
        // If-Range: the range holds only for the representation the client has (an ETag, or the
        // exact Last-Modified date); otherwise the whole file.
        if let ifRange = request.headers[.ifRange], ifRange != etag, ifRange != headers[.lastModified] { range = .whole }
        switch range {
        case .unsatisfiable:
            throw APIError(
                .rangeNotSatisfiable, "range_not_satisfiable", "the range starts past the file's \(size) bytes",
                headers: [.contentRange: "bytes */\(size)"])
        case .partial(let span):
            headers[.contentRange] = "bytes \(span.lowerBound)-\(span.upperBound)/\(size)"
            headers[.contentLength] = "\(span.count)"
            let body: ResponseBody =
                if isHead { ResponseBody() } else if let cached {
                    ResponseBody(byteBuffer: cached.getSlice(at: cached.readerIndex + span.lowerBound, length: span.count)!)
                } else { Self.stream(path, range: span, chunkSize: options.chunkSize) }
            return Response(status: .partialContent, headers: headers, body: body)
        case .whole:
            headers[.contentLength] = "\(size)"
            let body: ResponseBody =
                if isHead || size == 0 { ResponseBody() } else if let cached { ResponseBody(byteBuffer: cached) } else {
                    Self.stream(path, range: 0...(size - 1), chunkSize: options.chunkSize)
                }
            return Response(status: .ok, headers: headers, body: body)
        }
    }

    /// A one-tier master (`master-360p.m3u8`) made from the master playlist at `masterPath`: what a
    /// player with native HLS, which picks variants itself, is given when someone chooses a tier
    /// by hand. Nil when `name` is not such a name or the master has no such tier.
    public static func singleTierMaster(named name: String, from masterPath: String, headers extra: HTTPFields = [:]) -> Response? {
        guard let tier = HLSNames.singleTier(of: name), let data = FileManager.default.contents(atPath: masterPath),
            let playlist = HLSPlaylist.singleTierMaster(String(decoding: data, as: UTF8.self), tier: tier)
        else { return nil }
        var headers = extra
        headers[.contentType] = MediaFiles.contentType(name)
        headers[.cacheControl] = MediaFiles.cacheControl(name)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: playlist)))
    }

    /// The file's bytes in `range`, read in chunks through NIOFileSystem as the socket takes them:
    /// memory per response stays one chunk, whatever the file's size. (The file was stat'ed
    /// already, so unlike `FileIO.loadFile` this does not ask the thread pool again.)
    static func stream(_ path: String, range: ClosedRange<Int>, chunkSize: Int = 256 << 10) -> ResponseBody {
        ResponseBody(contentLength: range.count) { writer in
            try await write(path: path, range: Int64(range.lowerBound)..<Int64(range.upperBound + 1), chunkSize: chunkSize, to: &writer)
            try await writer.finish(nil)
        }
    }

    /// Copies `range` of a file to a response, a chunk at a time as the socket takes them.
    public static func write(path: String, range: Range<Int64>, chunkSize: Int, to writer: inout any ResponseBodyWriter) async throws {
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
            for try await chunk in handle.readChunks(in: range, chunkLength: .bytes(Int64(chunkSize))) {
                try await writer.write(chunk)
            }
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
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    public static func parse(_ text: String) -> Date? {
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

