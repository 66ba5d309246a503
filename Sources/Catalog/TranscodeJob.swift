import Foundation
import GRDB

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
