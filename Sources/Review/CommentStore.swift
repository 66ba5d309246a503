import Catalog
import Foundation
import GRDB

/// Comments at a moment of a recording (for review, and for the district's teaching research,
/// 线上示范+线下研讨): a reviewer or a teacher of the recording's district leaves one at a time in
/// the lesson; replies form a thread under it. The player draws the threads as marks on its
/// timeline.
public struct CommentStore: Sendable {
    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    public struct Comment: Codable, Sendable, Equatable {
        public var id: Int64
        public var parentId: Int64?
        public var position: Double
        public var author: ReviewStore.View.Ref
        public var role: Person.Role
        public var body: String
        public var createdAt: Date
        /// Replies, oldest first (top-level comments only).
        public var replies: [Comment]?
    }

    /// A recording's threads in timeline order.
    public func threads(recordingId: Int64, for person: Person) async throws -> [Comment] {
        try await database.read { db in
            _ = try Self.recording(recordingId, for: person, db)
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.*, p.displayName, p.role FROM recordingComment c JOIN person p ON p.id = c.personId
                    WHERE c.recordingId = ? ORDER BY c.position, c.id
                    """, arguments: [recordingId])
            let comments = rows.map { row in
                Comment(
                    id: row["id"], parentId: row["parentId"], position: row["position"],
                    author: .init(id: row["personId"], name: row["displayName"]), role: Person.Role(rawValue: row["role"]) ?? .teacher,
                    body: row["body"], createdAt: row["createdAt"], replies: nil)
            }
            let replies = Dictionary(grouping: comments.filter { $0.parentId != nil }, by: { $0.parentId! })
            return comments.filter { $0.parentId == nil }.map { comment in
                var comment = comment
                comment.replies = (replies[comment.id] ?? []).sorted { $0.id < $1.id }
                return comment
            }
        }
    }

    /// Adds a comment at `position` seconds, or a reply to `parentId` (a reply sits at its
    /// thread's moment).
    public func add(
        recordingId: Int64, position: Double?, parentId: Int64?, body: String, by person: Person, at now: Date = Date()
    ) async throws -> Comment {
        let body = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty else { throw ReviewError.invalid("body: write the comment") }
        return try await database.write { db in
            let recording = try Self.recording(recordingId, for: person, db)
            var moment: Double
            if let parentId {
                guard let parent = try Row.fetchOne(
                    db, sql: "SELECT position, parentId FROM recordingComment WHERE id = ? AND recordingId = ?",
                    arguments: [parentId, recordingId])
                else { throw ReviewError.notFound("comment \(parentId) on this recording") }
                guard (parent["parentId"] as Int64?) == nil else {
                    throw ReviewError.conflict("reply to the thread's first comment (replies do not nest)")
                }
                moment = parent["position"]
            } else {
                guard let position else { throw ReviewError.invalid("position: say where in the lesson (seconds)") }
                moment = position
            }
            if let duration = recording.mediaInfo?.duration, moment > duration + 0.5 {
                throw ReviewError.conflict(
                    "the lesson is \(String(format: "%.1f", duration)) s long; a comment at \(String(format: "%.1f", moment)) s is past its end")
            }
            moment = (moment * 10).rounded() / 10
            let id = try Int64.fetchOne(
                db,
                sql: """
                    INSERT INTO recordingComment (recordingId, parentId, personId, position, body, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?) RETURNING id
                    """, arguments: [recordingId, parentId, person.id, moment, body, now])!
            return Comment(
                id: id, parentId: parentId, position: moment, author: .init(id: person.id ?? 0, name: person.displayName), role: person.role,
                body: body, createdAt: now, replies: parentId == nil ? [] : nil)
        }
    }

    /// The recording, if this person may read and write its comments: reviewers and admins
    /// anywhere; teachers and coordinators of the recording's district.
    static func recording(_ id: Int64, for person: Person, _ db: Database) throws -> Recording {
        guard let recording = try Recording.fetchOne(db, key: id), recording.deletedAt == nil else {
            throw ReviewError.notFound("recording")
        }
        let district = try Int64.fetchOne(db, sql: "SELECT districtId FROM school WHERE id = ?", arguments: [recording.schoolId])
        switch person.role {
        case .admin, .reviewer: return recording
        case .teacher, .coordinator:
            guard recording.state == .ready || recording.teacherId == person.id || person.role == .coordinator && district == person.districtId
            else { throw ReviewError.notFound("recording") }
            guard district == person.districtId else {
                throw ReviewError.forbidden("comments on a lesson are for its district's teachers and the reviewers")
            }
            return recording
        case .classroom: throw ReviewError.forbidden("a classroom screen does not comment")
        }
    }
}
