import Catalog
import Foundation
import GRDB

/// Every read and write of review offices, submissions and their history. Each step runs
/// `ReviewLifecycle` on the submission's current row inside one write transaction, so two
/// reviewers claiming the same lesson at once cannot both win: SQLite serializes the writes and
/// the second sees it claimed.
public struct ReviewStore: Sendable {
    let database: AppDatabase
    public let rubric: Rubric
    /// Signs the credit a final approval may complete.
    public let issuer: CreditIssuer

    public init(database: AppDatabase, rubric: Rubric, issuer: CreditIssuer) {
        self.database = database
        self.rubric = rubric
        self.issuer = issuer
    }

    /// A submission as the API shows it.
    public struct View: Codable, Sendable, Equatable {
        public typealias Ref = NamedRef
        public struct Step: Codable, Sendable, Equatable {
            public var action: String
            public var person: Ref
            public var level: ReviewLevel?
            public var scores: [String: Int]?
            public var comment: String
            public var at: Date
        }

        public var id: Int64
        public var recording: Ref
        public var teacher: Ref
        public var school: Ref
        public var subject: String?
        public var grade: Int?
        public var lesson: String?
        public var state: ReviewStatus.State
        public var level: ReviewLevel?
        public var claimedBy: Int64?
        public var submittedAt: Date
        public var updatedAt: Date
        /// Oldest first; only in a single submission's view.
        public var history: [Step]?
    }

    // MARK: - Offices

    /// Creates the office if missing and makes the named people its reviewers (demo seeding and
    /// the admin's command line).
    public static func seedOffice(name: String, level: ReviewLevel, scope: String, reviewers: [String], _ db: Database) throws {
        var office = try ReviewOffice.filter(Column("name") == name).fetchOne(db) ?? ReviewOffice(name: name, level: level, scope: scope)
        if office.id == nil { try office.insert(db) }
        for username in reviewers {
            guard let person = try Person.filter(Person.Columns.username == username).fetchOne(db), person.role == .reviewer else {
                continue
            }
            try ReviewOfficeMember(personId: person.id!, officeId: office.id!).save(db)
        }
    }

    /// The person as the review rules see them (a reviewer with the level of their office).
    static func actor(_ person: Person, _ db: Database) throws -> ReviewActor {
        let role: ReviewActor.Role
        switch person.role {
        case .teacher: role = .teacher
        case .admin: role = .admin
        case .coordinator: role = .coordinator
        case .classroom: role = .other
        case .reviewer:
            let level = try String.fetchOne(
                db, sql: "SELECT o.level FROM reviewOfficeMember m JOIN reviewOffice o ON o.id = m.officeId WHERE m.personId = ?",
                arguments: [person.id])
            role = level.flatMap(ReviewLevel.init(rawValue:)).map { .reviewer($0) } ?? .other
        }
        return ReviewActor(personId: person.id ?? -1, role: role, schoolId: person.schoolId)
    }

    // MARK: - Teachers

    /// Submits a ready recording for review, or resubmits a returned one (its history stays).
    public func submit(recordingId: Int64, by person: Person, at now: Date = Date()) async throws -> View {
        try await database.write { db in
            guard let recording = try Recording.fetchOne(db, key: recordingId), recording.deletedAt == nil,
                recording.state == .ready || recording.teacherId == person.id || person.role == .admin
            else { throw ReviewError.notFound("recording") }
            guard recording.state == .ready else {
                throw ReviewError.conflict("only a ready recording is reviewed (it is \(recording.state.rawValue))")
            }
            let subject = ReviewSubject(teacherId: recording.teacherId, schoolId: recording.schoolId)
            let actor = try Self.actor(person, db)
            var submission = try ReviewSubmission.filter(Column("recordingId") == recordingId).fetchOne(db)
            let action: ReviewAction = submission == nil ? .submit : .resubmit
            let next = try ReviewLifecycle.next(submission?.status, action, by: actor, on: subject)
            if submission == nil {
                submission = ReviewSubmission(
                    recordingId: recordingId, teacherId: recording.teacherId, schoolId: recording.schoolId, state: next.state,
                    level: next.level, claimedBy: nil, submittedAt: now, updatedAt: now)
                try submission!.insert(db)
            } else {
                submission!.status = next
                submission!.submittedAt = now
                submission!.updatedAt = now
                try submission!.update(db)
            }
            try Self.record(action, submission!, level: next.level, person, nil, "", now, db)
            return try Self.view(submission!, history: true, db)
        }
    }

    /// What submitting a whole volume did for each of the teacher's recordings in it.
    public struct VolumeSubmission: Codable, Sendable, Equatable {
        public struct Skipped: Codable, Sendable, Equatable {
            public var recording: View.Ref
            public var reason: String
        }
        public var submitted: [View]
        public var skipped: [Skipped]
    }

