/// What a transcode of one source will produce: decided from the probe alone, with no I/O, so
/// every rule below is covered by table-driven tests.
///
/// Rules:
/// - Tiers never upscale: a tier taller than the source is dropped. When the source's height falls
///   between two tiers, the source's own height becomes the top tier, encoded with the settings of
///   the next taller tier.
/// - Heights compare against the picture's shorter side, so a portrait phone recording gets the
///   same tiers as a landscape one.
/// - Aspect ratio is kept (pixel aspect and rotation applied); dimensions are even, as 4:2:0 needs.
/// - A source without audio gets video tiers only; a source without video gets every audio tier.
public struct TranscodePlan: Sendable, Equatable {
    /// A video tier with the exact output size.
    public struct VideoOutput: Sendable, Equatable {
        public var tier: Ladder.VideoTier
        public var width: Int
        public var height: Int
    }

    /// Index of the source stream used as the picture, if any.
    public var videoStream: Int?
    /// Index of the source stream used as the sound, if any.
    public var audioStream: Int?
    /// Video tiers, largest first; each is scaled from the one before it.
    public var video: [VideoOutput]
    public var audio: [Ladder.AudioTier]
    /// Output frame rate (the source's); every tier shares it.
    public var frameRate: Rational
    /// Frames between keyframes, identical in every tier.
    public var keyframeInterval: Int
    /// Seconds between keyframes; keyframes are placed by time so they align with segment starts.
    public var keyframeSeconds: Double
    public var deinterlace: Bool
    /// Clockwise rotation applied to the pixels so players need no display matrix.
    public var rotation: Int
    public var segmentDuration: Double
    public var sampleRate: Int
    public var posterPosition: Double
    public var preset: String
    /// The source's video could be the top tier as it is, if its keyframes and rate allow
    /// (`decidePassthrough`): H.264 in a profile players take, 8-bit 4:2:0, progressive, upright,
    /// square pixels, exactly the top tier's size, and the ladder allows it.
    public var passthroughCandidate = false
    /// The top tier is the source's own packets; the other tiers are encoded with their keyframes
    /// on the source's, so every tier switches at the same boundaries.
    public var passthrough = false
    /// The top tier's rate cap, and the longest keyframe gap the segments allow.
    var passthroughMaxRate = 0
    var passthroughKeyframeGap = 0.0

    public init(source: MediaInfo, ladder: Ladder) throws(MediaError) {
        let videoStream = source.primaryVideo
        let audioStream = source.primaryAudio
        guard videoStream != nil || audioStream != nil else {
            throw MediaError(.notMedia, step: "planning the ladder", message: "the file has no audio or video stream")
        }
        self.videoStream = videoStream?.index
        self.audioStream = audioStream?.index
        segmentDuration = ladder.segmentDuration
        sampleRate = ladder.sampleRate
        posterPosition = ladder.posterPosition
        preset = ladder.preset
        keyframeSeconds = ladder.keyframeInterval
        audio = audioStream == nil ? [] : videoStream == nil ? ladder.audio : [ladder.audio[0]]

        guard let details = videoStream?.video else {
            video = []
            frameRate = Rational(0, 1)
            keyframeInterval = 0
            deinterlace = false
            rotation = 0
            return
        }
        guard details.width > 0, details.height > 0 else {
            throw MediaError(.unsupported, step: "planning the ladder", message: "the video stream has no picture size")
        }
        video = Self.videoOutputs(display: details.displaySize, tiers: ladder.video)
        // Libav's guess can be absent (raw streams) or absurd (timestamps in ms): assume 25 fps, the
        // PAL rate Chinese classroom recorders use, rather than fail.
        let rate = details.frameRate
        frameRate = rate.isValid && rate.doubleValue >= 1 && rate.doubleValue <= 120 ? rate : Rational(25, 1)
        keyframeInterval = max(1, Int((ladder.keyframeInterval * frameRate.doubleValue).rounded()))
        deinterlace = details.fieldOrder.isInterlaced
        rotation = details.rotation
        if ladder.passthrough, let top = video.first, let stream = videoStream {
            let profiles = ["Baseline", "Constrained Baseline", "Main", "High"]
            let square = !details.sampleAspectRatio.isValid || details.sampleAspectRatio.doubleValue == 1
            passthroughCandidate =
                stream.codec == "h264" && profiles.contains(stream.profile ?? "") && ["yuv420p", "yuvj420p"].contains(details.pixelFormat)
                && !deinterlace && rotation == 0 && square && top.width == details.width && top.height == details.height
            // A segment must start on a keyframe and last no longer than the ladder's segments
            // (players size their buffers by the target duration), nor 4 s.
            passthroughMaxRate = top.tier.maxRate
            passthroughKeyframeGap = min(4, segmentDuration)
        }
    }

    /// Decides passthrough from a scan of the source's video packets: keyframes (IDR, from the
    /// first packet on) no further apart than a segment, and no segment-long window above the top
    /// tier's rate cap.
    public mutating func decidePassthrough(_ scan: SourceScan) {
        let slack = frameRate.isValid && frameRate.doubleValue > 0 ? 0.5 / frameRate.doubleValue : 0.02
        passthrough =
            passthroughCandidate && scan.startsWithKeyframe && scan.maxKeyframeGap <= passthroughKeyframeGap + slack
            && scan.peakBitRate <= Double(passthroughMaxRate)
    }

    static func videoOutputs(display: (width: Int, height: Int), tiers: [Ladder.VideoTier]) -> [VideoOutput] {
        let landscape = display.width >= display.height
        let short = Double(min(display.width, display.height))
        let long = Double(max(display.width, display.height))
        let sourceHeight = evenDown(Int(short))
        var chosen = tiers.filter { $0.height <= sourceHeight }
        if chosen.first?.height != sourceHeight, let taller = tiers.last(where: { $0.height > sourceHeight }) {
            var own = taller
            own.name = "\(sourceHeight)p"
            own.height = sourceHeight
            chosen.insert(own, at: 0)
        }
        return chosen.map { tier in
            let other = max(2, evenRounded(Double(tier.height) * long / short))
            return VideoOutput(
                tier: tier, width: landscape ? other : tier.height, height: landscape ? tier.height : other)
        }
    }

    static func evenDown(_ value: Int) -> Int { max(2, value - value % 2) }
    static func evenRounded(_ value: Double) -> Int { Int((value / 2).rounded()) * 2 }
}
