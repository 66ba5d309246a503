import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// A Server-Sent Events stream (WHATWG HTML §9.2) of a value read again and again: each time it
/// changes it goes out as one event (`event: NAME`, `data: JSON`), until `read` says it is the
/// last or returns nil, the client leaves, or the server shuts down gracefully (a classroom's
/// stream must not hold a restart up). The state may live in another process (a worker), which
/// is why this polls rather than listens.
enum ServerSentEvents {
    /// - Parameters:
    ///   - event: the event name.
    ///   - interval: how often `read` runs.
    ///   - keepAlive: after this many polls without a change, a comment line keeps proxies from
    ///     closing an idle stream; nil sends none.
    ///   - read: the current value and whether it is the last, or nil to end the stream.
    static func poll<Value: Encodable & Equatable & Sendable>(
        event: String, every interval: Duration, keepAlive: Int? = nil,
        _ read: @escaping @Sendable () async throws -> (value: Value, last: Bool)?
    ) -> Response {
        let body = ResponseBody { writer in
            var previous: Value?
            var quiet = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully, let (value, last) = try await read() {
                if value != previous {
                    try await writer.write(try Self.event(event, value))
                    previous = value
                    quiet = 0
                } else if let keepAlive, quiet >= keepAlive {
                    try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                    quiet = 0
                }
                if last { break }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                quiet += 1
            }
            try await writer.finish(nil)
        }
        return response(body)
    }

    /// One event: `event: NAME`, `data: JSON` (dates as RFC 3339), and the blank line that ends it.
    static func event(_ name: String, _ value: some Encodable) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return ByteBuffer(string: "event: \(name)\ndata: \(String(decoding: try encoder.encode(value), as: UTF8.self))\n\n")
    }

    /// A stream's response: never cached, and not buffered by a reverse proxy (nginx honours
    /// `X-Accel-Buffering`), so each event reaches the client when it is written.
    static func response(_ body: ResponseBody) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }
}
