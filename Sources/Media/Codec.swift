internal import CFFmpeg

/// Owns an `AVCodecContext`, freed with `avcodec_free_context`.
final class CodecContext {
    let pointer: UnsafeMutablePointer<AVCodecContext>
    let codecName: String

    init(codec: UnsafePointer<AVCodec>) throws(MediaError) {
        guard let context = avcodec_alloc_context3(codec) else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "avcodec_alloc_context3", message: "out of memory")
        }
        pointer = context
        codecName = String(cString: codec.pointee.name)
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&context)
    }
}

@available(*, unavailable)
extension CodecContext: Sendable {}

/// Decodes one stream of an `InputFile`.
final class Decoder {
    let context: CodecContext
    let stream: UnsafeMutablePointer<AVStream>
    var kind: String { stream.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO ? "video" : "audio" }

    init(stream: UnsafeMutablePointer<AVStream>, threads: Int) throws(MediaError) {
        let parameters = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            let name = String(cString: avcodec_get_name(parameters.pointee.codec_id))
            throw MediaError(.unsupported, step: "opening the decoder", message: "no decoder for '\(name)' in this FFmpeg build")
        }
        self.stream = stream
        context = try CodecContext(codec: codec)
        let c = context.pointer
        try check(avcodec_parameters_to_context(c, parameters), "avcodec_parameters_to_context")
        c.pointee.pkt_timebase = stream.pointee.time_base
        c.pointee.thread_count = Int32(threads)
        try check(avcodec_open2(c, codec, nil), "opening the \(context.codecName) decoder")
    }

    /// Sends a packet (nil to drain); returns libav's code so the caller decides how much damage to
    /// tolerate in a recording before giving up.
    func send(_ packet: Packet?) -> Int32 {
        // The audio and video decoders share a thread: forget the other one's last complaint, so
        // an error names what this decoder said.
        Libav.forgetLastError()
        return avcodec_send_packet(context.pointer, packet?.pointer)
    }

    func receive(into frame: Frame) throws(MediaError) -> Flow {
        try Flow.of(avcodec_receive_frame(context.pointer, frame.pointer), "decoding \(kind)")
    }
}

@available(*, unavailable)
extension Decoder: Sendable {}

/// Encodes frames into packets with one libavcodec encoder.
final class Encoder {
    let context: CodecContext

    /// Opens the encoder called `name` after `configure` has set the context's fields; `options`
    /// are the encoder's private options. Options the encoder does not recognise are an error.
    init(
        name: String, options: KeyValuePairs<String, String> = [:],
        configure: (UnsafeMutablePointer<AVCodecContext>) -> Void
    ) throws(MediaError) {
        guard let codec = avcodec_find_encoder_by_name(name) else {
            throw MediaError(.unsupported, step: "opening the encoder", message: "encoder '\(name)' is not in this FFmpeg build")
        }
        context = try CodecContext(codec: codec)
        configure(context.pointer)
        var dictionary = OptionDictionary(options)
        try check(avcodec_open2(context.pointer, codec, &dictionary.pointer), "opening the \(name) encoder")
        try dictionary.requireConsumed("opening the \(name) encoder")
    }

    var timeBase: AVRational { context.pointer.pointee.time_base }

    /// Sends a frame (nil to drain).
    func send(_ frame: Frame?) throws(MediaError) {
        try check(avcodec_send_frame(context.pointer, frame?.pointer), "encoding with \(context.codecName)")
    }

    func receive(into packet: Packet) throws(MediaError) -> Flow {
        try Flow.of(avcodec_receive_packet(context.pointer, packet.pointer), "encoding with \(context.codecName)")
    }
}

@available(*, unavailable)
extension Encoder: Sendable {}

/// Scales and converts pictures with libswscale (`SwsContext`), to one fixed output size and format.
final class Scaler {
    private var context: OpaquePointer?
    private var source: (width: Int32, height: Int32, format: Int32) = (0, 0, -1)
    let width: Int32
    let height: Int32
    let format: AVPixelFormat

    init(width: Int, height: Int, format: AVPixelFormat) {
        self.width = Int32(width)
        self.height = Int32(height)
        self.format = format
    }

    /// True when `frame` already has the output size and format, so no scaling is needed.
    func isPassThrough(_ frame: Frame) -> Bool {
        let f = frame.pointer.pointee
        let square = f.sample_aspect_ratio.num == f.sample_aspect_ratio.den || f.sample_aspect_ratio.num == 0
        return f.width == width && f.height == height && f.format == format.rawValue && square
    }

