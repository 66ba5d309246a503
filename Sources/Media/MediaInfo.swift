/// What probing a media file finds: the container and each stream, as plain values that can cross
/// threads, be stored as JSON on a recording, and be compared in tests.
public struct MediaInfo: Sendable, Codable, Equatable {
    /// libav's demuxer name, e.g. `mov,mp4,m4a,3gp,3g2,mj2` or `matroska,webm`.
    public var container: String
    /// Duration in seconds, when the container states one.
    public var duration: Double?
    /// Overall bit rate in bits per second, when known.
    public var bitRate: Int?
    /// File size in bytes, when known.
    public var size: Int64?
    public var streams: [StreamInfo]

    public init(container: String, duration: Double?, bitRate: Int?, size: Int64?, streams: [StreamInfo]) {
        self.container = container
        self.duration = duration
        self.bitRate = bitRate
        self.size = size
        self.streams = streams
    }

    /// The stream a transcode takes as the picture: the first video stream that is not cover art.
    public var primaryVideo: StreamInfo? { streams.first { $0.video != nil && !$0.isAttachedPicture } }
    /// The stream a transcode takes as the sound.
    public var primaryAudio: StreamInfo? { streams.first { $0.audio != nil } }
}

/// One stream of a media file.
public struct StreamInfo: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case video, audio, subtitle, data, attachment, unknown
    }

    public var index: Int
    public var kind: Kind
    /// libav's codec name, e.g. `h264`, `aac`.
    public var codec: String
    /// Codec profile, e.g. `High` or `LC`, when the codec has profiles.
    public var profile: String?
    public var bitRate: Int?
    public var duration: Double?
    /// ISO 639 language tag from the container, when present.
    public var language: String?
    /// A still image stored as a video stream (album art): not a picture to transcode.
    public var isAttachedPicture: Bool
    public var video: VideoDetails?
    public var audio: AudioDetails?

    public init(
        index: Int, kind: Kind, codec: String, profile: String? = nil, bitRate: Int? = nil,
        duration: Double? = nil, language: String? = nil, isAttachedPicture: Bool = false,
        video: VideoDetails? = nil, audio: AudioDetails? = nil
    ) {
        self.index = index
        self.kind = kind
        self.codec = codec
        self.profile = profile
        self.bitRate = bitRate
        self.duration = duration
        self.language = language
        self.isAttachedPicture = isAttachedPicture
        self.video = video
        self.audio = audio
    }
}

/// Picture properties of a video stream.
public struct VideoDetails: Sendable, Codable, Equatable {
    /// How the picture's lines are stored: progressive or one of the interlaced orders.
    public enum FieldOrder: String, Sendable, Codable {
        case progressive, topFieldFirst, bottomFieldFirst, topCodedFirstBottomDisplayed,
            bottomCodedFirstTopDisplayed, unknown

        public var isInterlaced: Bool { self != .progressive && self != .unknown }
    }

    /// Coded size in pixels.
    public var width: Int
    public var height: Int
    /// Pixel aspect ratio; 1:1 for square pixels.
    public var sampleAspectRatio: Rational
    /// Clockwise rotation, in degrees (0, 90, 180 or 270), that the display matrix asks players to apply.
    public var rotation: Int
    /// Average frame rate (libav's best guess for the stream).
    public var frameRate: Rational
    public var pixelFormat: String
    public var fieldOrder: FieldOrder

    public init(
        width: Int, height: Int, sampleAspectRatio: Rational = Rational(1, 1), rotation: Int = 0,
        frameRate: Rational, pixelFormat: String, fieldOrder: FieldOrder = .progressive
    ) {
        self.width = width
        self.height = height
        self.sampleAspectRatio = sampleAspectRatio
        self.rotation = rotation
        self.frameRate = frameRate
        self.pixelFormat = pixelFormat
        self.fieldOrder = fieldOrder
    }

    /// The size a viewer sees: pixel aspect applied and rotation honoured.
    public var displaySize: (width: Int, height: Int) {
        let sar = sampleAspectRatio.isValid ? sampleAspectRatio.doubleValue : 1
        let w = Int((Double(width) * sar).rounded())
        return rotation % 180 == 90 ? (height, w) : (w, height)
    }
}

/// Sound properties of an audio stream.
public struct AudioDetails: Sendable, Codable, Equatable {
    public var channels: Int
    /// libav's description of the layout, e.g. `stereo` or `5.1(side)`.
    public var channelLayout: String
    public var sampleRate: Int
    public var sampleFormat: String

    public init(channels: Int, channelLayout: String, sampleRate: Int, sampleFormat: String) {
        self.channels = channels
        self.channelLayout = channelLayout
        self.sampleRate = sampleRate
        self.sampleFormat = sampleFormat
    }
}

extension MediaInfo {
    /// Opens the file, reads only what libav needs to describe it (headers plus a few seconds of
    /// packets, never the whole file), and returns what it found.
    public static func probe(_ path: String) throws(MediaError) -> MediaInfo {
        try InputFile(path: path).info
    }
}
