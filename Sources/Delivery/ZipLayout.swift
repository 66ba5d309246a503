import Foundation

/// A ZIP archive of stored (uncompressed) entries, laid out before a byte is sent.
///
/// Media segments are compressed already, so storing them keeps the download as fast as the
/// disk; and because every size and CRC-32 is known from the manifest, the archive's exact length
/// and every byte's place are known up front: the response has an exact `Content-Length`, and a
/// `Range` request can start anywhere — inside a header or a file — so an interrupted download
/// resumes. Entries past 4 GiB, or archives past 65,535 entries, use ZIP64 (APPNOTE 6.3.10 §4.5.3).
public struct ZipLayout: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var size: Int64
        public var crc32: UInt32
        /// Where the bytes come from (a path on disk).
        public var source: String

        public init(name: String, size: Int64, crc32: UInt32, source: String) {
            self.name = name
            self.size = size
            self.crc32 = crc32
            self.source = source
        }
    }

    /// A run of the archive's bytes: generated header bytes, or a slice of a file.
    public enum Piece: Sendable, Equatable {
        case bytes([UInt8])
        case file(path: String, offset: Int64, length: Int64)
    }

    /// The archive as consecutive parts, each with its start offset.
    private var parts: [(start: Int64, piece: Piece)] = []
    public private(set) var length: Int64 = 0

    /// - Parameter modified: the time written into every entry (MS-DOS format, local fields in UTC).
    public init(entries: [Entry], modified: Date) {
        let (time, date) = Self.dosTime(modified)
        var central: [UInt8] = []
        for entry in entries {
            let name = Array(entry.name.utf8)
            let offset = length
            let wide = entry.size >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
            var local = ByteWriter()
            local.u32(0x0403_4B50)
            local.u16(wide ? 45 : 20)  // version needed: 4.5 for ZIP64
            local.u16(0x0800)  // bit 11: names are UTF-8
            local.u16(0)  // stored
            local.u16(time)
            local.u16(date)
            local.u32(entry.crc32)
            local.u32(wide ? 0xFFFF_FFFF : UInt32(entry.size))
            local.u32(wide ? 0xFFFF_FFFF : UInt32(entry.size))
            local.u16(UInt16(name.count))
            local.u16(wide ? 20 : 0)
            local.bytes(name)
            if wide {
                local.u16(0x0001)
                local.u16(16)
                local.u64(UInt64(entry.size))
                local.u64(UInt64(entry.size))
            }
            append(.bytes(local.data), count: Int64(local.data.count))
            if entry.size > 0 { append(.file(path: entry.source, offset: 0, length: entry.size), count: entry.size) }

            var extra = ByteWriter()
            if wide {
                extra.u16(0x0001)
                extra.u16(24)
                extra.u64(UInt64(entry.size))
                extra.u64(UInt64(entry.size))
                extra.u64(UInt64(offset))
            }
            var header = ByteWriter()
            header.u32(0x0201_4B50)
            header.u16(0x0300 | 45)  // made by: Unix, spec 4.5
            header.u16(wide ? 45 : 20)
            header.u16(0x0800)
            header.u16(0)
            header.u16(time)
            header.u16(date)
            header.u32(entry.crc32)
            header.u32(wide ? 0xFFFF_FFFF : UInt32(entry.size))
            header.u32(wide ? 0xFFFF_FFFF : UInt32(entry.size))
            header.u16(UInt16(name.count))
            header.u16(UInt16(extra.data.count))
            header.u16(0)  // comment
            header.u16(0)  // disk
            header.u16(0)  // internal attributes
            header.u32(0o100644 << 16)  // external: a regular file, rw-r--r--
            header.u32(wide ? 0xFFFF_FFFF : UInt32(offset))
            header.bytes(name)
            header.bytes(extra.data)
            central += header.data
        }
        let centralStart = length
        let centralSize = Int64(central.count)
        var end = ByteWriter()
        let count = entries.count
        let wide = centralStart + centralSize >= 0xFFFF_FFFF || count >= 0xFFFF
        if wide {
            let record = centralStart + centralSize
            end.u32(0x0606_4B50)
            end.u64(44)
            end.u16(0x0300 | 45)
            end.u16(45)
            end.u32(0)
            end.u32(0)
            end.u64(UInt64(count))
            end.u64(UInt64(count))
            end.u64(UInt64(centralSize))
            end.u64(UInt64(centralStart))
            end.u32(0x0706_4B50)
            end.u32(0)
            end.u64(UInt64(record))
            end.u32(1)
        }
        end.u32(0x0605_4B50)
        end.u16(0)
        end.u16(0)
        end.u16(wide ? 0xFFFF : UInt16(count))
        end.u16(wide ? 0xFFFF : UInt16(count))
        end.u32(wide ? 0xFFFF_FFFF : UInt32(centralSize))
        end.u32(wide ? 0xFFFF_FFFF : UInt32(centralStart))
        end.u16(0)
        append(.bytes(central + end.data), count: centralSize + Int64(end.data.count))
    }

    private mutating func append(_ piece: Piece, count: Int64) {
        parts.append((length, piece))
        length += count
    }

    /// The pieces covering bytes `range` of the archive, in order.
    public func pieces(in range: ClosedRange<Int64>) -> [Piece] {
        guard !parts.isEmpty else { return [] }
        // The last part starting at or before the range: a binary search, as packs have many files.
        var low = 0
        var high = parts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if parts[middle].start <= range.lowerBound { low = middle } else { high = middle - 1 }
        }
        var result: [Piece] = []
        var index = low
        while index < parts.count, parts[index].start <= range.upperBound {
            let (start, piece) = parts[index]
            let partLength = (index + 1 < parts.count ? parts[index + 1].start : length) - start
            let from = max(range.lowerBound, start) - start
            let to = min(range.upperBound, start + partLength - 1) - start
            if to >= from {
                switch piece {
                case .bytes(let bytes): result.append(.bytes(Array(bytes[Int(from)...Int(to)])))
                case .file(let path, let offset, _): result.append(.file(path: path, offset: offset + from, length: to - from + 1))
                }
            }
            index += 1
        }
        return result
    }

    /// MS-DOS time and date fields (2-second resolution, years from 1980).
    static func dosTime(_ date: Date) -> (time: UInt16, date: UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = max(0, min(127, (parts.year ?? 1980) - 1980))
        let time = UInt16((parts.hour ?? 0) << 11 | (parts.minute ?? 0) << 5 | (parts.second ?? 0) / 2)
        let day = UInt16(year << 9 | (parts.month ?? 1) << 5 | (parts.day ?? 1))
        return (time, day)
    }
}

/// Little-endian field writer for ZIP headers.
struct ByteWriter {
    var data: [UInt8] = []
    mutating func u16(_ value: UInt16) { data += [UInt8(value & 0xFF), UInt8(value >> 8)] }
    mutating func u32(_ value: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { data.append(UInt8((value >> UInt32(shift)) & 0xFF)) } }
    mutating func u64(_ value: UInt64) { for shift in stride(from: 0, to: 64, by: 8) { data.append(UInt8((value >> UInt64(shift)) & 0xFF)) } }
    mutating func bytes(_ bytes: [UInt8]) { data += bytes }
}