    /// Returns a new frame of the output size holding `frame`'s picture, timestamps copied.
    func scale(_ frame: Frame) throws(MediaError) -> Frame {
        let f = frame.pointer.pointee
        if context == nil || source != (f.width, f.height, f.format) {
            sws_freeContext(context)
            // Bicubic, as ffmpeg's scale filter defaults to: text on a blackboard stays crisp.
            context = sws_getContext(
                f.width, f.height, AVPixelFormat(f.format), width, height, format, SWS_BICUBIC, nil, nil, nil)
            guard context != nil else {
                throw MediaError(.unsupported, step: "scaling", message: "cannot convert \(f.width)x\(f.height) to \(width)x\(height)")
            }
            source = (f.width, f.height, f.format)
        }
        let output = try Frame()
        output.pointer.pointee.width = width
        output.pointer.pointee.height = height
        output.pointer.pointee.format = format.rawValue
        try check(av_frame_get_buffer(output.pointer, 0), "allocating a scaled picture")
        try check(sws_scale_frame(context, output.pointer, frame.pointer), "scaling to \(width)x\(height)")
        try check(av_frame_copy_props(output.pointer, frame.pointer), "av_frame_copy_props")
        output.pointer.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        return output
    }

    deinit { sws_freeContext(context) }
}

@available(*, unavailable)
extension Scaler: Sendable {}

/// Converts decoded audio to the encoder's sample format, rate and channel layout (libswresample).
final class Resampler {
    private var context: OpaquePointer?
    let sampleRate: Int32
    let channels: Int32

    init(input: UnsafeMutablePointer<AVCodecContext>, sampleRate: Int, channels: Int) throws(MediaError) {
        self.sampleRate = Int32(sampleRate)
        self.channels = Int32(channels)
        var inLayout = AVChannelLayout()
        if input.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || input.pointee.ch_layout.nb_channels == 0 {
            av_channel_layout_default(&inLayout, max(1, input.pointee.ch_layout.nb_channels))
        } else {
            try check(av_channel_layout_copy(&inLayout, &input.pointee.ch_layout), "av_channel_layout_copy")
        }
        defer { av_channel_layout_uninit(&inLayout) }
        var outLayout = AVChannelLayout()
        av_channel_layout_default(&outLayout, Int32(channels))
        defer { av_channel_layout_uninit(&outLayout) }
        try check(
            swr_alloc_set_opts2(
                &context, &outLayout, AV_SAMPLE_FMT_FLTP, Int32(sampleRate), &inLayout, input.pointee.sample_fmt,
                input.pointee.sample_rate, 0, nil),
            "configuring the resampler")
        try check(swr_init(context), "opening the resampler")
    }

    /// Converts `frame` (nil drains what the resampler still holds) into a new frame.
    func convert(_ frame: Frame?) throws(MediaError) -> Frame {
        let output = try Frame()
        av_channel_layout_default(&output.pointer.pointee.ch_layout, channels)
        output.pointer.pointee.sample_rate = sampleRate
        output.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        let inputSamples = frame?.pointer.pointee.nb_samples ?? 0
        output.pointer.pointee.nb_samples = swr_get_out_samples(context, inputSamples)
        if output.pointer.pointee.nb_samples > 0 {
            try check(av_frame_get_buffer(output.pointer, 0), "allocating resampled audio")
            Libav.forgetLastError()
            let converted = swr_convert(
                context, lessonlink_frame_extended_data(output.pointer), output.pointer.pointee.nb_samples,
                frame.map { UnsafeMutablePointer(mutating: lessonlink_frame_extended_data($0.pointer)) }
                    .map { UnsafeMutablePointer<UnsafePointer<UInt8>?>(OpaquePointer($0)) },
                inputSamples)
            output.pointer.pointee.nb_samples = try checkCode(converted, "resampling audio")
        }
        return output
    }

    deinit { swr_free(&context) }
}

@available(*, unavailable)
extension Resampler: Sendable {}

/// Collects resampled audio and hands it out in the encoder's fixed frame size (1024 for AAC).
final class AudioFIFO {
    private let fifo: OpaquePointer
    let channels: Int32

