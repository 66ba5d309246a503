internal import CFFmpeg

/// An open input file (`AVFormatContext` from `avformat_open_input`), closed in `deinit`.
///
/// Only local files and only real audio/video containers are accepted: a crafted playlist or
/// concat script must not make libav open other files or the network, and libav's text and image
/// demuxers would otherwise turn a `.txt` or `.png` into a "video".
final class InputFile {
    private(set) var context: UnsafeMutablePointer<AVFormatContext>
    let path: String
    let info: MediaInfo
    // Kept alive for the interrupt callback, which holds an unretained pointer to it.
    private let cancellation: CancellationFlag

    /// Demuxers for what recording classrooms, phones, cameras and screen recorders produce.
    static let allowedFormats = [
        "mov", "mp4", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "mxf", "asf", "dv", "h264", "hevc",
        "m4v", "ogg", "wav", "mp3", "aac", "flac", "w64", "amr",
    ].joined(separator: ",")

    convenience init(path: String, cancellation: CancellationFlag = CancellationFlag()) throws(MediaError) {
        try self.init(
            url: path, format: nil, options: ["protocol_whitelist": "file", "format_whitelist": Self.allowedFormats],
            cancellation: cancellation)
    }

    /// A live input: FLV on a pipe from the RTMP front, or an SRT listener (MPEG-TS). Only the
    /// named protocols and format are allowed, and stream analysis is kept short so that the
    /// first segment is not held back by seconds of probing.
    convenience init(live url: String, format: String, protocols: String, options: [String: String], cancellation: CancellationFlag) throws(MediaError) {
        var all: [String: String] = [
            "protocol_whitelist": protocols, "format_whitelist": format, "analyzeduration": "1500000", "probesize": "2000000",
        ]
        all.merge(options) { _, new in new }
        try self.init(url: url, format: format, options: all, cancellation: cancellation)
    }

