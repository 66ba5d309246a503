public import NIOCore

/// What goes wrong on an RTMP connection; each ends the connection (and only it).
public enum RTMPError: Error, Equatable, Sendable {
    case badVersion(UInt8)
    case malformed(String)
    case tooLarge(Int)
}

/// One FLV tag: what a publisher's audio, video and metadata messages become, in the form
/// libavformat's FLV demuxer reads from a pipe.
public struct FLVTag: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case audio = 8, video = 9, script = 18
    }
    public var kind: Kind
    /// Milliseconds.
    public var timestamp: UInt32
    public var data: ByteBuffer

    /// The FLV file header (audio and video) and the first PreviousTagSize.
    public static var fileHeader: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes([0x46, 0x4C, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0])
        return buffer
    }

    /// The tag and the PreviousTagSize after it.
    public var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        let size = data.readableBytes
        buffer.writeInteger(kind.rawValue)
        buffer.writeBytes([UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)])
        buffer.writeBytes([UInt8(timestamp >> 16 & 0xFF), UInt8(timestamp >> 8 & 0xFF), UInt8(timestamp & 0xFF), UInt8(timestamp >> 24 & 0xFF)])
        buffer.writeBytes([0, 0, 0])
        buffer.writeImmutableBuffer(data)
        buffer.writeInteger(UInt32(11 + size))
        return buffer
    }
}

/// The server side of one RTMP connection as a pure state machine (Adobe's RTMP 1.0
/// specification): the handshake, chunk streams, protocol control, and the commands a publisher
/// sends (`connect`, `releaseStream`, `FCPublish`, `createStream`, `publish`, `deleteStream`).
/// Bytes go in; out come bytes to send and events — a publish to authorize, media as FLV tags,
/// the end of publishing. No sockets: the listener feeds it, and tests can too.
public struct RTMPConnection: Sendable {
    public enum Event: Sendable, Equatable {
        case send(ByteBuffer)
        /// The publisher asks to publish `key` on application `app`: answer with `accept` or `refuse`.
        case publish(app: String, key: String)
        case media(FLVTag)
        /// The publisher stopped (`FCUnpublish`/`deleteStream`).
        case unpublished
    }

    /// Messages above this are refused: a 1080p keyframe is well under it.
    public static let maxMessageSize = 8 << 20
    static let outgoingChunkSize = 4096

    enum Phase {
        case awaitingC0C1, awaitingC2, chunks
    }

    struct ChunkStream {
        var timestamp: UInt32 = 0
        var delta: UInt32 = 0
        var length = 0
        var type: UInt8 = 0
        var streamId: UInt32 = 0
        var extended = false
        var payload: ByteBuffer?
    }

    var phase = Phase.awaitingC0C1
    var pending = ByteBuffer()
    var chunkSize = 128
    var streams: [UInt32: ChunkStream] = [:]
    var app = ""
    var publishing = false
    /// Acknowledgements the peer asked for (Window Acknowledgement Size), and what we counted.
    var peerWindow: UInt32 = 0
    var received: UInt64 = 0
    var acknowledged: UInt64 = 0

    public init() {}

    /// Feeds received bytes; returns what follows from them, in order.
    public mutating func receive(_ bytes: ByteBuffer) throws(RTMPError) -> [Event] {
        pending.writeImmutableBuffer(bytes)
        received += UInt64(bytes.readableBytes)
        var events: [Event] = []
        loop: while true {
            switch phase {
            case .awaitingC0C1:
                guard pending.readableBytes >= 1537, let version = pending.readInteger(as: UInt8.self),
                    let c1 = pending.readSlice(length: 1536)
                else { break loop }
                guard version == 3 else { throw .badVersion(version) }
                var reply = ByteBuffer()
                reply.writeInteger(UInt8(3))
                // S1: time, then four zero bytes (a plain handshake: clients skip digest checks).
                reply.writeInteger(UInt32(0))
                reply.writeInteger(UInt32(0))
                reply.writeBytes((0..<1528).map { _ in UInt8.random(in: 0...255) })
                reply.writeImmutableBuffer(c1)  // S2 echoes C1
                events.append(.send(reply))
                phase = .awaitingC2
            case .awaitingC2:
                guard pending.readableBytes >= 1536 else { break loop }
                pending.moveReaderIndex(forwardBy: 1536)
                phase = .chunks
            case .chunks:
                guard let message = try readChunk() else { break loop }
                events += try handle(message)
            }
        }
        pending.discardReadBytes()
        if peerWindow > 0, received - acknowledged >= UInt64(peerWindow) {
            acknowledged = received
            var body = ByteBuffer()
            body.writeInteger(UInt32(truncatingIfNeeded: received))
            events.append(.send(Self.message(type: 3, stream: 0, chunkStream: 2, body)))
        }
        return events
    }

