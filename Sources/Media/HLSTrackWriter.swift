import Foundation
import HLS
internal import CFFmpeg

/// One finished HLS rendition: its init segment, media segments and I-frame positions.
struct HLSTrack: Sendable, Equatable {
    struct Segment: Sendable, Equatable {
        var name: String
        var start: Double
        var duration: Double
        var size: Int
    }

    /// A keyframe's bytes inside a segment: the `moof` plus the start of the `mdat` up to the end of
    /// the keyframe — what an I-frame playlist's `EXT-X-BYTERANGE` points at.
    struct KeyFrame: Sendable, Equatable {
        var segment: String
        var time: Double
        var offset: Int
        var length: Int
    }

    var initName: String
    var initSize: Int
    var segments: [Segment]
    var keyFrames: [KeyFrame]
    /// RFC 6381 codec string, e.g. `avc1.64001f` or `mp4a.40.2`.
    var codecs: String
    var duration: Double { segments.reduce(0) { $0 + $1.duration } }
    var mediaSize: Int { segments.reduce(0) { $0 + $1.size } }

    /// Average bit rate over the whole track, bits per second.
    var averageBitRate: Int {
        duration > 0 ? Int((Double(mediaSize) * 8 / duration).rounded(.up)) : 0
    }

    /// Highest bit rate of any one segment — HLS's `BANDWIDTH` (RFC 8216 §4.3.4.2).
    var peakBitRate: Int {
        segments.map { $0.duration > 0 ? Int((Double($0.size) * 8 / $0.duration).rounded(.up)) : 0 }.max() ?? 0
    }
}

/// Muxes one encoded stream into fragmented MP4 (CMAF) and cuts it into HLS segments.
///
/// libavformat's mp4 muxer does the boxes; we drive it with `frag_custom` (a fragment per GOP,
/// flushed by us at each keyframe) and `delay_moov` (so the edit list can account for B-frame delay)
/// and catch its output through a custom `AVIOContext`. Splitting that byte stream at top-level box
/// boundaries gives `init.mp4` (ftyp+moov) and the segments (moof+mdat pairs), and tells us exactly
/// where each keyframe's bytes lie, for the I-frame playlist.
final class HLSTrackWriter {
    let directory: String
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private let sink = ByteSink()
    private let isVideo: Bool
    private let encoderTimeBase: AVRational
    private let frameDuration: Int64
    private let segmentDuration: Double

    private var initBytes: [UInt8] = []
    private var initWritten = false
    private var current: OutputStream?
    private var segments: [HLSTrack.Segment] = []
    private var keyFrames: [HLSTrack.KeyFrame] = []
    private var segmentStart = 0.0
    private var firstTime: Double?
    private var endTime = 0.0
    private var samplesInFragment = 0
    /// The time of the keyframe that opens the fragment being muxed.
    private var pendingKeyFrame: Double?
    let codecs: String

    /// Called with each segment as soon as it is closed (written and synced): what a live
    /// playlist appends. `start` is in the packets' own timeline, in seconds.
    var onSegment: ((_ segment: HLSTrack.Segment, _ start: Double) throws(MediaError) -> Void)?

    /// - Parameters:
    ///   - frameDuration: one frame in the encoder's time base, for video; libx264 in FFmpeg 5.1
    ///     leaves packet durations at 0, and the muxer would then drop the last frame's duration.
    convenience init(
        directory: String, encoder: Encoder, isVideo: Bool, segmentDuration: Double, frameDuration: Int64 = 0,
        language: String? = nil
    ) throws(MediaError) {
        let context = encoder.context.pointer
        try self.init(
            directory: directory, timeBase: encoder.timeBase, codecs: Self.codecString(context), isVideo: isVideo,
            segmentDuration: segmentDuration, frameDuration: frameDuration, language: language
        ) { parameters throws(MediaError) in
            try check(avcodec_parameters_from_context(parameters, context), "copying codec parameters")
        }
    }

    /// A writer for packets that are not re-encoded: a live source's own H.264, whose keyframes
    /// decide where segments may be cut.
    convenience init(
        directory: String, copying source: UnsafePointer<AVCodecParameters>, timeBase: AVRational, isVideo: Bool,
        segmentDuration: Double, frameDuration: Int64
    ) throws(MediaError) {
        try self.init(
            directory: directory, timeBase: timeBase, codecs: Self.codecString(source), isVideo: isVideo,
            segmentDuration: segmentDuration, frameDuration: frameDuration, language: nil
        ) { parameters throws(MediaError) in
            try check(avcodec_parameters_copy(parameters, source), "copying codec parameters")
            // The source container's tag (FLV's, MPEG-TS's) means nothing to the mp4 muxer.
            parameters.pointee.codec_tag = 0
        }
    }

