internal import CFFmpeg

/// The one error the media core throws: which step failed and why, in libav's own words.
///
/// Callers (the CLI, the server) show `description` to people, so it names the step in plain terms
/// ("opening the input", "decoding video") followed by libav's message.
public struct MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Broad classes of failure, for callers that react differently (e.g. HTTP status codes).
    public enum Reason: Sendable, Equatable {
        /// A libav call returned this negative code.
        case libav(code: Int32)
        /// The input is not an audio or video file we accept (text, image, random bytes…).
        case notMedia
        /// The input is media, but ends before its own header says it should.
        case truncated
        /// The input uses something this build cannot handle (no decoder, no usable stream).
        case unsupported
        /// The task was cancelled.
        case cancelled
        /// Reading or writing the local file system failed.
        case io
        /// A configuration file (the ladder) is invalid.
        case invalidConfiguration
    }

    public var reason: Reason
    /// The step that failed, e.g. "opening the input" or "avcodec_open2 (libx264)".
    public var step: String
    /// Why it failed: libav's message or our own explanation.
    public var message: String

    public init(_ reason: Reason, step: String, message: String) {
        self.reason = reason
        self.step = step
        self.message = message
    }

    public var description: String { "\(step): \(message)" }

    static let cancelled = MediaError(.cancelled, step: "transcoding", message: "cancelled")

    /// Builds an error from a libav return code, with `av_strerror`'s text.
    static func libav(_ code: Int32, step: String) -> MediaError {
        if code == lessonlink_averror_exit() { return .cancelled }
        var message = libavMessage(code)
        if let detail = Libav.takeLastErrorLine(), detail != message { message += " (\(detail))" }
        return MediaError(.libav(code: code), step: step, message: message)
    }

    static func io(_ step: String, _ error: any Error) -> MediaError {
        MediaError(.io, step: step, message: String(describing: error))
    }
}

/// libav's description of an error code (`av_strerror`).
func libavMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    if av_strerror(code, &buffer, buffer.count) < 0 {
        return "libav error \(code)"
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Makes one libav call and throws a `MediaError` if it returns a negative code; returns
/// non-negative codes unchanged. The thread's last libav error line is forgotten before the call,
/// so the message carries what this call logged, never an earlier call's complaint (the audio and
/// video decoders, the muxers and the scalers share threads).
@discardableResult
func check(_ call: @autoclosure () -> Int32, _ step: @autoclosure () -> String) throws(MediaError) -> Int32 {
    Libav.forgetLastError()
    return try checkCode(call(), step())
}

/// `check` for a code the caller already has: call `Libav.forgetLastError()` before making it.
@discardableResult
func checkCode(_ code: Int32, _ step: @autoclosure () -> String) throws(MediaError) -> Int32 {
    if code < 0 { throw MediaError.libav(code, step: step()) }
    return code
}

/// What a libav send/receive call means when it did not fail: data, try later, or stream over.
/// EAGAIN and EOF are control flow in libav's API, not errors.
enum Flow {
    case ready
    case needsMore
    case finished

    /// Makes an `avcodec_receive_*` / `av_buffersink_get_frame` call (with a clean error slate,
    /// as `check` does) and classifies its return code.
    static func of(_ call: @autoclosure () -> Int32, _ step: @autoclosure () -> String) throws(MediaError) -> Flow {
        Libav.forgetLastError()
        let code = call()
        if code >= 0 { return .ready }
        if code == lessonlink_averror_eagain() { return .needsMore }
        if code == lessonlink_averror_eof() { return .finished }
        throw MediaError.libav(code, step: step())
    }
}
