import CFFmpeg
import Foundation

/// What a quick pass over a source's video packets (demuxed, not decoded) says about passing it
/// through: where its keyframes fall and how high its rate peaks. Reading a recording once more
/// costs a fraction of decoding it.
public struct SourceScan: Sendable, Equatable {
    /// The first packet is a keyframe (a segment can start with the file).
    public var startsWithKeyframe: Bool
    /// The longest time between keyframes, the end counted as one.
    public var maxKeyframeGap: Double
    /// The most bits in any window of `window` seconds, per second.
    public var peakBitRate: Double

    public init(startsWithKeyframe: Bool, maxKeyframeGap: Double, peakBitRate: Double) {
        self.startsWithKeyframe = startsWithKeyframe
        self.maxKeyframeGap = maxKeyframeGap
        self.peakBitRate = peakBitRate
    }

    /// Packet times (s), sizes (bytes) and key flags, in presentation order, to the scan.
    static func measure(_ packets: [(time: Double, size: Int, key: Bool)], end: Double, window: Double) -> SourceScan {
        guard let first = packets.first else { return SourceScan(startsWithKeyframe: false, maxKeyframeGap: .infinity, peakBitRate: 0) }
        let sorted = packets.sorted { $0.time < $1.time }
        let keys = sorted.filter(\.key).map(\.time) + [max(end, sorted.last!.time)]
        let gap = zip(keys, keys.dropFirst()).map { $1 - $0 }.max() ?? .infinity
        var peak = 0, sum = 0, start = 0
        for index in sorted.indices {
            sum += sorted[index].size
            while sorted[index].time - sorted[start].time >= window - 1e-9 {
                sum -= sorted[start].size
                start += 1
            }
            peak = max(peak, sum)
        }
        return SourceScan(startsWithKeyframe: first.key, maxKeyframeGap: gap, peakBitRate: Double(peak * 8) / window)
    }

    /// Reads every packet of video stream `stream` of `path`.
    static func read(path: String, stream: Int, duration: Double?, window: Double, cancellation: CancellationFlag) throws(MediaError) -> SourceScan {
        let input = try InputFile(path: path, cancellation: cancellation)
        input.discardAll(except: [stream])
        let packet = try Packet()
        let video = input.stream(stream)
        let timeBase = Rational(video.pointee.time_base).doubleValue
        let start = input.context.pointee.start_time
        let origin = start == lessonlink_nopts() ? 0 : Double(start) / Double(AV_TIME_BASE)
        var packets: [(time: Double, size: Int, key: Bool)] = []
        while true {
            if cancellation.isCancelled { throw .cancelled }
            let status = av_read_frame(input.context, packet.pointer)
            if status == lessonlink_averror_eof() { break }
            try check(status, "scanning the source's keyframes")
            defer { packet.unref() }
            let p = packet.pointer.pointee
            guard Int(p.stream_index) == stream, p.pts != lessonlink_nopts() else { continue }
            packets.append((Double(p.pts) * timeBase - origin, Int(p.size), p.flags & AV_PKT_FLAG_KEY != 0))
        }
        let last = packets.map(\.time).max() ?? 0
        return measure(packets, end: max(duration ?? 0, last), window: window)
    }
}
