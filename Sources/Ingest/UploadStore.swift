import Catalog
import Foundation
import GRDB
import Transcoding

/// Every read and write of the `upload` table.
public struct UploadStore: Sendable {
    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    /// What a new upload's recording is made of, as the teacher described it.
    struct NewRecording {
        var title: String
        var description: String
        var recordedOn: String?
        var lesson: String?
        var classroom: String?
        var school: String?
    }

    /// Creates the recording (`uploading`) and its upload in one transaction. The recording belongs
    /// to the teacher's school; an admin names one.
    func create(
        id: String, by person: Person, length: Int64, metadataHeader: String, recording new: NewRecording, now: Date,
        expiry: TimeInterval
    ) async throws -> Upload {
        try await database.write { db -> Upload in
            let schoolId = try Self.schoolId(for: person, named: new.school, db)
            var recording = Recording(
                title: new.title, description: new.description, teacherId: person.id!, schoolId: schoolId,
                recordedOn: new.recordedOn, state: .uploading, createdAt: now)
            if let lesson = new.lesson {
                guard let lessonId = Int64(lesson), try TextbookLesson.fetchOne(db, key: lessonId) != nil else {
                    throw IngestError(.notFound, "unknown_lesson", "Upload-Metadata names textbook lesson '\(lesson)', which does not exist")
                }
                recording.lessonId = lessonId
            }
            if let classroom = new.classroom {
                guard let classroomId = Int64(classroom), let room = try Classroom.fetchOne(db, key: classroomId),
                    room.schoolId == schoolId
                else {
                    throw IngestError(.notFound, "unknown_classroom", "classroom '\(classroom)' is not in the uploading school")
                }
                recording.classroomId = classroomId
            }
            try RecordingStore.insert(&recording, db)
            let upload = Upload(
                id: id, ownerId: person.id!, recordingId: recording.id, length: length, metadata: metadataHeader,
                createdAt: now, expiresAt: now.addingTimeInterval(expiry))
            try upload.insert(db)
            return upload
        }
    }

    /// The school a new recording belongs to: a teacher's own; an admin names one.
    private static func schoolId(for person: Person, named school: String?, _ db: Database) throws -> Int64 {
        if person.role == .teacher {
            guard let schoolId = person.schoolId else {
                throw IngestError(.forbidden, "forbidden", "your account is not attached to a school")
            }
            return schoolId
        }
        guard let school, let schoolId = Int64(school), try School.fetchOne(db, key: schoolId) != nil else {
            throw IngestError(.invalid, "invalid_metadata", "an admin's upload must name an existing school in Upload-Metadata")
        }
        return schoolId
    }

    public func upload(_ id: String) async throws -> Upload? {
        try await database.read { db in try Upload.fetchOne(db, key: id) }
    }

    /// Bytes that unfinished, unexpired uploads may still write (their declared lengths minus what
    /// arrived), and the bytes they hold in all (their declared lengths).
    func reservations(now: Date) async throws -> (toWrite: Int64, declared: Int64) {
        try await database.read { db in
            let row = try Row.fetchOne(
                db,
                sql: #"""
                    SELECT COALESCE(SUM(length - "offset"), 0) AS toWrite, COALESCE(SUM(length), 0) AS declared
                    FROM upload WHERE completedAt IS NULL AND expiresAt > ?
                    """#, arguments: [now])
            return (row?["toWrite"] ?? 0, row?["declared"] ?? 0)
        }
    }

    /// Records a new durable offset (only if nobody moved it meanwhile) and extends the expiry.
    func commit(_ id: String, from old: Int64, to new: Int64, expiresAt: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: #"UPDATE upload SET "offset" = ?, expiresAt = ? WHERE id = ? AND "offset" = ?"#,
                arguments: [new, expiresAt, id, old])
        }
    }

    func markCompleted(_ id: String, at date: Date = Date()) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE upload SET completedAt = ? WHERE id = ? AND completedAt IS NULL", arguments: [date, id])
        }
    }

    /// Uploads that finished but were never processed (the server stopped in between).
    func unprocessed() async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM upload WHERE completedAt IS NOT NULL AND processedAt IS NULL")
        }
    }

    /// Records what processing found, in one transaction: the source's hash and size on the
    /// recording, then either accepted (its source and media facts stored, a transcode queued) or
    /// rejected with the reason; and the upload marked processed. A recording deleted meanwhile
    /// keeps its state.
    func recordOutcome(
        of upload: Upload, recordingId: Int64, sha256: String, source: (media: SourceMedia, path: String)?, failure: String?,
        maxAttempts: Int
    ) async throws {
        try await database.write { db in
            guard var recording = try Recording.fetchOne(db, key: recordingId) else { return }
            recording.sourceSha256 = sha256
            recording.sourceSize = upload.length
            recording.mediaInfo = source?.media
            recording.sourcePath = source?.path
            if recording.deletedAt == nil {
                if let failure {
                    try RecordingStore.transition(&recording, .rejected(reason: failure), db)
                } else {
                    try RecordingStore.transition(&recording, .accepted, db)
                    try JobQueue.enqueue(recordingId: recordingId, maxAttempts: maxAttempts, db)
                }
            } else {
                try RecordingStore.update(&recording, db)
            }
            try db.execute(sql: "UPDATE upload SET processedAt = ? WHERE id = ?", arguments: [Date(), upload.id])
        }
    }

    /// Removes an upload; an unfinished one takes its recording with it (nothing will ever fill it).
    func terminate(_ upload: Upload) async throws {
        try await database.write { db in
            try Upload.deleteOne(db, key: upload.id)
            if let recordingId = upload.recordingId, upload.completedAt == nil {
                try RecordingStore.transition(recordingId, .deleted, db)
            }
        }
    }

    /// Ends uploads that can never finish: those past their expiry (their recordings fail with the
    /// reason, so the teacher sees why) and those whose recording was deleted meanwhile. Returns
    /// the ids whose files may go.
    func sweep(now: Date) async throws -> (expired: [String], abandoned: [String]) {
        try await database.write { db in
            let expired = try Upload.filter(Upload.Columns.completedAt == nil && Upload.Columns.expiresAt < now).fetchAll(db)
            for upload in expired {
                if let recordingId = upload.recordingId, var recording = try Recording.fetchOne(db, key: recordingId),
                    recording.state == .uploading
                {
                    try RecordingStore.transition(
                        &recording, .rejected(reason: "the upload expired before it finished; upload the file again"), db)
                }
                try upload.delete(db)
            }
            let abandoned = try String.fetchAll(
                db,
                sql: """
                    SELECT u.id FROM upload u JOIN recording r ON r.id = u.recordingId
                    WHERE u.completedAt IS NULL AND r.deletedAt IS NOT NULL
                    """)
            try Upload.deleteAll(db, keys: abandoned)
            return (expired.map(\.id), abandoned)
        }
    }
}
