import Foundation
import GRDB

/// One published tier of a recording: a video resolution or an audio-only rendition.
public struct Rendition: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Kind: String, Codable, Sendable, DatabaseValueConvertible {
        case video, audio
    }

    public var id: Int64?
    public var recordingId: Int64
    /// The media folder (`v12`) under `storage/media/<recording>/`.
    public var version: String
    public var name: String
    public var kind: Kind
    /// Media playlist, relative to the version folder.
    public var playlist: String
    public var width: Int?
    public var height: Int?
    public var codecs: String
    public var averageBitRate: Int
    public var peakBitRate: Int
    public var size: Int64
    public var segmentCount: Int
    public var duration: Double

    public init(
        recordingId: Int64, version: String, name: String, kind: Kind, playlist: String, width: Int?, height: Int?,
        codecs: String, averageBitRate: Int, peakBitRate: Int, size: Int64, segmentCount: Int, duration: Double
    ) {
        self.recordingId = recordingId
        self.version = version
        self.name = name
        self.kind = kind
        self.playlist = playlist
        self.width = width
        self.height = height
        self.codecs = codecs
        self.averageBitRate = averageBitRate
        self.peakBitRate = peakBitRate
        self.size = size
        self.segmentCount = segmentCount
        self.duration = duration
    }

    public static let databaseTableName = "rendition"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
