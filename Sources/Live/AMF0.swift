public import NIOCore

/// AMF0 (Action Message Format, version 0): how RTMP's command messages (`connect`, `publish`,
/// `_result`, `onStatus`) write their values. Only what publishers send and servers answer.
public enum AMF0: Sendable, Equatable {
    case number(Double)
    case boolean(Bool)
    case string(String)
    /// Members in order.
    case object([(String, AMF0)])
    case null
    case undefined
    /// An ECMA array (what `@setDataFrame`'s metadata uses).
    case ecmaArray([(String, AMF0)])
    case strictArray([AMF0])

    public static func == (a: AMF0, b: AMF0) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x == y
        case (.boolean(let x), .boolean(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.object(let x), .object(let y)), (.ecmaArray(let x), .ecmaArray(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.null, .null), (.undefined, .undefined): true
        case (.strictArray(let x), .strictArray(let y)): x == y
        default: false
        }
    }

    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    public enum DecodingError: Error, Equatable {
        case truncated
        case unsupported(UInt8)
        case tooDeep
    }

    /// Every value in `buffer`, in order.
    public static func decodeAll(_ buffer: ByteBuffer) throws(DecodingError) -> [AMF0] {
        var buffer = buffer
        var values: [AMF0] = []
        while buffer.readableBytes > 0 { values.append(try decode(&buffer, depth: 0)) }
        return values
    }

    static func decode(_ buffer: inout ByteBuffer, depth: Int) throws(DecodingError) -> AMF0 {
        guard depth < 32 else { throw .tooDeep }
        guard let marker = buffer.readInteger(as: UInt8.self) else { throw .truncated }
        switch marker {
        case 0x00:
            guard let bits = buffer.readInteger(as: UInt64.self) else { throw .truncated }
            return .number(Double(bitPattern: bits))
        case 0x01:
            guard let value = buffer.readInteger(as: UInt8.self) else { throw .truncated }
            return .boolean(value != 0)
        case 0x02: return .string(try shortString(&buffer))
        case 0x0C:
            guard let length = buffer.readInteger(as: UInt32.self), let text = buffer.readString(length: Int(length)) else { throw .truncated }
            return .string(text)
        case 0x03: return .object(try members(&buffer, depth: depth))
        case 0x05: return .null
        case 0x06: return .undefined
        case 0x08:
            guard buffer.readInteger(as: UInt32.self) != nil else { throw .truncated }  // a count hint, not trusted
            return .ecmaArray(try members(&buffer, depth: depth))
        case 0x0A:
            guard let count = buffer.readInteger(as: UInt32.self), Int(count) <= buffer.readableBytes else { throw .truncated }
            var items: [AMF0] = []
            for _ in 0..<count { items.append(try decode(&buffer, depth: depth + 1)) }
            return .strictArray(items)
        default: throw .unsupported(marker)
        }
    }

    static func shortString(_ buffer: inout ByteBuffer) throws(DecodingError) -> String {
        guard let length = buffer.readInteger(as: UInt16.self), let text = buffer.readString(length: Int(length)) else { throw .truncated }
        return text
    }

    /// Key–value pairs up to the object-end marker (an empty key, then 0x09).
    static func members(_ buffer: inout ByteBuffer, depth: Int) throws(DecodingError) -> [(String, AMF0)] {
        var members: [(String, AMF0)] = []
        while true {
            let key = try shortString(&buffer)
            if key.isEmpty, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0x09 {
                buffer.moveReaderIndex(forwardBy: 1)
                return members
            }
            members.append((key, try decode(&buffer, depth: depth + 1)))
        }
    }

    /// The values, encoded one after another.
    public static func encode(_ values: [AMF0]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for value in values { value.write(to: &buffer) }
        return buffer
    }

    func write(to buffer: inout ByteBuffer) {
        func key(_ text: String) {
            buffer.writeInteger(UInt16(text.utf8.count))
            buffer.writeString(text)
        }
        switch self {
        case .number(let value):
            buffer.writeInteger(UInt8(0x00))
            buffer.writeInteger(value.bitPattern)
        case .boolean(let value):
            buffer.writeInteger(UInt8(0x01))
            buffer.writeInteger(UInt8(value ? 1 : 0))
        case .string(let text):
            if text.utf8.count <= 0xFFFF {
                buffer.writeInteger(UInt8(0x02))
                key(text)
            } else {
                buffer.writeInteger(UInt8(0x0C))
                buffer.writeInteger(UInt32(text.utf8.count))
                buffer.writeString(text)
            }
        case .object(let members), .ecmaArray(let members):
            if case .ecmaArray = self {
                buffer.writeInteger(UInt8(0x08))
                buffer.writeInteger(UInt32(members.count))
            } else {
                buffer.writeInteger(UInt8(0x03))
            }
            for (name, value) in members {
                key(name)
                value.write(to: &buffer)
            }
            key("")
            buffer.writeInteger(UInt8(0x09))
        case .null: buffer.writeInteger(UInt8(0x05))
        case .undefined: buffer.writeInteger(UInt8(0x06))
        case .strictArray(let items):
            buffer.writeInteger(UInt8(0x0A))
            buffer.writeInteger(UInt32(items.count))
            for item in items { item.write(to: &buffer) }
        }
    }
}

extension AMF0: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}
