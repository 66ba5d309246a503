import Foundation

/// HLS playlists as text (RFC 8216, with Apple's HLS authoring rules): the parts that need no
/// media library, shared by the transcoder, the server, packs and a school's mirror.
public enum HLSPlaylist {
    /// fMP4 segments with EXT-X-MAP in I-frame playlists need protocol version 6; 7 is what
    /// current packagers declare for CMAF, and every player that supports fMP4 accepts it.
    public static let version = 7

    /// RFC 8216 §4.3.3.1: each EXTINF rounded to the nearest integer must not exceed this.
    public static func targetDuration(_ durations: [Double]) -> Int {
        max(1, durations.map { Int($0.rounded()) }.max() ?? 1)
    }

    /// A VOD media playlist of fMP4 segments (name and duration each) behind one init segment.
    public static func media(segments: [(name: String, duration: Double)], initName: String = HLSNames.initSegment) -> String {
        var lines = header(targetDuration: targetDuration(segments.map(\.duration)))
        lines.append("#EXT-X-MAP:URI=\"\(initName)\"")
        for segment in segments {
            lines.append("#EXTINF:\(decimal(segment.duration, 6)),")
            lines.append(segment.name)
        }
        lines.append("#EXT-X-ENDLIST")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The master playlist reduced to one video tier (its audio rendition kept), for a one-tier
    /// master; nil when the master has no such tier.
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

    /// The playlist with every URI — a line that is not a tag, and a tag's `URI="…"` — replaced by
    /// `transform`'s answer. Used to point a playlist's segments at an object store.
    public static func mapURIs(_ text: String, _ transform: (String) -> String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let line = String(line)
            if line.isEmpty { return line }
            if !line.hasPrefix("#") {
                let trimmed = line.hasSuffix("\r") ? String(line.dropLast()) : line
                return transform(trimmed)
            }
            guard let start = line.range(of: "URI=\""), let end = line[start.upperBound...].firstIndex(of: "\"") else { return line }
            return String(line[..<start.upperBound]) + transform(String(line[start.upperBound..<end])) + String(line[end...])
        }.joined(separator: "\n")
    }

    /// Every URI the playlist names, in order.
    public static func references(_ text: String) -> [String] {
        var found: [String] = []
        _ = mapURIs(text) { uri in
            found.append(uri)
            return uri
        }
        return found
    }

    /// The opening lines of a VOD media playlist.
    public static func header(targetDuration: Int) -> [String] {
        [
            "#EXTM3U", "#EXT-X-VERSION:\(version)", "#EXT-X-TARGETDURATION:\(targetDuration)",
            "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
    }

    /// Fixed-point decimal with a dot whatever the locale.
    public static func decimal(_ value: Double, _ places: Int) -> String {
        String(format: "%.\(places)f", locale: Locale(identifier: "en_US_POSIX"), value)
    }
}