    /// Submits every ready recording the teacher has of a volume's lessons that is not already
    /// in review or approved (returned ones are resubmitted); says why any other was left.
    public func submitVolume(_ volumeId: Int64, by person: Person, at now: Date = Date()) async throws -> VolumeSubmission {
        guard person.role == .teacher else { throw ReviewError.forbidden("only a recording's teacher submits it") }
        let recordings = try await database.read { db in
            guard try TextbookVolume.exists(db, key: volumeId) else { throw ReviewError.notFound("textbook volume") }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.title, r.state, s.state AS review FROM recording r JOIN textbookLesson l ON l.id = r.lessonId
                    LEFT JOIN reviewSubmission s ON s.recordingId = r.id
                    WHERE r.teacherId = ? AND l.volumeId = ? AND r.deletedAt IS NULL ORDER BY l.position, r.id
                    """, arguments: [person.id, volumeId]
            ).map { (id: $0["id"] as Int64, title: $0["title"] as String, state: $0["state"] as String, review: $0["review"] as String?) }
        }
        guard !recordings.isEmpty else { throw ReviewError.conflict("you have no recordings of this volume's lessons") }
        var result = VolumeSubmission(submitted: [], skipped: [])
        for row in recordings {
            let ref = View.Ref(id: row.id, name: row.title)
            if row.state != Recording.State.ready.rawValue {
                result.skipped.append(.init(recording: ref, reason: "not ready (\(row.state))"))
            } else if let review = row.review, review != ReviewStatus.State.returned.rawValue {
                result.skipped.append(.init(recording: ref, reason: "already \(review)"))
            } else {
                do {
                    result.submitted.append(try await submit(recordingId: ref.id, by: person, at: now))
                } catch let error as ReviewError {
                    result.skipped.append(.init(recording: ref, reason: error.message))
                }
            }
        }
        return result
    }

    /// A recording's submission with its history: for its teacher, reviewers, the district's
    /// coordinator and admins.
    public func submission(recordingId: Int64, for person: Person) async throws -> View {
        try await database.read { db in
            guard let submission = try ReviewSubmission.filter(Column("recordingId") == recordingId).fetchOne(db),
                try Self.maySee(submission, person, db)
            else { throw ReviewError.notFound("review of this recording") }
            return try Self.view(submission, history: true, db)
        }
    }

    static func maySee(_ submission: ReviewSubmission, _ person: Person, _ db: Database) throws -> Bool {
        switch person.role {
        case .admin, .reviewer: return true
        case .teacher: return person.id == submission.teacherId
        case .coordinator: return try School.fetchOne(db, key: submission.schoolId)?.districtId == person.districtId
        case .classroom: return false
        }
    }

    // MARK: - Reviewers

    /// The reviewer's queue: what waits at their office's level and what they have claimed,
    /// oldest first; never their own recordings or their school's.
    public func queue(for person: Person, subject: String? = nil, grade: Int? = nil) async throws -> [View] {
        try await database.read { db in
            guard case .reviewer(let level) = try Self.actor(person, db).role else {
                throw ReviewError.forbidden("the queue is for reviewers of a teaching-research office")
            }
            var sql = """
                SELECT s.* FROM reviewSubmission s
                JOIN recording r ON r.id = s.recordingId
                LEFT JOIN textbookLesson l ON l.id = r.lessonId LEFT JOIN textbookVolume v ON v.id = l.volumeId
                WHERE s.level = ? AND (s.state = 'awaiting' OR (s.state = 'inReview' AND s.claimedBy = ?))
                AND s.teacherId != ? AND s.schoolId IS NOT ?
                """
            var arguments: [any DatabaseValueConvertible] = [level.rawValue, person.id ?? -1, person.id ?? -1, person.schoolId]
            if let subject {
                sql += " AND v.subject = ?"
                arguments.append(subject)
            }
            if let grade {
                sql += " AND v.grade = ?"
                arguments.append(grade)
            }
            sql += " ORDER BY s.submittedAt, s.id LIMIT 500"
            return try ReviewSubmission.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
                try Self.view($0, history: false, db)
            }
        }
    }

    /// Claims a submission (so no other reviewer reviews it), or gives a claim back.
    public func claim(_ id: Int64, release: Bool = false, by person: Person, at now: Date = Date()) async throws -> View {
        try await step(id, release ? .release : .claim, by: person, scores: nil, comment: "", at: now)
    }

    /// Approves (to the city office, or final) or returns to the teacher, with rubric scores and
    /// a comment (required when returning: the teacher needs the reasons).
    public func decide(_ id: Int64, approve: Bool, scores: [String: Int], comment: String, by person: Person, at now: Date = Date())
        async throws -> View
    {
        if let problem = rubric.problem(with: scores) { throw ReviewError.invalid("scores: \(problem)") }
        let comment = comment.trimmingCharacters(in: .whitespacesAndNewlines)
        if !approve, comment.isEmpty { throw ReviewError.invalid("comment: say why the recording goes back to the teacher") }
        return try await step(id, approve ? .approve : .return, by: person, scores: scores, comment: comment, at: now)
    }

    /// An admin withdraws an approval, with the reason (kept in the history).
    public func revoke(_ id: Int64, reason: String, by person: Person, at now: Date = Date()) async throws -> View {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw ReviewError.invalid("reason: say why the approval is withdrawn") }
        return try await step(id, .revoke, by: person, scores: nil, comment: reason, at: now)
    }

    private func step(
        _ id: Int64, _ action: ReviewAction, by person: Person, scores: [String: Int]?, comment: String, at now: Date
    ) async throws -> View {
        try await database.write { db in
            guard var submission = try ReviewSubmission.fetchOne(db, key: id), try Self.maySee(submission, person, db) else {
                throw ReviewError.notFound("submission")
            }
            let level = submission.level  // the level the step happened at
            submission.status = try ReviewLifecycle.next(
                submission.status, action, by: try Self.actor(person, db),
                on: ReviewSubject(teacherId: submission.teacherId, schoolId: submission.schoolId))
            submission.updatedAt = now
            try submission.update(db)
            try Self.record(action, submission, level: level, person, scores, comment, now, db)
            if action == .approve, submission.state == .approved,
                let volumeId = try Int64.fetchOne(
                    db, sql: "SELECT l.volumeId FROM recording r JOIN textbookLesson l ON l.id = r.lessonId WHERE r.id = ?",
                    arguments: [submission.recordingId])
            {
                try CreditStore.grantIfComplete(teacherId: submission.teacherId, volumeId: volumeId, issuer: issuer, at: now, db)
            }
            if action == .return {
                try Notices.send(
                    kind: "review.returned", text: "课例《\(try Self.title(submission, db))》被退回修改：\(comment)",
                    link: "/recordings/\(submission.recordingId)", people: [submission.teacherId], at: now, db)
            } else if action == .approve, submission.state == .approved {
                try Notices.send(
                    kind: "review.approved", text: "课例《\(try Self.title(submission, db))》已通过县、市两级审核。",
                    link: "/recordings/\(submission.recordingId)", people: [submission.teacherId], at: now, db)
            }
            if action == .revoke {
                try CreditStore.withdrawAfterRevokedApproval(recordingId: submission.recordingId, reason: comment, by: person, at: now, db)
            }
            return try Self.view(submission, history: true, db)
        }
    }

    static func title(_ submission: ReviewSubmission, _ db: Database) throws -> String {
        try String.fetchOne(db, sql: "SELECT title FROM recording WHERE id = ?", arguments: [submission.recordingId]) ?? ""
    }

    /// Adds a step to the submission's history.
    static func record(
        _ action: ReviewAction, _ submission: ReviewSubmission, level: ReviewLevel?, _ person: Person, _ scores: [String: Int]?,
        _ comment: String, _ now: Date, _ db: Database
    ) throws {
        var event = ReviewEvent(
            submissionId: submission.id!, action: action.rawValue, personId: person.id!, level: level, scores: scores, comment: comment,
            at: now)
        try event.insert(db)
    }

    static func view(_ submission: ReviewSubmission, history: Bool, _ db: Database) throws -> View {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT r.title, p.displayName, s.name AS school, v.subject, v.grade, l.title AS lesson
                FROM recording r JOIN person p ON p.id = r.teacherId JOIN school s ON s.id = r.schoolId
                LEFT JOIN textbookLesson l ON l.id = r.lessonId LEFT JOIN textbookVolume v ON v.id = l.volumeId
                WHERE r.id = ?
                """, arguments: [submission.recordingId])
        var steps: [View.Step]?
        if history {
            steps = try Row.fetchAll(
                db,
                sql: "SELECT e.*, p.displayName FROM reviewEvent e JOIN person p ON p.id = e.personId WHERE e.submissionId = ? ORDER BY e.id",
                arguments: [submission.id]
            ).map { row in
                let event = try ReviewEvent(row: row)
                return View.Step(
                    action: event.action, person: .init(id: event.personId, name: row["displayName"]), level: event.level,
                    scores: event.scores, comment: event.comment, at: event.at)
            }
        }
        return View(
            id: submission.id!, recording: .init(id: submission.recordingId, name: row?["title"] ?? ""),
            teacher: .init(id: submission.teacherId, name: row?["displayName"] ?? ""),
            school: .init(id: submission.schoolId, name: row?["school"] ?? ""), subject: row?["subject"], grade: row?["grade"],
            lesson: row?["lesson"], state: submission.state, level: submission.level, claimedBy: submission.claimedBy,
            submittedAt: submission.submittedAt, updatedAt: submission.updatedAt, history: steps)
    }
}
