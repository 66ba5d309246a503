public import AsyncHTTPClient
import Crypto
public import Foundation
public import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Why a call to the object store did not succeed.
public enum S3Error: Error, CustomStringConvertible, Sendable {
    /// The store answered with an error status: its S3 error code (`NoSuchKey`, `AccessDenied`…)
    /// and message when the body had them.
    case refused(status: Int, code: String, message: String)
    /// No answer, or the answer was cut.
    case network(String)
    /// A local file could not be read or written.
    case local(String)

    public var description: String {
        switch self {
        case .refused(let status, let code, let message): "the object store answered \(status) \(code): \(message)"
        case .network(let why): "the object store cannot be reached: \(why)"
        case .local(let why): why
        }
    }

    /// Whether the object simply is not there.
    public var isNotFound: Bool {
        if case .refused(404, _, _) = self { return true }
        return false
    }
}

/// Where a bucket is and who may use it: `storage.s3.*` in the configuration.
public struct S3Location: Sendable, Equatable {
    /// The store's address as this server reaches it (`http://127.0.0.1:9000`, `https://oss-cn-…`).
    public var endpoint: URL
    public var bucket: String
    public var region: String
    public var credentials: SignatureV4.Credentials
    /// `endpoint/bucket/key` (MinIO, moto, most self-hosted stores) rather than `bucket.endpoint/key`.
    public var pathStyle: Bool
    /// The address players and mirrors use for presigned links, when it is not `endpoint` (a CDN
    /// in front of the bucket, or the store's public name while the server uses an inside one).
    public var publicEndpoint: URL?

    public init(
        endpoint: URL, bucket: String, region: String, credentials: SignatureV4.Credentials, pathStyle: Bool = true,
        publicEndpoint: URL? = nil
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
        self.pathStyle = pathStyle
        self.publicEndpoint = publicEndpoint
    }

    /// The object's URL below `base`. Keys are `/`-separated names of letters, digits and `._-`
    /// here, but anything else is percent-encoded once, as Signature V4 expects.
    public func url(of key: String, base: URL? = nil) -> URL {
        let base = base ?? endpoint
        var components = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        let encodedKey = key.split(separator: "/", omittingEmptySubsequences: false).map { SignatureV4.encode(String($0)) }
            .joined(separator: "/")
        let prefix = components.percentEncodedPath.hasSuffix("/") ? String(components.percentEncodedPath.dropLast()) : components.percentEncodedPath
        if pathStyle {
            components.percentEncodedPath = "\(prefix)/\(SignatureV4.encode(bucket))/\(encodedKey)"
        } else {
            components.host = "\(bucket).\(components.host ?? "")"
            components.percentEncodedPath = "\(prefix)/\(encodedKey)"
        }
        components.percentEncodedQuery = nil
        return components.url!
    }
}

