import Foundation

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
        case 1 where components[0] == "master.m3u8" || components[0] == "poster.jpg":
            return components[0]
        case 1 where singleTier(components[0]) != nil:
            return components[0]
        case 2 where isTierName(components[0]) && isTierFile(components[1]):
            return "\(components[0])/\(components[1])"
        default:
            return nil
        }
    }

    /// The tier of a one-tier master (`master-360p.m3u8`): what a player with native HLS, which
    /// picks variants itself, is given when someone chooses a tier by hand.
    public static func singleTier(_ name: String) -> String? {
        guard name.hasPrefix("master-"), name.hasSuffix(".m3u8") else { return nil }
        let tier = String(name.dropFirst(7).dropLast(5))
        return isTierName(tier) ? tier : nil
    }

    /// The master playlist reduced to one video tier (its audio rendition kept).
    public static func singleTierMaster(_ master: String, tier: String) -> String? {
        let reduced = Self.master(master, keeping: [tier], iFrames: true)
        return reduced.contains("\n\(tier)/") ? reduced : nil
    }

    /// The master playlist with only the variants whose folder is in `tiers` (audio renditions
    /// declared by `EXT-X-MEDIA` always stay), with or without its I-frame playlists.
    public static func master(_ master: String, keeping tiers: Set<String>, iFrames: Bool) -> String {
        func tier(of uri: some StringProtocol) -> String { String(uri.split(separator: "/").first ?? "") }
        var lines: [String] = []
        var skipNext = false
        for line in master.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if skipNext {
                skipNext = false
                if tiers.contains(tier(of: line)) { lines.append(line) } else { lines.removeLast() }
            } else if line.hasPrefix("#EXT-X-STREAM-INF:") {
                lines.append(line)
                skipNext = true
            } else if line.hasPrefix("#EXT-X-I-FRAME-STREAM-INF:") {
                if iFrames, let uri = line.range(of: "URI=\""), tiers.contains(tier(of: line[uri.upperBound...])) { lines.append(line) }
            } else {
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Tier folder names as ladders name them (`1080p`, `audio-low`): letters, digits, `-`, `_`.
    static func isTierName(_ name: String) -> Bool {
        (1...32).contains(name.count) && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_")
        }
    }

    static func isTierFile(_ name: String) -> Bool {
        if ["index.m3u8", "iframes.m3u8", "init.mp4"].contains(name) { return true }
        guard name.hasPrefix("seg_"), name.hasSuffix(".m4s") else { return false }
        let number = name.dropFirst(4).dropLast(4)
        return (1...9).contains(number.count) && number.allSatisfy(\.isASCII) && number.allSatisfy(\.isNumber)
    }

    /// Whether a version folder name has the shape the worker gives it (`v12`).
    public static func isVersion(_ name: String) -> Bool {
        name.count <= 20 && name.first == "v" && name.count > 1 && name.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
    }

    public static func contentType(_ path: String) -> String {
        switch (path as NSString).pathExtension {
        case "m3u8": "application/vnd.apple.mpegurl"
        case "m4s": "video/iso.segment"
        case "mp4": "video/mp4"
        case "jpg": "image/jpeg"
        default: "application/octet-stream"
        }
    }

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