    private init(
        directory: String, timeBase: AVRational, codecs: String, isVideo: Bool, segmentDuration: Double, frameDuration: Int64,
        language: String?, parameters: (UnsafeMutablePointer<AVCodecParameters>) throws(MediaError) -> Void
    ) throws(MediaError) {
        self.directory = directory
        self.isVideo = isVideo
        self.segmentDuration = segmentDuration
        self.frameDuration = frameDuration
        encoderTimeBase = timeBase
        self.codecs = codecs
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw MediaError.io("creating \(directory)", error)
        }

        try check(avformat_alloc_output_context2(&context, nil, "mp4", nil), "creating the mp4 muxer")
        guard let context, let stream = avformat_new_stream(context, nil) else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "avformat_new_stream", message: "out of memory")
        }
        try parameters(stream.pointee.codecpar)
        stream.pointee.time_base = timeBase
        if let language { av_dict_set(&stream.pointee.metadata, "language", language, 0) }

        let bufferSize: Int32 = 1 << 16
        guard let buffer = av_malloc(Int(bufferSize)),
            let io = avio_alloc_context(
                buffer.assumingMemoryBound(to: UInt8.self), bufferSize, 1, Unmanaged.passUnretained(sink).toOpaque(),
                nil, sinkWrite, nil)
        else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "avio_alloc_context", message: "out of memory")
        }
        context.pointee.pb = io
        context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        var options = OptionDictionary(["movflags": "+frag_custom+delay_moov+default_base_moof+skip_trailer"])
        try check(avformat_write_header(context, &options.pointer), "writing the mp4 header")
        try options.requireConsumed("writing the mp4 header")
    }

    deinit {
        if let context {
            var io: UnsafeMutablePointer<AVIOContext>? = context.pointee.pb
            if io != nil {
                av_freep(&io!.pointee.buffer)
                avio_context_free(&io)
            }
            avformat_free_context(context)
        }
    }

    private var stream: UnsafeMutablePointer<AVStream> { context!.pointee.streams[0]! }

    /// Writes one encoded packet (timestamps in the encoder's time base), cutting fragments at
    /// keyframes and segments at the first keyframe on or after each segment boundary.
    func write(_ packet: Packet) throws(MediaError) {
        let p = packet.pointer
        if isVideo, p.pointee.duration == 0 { p.pointee.duration = frameDuration }
        let time = Double(p.pointee.pts) * Rational(encoderTimeBase).doubleValue
        let end = Double(p.pointee.pts + p.pointee.duration) * Rational(encoderTimeBase).doubleValue
        let isKey = !isVideo || p.pointee.flags & AV_PKT_FLAG_KEY != 0
        if firstTime == nil {
            firstTime = time
            segmentStart = time
            try openSegment()
        }
        // Half a frame of slack so a keyframe landing a rounding error early still opens the segment.
        let boundary = firstTime! + Double(segments.count + 1) * segmentDuration - 0.0005
        if isVideo && isKey && samplesInFragment > 0 {
            try flushFragment()
            if time >= boundary { try cutSegment(at: time) }
        } else if !isVideo && time >= boundary {
            try flushFragment()
            try cutSegment(at: time)
        }
        if isVideo && isKey { pendingKeyFrame = time }
        endTime = max(endTime, end)
        p.pointee.stream_index = 0
        av_packet_rescale_ts(p, encoderTimeBase, stream.pointee.time_base)
        try check(av_write_frame(context, p), "muxing \(isVideo ? "video" : "audio")")
        samplesInFragment += 1
    }

    /// Flushes the last fragment, closes the last segment and returns the rendition's description.
    func finish() throws(MediaError) -> HLSTrack {
        guard firstTime != nil else {
            throw MediaError(.unsupported, step: "packaging \(directory)", message: "the encoder produced no data")
        }
        try flushFragment()
        try check(av_write_trailer(context), "finishing the mp4 fragments")
        try drain()
        try closeSegment(end: endTime)
        return HLSTrack(
            initName: HLSNames.initSegment, initSize: initBytes.count, segments: segments, keyFrames: keyFrames, codecs: codecs)
    }

    // MARK: - Fragments and segments

    private func flushFragment() throws(MediaError) {
        guard samplesInFragment > 0 else { return }
        // With frag_custom, a NULL packet asks the muxer to write out the fragment it holds. Under
        // delay_moov the first such request writes only ftyp+moov and keeps the samples, so ask again.
        let hadInit = initWritten
        try check(av_write_frame(context, nil), "cutting an mp4 fragment")
        let wroteFragment = try drain()
        if !hadInit && !wroteFragment {
            try check(av_write_frame(context, nil), "cutting an mp4 fragment")
            try drain()
        }
        samplesInFragment = 0
    }

    /// Moves what the muxer wrote into init.mp4 or the open segment, box by box; true when a
    /// fragment (moof) was among it.
    @discardableResult
    private func drain() throws(MediaError) -> Bool {
        avio_flush(context!.pointee.pb)
        try sink.check()
        var boxes = Array(sink.takeBoxes())
        var sawFragment = false
        for index in boxes.indices {
            let box = boxes[index]
            switch box.type {
            case "ftyp", "moov":
                initBytes += box.bytes
                if box.type == "moov" { try writeInit() }
            default:
                guard let current else { continue }
                if box.type == "moof" { sawFragment = true }
                if box.type == "moof", let key = pendingKeyFrame {
                    // moof, then the mdat header, then the keyframe: the first sample in decode order.
                    // Its size comes from the trun box, as the muxer rewrote start codes as lengths.
                    let mdatHeader = index + 1 < boxes.count ? boxes[index + 1].headerSize : 8
                    guard let sample = MP4Boxes.firstSampleSize(moof: box.bytes) else {
                        throw MediaError(.unsupported, step: "indexing keyframes", message: "the muxer wrote a fragment without sample sizes")
                    }
                    keyFrames.append(
                        HLSTrack.KeyFrame(
                            segment: segmentName(segments.count), time: key, offset: current.size,
                            length: box.bytes.count + mdatHeader + sample))
                    pendingKeyFrame = nil
                }
                try current.write(box.bytes)
            }
            boxes[index].bytes = []
        }
        return sawFragment
    }

    private func writeInit() throws(MediaError) {
        guard !initWritten else { return }
        let stream = try OutputStream(path: "\(directory)/init.mp4")
        try stream.write(initBytes)
        try stream.close()
        initWritten = true
    }

    private func segmentName(_ index: Int) -> String { HLSNames.segment(index) }

    private func openSegment() throws(MediaError) {
        current = try OutputStream(path: "\(directory)/\(segmentName(segments.count))")
    }

    private func closeSegment(end: Double) throws(MediaError) {
        guard let current else { return }
        try current.close()
        let segment = HLSTrack.Segment(
            name: segmentName(segments.count), start: segmentStart - (firstTime ?? 0), duration: end - segmentStart,
            size: current.size)
        segments.append(segment)
        self.current = nil
        try onSegment?(segment, segmentStart)
    }

    private func cutSegment(at time: Double) throws(MediaError) {
        try closeSegment(end: time)
        segmentStart = time
        try openSegment()
    }

    // MARK: - Codec strings (RFC 6381)

    static func codecString(_ context: UnsafeMutablePointer<AVCodecContext>) -> String {
        let c = context.pointee
        return codecString(c.codec_id, extradata: c.extradata, size: c.extradata_size, profile: c.profile)
    }

    static func codecString(_ parameters: UnsafePointer<AVCodecParameters>) -> String {
        let p = parameters.pointee
        return codecString(p.codec_id, extradata: p.extradata, size: p.extradata_size, profile: p.profile)
    }

    private static func codecString(_ codec: AVCodecID, extradata: UnsafeMutablePointer<UInt8>?, size: Int32, profile: Int32) -> String {
        switch codec {
        case AV_CODEC_ID_H264:
            let extradata = extradata.map { Array(UnsafeBufferPointer(start: $0, count: Int(size))) } ?? []
            if let sps = h264ProfileLevel(extradata) {
                return String(format: "avc1.%02x%02x%02x", sps.0, sps.1, sps.2)
            }
            return "avc1.640028"
        case AV_CODEC_ID_AAC:
            // mp4a.40.<audio object type>; libavcodec's AAC profiles are the object type minus one.
            return "mp4a.40.\(profile >= 0 ? profile + 1 : 2)"
        default:
            return String(cString: avcodec_get_name(codec))
        }
    }

    /// profile_idc, constraint flags and level_idc from an SPS, found in avcC or Annex B extradata.
    static func h264ProfileLevel(_ data: [UInt8]) -> (UInt8, UInt8, UInt8)? {
        if data.count >= 4, data[0] == 1 { return (data[1], data[2], data[3]) }
        var i = 0
        while i + 3 < data.count {
            if data[i] == 0, data[i + 1] == 0, data[i + 2] == 1 {
                let header = i + 3
                if data[header] & 0x1f == 7, header + 3 < data.count {
                    return (data[header + 1], data[header + 2], data[header + 3])
                }
                i = header
            } else {
                i += 1
            }
        }
        return nil
    }
}

