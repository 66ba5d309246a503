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

    /// Sends one file whole (`PUT`).
    func put(_ path: String, job: String, file: String) async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw RunnerCallError.local("cannot read \(file)") }
        var request = request(.PUT, path, job: job)
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(data: data))
        _ = try await call(request, timeout: .minutes(30))
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
