import Foundation
import GRDB

/// Something named, as answers show it: a teacher, a school, a volume.
public struct NamedRef: Codable, Sendable, Equatable {
    public var id: Int64
    public var name: String

    public init(id: Int64, name: String) {
        self.id = id
        self.name = name
    }
}

/// A recording as the catalog shows it: the record plus the names people search and filter by.
public struct RecordingSummary: Codable, Sendable, Equatable {
    public typealias Reference = NamedRef

    public struct Textbook: Codable, Sendable, Equatable {
        public var volumeId: Int64
        public var volume: String
        public var subject: String
        public var grade: Int
        public var lessonId: Int64
        public var lesson: String
    }

    public var id: Int64
    public var title: String
    public var description: String
    public var state: Recording.State
    public var failure: String?
    public var teacher: Reference
    public var school: Reference
    public var districtId: Int64
    public var classroomId: Int64?
    public var textbook: Textbook?
    public var recordedOn: String?
    /// Source duration in seconds, once probed.
    public var duration: Double?
    /// The published media version (`v12`), once transcoded.
    public var mediaVersion: String?
    /// A signed link to the published version's poster; the server sets it on listings.
    public var posterUrl: String?
    public var sourceSize: Int64?
    public var sourceSha256: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// The latest transcode of the recording (single-recording reads only).
    public var transcode: TranscodeStatus?
    /// The published tiers (single-recording reads only).
    public var renditions: [Rendition]?
}

/// Where a recording's latest transcode is: what the progress bar and the retry button show.
public struct TranscodeStatus: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var state: TranscodeJob.State
    public var progress: Double
    public var etaSeconds: Double?
    public var attempts: Int
    public var maxAttempts: Int
    public var lastError: String?

    public init(_ job: TranscodeJob) {
        jobId = job.id ?? 0
        state = job.state
        progress = job.progress
        etaSeconds = job.etaSeconds
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        lastError = job.lastError
    }
}

/// Catalog listing: filters, full-text search and where to continue.
public struct RecordingQuery: Sendable, Equatable {
    public enum Sort: String, Sendable, CaseIterable {
        case newest, oldest, title
    }

    public var text: String?
    public var subject: String?
    public var grade: Int?
    public var volumeId: Int64?
    public var districtId: Int64?
    public var schoolId: Int64?
    public var teacherId: Int64?
    public var state: Recording.State?
    public var sort: Sort = .newest
    public var limit: Int = 20
    /// Opaque continuation from the previous page.
    public var cursor: String?

    public init() {}
}

public struct RecordingPage: Codable, Sendable, Equatable {
    public var items: [RecordingSummary]
    /// Pass back as `cursor` for the next page; nil on the last page.
    public var nextCursor: String?
}

/// Errors the catalog reports to its callers.
public enum CatalogError: Error, Equatable, Sendable {
    /// A malformed continuation cursor.
    case invalidCursor
    /// A referenced row (lesson, classroom…) does not exist.
    case notFound(String)
    /// The change conflicts with what is stored (a duplicate name, a bad reference).
    case conflict(String)
    /// An edit names a textbook lesson that does not exist.
    case unknownLesson(Int64)
    /// An edit names a classroom that is not in the recording's school.
    case unknownClassroom(Int64)
}

