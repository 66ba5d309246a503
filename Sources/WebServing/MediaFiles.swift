import Foundation
import HLS

/// The rules for which files under a published version may be served, and how.
///
/// A request names the file as path components; they are matched against the fixed shapes the
/// transcoder writes (`master.m3u8`, `poster.jpg`, `<tier>/index.m3u8`, `<tier>/iframes.m3u8`,
/// `<tier>/init.mp4`, `<tier>/seg_00042.m4s`), tier names being letters, digits, `-` and `_`, so
/// no client-supplied text can climb out of the version folder.
public enum MediaFiles {
    /// The path relative to the version folder, or nil when the components are not a media file.
    public static func relativePath(_ components: [String]) -> String? {
        switch components.count {
        case 1 where components[0] == HLSNames.master || components[0] == HLSNames.poster:
            return components[0]
        case 1 where HLSNames.singleTier(of: components[0]) != nil:
            return components[0]
        case 2 where HLSNames.isTierName(components[0]) && HLSNames.isTierFile(components[1]):
            return "\(components[0])/\(components[1])"
        default:
            return nil
        }
    }

    /// Whether a version folder name has the shape the worker gives it (`v12`).
    public static func isVersion(_ name: String) -> Bool {
        name.count <= 20 && name.first == "v" && name.count > 1 && name.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
    }

    public static func contentType(_ path: String) -> String { HLSNames.contentType(of: path) }

    public static func isPlaylist(_ path: String) -> Bool { path.hasSuffix(".m3u8") }

    /// Segments, init segments and posters of a version never change (a new transcode is a new
    /// version folder); playlists get a short lifetime so a fixed or re-published lesson is seen.
    public static func cacheControl(_ path: String) -> String {
        isPlaylist(path) ? "public, max-age=60" : "public, max-age=31536000, immutable"
    }
}

/// A `Range: bytes=…` request header against a file of `size` bytes (RFC 9110 §14). One range
/// only: players ask for one, and multipart answers are not worth their complexity here.
public enum ByteRange: Equatable, Sendable {
    /// No usable Range header: send the whole file.
    case whole
    case partial(ClosedRange<Int>)
    /// 416: the range starts past the end.
    case unsatisfiable

    public init(header: String?, size: Int) {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else {
            self = .whole
            return
        }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            self = .whole
            return
        }
        if parts[0].isEmpty {
            // Suffix: the last N bytes.
            guard let count = Int(parts[1]), count > 0 else {
                self = parts[1].isEmpty ? .whole : .unsatisfiable
                return
            }
            self = size == 0 ? .unsatisfiable : .partial(max(0, size - count)...(size - 1))
            return
        }
        guard let start = Int(parts[0]), start >= 0 else {
            self = .whole
            return
        }
        guard start < size else {
            self = .unsatisfiable
            return
        }
        if parts[1].isEmpty {
            self = .partial(start...(size - 1))
        } else if let end = Int(parts[1]), end >= start {
            self = .partial(start...min(end, size - 1))
        } else {
            self = .whole
        }
    }
}

/// Serving rules shared by the county server's pack downloads and a mirror.
public enum PackFiles {
    public static func contentType(_ path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "pdf": "application/pdf"
        case "txt", "md": "text/plain; charset=utf-8"
        case "json": "application/json"
        case "vtt": "text/vtt; charset=utf-8"
        case "srt": "application/x-subrip"
        default: MediaFiles.contentType(path)
        }
    }
}
