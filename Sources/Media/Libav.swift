import Foundation
import Synchronization
internal import CFFmpeg

/// Process-wide libav settings, and libav's log lines.
public enum Libav {
    /// How much of libav's own logging reaches stderr.
    public enum LogLevel: Int32, Sendable {
        case quiet = -8, error = 16, warning = 24, info = 32
    }

    private static let printLevel = Atomic<Int32>(LogLevel.quiet.rawValue)

    /// Sets what libav prints to stderr. Errors are always captured for `MediaError` messages.
    public static func setLogLevel(_ level: LogLevel) {
        _ = installed
        printLevel.store(level.rawValue, ordering: .relaxed)
        av_log_set_level(max(level.rawValue, AV_LOG_ERROR))
    }

    /// Installs the log callback once, before the first libav call.
    static let installed: Void = {
        lessonlink_install_log_callback()
        av_log_set_level(AV_LOG_ERROR)
    }()

    private static let lastErrorKey = "org.lessonlink.libav.lastError"

    /// Receives every libav log line that passes libav's own level filter.
    fileprivate static func received(level: Int32, line: String) {
        if level <= AV_LOG_ERROR {
            // The thread that made the failing call reads this back when it builds its MediaError.
            Thread.current.threadDictionary[lastErrorKey] = line.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if level <= printLevel.load(ordering: .relaxed) {
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// Forgets this thread's last libav error line, before a call whose own error is wanted.
    static func forgetLastError() {
        Thread.current.threadDictionary[lastErrorKey] = nil
    }

    /// This thread's last libav error line (without the `[component @ 0x…]` prefix), cleared once read.
    static func takeLastErrorLine() -> String? {
        guard let line = Thread.current.threadDictionary[lastErrorKey] as? String else { return nil }
        Thread.current.threadDictionary[lastErrorKey] = nil
        var text = Substring(line)
        if text.hasPrefix("["), let end = text.firstIndex(of: "]") { text = text[text.index(after: end)...] }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The FFmpeg library versions linked, for `lessonlink --version` and bug reports.
    public static var versions: String {
        func format(_ v: UInt32) -> String { "\(v >> 16).\((v >> 8) & 0xff).\(v & 0xff)" }
        return "libavformat \(format(avformat_version())), libavcodec \(format(avcodec_version())), "
            + "libavutil \(format(avutil_version())), libswscale \(format(swscale_version()))"
    }
}

@_cdecl("lessonlink_libav_log_line")
func lessonlinkLibavLogLine(_ level: Int32, _ line: UnsafePointer<CChar>?) {
    guard let line else { return }
    Libav.received(level: level, line: String(cString: line))
}
