public import Logging
public import NIOCore
import NIOPosix

/// Where an accepted publish's stream goes: FLV bytes (the file header first), then the end.
public struct RTMPPublish: Sendable {
    public var write: @Sendable (ByteBuffer) async throws -> Void
    public var finish: @Sendable () async -> Void

    public init(write: @escaping @Sendable (ByteBuffer) async throws -> Void, finish: @escaping @Sendable () async -> Void) {
        self.write = write
        self.finish = finish
    }
}

/// The RTMP port (1935 by default): one listener for every live session. libavformat's RTMP
/// `listen` mode serves a single publisher on a port of its own, so LessonLink speaks the
/// protocol's publishing side itself and looks each stream key up before a byte of media is
/// accepted; a malformed connection ends only itself.
public struct RTMPListener: Sendable {
    /// Decides a publish: where its stream goes, or why it is refused (the publisher is told).
    public typealias Authorize = @Sendable (_ app: String, _ key: String) async -> Result<RTMPPublish, Refusal>

    public struct Refusal: Error, Sendable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    let host: String
    let port: Int
    let authorize: Authorize
    let logger: Logger

    public init(host: String, port: Int, logger: Logger, authorize: @escaping Authorize) {
        self.host = host
        self.port = port
        self.logger = logger
        self.authorize = authorize
    }

    /// Serves until cancelled; `bound` is told the port (useful when `port` is 0).
    public func run(bound: @Sendable (Int) -> Void = { _ in }) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A publisher whose uplink died silently must not hold its session: ten
                    // seconds without a byte ends the connection, so the publisher may come back.
                    try channel.pipeline.syncOperations.addHandlers([IdleStateHandler(readTimeout: .seconds(10)), IdleCloser()])
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        bound(server.channel.localAddress?.port ?? port)
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = connection.channel.remoteAddress?.description ?? "?"
        var publish: RTMPPublish?
        do {
            try await connection.executeThenClose { inbound, outbound in
                var state = RTMPConnection()
                for try await bytes in inbound {
                    for event in try state.receive(bytes) {
                        switch event {
                        case .send(let out):
                            try await outbound.write(out)
                        case .publish(let app, let key):
                            switch await authorize(app, key) {
                            case .success(let accepted):
                                try await accepted.write(FLVTag.fileHeader)
                                publish = accepted
                                try await outbound.write(state.accept(key: key))
                                logger.info("publisher accepted", metadata: ["peer": "\(peer)", "app": "\(app)"])
                            case .failure(let refusal):
                                try await outbound.write(state.refuse(refusal.reason))
                                logger.notice("publisher refused", metadata: ["peer": "\(peer)", "app": "\(app)", "reason": "\(refusal.reason)"])
                                return
                            }
                        case .media(let tag):
                            try await publish?.write(tag.encoded)
                        case .unpublished:
                            return
                        }
                    }
                }
            }
        } catch {
            logger.notice("RTMP connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
        await publish?.finish()
    }
}

/// Closes a connection when `IdleStateHandler` says nothing was read for its timeout.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
