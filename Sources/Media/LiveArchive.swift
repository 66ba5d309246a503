import Foundation
internal import CFFmpeg

/// Joins the MPEG-TS copies of a live session's publishes into one source file for the on-demand
/// ladder, without re-encoding: each publish's timestamps are moved to follow the one before, so
/// the recording plays straight through the gaps where the uplink dropped.
public enum LiveArchive {
    /// Writes `output` (MPEG-TS) from `parts` in order and returns the media seconds joined. A
    /// part that cannot be read (cut off before its first packet) is skipped; one whose streams
    /// differ from the first part's is joined stream by stream as far as they match.
    public static func join(parts: [String], output: String) throws(MediaError) -> Double {
        _ = Libav.installed
        var context: UnsafeMutablePointer<AVFormatContext>?
        try check(avformat_alloc_output_context2(&context, nil, "mpegts", output), "creating \(output)")
        guard let context else { throw MediaError(.io, step: "creating \(output)", message: "out of memory") }
        defer {
            avio_closep(&context.pointee.pb)
            avformat_free_context(context)
        }
        var kinds: [AVMediaType] = []
        var offset = 0.0
        var headerWritten = false
        let packet = try Packet()
        for part in parts {
            guard let input = try? InputFile(path: part) else { continue }
            let streams = (0..<Int(input.context.pointee.nb_streams)).filter {
                let type = input.stream($0).pointee.codecpar.pointee.codec_type
                return type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO
            }
            if !headerWritten {
                for index in streams {
                    guard let stream = avformat_new_stream(context, nil) else { throw MediaError(.io, step: "joining", message: "out of memory") }
                    try check(avcodec_parameters_copy(stream.pointee.codecpar, input.stream(index).pointee.codecpar), "copying codec parameters")
                    stream.pointee.codecpar.pointee.codec_tag = 0
                    stream.pointee.time_base = AVRational(num: 1, den: 90000)
                    kinds.append(input.stream(index).pointee.codecpar.pointee.codec_type)
                }
                guard !kinds.isEmpty else { continue }
                try check(avio_open(&context.pointee.pb, output, AVIO_FLAG_WRITE), "opening \(output)")
                try check(avformat_write_header(context, nil), "writing \(output)")
                headerWritten = true
            }
            // Each input stream goes to the first output stream of its kind.
            var mapping: [Int32: Int32] = [:]
            var used = Set<Int>()
            for index in streams {
                let type = input.stream(index).pointee.codecpar.pointee.codec_type
                if let target = kinds.indices.first(where: { kinds[$0] == type && !used.contains($0) }) {
                    used.insert(target)
                    mapping[Int32(index)] = Int32(target)
                }
            }
            var start: Double?
            var end = offset
            while av_read_frame(input.context, packet.pointer) >= 0 {
                defer { packet.unref() }
                let p = packet.pointer
                guard let target = mapping[p.pointee.stream_index] else { continue }
                let timeBase = Rational(input.stream(Int(p.pointee.stream_index)).pointee.time_base).doubleValue
                let stamp = p.pointee.dts != lessonlink_nopts() ? p.pointee.dts : p.pointee.pts
                guard stamp != lessonlink_nopts() else { continue }
                if start == nil { start = Double(stamp) * timeBase }
                let shift = offset - start!
                func moved(_ value: Int64) -> Int64 {
                    value == lessonlink_nopts() ? value : Int64(((Double(value) * timeBase + shift) * 90000).rounded())
                }
                p.pointee.pts = moved(p.pointee.pts)
                p.pointee.dts = moved(p.pointee.dts)
                p.pointee.duration = Int64((Double(max(p.pointee.duration, 0)) * timeBase * 90000).rounded())
                p.pointee.stream_index = target
                p.pointee.pos = -1
                end = max(end, Double(max(p.pointee.pts, p.pointee.dts) + p.pointee.duration) / 90000)
                // A damaged packet in one part must not cost the rest of the lesson.
                _ = av_interleaved_write_frame(context, p)
            }
            offset = end + 0.04
        }
        guard headerWritten else {
            throw MediaError(.notMedia, step: "joining the live archive", message: "no part of the live lesson could be read")
        }
        try check(av_write_trailer(context), "finishing \(output)")
        return offset
    }
}
