import Foundation

/// The few facts about a recording's source file that the catalog keeps (stored as JSON in
/// `recording.mediaInfo`): what the catalog shows and filters by, in plain values, so that the
/// catalog never needs FFmpeg. Ingest fills it from the probe; the transcoder probes again itself.
public struct SourceMedia: Codable, Sendable, Equatable {
    /// The container as libav names it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    public var container: String
    /// Seconds, when the container states it.
    public var duration: Double?
    /// Bits per second, when known.
    public var bitRate: Int?
    public var size: Int64?
    public var video: Video?
    public var audio: Audio?

    public struct Video: Codable, Sendable, Equatable {
        public var codec: String
        /// The size a viewer sees (pixel aspect and rotation applied).
        public var width: Int
        public var height: Int
        public var frameRate: Double?

        public init(codec: String, width: Int, height: Int, frameRate: Double?) {
            self.codec = codec
            self.width = width
            self.height = height
            self.frameRate = frameRate
        }
    }

    public struct Audio: Codable, Sendable, Equatable {
        public var codec: String
        public var channels: Int
        public var sampleRate: Int

        public init(codec: String, channels: Int, sampleRate: Int) {
            self.codec = codec
            self.channels = channels
            self.sampleRate = sampleRate
        }
    }

    public init(container: String, duration: Double?, bitRate: Int?, size: Int64?, video: Video? = nil, audio: Audio? = nil) {
        self.container = container
        self.duration = duration
        self.bitRate = bitRate
        self.size = size
        self.video = video
        self.audio = audio
    }
}