@available(*, unavailable)
extension HLSTrackWriter: Sendable {}

/// Collects the muxer's output until we split it into boxes.
private final class ByteSink {
    struct Box {
        var type: String
        var headerSize: Int
        var bytes: [UInt8]
    }

    var buffer: [UInt8] = []
    var error: MediaError?

    func check() throws(MediaError) {
        if let error { throw error }
    }

    /// Whole top-level boxes received so far; a partial box stays buffered.
    func takeBoxes() -> [Box] {
        var boxes: [Box] = []
        var offset = 0
        while buffer.count - offset >= 8 {
            var size = Int(readBig32(at: offset))
            var header = 8
            if size == 1 {
                guard buffer.count - offset >= 16 else { break }
                size = Int(UInt64(readBig32(at: offset + 8)) << 32 | UInt64(readBig32(at: offset + 12)))
                header = 16
            } else if size == 0 {
                size = buffer.count - offset
            }
            guard size >= header, buffer.count - offset >= size else { break }
            let type = String(decoding: buffer[(offset + 4)..<(offset + 8)], as: UTF8.self)
            boxes.append(Box(type: type, headerSize: header, bytes: Array(buffer[offset..<(offset + size)])))
            offset += size
        }
        buffer.removeFirst(offset)
        return boxes
    }