    private init(url path: String, format: String?, options entries: [String: String], cancellation: CancellationFlag) throws(MediaError) {
        _ = Libav.installed
        self.path = path
        self.cancellation = cancellation
        guard var context = avformat_alloc_context() else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "opening the input", message: "out of memory")
        }
        context.pointee.interrupt_callback = AVIOInterruptCB(
            callback: interruptCallback, opaque: Unmanaged.passUnretained(cancellation).toOpaque())
        var options = OptionDictionary(entries.sorted { $0.key < $1.key })
        var opened: UnsafeMutablePointer<AVFormatContext>? = context
        let status = avformat_open_input(&opened, path, format.flatMap { av_find_input_format($0) }, &options.pointer)
        // On failure avformat_open_input has already freed the context.
        guard status >= 0, let opened else { throw Self.openError(status, path: path) }
        context = opened
        self.context = context
        try options.requireConsumed("opening the input")
        do {
            try check(avformat_find_stream_info(context, nil), "reading stream information")
            info = try Self.describe(context)
        } catch {
            var doomed: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&doomed)
            throw error
        }
    }

    deinit {
        var doomed: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&doomed)
    }

    func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> { context.pointee.streams[index]! }

    /// Tells libav to skip every stream but these, so demuxing does not buffer what we never decode.
    func discardAll(except kept: Set<Int>) {
        for index in 0..<Int(context.pointee.nb_streams) where !kept.contains(index) {
            stream(index).pointee.discard = AVDISCARD_ALL
        }
    }

    private static func openError(_ status: Int32, path: String) -> MediaError {
        if status == lessonlink_averror(ENOENT) {
            return MediaError(.io, step: "opening the input", message: "no such file: \(path)")
        }
        if status == lessonlink_averror(EACCES) {
            return MediaError(.io, step: "opening the input", message: "permission denied: \(path)")
        }
        if status == lessonlink_averror_exit() { return .cancelled }
        var reason = libavMessage(status)
        if let detail = Libav.takeLastErrorLine(), detail != reason { reason += "; \(detail)" }
        // Invalid data, unknown format, or a format outside the allow-list all mean the same to a
        // teacher: this is not a recording we can read.
        return MediaError(
            .notMedia, step: "opening the input",
            message: "not a recognised audio or video file (\(reason))")
    }

    private static func describe(_ context: UnsafeMutablePointer<AVFormatContext>) throws(MediaError) -> MediaInfo {
        let format = context.pointee
        let streams = (0..<Int(format.nb_streams)).map { describe(stream: format.streams[$0]!, index: $0) }
        let size = format.pb.map { avio_size($0) }
        return MediaInfo(
            container: format.iformat.map { String(cString: $0.pointee.name) } ?? "unknown",
            duration: format.duration == lessonlink_nopts() || format.duration <= 0
                ? nil : Double(format.duration) / Double(AV_TIME_BASE),
            bitRate: format.bit_rate > 0 ? Int(format.bit_rate) : nil,
            size: size.flatMap { $0 >= 0 ? $0 : nil },
            streams: streams)
    }

    private static func describe(stream pointer: UnsafeMutablePointer<AVStream>, index: Int) -> StreamInfo {
        let stream = pointer.pointee
        let par = stream.codecpar!.pointee
        let kind: StreamInfo.Kind =
            switch par.codec_type {
            case AVMEDIA_TYPE_VIDEO: .video
            case AVMEDIA_TYPE_AUDIO: .audio
            case AVMEDIA_TYPE_SUBTITLE: .subtitle
            case AVMEDIA_TYPE_DATA: .data
            case AVMEDIA_TYPE_ATTACHMENT: .attachment
            default: .unknown
            }
        let duration =
            stream.duration == lessonlink_nopts() || stream.duration <= 0
            ? nil : Double(stream.duration) * Rational(stream.time_base).doubleValue
        var info = StreamInfo(
            index: index, kind: kind, codec: String(cString: avcodec_get_name(par.codec_id)),
            profile: avcodec_profile_name(par.codec_id, par.profile).map { String(cString: $0) },
            bitRate: par.bit_rate > 0 ? Int(par.bit_rate) : nil, duration: duration,
            language: av_dict_get(stream.metadata, "language", nil, 0).map { String(cString: $0.pointee.value) },
            isAttachedPicture: stream.disposition & AV_DISPOSITION_ATTACHED_PIC != 0)
        if kind == .video {
            let rotation = lessonlink_stream_rotation(pointer)
            let frameRate = av_guess_frame_rate(nil, pointer, nil)
            info.video = VideoDetails(
                width: Int(par.width), height: Int(par.height),
                sampleAspectRatio: Rational(par.sample_aspect_ratio).isValid
                    ? Rational(par.sample_aspect_ratio) : Rational(1, 1),
                rotation: rotation.isNaN ? 0 : normalizedClockwise(rotation),
                frameRate: Rational(frameRate),
                pixelFormat: av_get_pix_fmt_name(AVPixelFormat(par.format)).map { String(cString: $0) } ?? "none",
                fieldOrder: fieldOrder(par.field_order))
        } else if kind == .audio {
            var layout = par.ch_layout
            var buffer = [CChar](repeating: 0, count: 64)
            let described = av_channel_layout_describe(&layout, &buffer, buffer.count) > 0
            info.audio = AudioDetails(
                channels: Int(par.ch_layout.nb_channels),
                channelLayout: described
                    ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    : "unknown",
                sampleRate: Int(par.sample_rate),
                sampleFormat: av_get_sample_fmt_name(AVSampleFormat(par.format)).map { String(cString: $0) } ?? "none")
        }
        return info
    }

    /// libav's display matrix angle is counter-clockwise; players rotate clockwise by its negation.
    private static func normalizedClockwise(_ counterClockwise: Double) -> Int {
        let degrees = Int((-counterClockwise / 90).rounded()) * 90
        return ((degrees % 360) + 360) % 360
    }

    private static func fieldOrder(_ order: AVFieldOrder) -> VideoDetails.FieldOrder {
        switch order {
        case AV_FIELD_PROGRESSIVE: .progressive
        case AV_FIELD_TT: .topFieldFirst
        case AV_FIELD_BB: .bottomFieldFirst
        case AV_FIELD_TB: .topCodedFirstBottomDisplayed
        case AV_FIELD_BT: .bottomCodedFirstTopDisplayed
        default: .unknown
        }
    }
}

@available(*, unavailable)
extension InputFile: Sendable {}

/// libav calls this during blocking I/O; returning non-zero aborts the call with AVERROR_EXIT.
private let interruptCallback: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { opaque in
    guard let opaque else { return 0 }
    return Unmanaged<CancellationFlag>.fromOpaque(opaque).takeUnretainedValue().isCancelled ? 1 : 0
}
