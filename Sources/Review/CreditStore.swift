import Catalog
import Credentials
import Foundation
import GRDB

/// One semester of 支教 credit: a teacher's approved recordings cover every new-course lesson of
/// a textbook volume. The signed credential is kept exactly as issued.
public struct Credit: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var credentialId: String
    public var teacherId: Int64
    public var volumeId: Int64
    public var statusIndex: Int
    public var credential: String
    public var issuedAt: Date
    public var revokedAt: Date?
    public var revokedBy: Int64?
    public var revokeReason: String?

    public static let databaseTableName = "credit"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Coverage of textbook volumes, the credits it earns, and their certificates: granting (inside
/// the approval's own transaction, so the last two approvals racing still make one credit),
/// revoking, the published status list, and verification.
public struct CreditStore: Sendable {
    let database: AppDatabase
    public let issuer: CreditIssuer

    public init(database: AppDatabase, issuer: CreditIssuer) {
        self.database = database
        self.issuer = issuer
    }

    // MARK: - Views

    public typealias Ref = NamedRef

    public struct CreditView: Codable, Sendable, Equatable {
        public var id: Int64
        public var credentialId: String
        public var teacher: Ref
        public var school: Ref
        public var volume: Ref
        public var lessons: Int
        public var issuedAt: Date
        public var revokedAt: Date?
        public var revokeReason: String?
        /// The public verification page.
        public var verifyUrl: String
        /// The printable certificate.
        public var certificateUrl: String
    }

    public struct Coverage: Codable, Sendable, Equatable {
        public struct Lesson: Codable, Sendable, Equatable {
            public var id: Int64
            public var position: Int
            public var unit: String
            public var number: Int
            public var title: String
            /// New-course content (counts toward the credit) rather than review or practice.
            public var newCourse: Bool
            /// The teacher's recording of it that stands best in review.
            public var recording: Ref?
            /// `approved`, `inReview`, `awaiting`, `returned`, `revoked`, `notSubmitted` (a
            /// recording not yet submitted), or `missing` (no recording).
            public var review: String
            public var level: ReviewLevel?
        }
        public var teacher: Ref
        public var volume: Ref
        public var subject: String
        public var grade: Int
        /// New-course lessons, and how many of them have an approved recording.
        public var required: Int
        public var approved: Int
        public var lessons: [Lesson]
        public var credit: CreditView?
    }

    // MARK: - Coverage

    /// A teacher's progress: the volumes they have recorded in (or just `volumeId`).
    public func coverage(teacherId: Int64?, volumeId: Int64?, for person: Person) async throws -> [Coverage] {
        try await database.read { db in
            let teacherId = teacherId ?? person.id ?? -1
            guard let teacher = try Person.fetchOne(db, key: teacherId), teacher.role == .teacher,
                try Self.maySeeTeacher(teacher, person, db)
            else { throw ReviewError.notFound("teacher") }
            let volumes: [Int64]
            if let volumeId {
                guard try TextbookVolume.exists(db, key: volumeId) else { throw ReviewError.notFound("textbook volume") }
                volumes = [volumeId]
            } else {
                volumes = try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT l.volumeId FROM recording r JOIN textbookLesson l ON l.id = r.lessonId
                        WHERE r.teacherId = ? AND r.deletedAt IS NULL ORDER BY l.volumeId
                        """, arguments: [teacherId])
            }
            return try volumes.map { try Self.coverage(teacher, volumeId: $0, issuer: issuer, db) }
        }
    }

    static func coverage(_ teacher: Person, volumeId: Int64, issuer: CreditIssuer, _ db: Database) throws -> Coverage {
        let volume = try TextbookVolume.fetchOne(db, key: volumeId)!
        let lessons = try TextbookLesson.filter(TextbookLesson.Columns.volumeId == volumeId).order(TextbookLesson.Columns.position).fetchAll(db)
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT r.id, r.title, r.lessonId, s.state, s.level FROM recording r
                JOIN textbookLesson l ON l.id = r.lessonId
                LEFT JOIN reviewSubmission s ON s.recordingId = r.id
                WHERE r.teacherId = ? AND l.volumeId = ? AND r.deletedAt IS NULL
                """, arguments: [teacher.id, volumeId])
        let rank = ["approved": 6, "inReview": 5, "awaiting": 4, "returned": 3, "notSubmitted": 2, "revoked": 1]
        var best: [Int64: Coverage.Lesson] = [:]
        for row in rows {
            let lessonId: Int64 = row["lessonId"]
            let review: String = row["state"] ?? "notSubmitted"
            if let current = best[lessonId], rank[current.review, default: 0] >= rank[review, default: 0] { continue }
            best[lessonId] = Coverage.Lesson(
                id: lessonId, position: 0, unit: "", number: 0, title: "", newCourse: true, recording: Ref(id: row["id"], name: row["title"]),
                review: review, level: (row["level"] as String?).flatMap(ReviewLevel.init(rawValue:)))
        }
        let entries = lessons.map { lesson in
            var entry = best[lesson.id!] ?? Coverage.Lesson(
                id: lesson.id!, position: 0, unit: "", number: 0, title: "", newCourse: true, recording: nil, review: "missing", level: nil)
            entry.position = lesson.position
            entry.unit = lesson.unit
            entry.number = lesson.number
            entry.title = lesson.title
            entry.newCourse = lesson.isNewCourse
            return entry
        }
        let credit = try Credit.filter(Column("teacherId") == teacher.id && Column("volumeId") == volumeId)
            .order(Column("id").desc).fetchOne(db)
        return Coverage(
            teacher: Ref(id: teacher.id!, name: teacher.displayName), volume: Ref(id: volumeId, name: volume.title), subject: volume.subject,
            grade: volume.grade, required: entries.filter(\.newCourse).count,
            approved: entries.filter { $0.newCourse && $0.review == "approved" }.count, lessons: entries,
            credit: try credit.map { try view($0, issuer: issuer, db) })
    }

    public struct Matrix: Codable, Sendable, Equatable {
        public struct Row: Codable, Sendable, Equatable {
            public struct Cell: Codable, Sendable, Equatable {
                public var volumeId: Int64
                public var approved: Int
                public var required: Int
                public var credited: Bool
            }
            public var teacher: Ref
            public var school: Ref
            public var cells: [Cell]
        }
        public var volumes: [Ref]
        public var rows: [Row]
    }

    /// Every teacher who has recorded textbook lessons × the volumes recorded in: a district's
    /// for its coordinator, the county's (or one district's) for admins.
    public func matrix(districtId: Int64?, for person: Person) async throws -> Matrix {
        try await database.read { db in
            let district: Int64?
            switch person.role {
            case .admin: district = districtId
            case .coordinator:
                if let districtId, districtId != person.districtId { throw ReviewError.notFound("district") }
                district = person.districtId ?? -1
            default: throw ReviewError.forbidden("the coverage matrix is for coordinators and admins")
            }
            let filter = district == nil ? "" : " AND s.districtId = \(district!)"
            let counts = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.teacherId, p.displayName, s.id AS schoolId, s.name AS school, l.volumeId,
                        COUNT(DISTINCT CASE WHEN l.isNewCourse AND sub.state = 'approved' THEN l.id END) AS approved
                    FROM recording r JOIN person p ON p.id = r.teacherId JOIN school s ON s.id = r.schoolId
                    JOIN textbookLesson l ON l.id = r.lessonId LEFT JOIN reviewSubmission sub ON sub.recordingId = r.id
                    WHERE r.deletedAt IS NULL\(filter)
                    GROUP BY r.teacherId, l.volumeId ORDER BY s.name, p.displayName
                    """)
            let volumeIds = Array(Set(counts.map { $0["volumeId"] as Int64 })).sorted()
            let volumes = try TextbookVolume.filter(keys: volumeIds).fetchAll(db)
            let required = try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(
                    db, sql: "SELECT volumeId, COUNT(*) AS n FROM textbookLesson WHERE isNewCourse GROUP BY volumeId"
                ).map { ($0["volumeId"] as Int64, $0["n"] as Int) })
            let credited = Set(
                try Row.fetchAll(db, sql: "SELECT teacherId, volumeId FROM credit WHERE revokedAt IS NULL").map {
                    "\($0["teacherId"] as Int64)/\($0["volumeId"] as Int64)"
                })
            var rows: [Matrix.Row] = []
            for row in counts {
                let teacherId: Int64 = row["teacherId"]
                if rows.last?.teacher.id != teacherId {
                    rows.append(.init(teacher: Ref(id: teacherId, name: row["displayName"]), school: Ref(id: row["schoolId"], name: row["school"]), cells: []))
                }
                let volumeId: Int64 = row["volumeId"]
                rows[rows.count - 1].cells.append(
                    .init(volumeId: volumeId, approved: row["approved"], required: required[volumeId] ?? 0, credited: credited.contains("\(teacherId)/\(volumeId)")))
            }
            return Matrix(volumes: volumes.map { Ref(id: $0.id!, name: $0.title) }, rows: rows)
        }
    }

    static func maySeeTeacher(_ teacher: Person, _ person: Person, _ db: Database) throws -> Bool {
        switch person.role {
        case .admin: true
        case .coordinator: teacher.districtId == person.districtId
        case .teacher: teacher.id == person.id
        case .reviewer, .classroom: false
        }
    }

    // MARK: - Granting

    /// Creates the teacher's credit for the volume if every new-course lesson now has an
    /// approved recording and no standing credit exists. Runs inside the approving transaction.
    @discardableResult
    static func grantIfComplete(teacherId: Int64, volumeId: Int64, issuer: CreditIssuer, at now: Date, _ db: Database) throws -> Credit? {
        guard try Credit.filter(Column("teacherId") == teacherId && Column("volumeId") == volumeId && Column("revokedAt") == nil).fetchCount(db) == 0
        else { return nil }
        let required = try Row.fetchAll(
            db, sql: "SELECT id, number, title FROM textbookLesson WHERE volumeId = ? AND isNewCourse ORDER BY position", arguments: [volumeId])
        guard !required.isEmpty else { return nil }
        var evidence: [CreditIssuer.Grant.Lesson] = []
        var firstSubmitted = now
        for lesson in required {
            // The lesson's earliest approved recording by this teacher, with both levels' approvals.
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.id, s.id AS submissionId, s.submittedAt,
                        (SELECT MIN(at) FROM reviewEvent WHERE submissionId = s.id AND action = 'submit') AS firstSubmitted
                    FROM reviewSubmission s JOIN recording r ON r.id = s.recordingId
                    WHERE s.teacherId = ? AND r.lessonId = ? AND s.state = 'approved' AND r.deletedAt IS NULL
                    ORDER BY s.updatedAt, s.id LIMIT 1
                    """, arguments: [teacherId, lesson["id"]])
            else { return nil }
            let approvals = try Row.fetchAll(
                db,
                sql: """
                    SELECT e.level, e.at, p.displayName FROM reviewEvent e JOIN person p ON p.id = e.personId
                    WHERE e.submissionId = ? AND e.action = 'approve' ORDER BY e.id
                    """, arguments: [row["submissionId"]])
            let county = approvals.last { $0["level"] == "county" }
            let city = approvals.last { $0["level"] == "city" }
            evidence.append(
                .init(
                    recordingId: row["id"], title: "第\(lesson["number"] as Int)课 \(lesson["title"] as String)",
                    countyReviewer: county?["displayName"] ?? "", countyApprovedAt: county?["at"] ?? now, cityReviewer: city?["displayName"] ?? "",
                    cityApprovedAt: city?["at"] ?? now))
            firstSubmitted = min(firstSubmitted, row["firstSubmitted"] ?? row["submittedAt"])
        }
        guard let teacher = try Person.fetchOne(db, key: teacherId), let volume = try TextbookVolume.fetchOne(db, key: volumeId) else { return nil }
        let school = try teacher.schoolId.flatMap { try School.fetchOne(db, key: $0) }
        var index = 0
        repeat {
            index = Int.random(in: 0..<StatusList.minimumLength)
        } while try Credit.filter(Column("statusIndex") == index).fetchCount(db) > 0
        let credentialId = "urn:uuid:" + UUID().uuidString.lowercased()
        let signed = try issuer.credential(
            .init(
                credentialId: credentialId, statusIndex: index, teacherName: teacher.displayName, schoolName: school?.name ?? "",
                volumeTitle: volume.title, subject: volume.subject, lessons: evidence, firstSubmittedAt: firstSubmitted, issuedAt: now))
        var credit = Credit(
            credentialId: credentialId, teacherId: teacherId, volumeId: volumeId, statusIndex: index,
            credential: String(decoding: try JCS.canonical(signed), as: UTF8.self), issuedAt: now)
        try credit.insert(db)
        let text = "\(teacher.displayName) 录制的《\(volume.title)》全部新授课已通过县、市两级审核，获认定一学期支教经历。"
        try Notices.send(
            kind: "credit.granted", text: text, link: "/credits/\(credit.id!)", people: [teacherId] + Notices.coordinators(ofSchool: teacher.schoolId ?? -1, db),
            schools: teacher.schoolId.map { [$0] } ?? [], at: now, db)
        return credit
    }

    /// After an approval is withdrawn: a standing credit of that volume no longer holds.
    static func withdrawAfterRevokedApproval(recordingId: Int64, reason: String, by person: Person, at now: Date, _ db: Database) throws {
        guard let row = try Row.fetchOne(
            db,
            sql: """
                SELECT r.teacherId, r.title, l.volumeId FROM recording r JOIN textbookLesson l ON l.id = r.lessonId
                WHERE r.id = ? AND l.isNewCourse
                """, arguments: [recordingId]),
            var credit = try Credit.filter(Column("teacherId") == row["teacherId"] && Column("volumeId") == row["volumeId"] && Column("revokedAt") == nil)
                .fetchOne(db)
        else { return }
        try revoke(&credit, reason: "课例《\(row["title"] as String)》的审核通过已被撤销：\(reason)", by: person, at: now, db)
    }

    static func revoke(_ credit: inout Credit, reason: String, by person: Person, at now: Date, _ db: Database) throws {
        credit.revokedAt = now
        credit.revokedBy = person.id
        credit.revokeReason = reason
        try credit.update(db)
        try Notices.send(
            kind: "credit.revoked", text: "支教经历证书已撤销：\(reason)", link: "/credits/\(credit.id!)", people: [credit.teacherId], at: now, db)
    }

    // MARK: - Credits

    public func credits(teacherId: Int64?, for person: Person) async throws -> [CreditView] {
        try await database.read { db in
            var sql = "SELECT c.* FROM credit c JOIN person p ON p.id = c.teacherId WHERE 1"
            var arguments: [any DatabaseValueConvertible] = []
            switch person.role {
            case .admin: break
            case .coordinator:
                sql += " AND p.districtId = ?"
                arguments.append(person.districtId ?? -1)
            case .teacher:
                sql += " AND c.teacherId = ?"
                arguments.append(person.id ?? -1)
            case .reviewer, .classroom: throw ReviewError.forbidden("credits are seen by their teachers, coordinators and admins")
            }
            if let teacherId {
                sql += " AND c.teacherId = ?"
                arguments.append(teacherId)
            }
            return try Credit.fetchAll(db, sql: sql + " ORDER BY c.id DESC LIMIT 500", arguments: StatementArguments(arguments)).map {
                try Self.view($0, issuer: issuer, db)
            }
        }
    }

    public func credit(_ id: Int64, for person: Person) async throws -> (CreditView, credential: String) {
        try await database.read { db in
            guard let credit = try Credit.fetchOne(db, key: id), let teacher = try Person.fetchOne(db, key: credit.teacherId),
                try Self.maySeeTeacher(teacher, person, db)
            else { throw ReviewError.notFound("credit") }
            return (try Self.view(credit, issuer: issuer, db), credit.credential)
        }
    }

    /// A credit found by its credential's UUID: what the public verification page shows.
    public func credit(uuid: String) async throws -> (CreditView, credential: String)? {
        try await database.read { db in
            guard let credit = try Credit.filter(Column("credentialId") == "urn:uuid:" + uuid.lowercased()).fetchOne(db) else { return nil }
            return (try Self.view(credit, issuer: issuer, db), credit.credential)
        }
    }

    /// An admin withdraws a credit (e.g. a recording found plagiarised); the status list says so.
    public func revoke(_ id: Int64, reason: String, by person: Person, at now: Date = Date()) async throws -> CreditView {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw ReviewError.invalid("reason: say why the credit is withdrawn") }
        return try await database.write { db in
            guard var credit = try Credit.fetchOne(db, key: id), let teacher = try Person.fetchOne(db, key: credit.teacherId),
                try Self.maySeeTeacher(teacher, person, db)
            else { throw ReviewError.notFound("credit") }
            guard person.role == .admin else { throw ReviewError.forbidden("only a county admin revokes a credit") }
            guard credit.revokedAt == nil else { throw ReviewError.conflict("the credit was already revoked") }
            try Self.revoke(&credit, reason: reason, by: person, at: now, db)
            return try Self.view(credit, issuer: issuer, db)
        }
    }

    static func view(_ credit: Credit, issuer: CreditIssuer, _ db: Database) throws -> CreditView {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT p.displayName, s.id AS schoolId, s.name AS school FROM person p LEFT JOIN school s ON s.id = p.schoolId WHERE p.id = ?
                """, arguments: [credit.teacherId])
        let volume = try TextbookVolume.fetchOne(db, key: credit.volumeId)
        let lessons = try TextbookLesson.filter(TextbookLesson.Columns.volumeId == credit.volumeId && Column("isNewCourse") == true).fetchCount(db)
        let uuid = CreditIssuer.uuid(of: credit.credentialId)
        return CreditView(
            id: credit.id!, credentialId: credit.credentialId, teacher: Ref(id: credit.teacherId, name: row?["displayName"] ?? ""),
            school: Ref(id: row?["schoolId"] ?? 0, name: row?["school"] ?? ""), volume: Ref(id: credit.volumeId, name: volume?.title ?? ""),
            lessons: lessons, issuedAt: credit.issuedAt, revokedAt: credit.revokedAt, revokeReason: credit.revokeReason,
            verifyUrl: "/verify/\(uuid)", certificateUrl: "/certificates/\(uuid)")
    }

    // MARK: - Publishing and verifying

    /// The signed revocation list.
    public func statusList(at now: Date = Date()) async throws -> JSONValue {
        let revoked = try await database.read { db in
            try Int.fetchAll(db, sql: "SELECT statusIndex FROM credit WHERE revokedAt IS NOT NULL")
        }
        return try issuer.statusListCredential(revoked: revoked, at: now)
    }

    /// Verifies a credential's text as the county sees it: signature, key, revocation.
    public func verify(_ data: Data) async throws -> CredentialCheck {
        let trusted = try issuer.keys().trusted
        // Only this credential's revocation is looked up (the check itself parses the text again).
        let id = (try? JSONValue.parse(data))?["id"]?.stringValue
        let reason = try await database.read { db in
            try id.flatMap {
                try Row.fetchOne(db, sql: "SELECT revokeReason FROM credit WHERE credentialId = ? AND revokedAt IS NOT NULL", arguments: [$0])
            }.map { ($0["revokeReason"] as String?) ?? "" }
        }
        return CredentialCheck.check(data, trusted: trusted, issuerName: issuer.name) { document in
            document["id"]?.stringValue == id ? reason : nil
        }
    }
}