    private func readBig32(at offset: Int) -> UInt32 { MP4Boxes.read32(buffer, offset) }
}

/// AVIO write callback: appends the muxer's bytes to the sink.
private let sinkWrite: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int32) -> Int32 = {
    opaque, bytes, count in
    guard let opaque, let bytes, count > 0 else { return count }
    let sink = Unmanaged<ByteSink>.fromOpaque(opaque).takeUnretainedValue()
    sink.buffer.append(contentsOf: UnsafeBufferPointer(start: bytes, count: Int(count)))
    return count
}

/// Just enough ISO BMFF (ISO/IEC 14496-12) reading to find sample sizes in a fragment.
enum MP4Boxes {
    /// Child boxes of a container's payload: (type, payload range).
    static func children(_ bytes: [UInt8], in range: Range<Int>) -> [(type: String, payload: Range<Int>)] {
        var result: [(String, Range<Int>)] = []
        var offset = range.lowerBound
        while offset + 8 <= range.upperBound {
            let size = Int(read32(bytes, offset))
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard size >= 8, offset + size <= range.upperBound else { break }
            result.append((type, (offset + 8)..<(offset + size)))
            offset += size
        }
        return result
    }

    /// The size of the first sample described by a `moof`: from its `trun` entries when present,
    /// else the `tfhd` default.
    static func firstSampleSize(moof: [UInt8]) -> Int? {
        guard moof.count >= 8 else { return nil }
        for traf in children(moof, in: 8..<moof.count) where traf.type == "traf" {
            var defaultSize: Int?
            for box in children(moof, in: traf.payload) {
                let p = box.payload.lowerBound
                guard box.payload.count >= 8 else { continue }
                let flags = Int(read32(moof, p)) & 0xFFFFFF
                if box.type == "tfhd" {
                    var field = p + 8
                    if flags & 0x1 != 0 { field += 8 }
                    if flags & 0x2 != 0 { field += 4 }
                    if flags & 0x8 != 0 { field += 4 }
                    if flags & 0x10 != 0, field + 4 <= box.payload.upperBound { defaultSize = Int(read32(moof, field)) }
                } else if box.type == "trun" {
                    guard read32(moof, p + 4) > 0 else { return nil }
                    var field = p + 8
                    if flags & 0x1 != 0 { field += 4 }
                    if flags & 0x4 != 0 { field += 4 }
                    if flags & 0x100 != 0 { field += 4 }
                    if flags & 0x200 != 0 {
                        return field + 4 <= box.payload.upperBound ? Int(read32(moof, field)) : nil
                    }
                    return defaultSize
                }
            }
        }
        return nil
    }

    static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }
}