/// An S3 bucket over plain HTTP: objects put whole or in parts, read whole or by range, listed,
/// deleted, and presigned for players. Every request is signed with Signature V4; bodies sent are
/// hashed into the signature, so a byte changed on the way is refused by the store.
///
/// Works with AWS S3 and the S3-compatible stores counties and provinces run (MinIO, Ceph, the
/// clouds' object storage); tested against moto's server.
public struct S3Bucket: Sendable {
    public let location: S3Location
    /// Files at least this big go up in parts of this size (S3's minimum part is 5 MiB).
    public let partSize: Int
    let signer: SignatureV4

    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(120)), decompression: .disabled))

    public init(location: S3Location, partSize: Int = 8 << 20) {
        self.location = location
        self.partSize = max(5 << 20, partSize)
        signer = SignatureV4(credentials: location.credentials, region: location.region)
    }

    // MARK: - Writing

    /// Stores the file at `path` under `key`: one `PUT` when smaller than `partSize`, else a
    /// multipart upload (aborted if any part fails, so no half object and no orphaned parts).
    public func put(file path: String, key: String, contentType: String? = nil) async throws(S3Error) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .local("cannot read \(path)") }
        defer { try? handle.close() }
        let size: UInt64
        do { size = try handle.seekToEnd(); try handle.seek(toOffset: 0) } catch { throw .local("cannot read \(path): \(error)") }
        if size < UInt64(partSize) {
            let data: Data
            do { data = try handle.readToEnd() ?? Data() } catch { throw .local("cannot read \(path): \(error)") }
            try await put(data: data, key: key, contentType: contentType)
            return
        }
        let uploadId = try await startMultipart(key: key, contentType: contentType)
        do throws(S3Error) {
            var parts: [(number: Int, etag: String)] = []
            var number = 1
            while true {
                let chunk: Data
                do { chunk = try handle.read(upToCount: partSize) ?? Data() } catch { throw S3Error.local("cannot read \(path): \(error)") }
                if chunk.isEmpty { break }
                let query = "partNumber=\(number)&uploadId=\(SignatureV4.encode(uploadId))"
                let response = try await call(.PUT, key: key, query: query, body: chunk)
                guard let etag = response.headers.first(name: "ETag") else {
                    throw S3Error.refused(status: 502, code: "NoETag", message: "part \(number) was stored without an ETag")
                }
                parts.append((number, etag))
                number += 1
            }
            let list = parts.map { "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(XMLText.escape($0.etag))</ETag></Part>" }.joined()
            let body = Data("<CompleteMultipartUpload>\(list)</CompleteMultipartUpload>".utf8)
            let response = try await call(.POST, key: key, query: "uploadId=\(SignatureV4.encode(uploadId))", body: body)
            // S3 may answer 200 and put the failure in the body.
            if let code = XMLText.first("Code", in: response.body) {
                throw S3Error.refused(status: 500, code: code, message: XMLText.first("Message", in: response.body) ?? "")
            }
        } catch {
            _ = try? await call(.DELETE, key: key, query: "uploadId=\(SignatureV4.encode(uploadId))")
            throw error
        }
    }

    /// Stores `data` under `key` in one `PUT`.
    public func put(data: Data, key: String, contentType: String? = nil) async throws(S3Error) {
        var headers: [(String, String)] = []
        if let contentType { headers.append(("Content-Type", contentType)) }
        _ = try await call(.PUT, key: key, headers: headers, body: data)
    }

    func startMultipart(key: String, contentType: String?) async throws(S3Error) -> String {
        var headers: [(String, String)] = []
        if let contentType { headers.append(("Content-Type", contentType)) }
        let response = try await call(.POST, key: key, query: "uploads=", headers: headers)
        guard let id = XMLText.first("UploadId", in: response.body) else {
            throw .refused(status: 502, code: "NoUploadId", message: "the store started a multipart upload without an UploadId")
        }
        return id
    }

    /// Makes the bucket; one this account has already is fine.
    public func create() async throws(S3Error) {
        do {
            _ = try await call(.PUT, key: "")
        } catch {
            guard case .refused(409, "BucketAlreadyOwnedByYou", _) = error else { throw error }
        }
    }

    /// Multipart uploads begun and neither completed nor aborted (their parts cost storage).
    public func unfinishedUploads() async throws(S3Error) -> [(key: String, uploadId: String)] {
        let response = try await call(.GET, key: "", query: "uploads=")
        return XMLText.all("Upload", in: String(buffer: response.body), raw: true).compactMap { upload in
            guard let key = XMLText.first("Key", in: upload), let id = XMLText.first("UploadId", in: upload) else { return nil }
            return (key, id)
        }
    }

    public func delete(key: String) async throws(S3Error) {
        _ = try await call(.DELETE, key: key)
    }

    // MARK: - Reading

    /// The object's size and ETag, or nil when there is no such object.
    public func head(key: String) async throws(S3Error) -> (size: Int64, etag: String)? {
        do {
            let response = try await call(.HEAD, key: key)
            let size = response.headers.first(name: "Content-Length").flatMap(Int64.init) ?? 0
            return (size, response.headers.first(name: "ETag") ?? "")
        } catch where error.isNotFound {
            return nil
        }
    }

    /// The whole object in memory (playlists, manifests); nil when there is no such object.
    public func data(key: String, limit: Int = 16 << 20) async throws(S3Error) -> Data? {
        do {
            return Data(buffer: try await call(.GET, key: key, limit: limit).body)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// An object's answer as it streams, for proxying to a player: status (200, 206, 304, 416),
    /// headers and body (none for `head`). `headers` are passed on (`Range`, `If-None-Match`…).
    public func stream(key: String, headers: [(String, String)], head: Bool = false) async throws(S3Error) -> HTTPClientResponse {
        let request = signed(head ? .HEAD : .GET, key: key, query: nil, headers: headers, payloadHash: SignatureV4.emptyPayload)
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(request, timeout: .hours(2))
        } catch {
            throw .network("\(error)")
        }
        if response.status.code >= 400, response.status.code != 416 {
            let body = head ? ByteBuffer() : (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            throw Self.refusal(status: Int(response.status.code), body: body)
        }
        return response
    }

    /// Copies the object to `path` (written aside, then renamed into place).
    public func download(key: String, to path: String) async throws(S3Error) {
        let temporary = "\(path).part-\(UUID().uuidString)"
        let response = try await stream(key: key, headers: [])
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw .local("cannot write \(temporary)")
        }
        do {
            for try await buffer in response.body { try handle.write(contentsOf: Data(buffer: buffer)) }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw .network("\(error)")
        }
        if rename(temporary, path) != 0 {
            try? FileManager.default.removeItem(atPath: temporary)
            throw .local("cannot move the download to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Every object below `prefix` (ListObjectsV2, page after page), key and size.
    public func list(prefix: String) async throws(S3Error) -> [(key: String, size: Int64)] {
        var found: [(key: String, size: Int64)] = []
        var continuation: String?
        repeat {
            var query = "list-type=2&prefix=\(SignatureV4.encode(prefix))"
            if let continuation { query += "&continuation-token=\(SignatureV4.encode(continuation))" }
            let response = try await call(.GET, key: "", query: query)
            for contents in XMLText.all("Contents", in: String(buffer: response.body), raw: true) {
                guard let key = XMLText.first("Key", in: contents) else { continue }
                found.append((key, XMLText.first("Size", in: contents).flatMap(Int64.init) ?? 0))
            }
            continuation = XMLText.first("IsTruncated", in: response.body) == "true"
                ? XMLText.first("NextContinuationToken", in: response.body) : nil
        } while continuation != nil
        return found
    }

    /// A link anyone may `GET` the object with, until `expires` seconds after `date`, through the
    /// public endpoint when one is set.
    public func presignedURL(key: String, expires: Int, date: Date = Date()) -> URL {
        signer.presign(url: location.url(of: key, base: location.publicEndpoint), expires: expires, date: date)
    }

    // MARK: - Requests

    struct Answer {
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    func signed(_ method: HTTPMethod, key: String, query: String?, headers: [(String, String)], payloadHash: String) -> HTTPClientRequest {
        var url = location.url(of: key)
        if let query, var components = URLComponents(url: url, resolvingAgainstBaseURL: false) {
            components.percentEncodedQuery = query
            url = components.url!
        }
        var all = headers
        all.append(("Host", SignatureV4.hostHeader(url)))
        all.append(("x-amz-content-sha256", payloadHash))
        let authorization = signer.sign(method: method.rawValue, url: url, headers: all, payloadHash: payloadHash, date: Date())
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (name, value) in all where name != "Host" { request.headers.add(name: name, value: value) }
        for (name, value) in authorization { request.headers.add(name: name, value: value) }
        return request
    }

    /// One signed request whose whole answer is read; an error status throws `.refused` with the
    /// store's code and message.
    func call(
        _ method: HTTPMethod, key: String, query: String? = nil, headers: [(String, String)] = [], body: Data? = nil,
        limit: Int = 16 << 20
    ) async throws(S3Error) -> Answer {
        let payloadHash = body.map { SignatureV4.hex(SHA256.hash(data: $0)) } ?? SignatureV4.emptyPayload
        var request = signed(method, key: key, query: query, headers: headers, payloadHash: payloadHash)
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
            request.headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
        }
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await Self.client.execute(request, timeout: .minutes(10))
            data = method == .HEAD ? ByteBuffer() : try await response.body.collect(upTo: limit)
        } catch {
            throw .network("\(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            throw Self.refusal(status: Int(response.status.code), body: data)
        }
        return Answer(headers: response.headers, body: data)
    }

    static func refusal(status: Int, body: ByteBuffer) -> S3Error {
        let code = XMLText.first("Code", in: body) ?? (status == 404 ? "NoSuchKey" : "HTTP\(status)")
        return .refused(status: status, code: code, message: XMLText.first("Message", in: body) ?? String(buffer: body).prefix(200).description)
    }
}

/// The few values read out of S3's XML answers (`UploadId`, `Key`, `Code`…): elements without
/// attributes, found by name. A whole XML parser is not needed for them.
enum XMLText {
    static func all(_ element: String, in buffer: ByteBuffer) -> [String] {
        all(element, in: String(buffer: buffer))
    }

    /// Each element's text; `raw` keeps entities as they are, for an element read further.
    static func all(_ element: String, in text: String, raw: Bool = false) -> [String] {
        var found: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<\(element)>"), let close = rest[open.upperBound...].range(of: "</\(element)>") {
            let inner = String(rest[open.upperBound..<close.lowerBound])
            found.append(raw ? inner : unescape(inner))
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func first(_ element: String, in buffer: ByteBuffer) -> String? { all(element, in: buffer).first }
    static func first(_ element: String, in text: String) -> String? { all(element, in: text).first }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension S3Bucket {
    /// Puts every file below `folder` under `prefix/` (its relative path as the rest of the key),
    /// a few at a time, but for hidden ones (work in progress) and those `excluding` names.
    /// Returns the keys written.
    @discardableResult
    public func upload(
        folder: String, to prefix: String, excluding: Set<String> = [], contentType: @escaping @Sendable (String) -> String? = { _ in nil }
    ) async throws(S3Error) -> [String] {
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let relative = enumerator?.nextObject() as? String {
            if (relative as NSString).lastPathComponent.hasPrefix(".") {
                enumerator?.skipDescendants()
                continue
            }
            if enumerator?.fileAttributes?[.type] as? FileAttributeType == .typeRegular, !excluding.contains(relative) { files.append(relative) }
        }
        try await forEach(files) { relative in
            try await put(file: "\(folder)/\(relative)", key: "\(prefix)/\(relative)", contentType: contentType(relative))
        }
        return files.map { "\(prefix)/\($0)" }
    }

    /// Copies every object below `prefix/` into `folder`, keeping the rest of each key as its path.
    public func download(prefix: String, to folder: String) async throws(S3Error) {
        let objects = try await list(prefix: "\(prefix)/")
        try await forEach(objects.map(\.key)) { key in
            let relative = String(key.dropFirst(prefix.count + 1))
            guard !relative.isEmpty, !relative.split(separator: "/").contains("..") else { return }
            let target = "\(folder)/\(relative)"
            do {
                try FileManager.default.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            } catch {
                throw S3Error.local("cannot create a folder for \(target): \(error)")
            }
            try await download(key: key, to: target)
        }
    }

    /// Deletes every object below `prefix/`.
    public func delete(prefix: String) async throws(S3Error) {
        let objects = try await list(prefix: "\(prefix)/")
        try await forEach(objects.map(\.key)) { key in try await delete(key: key) }
    }

    /// Runs `body` for each item, four at a time; the first failure is thrown once all stop.
    public func forEach(_ items: [String], _ body: @escaping @Sendable (String) async throws -> Void) async throws(S3Error) {
        let failure: S3Error? = await withTaskGroup(of: S3Error?.self) { group in
            var next = 0
            var first: S3Error?
            func add() {
                let item = items[next]
                next += 1
                group.addTask {
                    do { try await body(item) } catch { return error as? S3Error ?? .network("\(error)") }
                    return nil
                }
            }
            while next < min(4, items.count) { add() }
            for await result in group {
                if let result, first == nil { first = result }
                if first == nil, next < items.count { add() }
            }
            return first
        }
        if let failure { throw failure }
    }
}