    /// The publish is allowed: the publisher starts sending.
    public mutating func accept(key: String) -> ByteBuffer {
        publishing = true
        var begin = ByteBuffer()
        begin.writeInteger(UInt16(0))  // User Control: Stream Begin
        begin.writeInteger(UInt32(1))
        var out = Self.message(type: 4, stream: 0, chunkStream: 2, begin)
        out.writeImmutableBuffer(
            Self.command(
                ["onStatus", .number(0), .null,
                 .object([("level", .string("status")), ("code", .string("NetStream.Publish.Start")), ("description", .string("Publishing \(key).")), ("details", .string(key))])],
                stream: 1))
        return out
    }

    /// The publish is refused, with the reason the publisher's log shows.
    public func refuse(_ reason: String) -> ByteBuffer {
        Self.command(
            ["onStatus", .number(0), .null,
             .object([("level", .string("error")), ("code", .string("NetStream.Publish.BadName")), ("description", .string(reason))])],
            stream: 1)
    }

    // MARK: - Chunks

    /// The next complete message, or nil until more bytes arrive. Whole chunks are consumed as
    /// they arrive (a message's chunks may interleave with other chunk streams').
    mutating func readChunk() throws(RTMPError) -> (type: UInt8, stream: UInt32, timestamp: UInt32, body: ByteBuffer)? {
        while true {
            switch try readOneChunk() {
            case .none: return nil
            case .some(.none): continue
            case .some(.some(let message)): return message
            }
        }
    }

    /// nil: not a whole chunk yet; .some(nil): a chunk of a message still incomplete.
    mutating func readOneChunk() throws(RTMPError) -> (type: UInt8, stream: UInt32, timestamp: UInt32, body: ByteBuffer)?? {
        var buffer = pending
        guard let first = buffer.readInteger(as: UInt8.self) else { return .none }
        let format = first >> 6
        var id = UInt32(first & 0x3F)
        if id == 0 {
            guard let next = buffer.readInteger(as: UInt8.self) else { return nil }
            id = UInt32(next) + 64
        } else if id == 1 {
            guard let low = buffer.readInteger(as: UInt8.self), let high = buffer.readInteger(as: UInt8.self) else { return nil }
            id = UInt32(low) + UInt32(high) * 256 + 64
        }
        var stream = streams[id] ?? ChunkStream()
        func three(_ buffer: inout ByteBuffer) -> UInt32? {
            guard let bytes = buffer.readBytes(length: 3) else { return nil }
            return UInt32(bytes[0]) << 16 | UInt32(bytes[1]) << 8 | UInt32(bytes[2])
        }
        let startsMessage = stream.payload == nil
        switch format {
        case 0:
            guard let time = three(&buffer), let length = three(&buffer), let type = buffer.readInteger(as: UInt8.self),
                let streamId = buffer.readInteger(endianness: .little, as: UInt32.self)
            else { return nil }
            stream.extended = time == 0xFFFFFF
            stream.timestamp = time
            stream.delta = 0
            stream.length = Int(length)
            stream.type = type
            stream.streamId = streamId
        case 1:
            guard let delta = three(&buffer), let length = three(&buffer), let type = buffer.readInteger(as: UInt8.self) else { return nil }
            stream.extended = delta == 0xFFFFFF
            stream.delta = delta
            stream.length = Int(length)
            stream.type = type
        case 2:
            guard let delta = three(&buffer) else { return nil }
            stream.extended = delta == 0xFFFFFF
            stream.delta = delta
        default:
            break
        }
        if stream.extended {
            guard let value = buffer.readInteger(as: UInt32.self) else { return nil }
            if format == 0 { stream.timestamp = value } else if format != 3 || startsMessage { stream.delta = value }
        }
        if startsMessage, format != 0 { stream.timestamp &+= stream.delta }
        guard stream.length <= Self.maxMessageSize else { throw .tooLarge(stream.length) }
        var payload = stream.payload ?? ByteBuffer()
        let take = min(chunkSize, stream.length - payload.readableBytes)
        guard let piece = buffer.readSlice(length: take) else { return nil }
        payload.writeImmutableBuffer(piece)
        pending = buffer
        if payload.readableBytes < stream.length {
            stream.payload = payload
            streams[id] = stream
            return .some(nil)
        }
        stream.payload = nil
        streams[id] = stream
        return (stream.type, stream.streamId, stream.timestamp, payload)
    }

    // MARK: - Messages