    init(channels: Int) throws(MediaError) {
        guard let fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, Int32(channels), 4096) else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "av_audio_fifo_alloc", message: "out of memory")
        }
        self.fifo = fifo
        self.channels = Int32(channels)
    }

    var count: Int32 { av_audio_fifo_size(fifo) }

    func write(_ frame: Frame) throws(MediaError) {
        let samples = frame.pointer.pointee.nb_samples
        guard samples > 0 else { return }
        let data = lessonlink_frame_extended_data(frame.pointer).map { UnsafeMutablePointer<UnsafeMutableRawPointer?>(OpaquePointer($0)) }
        try check(av_audio_fifo_write(fifo, data, samples), "buffering audio")
    }

    /// Reads up to `samples` samples into a new frame.
    func read(_ samples: Int32, sampleRate: Int32) throws(MediaError) -> Frame {
        let frame = try Frame()
        let count = min(samples, self.count)
        frame.pointer.pointee.nb_samples = count
        av_channel_layout_default(&frame.pointer.pointee.ch_layout, channels)
        frame.pointer.pointee.sample_rate = sampleRate
        frame.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        try check(av_frame_get_buffer(frame.pointer, 0), "allocating audio")
        let data = lessonlink_frame_extended_data(frame.pointer).map { UnsafeMutablePointer<UnsafeMutableRawPointer?>(OpaquePointer($0)) }
        try check(av_audio_fifo_read(fifo, data, count), "reading buffered audio")
        return frame
    }

    deinit { av_audio_fifo_free(fifo) }
}

@available(*, unavailable)
extension AudioFIFO: Sendable {}

/// A libavfilter graph for what swscale cannot do: deinterlacing and rotating the picture.
/// Only built when a source needs it, so ordinary recordings skip libavfilter entirely.
final class VideoFilter {
    private var graph: UnsafeMutablePointer<AVFilterGraph>?
    private var source: UnsafeMutablePointer<AVFilterContext>?
    private var sink: UnsafeMutablePointer<AVFilterContext>?

    /// The libavfilter description for a plan's needs, or nil when the picture is fine as it is.
    static func description(deinterlace: Bool, rotation: Int) -> String? {
        var filters: [String] = []
        // bwdif keeps the frame rate (one frame per frame) and only touches frames marked interlaced.
        if deinterlace { filters.append("bwdif=mode=send_frame:parity=auto:deint=interlaced") }
        switch rotation {
        case 90: filters.append("transpose=clock")
        case 180: filters.append("hflip,vflip")
        case 270: filters.append("transpose=cclock")
        default: break
        }
        return filters.isEmpty ? nil : filters.joined(separator: ",")
    }

    init(decoder: Decoder, description: String) throws(MediaError) {
        let c = decoder.context.pointer.pointee
        let timeBase = decoder.stream.pointee.time_base
        let sar = c.sample_aspect_ratio.num > 0 ? c.sample_aspect_ratio : AVRational(num: 1, den: 1)
        let arguments =
            "video_size=\(c.width)x\(c.height):pix_fmt=\(c.pix_fmt.rawValue):time_base=\(timeBase.num)/\(timeBase.den)"
            + ":pixel_aspect=\(sar.num)/\(sar.den)"
        graph = avfilter_graph_alloc()
        guard let graph else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "avfilter_graph_alloc", message: "out of memory")
        }
        try check(
            avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in", arguments, nil, graph),
            "creating the filter source")
        try check(
            avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nil, nil, graph),
            "creating the filter sink")
        var outputs = avfilter_inout_alloc()
        var inputs = avfilter_inout_alloc()
        defer {
            avfilter_inout_free(&outputs)
            avfilter_inout_free(&inputs)
        }
        outputs?.pointee.name = av_strdup("in")
        outputs?.pointee.filter_ctx = source
        inputs?.pointee.name = av_strdup("out")
        inputs?.pointee.filter_ctx = sink
        try check(avfilter_graph_parse_ptr(graph, description, &inputs, &outputs, nil), "parsing filters '\(description)'")
        try check(avfilter_graph_config(graph, nil), "configuring filters '\(description)'")
    }

    /// The time base of frames coming out of the graph.
    var outputTimeBase: AVRational { av_buffersink_get_time_base(sink) }

    /// Pushes a frame in (nil marks the end of the stream).
    func push(_ frame: Frame?) throws(MediaError) {
        try check(av_buffersrc_add_frame_flags(source, frame?.pointer, 0), "filtering video")
    }

    func pull(into frame: Frame) throws(MediaError) -> Flow {
        try Flow.of(av_buffersink_get_frame(sink, frame.pointer), "filtering video")
    }

    deinit { avfilter_graph_free(&graph) }
}

@available(*, unavailable)
extension VideoFilter: Sendable {}
