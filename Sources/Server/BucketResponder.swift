import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectStorage
import Synchronization
import WebServing

/// Answers for files whose bytes are in the object store (`storage.media: s3`): a redirect to a
/// presigned link, so the store or a CDN in front of it sends the bytes, or — `links: proxied`,
/// for a store players cannot reach — the server fetches the object and passes it on, `Range`
/// and validators included.
struct BucketResponder: Sendable {
    let bucket: S3Bucket
    let presigned: Bool
    /// How long a link stays usable: a playback link's lifetime (S3 allows at most 7 days).
    let lifetime: TimeInterval
    /// Keys seen in the store: objects are immutable, so once there, always there.
    let known = KnownKeys()

    final class KnownKeys: Sendable {
        let keys = Mutex(Set<String>())
    }

    /// Whether the store has `key` (asked once per key while it is there; a store that does not
    /// answer counts as not having it, so the caller falls back to its own copy).
    func has(_ key: String) async -> Bool {
        if known.keys.withLock({ $0.contains(key) }) { return true }
        guard (try? await bucket.head(key: key)) != nil else { return false }
        known.keys.withLock { keys in
            if keys.count > 100_000 { keys.removeAll() }
            keys.insert(key)
        }
        return true
    }

    /// A presigned link to `key`. Signed as of the start of the hour, so every request within the
    /// hour gets the same URL and browsers and CDNs cache the object once.
    func link(_ key: String, now: Date = Date()) -> String {
        let hour = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        let expires = Int(min(lifetime + 3600, 604_800))
        return bucket.presignedURL(key: key, expires: expires, date: hour).absoluteString
    }

    func respond(key: String, to request: Request, contentType: String, cacheControl: String, headers: HTTPFields = [:]) async throws -> Response {
        if presigned {
            var fields = headers
            fields[.location] = link(key)
            // The link changes every hour: a redirect is remembered for a short while only.
            fields[.cacheControl] = "private, max-age=600"
            return Response(status: .found, headers: fields)
        }
        var forward: [(String, String)] = []
        if let ours = headers[.eTag] {
            // Our validator (a SHA-256), not the store's: the object never changes, so a range
            // asked of our version is good, and one asked of another is answered whole.
            if let range = request.headers[.range], request.headers[.ifRange].map({ $0 == ours }) ?? true {
                forward.append(("Range", range))
            }
        } else {
            for name in [HTTPField.Name.range, .ifNoneMatch, .ifModifiedSince, .ifRange] {
                if let value = request.headers[name] { forward.append((name.rawName, value)) }
            }
        }
        let head = request.method == .head
        let answer: HTTPClientResponse
        do {
            answer = try await bucket.stream(key: key, headers: forward, head: head)
        } catch where error.isNotFound {
            throw APIError.notFound("file")
        } catch {
            throw APIError(.badGateway, "storage_unavailable", "the media store did not answer; try again shortly")
        }
        var fields = headers
        fields[.contentType] = contentType
        fields[.cacheControl] = cacheControl
        fields[.acceptRanges] = "bytes"
        for (name, value) in answer.headers.map({ ($0.name, $0.value) }) where ["content-length", "content-range", "etag", "last-modified"].contains(name.lowercased()) {
            if let field = HTTPField.Name(name), headers[field] == nil { fields[field] = value }
        }
        let status = HTTPResponse.Status(code: Int(answer.status.code))
        if status == .rangeNotSatisfiable {
            var problem = APIError(.rangeNotSatisfiable, "range_not_satisfiable", "the range lies outside the file")
            if let range = answer.headers.first(name: "Content-Range") { problem.headers[.contentRange] = range }
            throw problem
        }
        guard !head, status != .notModified else { return Response(status: status, headers: fields) }
        let body = answer.body
        return Response(
            status: status, headers: fields,
            body: ResponseBody { writer in
                for try await buffer in body { try await writer.write(buffer) }
                try await writer.finish(nil)
            })
    }
}
