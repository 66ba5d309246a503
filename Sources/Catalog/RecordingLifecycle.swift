import Foundation
import GRDB

/// Where a recording may go from where it is: the one function that decides a recording's state.
///
/// ```
/// uploading ──accepted──▶ queued ──started──▶ processing ──published──▶ ready
///     │                     ▲  │                  │                      │
///     └──rejected──▶ failed ┘  └──────stopped─────┴──▶ failed            └─ (re-transcode: stays ready)
/// ```
///
/// A recording that already has published media stays `ready` through a re-transcode, whatever
/// the new job does: its old renditions keep playing until new ones replace them. Deletion is not
/// a state (a soft delete keeps the row for packs and orders that name it) but it is an event,
/// allowed from everywhere, so that every change to a recording's life passes through here.
public enum RecordingLifecycle {
    /// What happened to the recording.
    public enum Event: Sendable, Equatable, CustomStringConvertible {
        /// Its upload finished and was accepted: hashed, probed, the source moved into place.
        case accepted
        /// Its upload was refused (duplicate content, not media, expired unfinished).
        case rejected(reason: String)
        /// A transcode job was queued (first time, retry, or re-transcode).
        case transcodeQueued
        /// A worker leased the job and started transcoding.
        case transcodeStarted
        /// A transcode published a new media version.
        case transcodePublished
        /// A transcode ended without media: failed for good, or cancelled.
        case transcodeStopped(reason: String)
        /// Soft-deleted.
        case deleted

        public var description: String {
            switch self {
            case .accepted: "accepted"
            case .rejected: "rejected"
            case .transcodeQueued: "transcodeQueued"
            case .transcodeStarted: "transcodeStarted"
            case .transcodePublished: "transcodePublished"
            case .transcodeStopped: "transcodeStopped"
            case .deleted: "deleted"
            }
        }
    }

    /// An event that cannot happen to a recording in its state.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var state: Recording.State
        public var event: Event
        public var description: String { "a recording that is \(state.rawValue) cannot be \(event)" }
    }

    /// The outcome of an event: the next state, and the failure text the recording shows (nil
    /// clears an earlier one).
    public struct Outcome: Sendable, Equatable {
        public var state: Recording.State
        public var failure: String?
    }

    /// The state after `event`, for a recording in `state` that has (`hasMedia`) or has not yet
    /// published media. Pure: table-tested in `CatalogTests`.
    public static func apply(_ event: Event, to state: Recording.State, hasMedia: Bool, failure: String? = nil)
        -> Result<Outcome, Refusal>
    {
        let refused = Result<Outcome, Refusal>.failure(Refusal(state: state, event: event))
        switch (event, state) {
        case (.accepted, .uploading):
            return .success(Outcome(state: .queued, failure: nil))
        case (.rejected(let reason), .uploading):
            return .success(Outcome(state: .failed, failure: reason))
        case (.transcodeQueued, .queued), (.transcodeQueued, .processing), (.transcodeQueued, .failed),
            (.transcodeQueued, .ready):
            return .success(hasMedia ? Outcome(state: .ready, failure: nil) : Outcome(state: .queued, failure: nil))
        case (.transcodeStarted, .queued), (.transcodeStarted, .processing), (.transcodeStarted, .ready):
            return .success(hasMedia ? Outcome(state: .ready, failure: failure) : Outcome(state: .processing, failure: nil))
        case (.transcodePublished, .queued), (.transcodePublished, .processing), (.transcodePublished, .ready):
            return .success(Outcome(state: .ready, failure: nil))
        case (.transcodeStopped(let reason), .queued), (.transcodeStopped(let reason), .processing),
            (.transcodeStopped(let reason), .ready):
            return .success(hasMedia ? Outcome(state: .ready, failure: failure) : Outcome(state: .failed, failure: reason))
        case (.deleted, _):
            return .success(Outcome(state: state, failure: failure))
        default:
            return refused
        }
    }
}

extension RecordingStore {
    /// Moves a stored recording through its lifecycle in the caller's transaction and re-indexes
    /// it (its state is a search facet). The only writer of `recording.state` after insertion.
    /// Throws the lifecycle's refusal when the event cannot happen in the recording's state.
    @discardableResult
    public static func transition(_ recording: inout Recording, _ event: RecordingLifecycle.Event, _ db: Database) throws
        -> Recording.State
    {
        let outcome = try RecordingLifecycle.apply(
            event, to: recording.state, hasMedia: recording.mediaVersion != nil, failure: recording.failure
        ).get()
        recording.state = outcome.state
        recording.failure = outcome.failure
        if event == .deleted {
            recording.deletedAt = Date()
            recording.updatedAt = Date()
            try recording.update(db)
            try db.execute(sql: "DELETE FROM recordingSearch WHERE rowid = ?", arguments: [recording.id])
        } else {
            try update(&recording, db)
        }
        return outcome.state
    }

    /// Loads a recording and applies `event`; false when it does not exist.
    @discardableResult
    public static func transition(_ id: Int64, _ event: RecordingLifecycle.Event, _ db: Database) throws -> Bool {
        guard var recording = try Recording.fetchOne(db, key: id) else { return false }
        try transition(&recording, event, db)
        return true
    }
}