    mutating func handle(_ message: (type: UInt8, stream: UInt32, timestamp: UInt32, body: ByteBuffer)) throws(RTMPError) -> [Event] {
        var body = message.body
        switch message.type {
        case 1:  // Set Chunk Size
            guard let size = body.readInteger(as: UInt32.self), size > 0, size <= UInt32(Self.maxMessageSize) else {
                throw .malformed("bad chunk size")
            }
            chunkSize = Int(size & 0x7FFF_FFFF)
            return []
        case 5:  // Window Acknowledgement Size
            peerWindow = body.readInteger(as: UInt32.self) ?? 0
            return []
        case 8, 9:
            guard publishing else { return [] }
            return [.media(FLVTag(kind: message.type == 8 ? .audio : .video, timestamp: message.timestamp, data: body))]
        case 18, 15:  // AMF0 data (15: AMF3 data, whose first byte is a format marker)
            if message.type == 15 { body.moveReaderIndex(forwardBy: min(1, body.readableBytes)) }
            guard publishing, var values = try? AMF0.decodeAll(body) else { return [] }
            if values.first?.string == "@setDataFrame" { values.removeFirst() }
            guard values.first?.string == "onMetaData" else { return [] }
            return [.media(FLVTag(kind: .script, timestamp: 0, data: AMF0.encode(values)))]
        case 20, 17:  // AMF0 command (17: AMF3 command, whose first byte is a format marker)
            if message.type == 17 { body.moveReaderIndex(forwardBy: min(1, body.readableBytes)) }
            let values: [AMF0]
            do {
                values = try AMF0.decodeAll(body)
            } catch {
                throw .malformed("a command that is not AMF0")
            }
            return try command(values)
        default:
            return []
        }
    }

    mutating func command(_ values: [AMF0]) throws(RTMPError) -> [Event] {
        guard let name = values.first?.string else { throw .malformed("a command without a name") }
        let transaction = values.count > 1 ? values[1].number ?? 0 : 0
        switch name {
        case "connect":
            if case .object(let members) = values.count > 2 ? values[2] : .null {
                app = members.first { $0.0 == "app" }?.1.string ?? ""
            }
            var window = ByteBuffer()
            window.writeInteger(UInt32(5_000_000))
            var bandwidth = ByteBuffer()
            bandwidth.writeInteger(UInt32(5_000_000))
            bandwidth.writeInteger(UInt8(2))
            var size = ByteBuffer()
            size.writeInteger(UInt32(Self.outgoingChunkSize))
            var out = Self.message(type: 5, stream: 0, chunkStream: 2, window)
            out.writeImmutableBuffer(Self.message(type: 6, stream: 0, chunkStream: 2, bandwidth))
            out.writeImmutableBuffer(Self.message(type: 1, stream: 0, chunkStream: 2, size))
            out.writeImmutableBuffer(
                Self.command(
                    ["_result", .number(transaction), .object([("fmsVer", .string("FMS/3,0,1,123")), ("capabilities", .number(31))]),
                     .object([("level", .string("status")), ("code", .string("NetConnection.Connect.Success")),
                              ("description", .string("Connection succeeded.")), ("objectEncoding", .number(0))])],
                    stream: 0))
            return [.send(out)]
        case "createStream":
            return [.send(Self.command(["_result", .number(transaction), .null, .number(1)], stream: 0))]
        case "releaseStream", "FCPublish":
            return [.send(Self.command(["_result", .number(transaction), .null, .undefined], stream: 0))]
        case "publish":
            guard values.count > 3, let key = values[3].string, !key.isEmpty else { throw .malformed("publish names no stream") }
            return [.publish(app: app, key: key)]
        case "FCUnpublish", "deleteStream", "closeStream":
            guard publishing else { return [] }
            publishing = false
            return [.unpublished]
        default:
            return []
        }
    }

    /// A message in chunks of the outgoing chunk size (the first with a full header).
    static func message(type: UInt8, stream: UInt32, chunkStream: UInt8, _ body: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        var body = body
        let length = body.readableBytes
        out.writeInteger(chunkStream & 0x3F)
        out.writeBytes([0, 0, 0, UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type])
        out.writeInteger(stream, endianness: .little)
        var first = true
        while body.readableBytes > 0 || first {
            if !first { out.writeInteger(0xC0 | (chunkStream & 0x3F)) }
            first = false
            let piece = body.readSlice(length: min(outgoingChunkSize, body.readableBytes)) ?? ByteBuffer()
            out.writeImmutableBuffer(piece)
        }
        return out
    }

    static func command(_ values: [AMF0], stream: UInt32) -> ByteBuffer {
        message(type: 20, stream: stream, chunkStream: 3, AMF0.encode(values))
    }
}
