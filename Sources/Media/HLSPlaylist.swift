import Foundation

/// Writes HLS playlists (RFC 8216, with Apple's HLS authoring rules) from finished tracks.
/// Pure text generation: every number in them was measured from the files actually written.
public enum HLSPlaylist {
    /// fMP4 segments with EXT-X-MAP in I-frame playlists need protocol version 6; 7 is what
    /// current packagers declare for CMAF, and every player that supports fMP4 accepts it.
    static let version = 7

    /// RFC 8216 §4.3.3.1: each EXTINF rounded to the nearest integer must not exceed this.
    static func targetDuration(_ durations: [Double]) -> Int {
        max(1, durations.map { Int($0.rounded()) }.max() ?? 1)
    }

    static func media(_ track: HLSTrack) -> String {
        media(segments: track.segments.map { ($0.name, $0.duration) }, initName: track.initName)
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

    /// An I-frame playlist: each entry is one keyframe's bytes, lasting until the next keyframe.
    static func iFrames(_ track: HLSTrack) -> String {
        let durations = iFrameDurations(track)
        var lines = header(targetDuration: targetDuration(durations))
        lines.insert("#EXT-X-I-FRAMES-ONLY", at: lines.count - 1)
        lines.append("#EXT-X-MAP:URI=\"\(track.initName)\"")
        for (key, duration) in zip(track.keyFrames, durations) {
            lines.append("#EXTINF:\(decimal(duration, 6)),")
            lines.append("#EXT-X-BYTERANGE:\(key.length)@\(key.offset)")
            lines.append(key.segment)
        }
        lines.append("#EXT-X-ENDLIST")
        return lines.joined(separator: "\n") + "\n"
    }

    static func iFrameDurations(_ track: HLSTrack) -> [Double] {
        let end = track.duration + (track.keyFrames.first?.time ?? 0)
        return track.keyFrames.indices.map { i in
            (i + 1 < track.keyFrames.count ? track.keyFrames[i + 1].time : end) - track.keyFrames[i].time
        }
    }

    /// Peak bit rate of an I-frame playlist: the largest keyframe over its duration.
    static func iFramePeakBitRate(_ track: HLSTrack) -> Int {
        zip(track.keyFrames, iFrameDurations(track))
            .map { $1 > 0 ? Int((Double($0.length) * 8 / $1).rounded(.up)) : 0 }.max() ?? 0
    }

    static func iFrameAverageBitRate(_ track: HLSTrack) -> Int {
        let seconds = iFrameDurations(track).reduce(0, +)
        let bytes = track.keyFrames.reduce(0) { $0 + $1.length }
        return seconds > 0 ? Int((Double(bytes) * 8 / seconds).rounded(.up)) : 0
    }

    struct VideoVariant {
        var folder: String
        var width: Int
        var height: Int
        var track: HLSTrack
    }

    struct AudioVariant {
        var folder: String
        var name: String
        var channels: Int
        var track: HLSTrack
    }

    /// The master playlist. Video variants reference the first audio rendition as their sound, so
    /// their BANDWIDTH adds its peak (RFC 8216 §4.3.4.2: the peak of the whole presentation). The
    /// audio renditions are also listed as audio-only variants, the last rung of the ladder.
    static func master(video: [VideoVariant], audio: [AudioVariant], frameRate: Double) -> String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(version)", "#EXT-X-INDEPENDENT-SEGMENTS"]
        let group = "audio"
        let sound = video.isEmpty ? nil : audio.first
        if let sound {
            lines.append(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"\(group)\",NAME=\"\(sound.name)\",DEFAULT=YES,AUTOSELECT=YES,"
                    + "CHANNELS=\"\(sound.channels)\",URI=\"\(HLSNames.mediaPlaylist(tier: sound.folder))\"")
        }
        for variant in video {
            var attributes = [
                "BANDWIDTH=\(variant.track.peakBitRate + (sound?.track.peakBitRate ?? 0))",
                "AVERAGE-BANDWIDTH=\(variant.track.averageBitRate + (sound?.track.averageBitRate ?? 0))",
                "CODECS=\"\([variant.track.codecs, sound?.track.codecs].compactMap { $0 }.joined(separator: ","))\"",
                "RESOLUTION=\(variant.width)x\(variant.height)",
                "FRAME-RATE=\(decimal(frameRate, 3))",
            ]
            if sound != nil { attributes.append("AUDIO=\"\(group)\"") }
            lines.append("#EXT-X-STREAM-INF:" + attributes.joined(separator: ","))
            lines.append(HLSNames.mediaPlaylist(tier: variant.folder))
        }
        for rendition in audio {
            lines.append(
                "#EXT-X-STREAM-INF:BANDWIDTH=\(rendition.track.peakBitRate),"
                    + "AVERAGE-BANDWIDTH=\(rendition.track.averageBitRate),CODECS=\"\(rendition.track.codecs)\"")
            lines.append(HLSNames.mediaPlaylist(tier: rendition.folder))
        }
        for variant in video {
            lines.append(
                "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=\(iFramePeakBitRate(variant.track)),"
                    + "AVERAGE-BANDWIDTH=\(iFrameAverageBitRate(variant.track)),CODECS=\"\(variant.track.codecs)\","
                    + "RESOLUTION=\(variant.width)x\(variant.height),URI=\"\(variant.folder)/\(HLSNames.iFramePlaylist)\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func header(targetDuration: Int) -> [String] {
        [
            "#EXTM3U", "#EXT-X-VERSION:\(version)", "#EXT-X-TARGETDURATION:\(targetDuration)",
            "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
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

    /// Fixed-point decimal with a dot whatever the locale.
    static func decimal(_ value: Double, _ places: Int) -> String {
        String(format: "%.\(places)f", locale: Locale(identifier: "en_US_POSIX"), value)
    }
}
