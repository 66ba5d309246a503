import Foundation
import TestSupport
import Testing

/// Reads what the transcoder wrote, independently of the code that wrote it: playlists are parsed
/// here from the text, media is examined with ffprobe.
struct HLSInspector {
    let root: URL

    struct Variant {
        var attributes: [String: String]
        var uri: String
        var bandwidth: Int { Int(attributes["BANDWIDTH"] ?? "") ?? -1 }
        var averageBandwidth: Int { Int(attributes["AVERAGE-BANDWIDTH"] ?? "") ?? -1 }
    }

    struct MediaPlaylist {
        var tags: [String]
        var segments: [(uri: String, duration: Double)]
        var byteRanges: [(length: Int, offset: Int)]
        var map: String?
        var targetDuration: Int
    }

    func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// `#EXT-X-STREAM-INF` variants (and, with `tag`, other attribute lines) of the master playlist.
    func variants(tag: String = "#EXT-X-STREAM-INF:") throws -> [Variant] {
        let lines = try text("master.m3u8").split(separator: "\n").map(String.init)
        var variants: [Variant] = []
        for (index, line) in lines.enumerated() where line.hasPrefix(tag) {
            let attributes = Self.attributes(String(line.dropFirst(tag.count)))
            let uri = tag == "#EXT-X-STREAM-INF:" ? lines[index + 1] : attributes["URI"] ?? ""
            variants.append(Variant(attributes: attributes, uri: uri))
        }
        return variants
    }

    /// RFC 8216 §4.2 attribute lists: quoted strings may hold commas.
    static func attributes(_ list: String) -> [String: String] {
        var result: [String: String] = [:]
        var key = ""
        var value = ""
        var inKey = true
        var quoted = false
        for character in list + "," {
            if inKey {
                if character == "=" { inKey = false } else { key.append(character) }
            } else if character == "\"" {
                quoted.toggle()
            } else if character == "," && !quoted {
                result[key] = value
                key = ""
                value = ""
                inKey = true
            } else {
                value.append(character)
            }
        }
        return result
    }

    func media(_ path: String) throws -> MediaPlaylist {
        var playlist = MediaPlaylist(tags: [], segments: [], byteRanges: [], map: nil, targetDuration: 0)
        var pendingDuration: Double?
        for line in try text(path).split(separator: "\n").map(String.init) {
            if line.hasPrefix("#EXTINF:") {
                pendingDuration = Double(line.dropFirst(8).split(separator: ",")[0])
            } else if line.hasPrefix("#EXT-X-BYTERANGE:") {
                let parts = line.dropFirst(17).split(separator: "@")
                playlist.byteRanges.append((Int(parts[0])!, Int(parts[1])!))
            } else if line.hasPrefix("#EXT-X-MAP:") {
                playlist.map = Self.attributes(String(line.dropFirst(11)))["URI"]
            } else if line.hasPrefix("#EXT-X-TARGETDURATION:") {
                playlist.targetDuration = Int(line.dropFirst(22)) ?? 0
            } else if line.hasPrefix("#") {
                playlist.tags.append(line)
            } else if let duration = pendingDuration {
                playlist.segments.append((line, duration))
                pendingDuration = nil
            }
        }
        return playlist
    }

    func size(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(path).path)[.size] as! Int
    }

    /// Peak and average bit rate computed from the files on disk and the playlist's durations.
    func measuredBitRates(_ folder: String) throws -> (peak: Int, average: Int) {
        let playlist = try media("\(folder)/index.m3u8")
        var peak = 0
        var bytes = 0
        var seconds = 0.0
        for segment in playlist.segments {
            let size = try size("\(folder)/\(segment.uri)")
            peak = max(peak, Int((Double(size) * 8 / segment.duration).rounded(.up)))
            bytes += size
            seconds += segment.duration
        }
        return (peak, Int((Double(bytes) * 8 / seconds).rounded(.up)))
    }

    /// Writes init + segments (or init + one segment) as one playable MP4 for ffprobe.
    func joined(_ folder: String, segments only: [String]? = nil) throws -> String {
        let playlist = try media("\(folder)/index.m3u8")
        var data = try Data(contentsOf: root.appendingPathComponent("\(folder)/\(playlist.map ?? "init.mp4")"))
        for segment in only ?? playlist.segments.map(\.uri) {
            data.append(try Data(contentsOf: root.appendingPathComponent("\(folder)/\(segment)")))
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("joined-\(UUID().uuidString).mp4").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// ffprobe's view of a folder's stream (first stream), frames counted.
    func probeStream(_ folder: String) throws -> [String: Any] {
        let path = try joined(folder)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let json = try ffprobe(path, ["-count_frames", "-show_streams", "-show_format"])
        var stream = (json["streams"] as? [[String: Any]])?.first ?? [:]
        stream["format_duration"] = (json["format"] as? [String: Any])?["duration"]
        return stream
    }

    /// Presentation times of the keyframes in a stream, per ffprobe.
    static func keyframeTimes(_ path: String) throws -> [Double] {
        let json = try ffprobe(path, ["-select_streams", "v", "-show_entries", "packet=pts_time,flags"])
        return (json["packets"] as? [[String: Any]] ?? [])
            .filter { ($0["flags"] as? String)?.hasPrefix("K") == true }
            .compactMap { Double($0["pts_time"] as? String ?? "") }
            .sorted()
    }
}
