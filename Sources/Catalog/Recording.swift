import Foundation
import GRDB

/// A recorded lesson and its source file.
public struct Recording: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    /// Where a recording is in its life: `uploading → queued → processing → ready | failed`.
    public enum State: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case uploading, queued, processing, ready, failed
    }

    public var id: Int64?
    public var title: String
    public var description: String
    public var teacherId: Int64
    public var schoolId: Int64
    public var classroomId: Int64?
    public var lessonId: Int64?
    /// The day of the lesson, `yyyy-MM-dd`.
    public var recordedOn: String?
    public var state: State
    /// Why processing failed, in words a teacher can act on.
    public var failure: String?
    /// Source file, relative to the storage root.
    public var sourcePath: String?
    public var sourceSize: Int64?
    public var sourceSha256: String?
    /// What probing the source found, as JSON.
    public var mediaInfo: SourceMedia?
    public var createdAt: Date
    public var updatedAt: Date
    /// Set when deleted; files are removed by a later sweep.
    public var deletedAt: Date?
    /// The published media folder (`v12`), once a transcode has succeeded.
    public var mediaVersion: String?
    public var mediaPublishedAt: Date?

    public init(
        id: Int64? = nil, title: String, description: String = "", teacherId: Int64, schoolId: Int64,
        classroomId: Int64? = nil, lessonId: Int64? = nil, recordedOn: String? = nil, state: State = .uploading,
        failure: String? = nil, createdAt: Date = Date()
    ) {
        self.id = id
        self.title = title
        self.description = description
        self.teacherId = teacherId
        self.schoolId = schoolId
        self.classroomId = classroomId
        self.lessonId = lessonId
        self.recordedOn = recordedOn
        self.state = state
        self.failure = failure
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    public static let databaseTableName = "recording"
    public enum Columns {
        public static let title = Column(CodingKeys.title)
        public static let teacherId = Column(CodingKeys.teacherId)
        public static let schoolId = Column(CodingKeys.schoolId)
        public static let lessonId = Column(CodingKeys.lessonId)
        public static let state = Column(CodingKeys.state)
        public static let sourceSha256 = Column(CodingKeys.sourceSha256)
        public static let createdAt = Column(CodingKeys.createdAt)
        public static let deletedAt = Column(CodingKeys.deletedAt)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// Whether `text` is a day as `recordedOn` keeps it: `yyyy-MM-dd`.
    public static func isDay(_ text: String) -> Bool {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        return text.count == 10 && formatter.date(from: text) != nil
    }
}

/// A file that goes with a recording: lesson plan (教案), worksheet, slides, subtitles.
public struct Attachment: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Kind: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case lessonPlan, worksheet, slides, subtitles, other
    }

    public var id: Int64?
    public var recordingId: Int64
    public var kind: Kind
    public var filename: String
    public var path: String
    public var size: Int64
    public var sha256: String
    public var createdAt: Date

    public static let databaseTableName = "attachment"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One attempt-tracked transcode of a recording, leased by a worker.
///
/// `queued → running → succeeded | failed | cancelled`. A lease (owner + expiry) marks the worker
/// that runs it; heartbeats extend the lease, and a job whose lease runs out goes back to
/// `queued`, so a worker that died loses at most its progress. Failed attempts wait
/// `notBefore` (exponential back-off) before they are leased again.
public struct TranscodeJob: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum State: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case queued, running, succeeded, failed, cancelled
    }

    public var id: Int64?
    public var recordingId: Int64
    public var state: State
    public var attempts: Int
    public var maxAttempts: Int
    /// The worker node holding the lease.
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var heartbeatAt: Date?
    /// Not leased before this time (back-off after a failed attempt).
    public var notBefore: Date?
    /// Fraction done, 0…1, and the estimated seconds left.
    public var progress: Double
    public var etaSeconds: Double?
    public var lastError: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(recordingId: Int64, maxAttempts: Int = 3, createdAt: Date = Date()) {
        self.recordingId = recordingId
        self.state = .queued
        self.attempts = 0
        self.maxAttempts = maxAttempts
        self.progress = 0
        self.createdAt = createdAt
    }

    /// The media folder name this job publishes: one per job, whatever is retried.
    public var version: String { "v\(id ?? 0)" }

    public static let databaseTableName = "transcodeJob"
    public enum Columns {
        public static let recordingId = Column(CodingKeys.recordingId)
        public static let state = Column(CodingKeys.state)
        public static let leaseOwner = Column(CodingKeys.leaseOwner)
        public static let leaseExpiresAt = Column(CodingKeys.leaseExpiresAt)
        public static let notBefore = Column(CodingKeys.notBefore)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

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
