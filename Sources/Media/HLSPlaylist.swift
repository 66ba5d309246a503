import Foundation
import HLS

/// The playlists of finished tracks: media, I-frame and master (RFC 8216, with Apple's HLS
/// authoring rules). Every number in them was measured from the files actually written.
extension HLSPlaylist {
    static func media(_ track: HLSTrack) -> String {
        media(segments: track.segments.map { ($0.name, $0.duration) }, initName: track.initName)
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
}
