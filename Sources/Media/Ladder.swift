import Foundation
public import HLS

/// The bandwidth ladder: which tiers a recording becomes and how each is encoded.
///
/// Loaded from `config/ladder.yaml`; `Ladder.default` mirrors that file so tools and tests work
/// without it.
public struct Ladder: Sendable, Equatable {
    /// One H.264 rung of the ladder.
    public struct VideoTier: Sendable, Equatable {
        /// Label used for folders and menus, e.g. `720p`.
        public var name: String
        /// Picture height (the shorter side, for portrait sources) in pixels.
        public var height: Int
        /// x264 constant rate factor: the quality aimed at before the rate cap applies.
        public var crf: Int
        /// Rate cap in bits per second (VBV maximum rate).
        public var maxRate: Int
        /// VBV buffer in bits: how long a burst above `maxRate` may last.
        public var bufferSize: Int
        /// H.264 profile (`high`, `main`, `baseline`).
        public var profile: String

        public init(name: String, height: Int, crf: Int, maxRate: Int, bufferSize: Int, profile: String = "high") {
            self.name = name
            self.height = height
            self.crf = crf
            self.maxRate = maxRate
            self.bufferSize = bufferSize
            self.profile = profile
        }
    }

    /// One AAC rung. The first is the sound of every video tier; all of them serve audio-only sources.
    public struct AudioTier: Sendable, Equatable {
        public var name: String
        /// Bits per second.
        public var bitRate: Int
        public var channels: Int

        public init(name: String, bitRate: Int, channels: Int) {
            self.name = name
            self.bitRate = bitRate
            self.channels = channels
        }
    }

    /// x264 speed/quality preset, the same for every tier.
    public var preset: String
    /// Seconds between keyframes, identical in every tier.
    public var keyframeInterval: Double
    /// Target HLS segment length in seconds; a whole multiple of `keyframeInterval`.
    public var segmentDuration: Double
    /// Video tiers, tallest first.
    public var video: [VideoTier]
    /// Audio sample rate of every audio tier.
    public var sampleRate: Int
    public var audio: [AudioTier]
    /// Where the poster frame is taken, as a fraction of the duration.
    public var posterPosition: Double
    /// How a live source is relayed.
    public var live: Live = Live()
    /// `video.passthrough`: when a source's video already fits the top tier (H.264 players take,
    /// within the tier's rate cap, a keyframe at least every segment), the top tier is the source's
    /// own packets and only the lower tiers are encoded — about half the work of a classroom
    /// recording. Off: every tier is encoded.
    public var passthrough = true

    /// The live ladder: the source's own H.264 on top (never re-encoded), then these tiers of the
    /// ladder encoded in real time, then the first audio tier.
    public struct Live: Sendable, Equatable {
        /// Names of video tiers above to encode live; tiers as tall as the source or taller are skipped.
        public var tiers: [String] = ["480p", "360p"]
        /// x264 preset for the live tiers; with `zerolatency` there are no B-frames and no look-ahead.
        public var preset: String = "veryfast"
        /// Target segment length; segments are cut at the source's keyframes, so a longer GOP makes them longer.
        public var segmentDuration: Double = 2
        /// Segments in a live playlist.
        public var window: Int = 6
        /// Sources taller than this are refused (0: any height is taken).
        public var maxHeight: Int = 0

        public init() {}

        /// A tier's live media playlist by these settings: the ingest child writes it after every
        /// segment, the server once more with `EXT-X-ENDLIST` when the session ends — the same
        /// window and target duration both times, as RFC 8216 requires of a playlist's reloads.
        public func playlist(_ segments: [LiveSegment], ended: Bool) -> String {
            HLSPlaylist.live(
                segments: segments, window: window, targetDuration: Int(segmentDuration.rounded(.up)), ended: ended,
                holdBack: 3 * segmentDuration)
        }
    }

    public init(
        preset: String, keyframeInterval: Double, segmentDuration: Double, video: [VideoTier], sampleRate: Int,
        audio: [AudioTier], posterPosition: Double
    ) {
        self.preset = preset
        self.keyframeInterval = keyframeInterval
        self.segmentDuration = segmentDuration
        self.video = video
        self.sampleRate = sampleRate
        self.audio = audio
        self.posterPosition = posterPosition
    }

    /// The county default; see `config/ladder.yaml` for why each tier exists.
    public static let `default` = Ladder(
        preset: "veryfast", keyframeInterval: 2, segmentDuration: 4,
        video: [
            VideoTier(name: "1080p", height: 1080, crf: 23, maxRate: 5_000_000, bufferSize: 10_000_000),
            VideoTier(name: "720p", height: 720, crf: 23, maxRate: 2_500_000, bufferSize: 5_000_000),
            VideoTier(name: "480p", height: 480, crf: 23, maxRate: 1_000_000, bufferSize: 2_000_000),
            VideoTier(name: "360p", height: 360, crf: 23, maxRate: 500_000, bufferSize: 1_000_000),
        ],
        sampleRate: 48_000,
        audio: [
            AudioTier(name: "audio", bitRate: 96_000, channels: 2),
            AudioTier(name: "audio-low", bitRate: 48_000, channels: 1),
        ],
        posterPosition: 0.1)
}

// MARK: - Loading

