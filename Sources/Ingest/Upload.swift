import Foundation
import GRDB

/// A resumable (tus 1.0.0) upload in progress. `offset` only ever holds bytes that are on disk and
/// fsynced: it is what a client resumes from after any break.
public struct Upload: Codable, Sendable, Equatable, Identifiable, FetchableRecord, PersistableRecord {
    /// Random and unguessable: the id is also the upload's URL.
    public var id: String
    public var ownerId: Int64
    public var recordingId: Int64?
    /// Declared total size in bytes (`Upload-Length`).
    public var length: Int64
    /// Bytes received and made durable.
    public var offset: Int64
    /// The client's `Upload-Metadata` header, as sent.
    public var metadata: String
    public var createdAt: Date
    public var expiresAt: Date
    public var completedAt: Date?
    /// Set once the completed file was hashed, probed and handed to the recording.
    public var processedAt: Date?

    public init(
        id: String, ownerId: Int64, recordingId: Int64? = nil, length: Int64, offset: Int64 = 0, metadata: String,
        createdAt: Date, expiresAt: Date
    ) {
        self.id = id
        self.ownerId = ownerId
        self.recordingId = recordingId
        self.length = length
        self.offset = offset
        self.metadata = metadata
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public var isComplete: Bool { offset == length }

    public static let databaseTableName = "upload"
    public enum Columns {
        public static let offset = Column(CodingKeys.offset)
        public static let expiresAt = Column(CodingKeys.expiresAt)
        public static let completedAt = Column(CodingKeys.completedAt)
        public static let processedAt = Column(CodingKeys.processedAt)
    }
}
