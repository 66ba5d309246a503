/// Edits to the fragmented MP4 (CMAF) segments the transcoder writes, without decoding anything.
///
/// A clip of a lesson reuses the lesson's segments from a keyframe on; only its timeline must
/// start at zero, or a player would wait for media at 0 s that begins at 40 s. The decode times
/// live in one box per fragment (`tfdt`, ISO/IEC 14496-12 §8.8.12), so shifting them is all a
/// clip needs: sample data, durations and composition offsets stay as they were.
public enum FragmentedMP4 {
    /// The media timescale (ticks per second) of the first track of an init segment.
    public static func timescale(initSegment bytes: [UInt8]) -> UInt32? {
        guard let moov = MP4Boxes.children(bytes, in: 0..<bytes.count).first(where: { $0.type == "moov" }),
            let trak = MP4Boxes.children(bytes, in: moov.payload).first(where: { $0.type == "trak" }),
            let mdia = MP4Boxes.children(bytes, in: trak.payload).first(where: { $0.type == "mdia" }),
            let mdhd = MP4Boxes.children(bytes, in: mdia.payload).first(where: { $0.type == "mdhd" })
        else { return nil }
        let p = mdhd.payload.lowerBound
        // Version 1 has 64-bit creation and modification times before the timescale.
        let offset = bytes[p] == 1 ? p + 20 : p + 12
        guard offset + 4 <= mdhd.payload.upperBound else { return nil }
        return MP4Boxes.read32(bytes, offset)
    }

    /// The decode time of a segment's first fragment, in its track's timescale.
    public static func baseDecodeTime(segment bytes: [UInt8]) -> UInt64? {
        var first: UInt64?
        forEachDecodeTime(bytes) { offset, isWide in
            if first == nil { first = isWide ? read64(bytes, offset) : UInt64(MP4Boxes.read32(bytes, offset)) }
        }
        return first
    }

    /// Moves every fragment of a segment `ticks` earlier. Returns false (leaving `bytes` as they
    /// were) when a fragment would start before zero or the segment has no fragments.
    public static func shiftDecodeTimes(_ bytes: inout [UInt8], by ticks: UInt64) -> Bool {
        var fields: [(offset: Int, isWide: Bool)] = []
        forEachDecodeTime(bytes) { fields.append(($0, $1)) }
        guard !fields.isEmpty else { return false }
        var values: [UInt64] = []
        for field in fields {
            let value = field.isWide ? read64(bytes, field.offset) : UInt64(MP4Boxes.read32(bytes, field.offset))
            guard value >= ticks else { return false }
            values.append(value - ticks)
        }
        for (field, value) in zip(fields, values) {
            let width = field.isWide ? 8 : 4
            for index in 0..<width {
                bytes[field.offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(width - 1 - index)))
            }
        }
        return true
    }

    /// Calls `body` with the offset of each `tfdt` value (moof → traf → tfdt) and whether it is 64-bit.
    private static func forEachDecodeTime(_ bytes: [UInt8], _ body: (Int, Bool) -> Void) {
        for moof in MP4Boxes.children(bytes, in: 0..<bytes.count) where moof.type == "moof" {
            for traf in MP4Boxes.children(bytes, in: moof.payload) where traf.type == "traf" {
                for tfdt in MP4Boxes.children(bytes, in: traf.payload) where tfdt.type == "tfdt" {
                    let p = tfdt.payload.lowerBound
                    let isWide = bytes[p] == 1
                    if p + 4 + (isWide ? 8 : 4) <= tfdt.payload.upperBound { body(p + 4, isWide) }
                }
            }
        }
    }

    private static func read64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        UInt64(MP4Boxes.read32(bytes, offset)) << 32 | UInt64(MP4Boxes.read32(bytes, offset + 4))
    }
}