extension Ladder {
    /// Reads and validates a ladder file. Errors name the file, the line, the key and the reason.
    public static func load(path: String) throws(MediaError) -> Ladder {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MediaError(.invalidConfiguration, step: "reading \(path)", message: "there is no such file")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw MediaError(.invalidConfiguration, step: "reading \(path)", message: "the file cannot be read as UTF-8 text")
        }
        return try Ladder(yaml: text, file: path)
    }

    /// The ladder in `file`, or the built-in one when no file is named (a server whose configuration
    /// names no ladder, a child told none).
    public static func from(file: String?) throws(MediaError) -> Ladder {
        guard let file else { return .default }
        return try load(path: file)
    }

    /// The ladder a command uses: the file it was given; else `config/ladder.yaml` when run from
    /// a LessonLink folder; else the built-in default, so a tool works from any folder.
    public static func chosen(_ path: String?) throws(MediaError) -> Ladder {
        if let path { return try load(path: path) }
        let local = "config/ladder.yaml"
        return FileManager.default.fileExists(atPath: local) ? try load(path: local) : .default
    }

    /// Parses ladder YAML; `file` is only used in error messages.
    public init(yaml: String, file: String) throws(MediaError) {
        let root = try ConfigNode.parse(yaml: yaml, file: file)
        let top = try root.mapping(allowed: ["segmentDuration", "keyframeInterval", "video", "audio", "poster", "live"])
        let keyframeInterval = try top.require("keyframeInterval").seconds()
        let segmentDuration = try top.require("segmentDuration").seconds()
        let ratio = segmentDuration / keyframeInterval
        if abs(ratio - ratio.rounded()) > 1e-9 || ratio < 1 {
            throw try top.require("segmentDuration").invalid(
                "must be a whole multiple of keyframeInterval (\(keyframeInterval) s), so every segment starts on a keyframe")
        }

        let videoNode = try top.require("video")
        let video = try videoNode.mapping(allowed: ["preset", "tiers", "passthrough"])
        let preset = try video.require("preset").string()
        let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
        if !presets.contains(preset) {
            throw try video.require("preset").invalid("unknown x264 preset; use one of \(presets.joined(separator: ", "))")
        }
        var tiers: [VideoTier] = []
        for node in try video.require("tiers").sequence() {
            let tier = try node.mapping(allowed: ["name", "height", "crf", "maxRate", "bufferSize", "profile"])
            let height = try tier.require("height").integer(in: 16...4320)
            if height % 2 != 0 { throw try tier.require("height").invalid("must be even (4:2:0 video)") }
            let profile = try tier.optional("profile")?.string() ?? "high"
            if !["baseline", "main", "high"].contains(profile) {
                throw try tier.require("profile").invalid("must be baseline, main or high")
            }
            tiers.append(
                VideoTier(
                    name: try tier.require("name").identifier(), height: height,
                    crf: try tier.require("crf").integer(in: 0...51),
                    maxRate: try tier.require("maxRate").bitRate(),
                    bufferSize: try tier.require("bufferSize").bitRate(), profile: profile))
            if tiers.count > 1, tiers[tiers.count - 2].height <= height {
                throw try tier.require("height").invalid("tiers must be listed tallest first, each shorter than the last")
            }
        }
        if tiers.isEmpty { throw videoNode.invalid("at least one video tier is needed") }

        let audioNode = try top.require("audio")
        let audio = try audioNode.mapping(allowed: ["sampleRate", "tiers"])
        let sampleRate = try audio.require("sampleRate").integer(in: 8000...96000)
        var audioTiers: [AudioTier] = []
        for node in try audio.require("tiers").sequence() {
            let tier = try node.mapping(allowed: ["name", "bitRate", "channels"])
            audioTiers.append(
                AudioTier(
                    name: try tier.require("name").identifier(), bitRate: try tier.require("bitRate").bitRate(),
                    channels: try tier.require("channels").integer(in: 1...2)))
        }
        if audioTiers.isEmpty { throw audioNode.invalid("at least one audio tier is needed") }
        let names = tiers.map(\.name) + audioTiers.map(\.name)
        if Set(names).count != names.count { throw top.node.invalid("tier names must be unique: \(names)") }

        var posterPosition = 0.1
        if let poster = try top.optional("poster")?.mapping(allowed: ["position"]) {
            posterPosition = try poster.require("position").fraction()
        }
        self.init(
            preset: preset, keyframeInterval: keyframeInterval, segmentDuration: segmentDuration, video: tiers,
            sampleRate: sampleRate, audio: audioTiers, posterPosition: posterPosition)
        if let value = video.optional("passthrough") { passthrough = try value.boolean() }
        if let node = try top.optional("live") {
            let live = try node.mapping(allowed: ["tiers", "preset", "segmentDuration", "window", "maxHeight"])
            if let list = try live.optional("tiers") {
                var names: [String] = []
                for item in try list.sequence() {
                    let name = try item.string()
                    if !tiers.contains(where: { $0.name == name }) {
                        throw item.invalid("no video tier is called \(name); name tiers of video.tiers")
                    }
                    names.append(name)
                }
                self.live.tiers = names
            }
            if let value = try live.optional("preset") {
                self.live.preset = try value.string()
                if !presets.contains(self.live.preset) { throw value.invalid("unknown x264 preset; use one of \(presets.joined(separator: ", "))") }
            }
            if let value = try live.optional("segmentDuration") {
                self.live.segmentDuration = try value.seconds()
                if !(1...10).contains(self.live.segmentDuration) { throw value.invalid("must be between 1 and 10 seconds") }
            }
            if let value = try live.optional("window") { self.live.window = try value.integer(in: 3...60) }
            if let value = try live.optional("maxHeight") { self.live.maxHeight = try value.integer(in: 0...4320) }
        }
    }
}
