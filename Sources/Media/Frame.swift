internal import CFFmpeg

/// Owns one `AVFrame` (and its reference to the data buffers); frees it in `deinit`.
final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(MediaError) {
        guard let frame = av_frame_alloc() else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "av_frame_alloc", message: "out of memory")
        }
        pointer = frame
    }

    /// A new reference to the same data (no pixel copy), as libav's `av_frame_clone` makes.
    func reference() throws(MediaError) -> Frame {
        let copy = try Frame()
        try check(av_frame_ref(copy.pointer, pointer), "av_frame_ref")
        return copy
    }

    func unref() { av_frame_unref(pointer) }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }
}

// A frame is handed from one thread to the next through `BoundedQueue`, never shared: whoever pops
// it owns it. The compiler cannot see that hand-over, so the type stays non-Sendable on purpose.
@available(*, unavailable)
extension Frame: Sendable {}

/// Owns one `AVPacket`; frees it in `deinit`.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws(MediaError) {
        guard let packet = av_packet_alloc() else {
            throw MediaError(.libav(code: lessonlink_averror(ENOMEM)), step: "av_packet_alloc", message: "out of memory")
        }
        pointer = packet
    }

    func unref() { av_packet_unref(pointer) }

    deinit {
        var packet: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&packet)
    }
}

@available(*, unavailable)
extension Packet: Sendable {}

/// Owns an `AVDictionary` of options; after a libav call has consumed what it understood, whatever
/// is left was not recognised — a bug in our settings that must not pass silently.
struct OptionDictionary: ~Copyable {
    var pointer: OpaquePointer?

    init(_ entries: KeyValuePairs<String, String>) {
        for (key, value) in entries { av_dict_set(&pointer, key, value, 0) }
    }

    init(_ entries: [(key: String, value: String)]) {
        for (key, value) in entries { av_dict_set(&pointer, key, value, 0) }
    }

    /// Keys libav did not consume.
    var leftoverKeys: [String] {
        var keys: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let next = av_dict_get(pointer, "", entry, AV_DICT_IGNORE_SUFFIX) {
            keys.append(String(cString: next.pointee.key))
            entry = next
        }
        return keys
    }

    /// Fails when options were left unconsumed: they would otherwise be silently ignored.
    func requireConsumed(_ step: String) throws(MediaError) {
        let keys = leftoverKeys
        if !keys.isEmpty {
            throw MediaError(
                .invalidConfiguration, step: step, message: "options not recognised: \(keys.joined(separator: ", "))")
        }
    }

    deinit {
        var doomed = pointer
        av_dict_free(&doomed)
    }
}
