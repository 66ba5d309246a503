import Foundation

/// Writes HLS playlists (RFC 8216, with Apple's HLS authoring rules) from finished tracks.
/// Pure text generation: every number in them was measured from the files actually written.
enum HLSPlaylist {
    /// fMP4 segments with EXT-X-MAP in I-frame playlists need protocol version 6; 7 is what
    /// current packagers declare for CMAF, and every player that supports fMP4 accepts it.
    static let version = 7

    /// RFC 8216 §4.3.3.1: each EXTINF rounded to the nearest integer must not exceed this.
    static func targetDuration(_ durations: [Double]) -> Int {
        max(1, durations.map { Int($0.rounded()) }.max() ?? 1)
    }

    static func media(_ track: HLSTrack) -> String {
        var lines = header(targetDuration: targetDuration(track.segments.map(\.duration)))
        lines.append("#EXT-X-MAP:URI=\"\(track.initName)\"")
        for segment in track.segments {
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
                    + "CHANNELS=\"\(sound.channels)\",URI=\"\(sound.folder)/index.m3u8\"")
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
            lines.append("\(variant.folder)/index.m3u8")
        }
        for rendition in audio {
            lines.append(
                "#EXT-X-STREAM-INF:BANDWIDTH=\(rendition.track.peakBitRate),"
                    + "AVERAGE-BANDWIDTH=\(rendition.track.averageBitRate),CODECS=\"\(rendition.track.codecs)\"")
            lines.append("\(rendition.folder)/index.m3u8")
        }
        for variant in video {
            lines.append(
                "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=\(iFramePeakBitRate(variant.track)),"
                    + "AVERAGE-BANDWIDTH=\(iFrameAverageBitRate(variant.track)),CODECS=\"\(variant.track.codecs)\","
                    + "RESOLUTION=\(variant.width)x\(variant.height),URI=\"\(variant.folder)/iframes.m3u8\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func header(targetDuration: Int) -> [String] {
        [
            "#EXTM3U", "#EXT-X-VERSION:\(version)", "#EXT-X-TARGETDURATION:\(targetDuration)",
            "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
    }

    /// Fixed-point decimal with a dot whatever the locale.
    static func decimal(_ value: Double, _ places: Int) -> String {
        String(format: "%.\(places)f", locale: Locale(identifier: "en_US_POSIX"), value)
    }
}
