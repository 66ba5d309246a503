import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// What a call to the server ended with, other than success.
enum RunnerCallError: Error, CustomStringConvertible {
    /// The server answered with an error status and its message.
    case refused(Int, String)
    /// No answer, or the answer was cut.
    case network(String)
    case local(String)

    var description: String {
        switch self {
        case .refused(let status, let message): "HTTP \(status): \(message)"
        case .network(let why): "network: \(why)"
        case .local(let why): why
        }
    }
}

/// The runner's calls: JSON in and out, the runner token on every call, the job token on a
/// job's; downloads resume with `Range`.
struct RunnerHTTP: Sendable {
    let server: String
    let token: String?

    private static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(120)), decompression: .disabled))

    private func request(_ method: HTTPMethod, _ path: String, job: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let job { request.headers.add(name: "LessonLink-Job-Token", value: job) }
        return request
    }

    private static let encoder = JSONEncoder()
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// A call whose answer body is returned (an error status throws `.refused`).
    private func call(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(120)) async throws -> ByteBuffer {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await Self.client.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: 16 << 20)
        } catch {
            throw RunnerCallError.network("\(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            throw RunnerCallError.refused(Int(response.status.code), Self.message(body))
        }
        return body
    }

    static func message(_ body: ByteBuffer) -> String {
        struct Envelope: Decodable {
            struct Detail: Decodable { var message: String }
            var error: Detail
        }
        return (try? JSONDecoder().decode(Envelope.self, from: body))?.error.message ?? String(buffer: body)
    }

    func json<Answer: Decodable>(_ method: HTTPMethod, _ path: String, job: String? = nil) async throws -> Answer {
        try Self.decoder.decode(Answer.self, from: try await call(request(method, path, job: job)))
    }

    func json<Answer: Decodable>(_ method: HTTPMethod, _ path: String, job: String? = nil, body: some Encodable) async throws -> Answer {
        try Self.decoder.decode(Answer.self, from: try await send(method, path, job: job, body: body))
    }

    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, job: String? = nil, body: (some Encodable)? = Optional<String>.none) async throws -> ByteBuffer {
        var request = request(method, path, job: job)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try Self.encoder.encode(body)))
        }
        return try await call(request)
    }

    /// Sends one result file over tus: where an earlier attempt left a partial upload of the same
    /// length (`HEAD`), from its offset; else a new upload (`POST`). Bytes go in `PATCH`es of up to
    /// `chunk`, and a cut one is taken up from the offset the server then reports.
    func upload(_ collection: String, path: String, job: String, file: String, chunk: Int = 8 << 20) async throws {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw RunnerCallError.local("cannot read \(file)") }
        defer { try? handle.close() }
        let length = Int64(try handle.seekToEnd())
        let location = "\(collection)/\(path)"
        var offset: Int64
        if let state = try await tusOffset(location, job: job), state.length == length {
            offset = state.offset
        } else {
            var create = request(.POST, collection, job: job)
            create.headers.add(name: "Tus-Resumable", value: "1.0.0")
            create.headers.add(name: "Upload-Length", value: "\(length)")
            create.headers.add(name: "Upload-Metadata", value: "path \(Data(path.utf8).base64EncodedString())")
            _ = try await call(create)
            offset = 0
        }
        var failures = 0
        while offset < length {
            try handle.seek(toOffset: UInt64(offset))
            let bytes = try handle.read(upToCount: chunk) ?? Data()
            var patch = request(.PATCH, location, job: job)
            patch.headers.add(name: "Tus-Resumable", value: "1.0.0")
            patch.headers.add(name: "Upload-Offset", value: "\(offset)")
            patch.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
            patch.body = .bytes(ByteBuffer(data: bytes))
            do {
                _ = try await call(patch, timeout: .minutes(30))
                offset += Int64(bytes.count)
                failures = 0
            } catch let error as RunnerCallError {
                switch error {
                case .network, .refused(409, _): break  // cut, or the server has a different offset: ask it
                default: throw error
                }
                failures += 1
                guard failures <= 8 else { throw error }
                try await Task.sleep(for: .seconds(Double(failures)))
                guard let state = try await tusOffset(location, job: job), state.length == length else {
                    throw RunnerCallError.local("the server lost the upload of \(path)")
                }
                offset = state.offset
            }
        }
    }

    /// Where an upload stands on the server, or nil when it has none by that name.
    private func tusOffset(_ location: String, job: String) async throws -> (offset: Int64, length: Int64)? {
        var head = request(.HEAD, location, job: job)
        head.headers.add(name: "Tus-Resumable", value: "1.0.0")
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(head, timeout: .seconds(60))
        } catch {
            throw RunnerCallError.network("\(error)")
        }
        guard response.status == .ok, let offset = response.headers.first(name: "Upload-Offset").flatMap(Int64.init),
            let length = response.headers.first(name: "Upload-Length").flatMap(Int64.init)
        else { return nil }
        return (offset, length)
    }

    /// Downloads to `target` until it has `size` bytes, resuming after a cut with `Range`.
    func download(_ path: String, job: String, to target: String, size: Int64) async throws {
        if !FileManager.default.fileExists(atPath: target) { FileManager.default.createFile(atPath: target, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: target) else { throw RunnerCallError.local("cannot write \(target)") }
        defer { try? handle.close() }
        var attempts = 0
        while true {
            let offset = Int64(try handle.seekToEnd())
            if offset >= size { return }
            var request = request(.GET, path, job: job)
            if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
            do {
                let response = try await Self.client.execute(request, timeout: .hours(6))
                switch response.status.code {
                case 206 where offset > 0:
                    break
                case 200:
                    try handle.truncate(atOffset: 0)
                default:
                    throw RunnerCallError.refused(Int(response.status.code), Self.message(try await response.body.collect(upTo: 1 << 20)))
                }
                for try await buffer in response.body {
                    try handle.write(contentsOf: Data(buffer: buffer))
                }
                try handle.synchronize()
            } catch let error as RunnerCallError {
                if case .refused = error { throw error }
                attempts += 1
                if attempts > 8 { throw error }
                try await Task.sleep(for: .seconds(Double(attempts)))
            } catch {
                attempts += 1
                if attempts > 8 { throw RunnerCallError.network("\(error)") }
                try await Task.sleep(for: .seconds(Double(attempts)))
            }
        }
    }
}
