import Foundation

/// The files of a live session's HLS, spelled once for the ingest child that writes them and the
/// server that serves them:
///
/// ```
/// master.m3u8
/// <tier>/index.m3u8  <tier>/segments.log (not served)
/// <tier>/e<publish>/init.mp4  <tier>/e<publish>/seg_00042.m4s
/// e<publish>/archive.ts (not served)
/// ```
///
/// Every publish (the first, and each return after the uplink dropped) writes into folders of
/// its own, `e1`, `e2`, …: its timestamps and even its picture size may differ from the last, so
/// it gets its own init segment, and the playlist marks the seam with `EXT-X-DISCONTINUITY`.
public enum LiveNames {
    public static let segmentLog = "segments.log"
    public static let archive = "archive.ts"

    public static func publish(_ number: Int) -> String { "e\(number)" }

    /// The publish number of a folder name (`e3` → 3).
    public static func publishNumber(_ name: String) -> Int? {
        guard name.hasPrefix("e"), name.count <= 7, let number = Int(name.dropFirst()), number > 0 else { return nil }
        return number
    }

    /// The path relative to a session's live folder for request path components, or nil when
    /// they are not a live file that may be served.
    public static func servedPath(_ components: [String]) -> String? {
        switch components.count {
        case 1 where components[0] == HLSNames.master:
            return components[0]
        case 2 where HLSNames.isTierName(components[0]) && components[1] == HLSNames.mediaPlaylist:
            return components.joined(separator: "/")
        case 3 where HLSNames.isTierName(components[0]) && publishNumber(components[1]) != nil
            && (components[2] == HLSNames.initSegment || HLSNames.isSegment(components[2])):
            return components.joined(separator: "/")
        default:
            return nil
        }
    }
}

/// One segment of a live tier as its log keeps it: which publish, the file, when its first
/// frame was captured (Unix seconds: `EXT-X-PROGRAM-DATE-TIME`) and its length.
public struct LiveSegment: Codable, Sendable, Equatable {
    /// Publish number (the `e<N>` folder).
    public var publish: Int
    /// File name inside `<tier>/e<publish>/`.
    public var name: String
    public var date: Double
    public var duration: Double

    public init(publish: Int, name: String, date: Double, duration: Double) {
        self.publish = publish
        self.name = name
        self.date = date
        self.duration = duration
    }

    enum CodingKeys: String, CodingKey {
        case publish = "e", name = "n", date = "t", duration = "d"
    }

    public var uri: String { "\(LiveNames.publish(publish))/\(name)" }
}

extension HLSPlaylist {
    /// A live media playlist (RFC 8216 §6.2.2): the last `window` segments of `segments` (every
    /// segment of the tier so far, oldest first), program date-times on each, a discontinuity and
    /// a new `EXT-X-MAP` wherever the publish changes, and `EXT-X-ENDLIST` once the session is over
    /// (the window stays: the media sequence of a playlist must never go back; the whole lesson is
    /// on demand as its archive recording).
    public static func live(
        segments: [LiveSegment], window: Int, targetDuration: Int, ended: Bool, holdBack: Double? = nil
    ) -> String {
        let first = max(0, segments.count - window)
        let shown = segments[first...]
        // Discontinuities before the window: how many publish changes scrolled out of it.
        var discontinuities = 0
        if first > 0 {
            for index in 1...first where segments[index].publish != segments[index - 1].publish { discontinuities += 1 }
        }
        var lines = [
            "#EXTM3U", "#EXT-X-VERSION:\(version)",
            "#EXT-X-TARGETDURATION:\(max(targetDuration, targetDurationOf(shown.map(\.duration))))",
            "#EXT-X-MEDIA-SEQUENCE:\(first)", "#EXT-X-DISCONTINUITY-SEQUENCE:\(discontinuities)",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        if let holdBack, !ended { lines.append("#EXT-X-SERVER-CONTROL:HOLD-BACK=\(decimal(holdBack, 1))") }
        var previous: Int?
        for segment in shown {
            if segment.publish != previous {
                if previous != nil { lines.append("#EXT-X-DISCONTINUITY") }
                lines.append("#EXT-X-MAP:URI=\"\(LiveNames.publish(segment.publish))/\(HLSNames.initSegment)\"")
                previous = segment.publish
            }
            lines.append("#EXT-X-PROGRAM-DATE-TIME:\(programDate(segment.date))")
            lines.append("#EXTINF:\(decimal(segment.duration, 6)),")
            lines.append(segment.uri)
        }
        if ended { lines.append("#EXT-X-ENDLIST") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func targetDurationOf(_ durations: some Sequence<Double>) -> Int {
        durations.map { Int($0.rounded()) }.max() ?? 1
    }

    /// ISO 8601 with milliseconds and a `Z`, as RFC 8216 §4.3.2.6 asks.
    public static func programDate(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

/// A live tier's segment log: one JSON line per segment, appended as each is published, so that a
/// restarted ingest (a publisher coming back, a server restart) continues the playlist, and the
/// end of the session closes it.
public enum LiveSegmentLog {
    public static func read(_ path: String) -> [LiveSegment] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        // A line cut short by a crash is dropped: its segment was never announced.
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(LiveSegment.self, from: Data($0)) }
    }

    public static func line(_ segment: LiveSegment) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(segment)) ?? Data()) + Array("\n".utf8)
    }
}