/// Reads and writes recordings, keeping the search index in step.
public struct RecordingStore: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    // MARK: Writing

    /// Inserts a recording and indexes it, in the caller's transaction.
    public static func insert(_ recording: inout Recording, _ db: Database) throws {
        try recording.insert(db)
        try reindex(recording.id!, db)
    }

    /// Saves changes to a recording and re-indexes it.
    public static func update(_ recording: inout Recording, _ db: Database) throws {
        recording.updatedAt = Date()
        try recording.update(db)
        try reindex(recording.id!, db)
    }

    /// Marks a recording deleted; it leaves every listing and the index at once, and its files are
    /// removed by a later sweep.
    public static func softDelete(_ id: Int64, _ db: Database) throws {
        try transition(id, .deleted, db)
    }

    /// Rebuilds the whole search index (after a migration changes its shape).
    static func reindexAll(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM recordingSearch")
        for id in try Int64.fetchAll(db, sql: "SELECT id FROM recording WHERE deletedAt IS NULL") {
            try reindex(id, db)
        }
    }

    /// Rebuilds the search row of one recording from its title, description, teacher, school and textbook.
    public static func reindex(_ id: Int64, _ db: Database) throws {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.title, r.description, p.displayName AS teacher, s.name AS school,
                           v.edition, v.subject, v.grade, v.volume, l.unit, l.title AS lesson, r.deletedAt
                    FROM recording r JOIN person p ON p.id = r.teacherId JOIN school s ON s.id = r.schoolId
                    LEFT JOIN textbookLesson l ON l.id = r.lessonId LEFT JOIN textbookVolume v ON v.id = l.volumeId
                    WHERE r.id = ?
                    """, arguments: [id])
        else { return }
        try db.execute(sql: "DELETE FROM recordingSearch WHERE rowid = ?", arguments: [id])
        if row["deletedAt"] as Date? != nil { return }
        var textbook = ""
        if let subject: String = row["subject"] {
            let grade: Int = row["grade"]
            let edition: String = row["edition"] ?? ""
            let volume: String = row["volume"] ?? ""
            let unit: String = row["unit"] ?? ""
            let lesson: String = row["lesson"] ?? ""
            textbook = [edition, subject, TextbookVolume.gradeName(grade), volume, unit, lesson].joined(separator: " ")
        }
        try db.execute(
            sql: """
                INSERT INTO recordingSearch(rowid, title, description, teacher, school, textbook, facets)
                SELECT ?, ?, ?, ?, ?, ?, facets FROM recordingFacets WHERE recordingId = ?
                """,
            arguments: [
                id, SearchText.index(row["title"]), SearchText.index(row["description"]),
                SearchText.index(row["teacher"]), SearchText.index(row["school"]), SearchText.index(textbook), id,
            ])
    }

    /// What a teacher may change on a recording. Absent fields stay; `.some(nil)` clears.
    public struct Edit: Sendable {
        public var title: String?
        public var description: String?
        public var lessonId: Int64??
        public var classroomId: Int64??
        public var recordedOn: String??

        public init(
            title: String? = nil, description: String? = nil, lessonId: Int64?? = nil, classroomId: Int64?? = nil,
            recordedOn: String?? = nil
        ) {
            self.title = title
            self.description = description
            self.lessonId = lessonId
            self.classroomId = classroomId
            self.recordedOn = recordedOn
        }
    }

    /// Applies an edit in one transaction; the lesson must exist and the classroom belong to the
    /// recording's school. Returns false when the recording does not exist.
    @discardableResult
    public func edit(_ id: Int64, _ edit: Edit) async throws -> Bool {
        try await database.write { db in
            guard var recording = try Recording.fetchOne(db, key: id) else { return false }
            if let title = edit.title { recording.title = title.trimmingCharacters(in: .whitespaces) }
            if let description = edit.description { recording.description = description }
            if let lessonId = edit.lessonId {
                if let lessonId, try TextbookLesson.fetchOne(db, key: lessonId) == nil { throw CatalogError.unknownLesson(lessonId) }
                recording.lessonId = lessonId
            }
            if let classroomId = edit.classroomId {
                if let classroomId {
                    guard let classroom = try Classroom.fetchOne(db, key: classroomId), classroom.schoolId == recording.schoolId else {
                        throw CatalogError.unknownClassroom(classroomId)
                    }
                }
                recording.classroomId = classroomId
            }
            if let recordedOn = edit.recordedOn { recording.recordedOn = recordedOn }
            try Self.update(&recording, db)
            return true
        }
    }

    /// Soft-deletes a recording (`RecordingLifecycle`'s `deleted` event).
    public func delete(_ id: Int64) async throws {
        try await database.write { db in try Self.softDelete(id, db) }
    }

    /// Whether the recording exists and is not deleted.
    public func isLive(_ id: Int64) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT deletedAt IS NULL FROM recording WHERE id = ?", arguments: [id]) ?? false
        }
    }

    /// The published media version of a recording and its tiers, tallest first; nil before the
    /// first transcode is published.
    public func published(_ id: Int64) async throws -> (version: String, renditions: [Rendition])? {
        try await database.read { db in
            guard let version = try String.fetchOne(db, sql: "SELECT mediaVersion FROM recording WHERE id = ?", arguments: [id]) else {
                return nil
            }
            let renditions = try Rendition.filter(Column("recordingId") == id && Column("version") == version)
                .order(Column("height").desc).fetchAll(db)
            return (version, renditions)
        }
    }

    /// Removes the source of every deleted recording that still has one: `removeFolder` deletes
    /// the files, then the row forgets them (a folder that cannot be removed is tried again at the
    /// next call). The row itself stays (orders and packs may name it). Returns how many were purged.
    public func purgeDeletedSources(_ removeFolder: (Int64) throws -> Void) async throws -> Int {
        let deleted = try await database.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM recording WHERE deletedAt IS NOT NULL AND sourcePath IS NOT NULL")
        }
        var purged = 0
        for id in deleted {
            do { try removeFolder(id) } catch { continue }
            try await database.write { db in
                try db.execute(sql: "UPDATE recording SET sourcePath = NULL WHERE id = ?", arguments: [id])
            }
            purged += 1
        }
        return purged
    }

    // MARK: Reading

    /// Every live, playable recording, oldest first (what `retranscode --all` re-runs).
    public func readyIds() async throws -> [Int64] {
        try await database.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM recording WHERE state = 'ready' AND deletedAt IS NULL ORDER BY id")
        }
    }

    /// One recording row, deleted or not.
    public func recording(_ id: Int64) async throws -> Recording? {
        try await database.read { db in try Recording.fetchOne(db, key: id) }
    }

    /// A live recording's source file, relative to the storage root.
    public func sourcePath(of id: Int64) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT sourcePath FROM recording WHERE id = ? AND deletedAt IS NULL", arguments: [id])
        }
    }

    /// A live recording, other than `id`, whose source has this SHA-256: the same file uploaded
    /// twice. Failed recordings do not count (their teacher may be trying again).
    public func sameSource(sha256: String, except id: Int64) async throws -> Recording? {
        try await database.read { db in
            try Recording.fetchOne(
                db,
                sql: "SELECT * FROM recording WHERE sourceSha256 = ? AND deletedAt IS NULL AND state != 'failed' AND id != ?",
                arguments: [sha256, id])
        }
    }

    static func selectSummary(from: String = "recording r") -> String {
        """
        SELECT r.*, p.displayName AS teacherName, s.name AS schoolName, s.districtId AS districtId,
               v.id AS volumeId, v.subject AS subject, v.grade AS grade, v.edition AS edition, v.volume AS volume,
               l.title AS lessonTitle
        FROM \(from)
        JOIN person p ON p.id = r.teacherId
        JOIN school s ON s.id = r.schoolId
        LEFT JOIN textbookLesson l ON l.id = r.lessonId
        LEFT JOIN textbookVolume v ON v.id = l.volumeId
        """
    }

    /// One recording the viewer may see, or nil (absent, deleted or not visible: the caller
    /// answers 404 alike, so existence does not leak).
    /// One recording as `viewer` may see it (nil when they may not), with its latest transcode;
    /// `renditions` also reads its published tiers, which permission checks and the events
    /// stream do not need.
    public func summary(_ id: Int64, viewer: Viewer, renditions: Bool = false) async throws -> RecordingSummary? {
        try await database.read { db in
            let visibility = viewer.visibility
            let row = try Row.fetchOne(
                db, sql: "\(Self.selectSummary()) WHERE r.id = ? AND r.deletedAt IS NULL AND \(visibility.sql)",
                arguments: StatementArguments([id] + visibility.arguments))
            guard var summary = try row.map(Self.summary) else { return nil }
            summary.transcode = try TranscodeJob.filter(TranscodeJob.Columns.recordingId == id).order(Column("id").desc)
                .fetchOne(db).map(TranscodeStatus.init)
            if renditions {
                summary.renditions = try Rendition.filter(Column("recordingId") == id)
                    .order(Column("kind").desc, Column("height").desc).fetchAll(db)
            }
            return summary
        }
    }

    /// A page of the catalog.
    ///
    /// Search and filters become one FTS5 expression (text terms over the text columns, filters as
    /// facet tokens) and the query walks its matches newest first, stopping after a page; only
    /// the unfiltered listing and title order read the recording table's own order.
    /// "Newest" is id order: AUTOINCREMENT ids follow creation.
    public func list(_ query: RecordingQuery, viewer: Viewer) async throws -> RecordingPage {
        var match: [String] = []
        if let text = query.text, !text.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let expression = SearchText.matchExpression(text) else {
                return RecordingPage(items: [], nextCursor: nil)
            }
            match.append("{title description teacher school textbook} : (\(expression))")
        }
        match += Facet.tokens(for: query).map { "facets : \"\($0)\"" }

        let visibility = viewer.visibility
        var conditions = ["r.deletedAt IS NULL", visibility.sql]
        var arguments: [any DatabaseValueConvertible] = visibility.arguments
        var from = "recording r"
        var idColumn = "r.id"
        if !match.isEmpty {
            from = "recordingSearch f JOIN recording r ON r.id = f.rowid"
            // Ordering and paging on the index's own rowid lets FTS5 walk its posting lists in order.
            idColumn = "f.rowid"
            conditions.append("recordingSearch MATCH ?")
            arguments.append(match.joined(separator: " AND "))
        }
        let descending = query.sort == .newest
        let comparison = descending ? "<" : ">"
        let direction = descending ? "DESC" : "ASC"
        let order: String
        switch query.sort {
        case .newest, .oldest: order = "\(idColumn) \(direction)"
        case .title: order = "r.title ASC, r.id ASC"
        }
        if let cursor = query.cursor {
            let position = try Cursor.decode(cursor)
            if query.sort == .title {
                conditions.append("(r.title, r.id) > (?, ?)")
                arguments += [position.key ?? "", position.id]
            } else {
                conditions.append("\(idColumn) \(comparison) ?")
                arguments.append(position.id)
            }
        }
        let limit = min(max(query.limit, 1), 100)
        let sql = """
            \(Self.selectSummary(from: from))
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(order)
            LIMIT \(limit + 1)
            """
        let statementArguments = StatementArguments(arguments.map { $0.databaseValue })
        return try await database.read { db in
            var rows = try Row.fetchAll(db, sql: sql, arguments: statementArguments)
            var next: String?
            if rows.count > limit {
                rows.removeLast()
                let last = rows[rows.count - 1]
                next = Cursor(key: query.sort == .title ? last["title"] : nil, id: last["id"]).encoded
            }
            return RecordingPage(items: try rows.map(Self.summary), nextCursor: next)
        }
    }

    /// Filter tokens as the `recordingFacets` view writes them into the search index.
    enum Facet {
        static func tokens(for query: RecordingQuery) -> [String] {
            var tokens: [String] = []
            if let state = query.state { tokens.append("state\(state.rawValue)") }
            if let id = query.schoolId { tokens.append("school\(id)") }
            if let id = query.districtId { tokens.append("district\(id)") }
            if let id = query.teacherId { tokens.append("teacher\(id)") }
            if let id = query.volumeId { tokens.append("volume\(id)") }
            if let grade = query.grade { tokens.append("grade\(grade)") }
            if let subject = query.subject { tokens.append("subject" + subject.utf8.map { hexDigits($0) }.joined()) }
            return tokens
        }

        /// SQLite's `hex()`: two upper-case digits per UTF-8 byte.
        private static func hexDigits(_ byte: UInt8) -> String {
            let digits = Array("0123456789ABCDEF")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }
    }

    static func summary(_ row: Row) throws -> RecordingSummary {
        var textbook: RecordingSummary.Textbook?
        if let volumeId: Int64 = row["volumeId"] {
            let grade: Int = row["grade"]
            let volume = TextbookVolume(
                id: volumeId, subject: row["subject"], grade: grade, edition: row["edition"], volume: row["volume"])
            textbook = .init(
                volumeId: volumeId, volume: volume.title, subject: volume.subject, grade: grade,
                lessonId: row["lessonId"], lesson: row["lessonTitle"])
        }
        let recording = try Recording(row: row)
        return RecordingSummary(
            id: recording.id!, title: recording.title, description: recording.description, state: recording.state,
            failure: recording.failure, teacher: .init(id: recording.teacherId, name: row["teacherName"]),
            school: .init(id: recording.schoolId, name: row["schoolName"]), districtId: row["districtId"],
            classroomId: recording.classroomId, textbook: textbook, recordedOn: recording.recordedOn,
            duration: recording.mediaInfo?.duration, mediaVersion: recording.mediaVersion, sourceSize: recording.sourceSize,
            sourceSha256: recording.sourceSha256, createdAt: recording.createdAt, updatedAt: recording.updatedAt)
    }

    /// Where a page ended: the id of its last row, and in title order its title: `12` or
    /// `12~秋天的雨`. Opaque to clients, but of a form the API document states exactly
    /// (`^[0-9]{1,18}(~.*)?$`, at most 512 characters), so any cursor of that form is a place to
    /// continue from and only malformed ones are refused.
    struct Cursor: Equatable {
        /// The title, in title order; id order needs only the id.
        var key: String?
        var id: Int64

        var encoded: String { key.map { "\(id)~\($0)" } ?? "\(id)" }

        static func decode(_ text: String) throws(CatalogError) -> Cursor {
            let parts = text.split(separator: "~", maxSplits: 1, omittingEmptySubsequences: false)
            guard text.count <= 512, let digits = parts.first, (1...18).contains(digits.count),
                digits.allSatisfy({ $0.isASCII && $0.isNumber }), let id = Int64(digits)
            else { throw .invalidCursor }
            return Cursor(key: parts.count == 2 ? String(parts[1]) : nil, id: id)
        }
    }
}
