import Catalog
import Foundation
import GRDB
import PackSync

/// Resource packs in the database: who may see and change them, drafts and their items.
///
/// Who sees what: a pack's makers — teachers of its lead school, the coordinator of its district
/// and county admins — see every version and edit the draft. A member school sees the published
/// versions addressed to it (the latest first). Nobody else learns anything about the pack.
public struct PackStore: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// How a viewer stands towards one pack.
    public enum Access: String, Sendable, Codable {
        case maker, reader
    }

    public struct Target: Codable, Sendable, Equatable {
        public var schoolId: Int64
        public var grades: [Int]?

        public init(schoolId: Int64, grades: [Int]? = nil) {
            self.schoolId = schoolId
            self.grades = grades
        }
    }

    /// The fields of a draft a maker sets; nil leaves a field as it is.
    public struct Changes: Codable, Sendable {
        public var title: String?
        public var description: String?
        public var notes: String?
        public var targets: [Target]?

        public init(title: String? = nil, description: String? = nil, notes: String? = nil, targets: [Target]? = nil) {
            self.title = title
            self.description = description
            self.notes = notes
            self.targets = targets
        }
    }

    public struct TargetView: Codable, Sendable, Equatable {
        public var schoolId: Int64
        public var school: String
        public var grades: [Int]
    }

    public struct VersionView: Codable, Sendable, Equatable {
        public var number: Int
        public var state: PackVersion.State
        public var title: String
        public var description: String
        public var notes: String
        public var createdAt: Date
        public var publishedAt: Date?
        public var manifestSha256: String?
        public var totalSize: Int64?
        public var fileCount: Int?
        /// False once the sweeper released an old version's files.
        public var downloadable: Bool
        public var targets: [TargetView]
        public var items: [PackItem]
    }

    public struct PackView: Codable, Sendable, Equatable {
        public var id: Int64
        public var leadSchoolId: Int64
        public var leadSchool: String
        public var createdAt: Date
        public var access: Access
        /// Newest first: the draft (makers only), then published versions.
        public var versions: [VersionView]
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var id: Int64
        public var leadSchool: String
        public var title: String
        /// The newest version this viewer may read (published), or nil when only a draft exists.
        public var latestVersion: Int?
        public var publishedAt: Date?
        public var manifestSha256: String?
        public var totalSize: Int64?
        public var hasDraft: Bool
        public var access: Access
    }

    // MARK: - Reading

    /// Packs the viewer may see, newest first.
    public func list(for viewer: Viewer) async throws -> [Summary] {
        try await database.read { db in
            let (condition, arguments) = Self.visibility(viewer)
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT p.id, s.name AS leadSchool, s.districtId, p.leadSchoolId FROM resourcePack p
                    JOIN school s ON s.id = p.leadSchoolId
                    WHERE p.deletedAt IS NULL AND \(condition) ORDER BY p.id DESC LIMIT 500
                    """, arguments: StatementArguments(arguments))
            return try rows.compactMap { row -> Summary? in
                let id: Int64 = row["id"]
                let access = Self.access(viewer, leadSchoolId: row["leadSchoolId"], districtId: row["districtId"]) ?? .reader
                let versions = try Self.readableVersions(db, packId: id, viewer: viewer, access: access)
                let published = versions.first { $0.state == .published }
                guard let newest = versions.first else { return nil }
                return Summary(
                    id: id, leadSchool: row["leadSchool"], title: (published ?? newest).title, latestVersion: published?.number,
                    publishedAt: published?.publishedAt, manifestSha256: published?.manifestSha256, totalSize: published?.totalSize,
                    hasDraft: versions.contains { $0.state == .draft }, access: access)
            }
        }
    }

    /// One pack as the viewer may see it. Throws `.notFound` or `.forbidden`.
    public func view(_ packId: Int64, for viewer: Viewer) async throws -> PackView {
        try await database.read { db in
            let (pack, school, access) = try Self.authorize(db, packId: packId, viewer: viewer)
            let versions = try Self.readableVersions(db, packId: packId, viewer: viewer, access: access)
            return PackView(
                id: packId, leadSchoolId: pack.leadSchoolId, leadSchool: school.name, createdAt: pack.createdAt, access: access,
                versions: try versions.map { try Self.versionView($0, db) })
        }
    }

    /// A published version the viewer may download. Throws `.notFound`, `.forbidden` or `.gone`.
    public func publishedVersion(_ packId: Int64, number: Int, for viewer: Viewer) async throws -> PackVersion {
        try await database.read { db in
            let (_, _, access) = try Self.authorize(db, packId: packId, viewer: viewer)
            let versions = try Self.readableVersions(db, packId: packId, viewer: viewer, access: access)
            guard let version = versions.first(where: { $0.number == number && $0.state == .published }) else {
                throw PackError.notFound("version \(number) of pack \(packId)")
            }
            if version.sweptAt != nil { throw PackError.gone("version \(number) of pack \(packId) was superseded and its files removed") }
            return version
        }
    }

    /// The files of a published version, in manifest order.
    public func files(versionId: Int64) async throws -> [PackFile] {
        try await database.read { db in
            try PackFile.filter(PackFile.Columns.versionId == versionId).order(PackFile.Columns.position).fetchAll(db)
        }
    }

    public func file(versionId: Int64, path: String) async throws -> PackFile? {
        try await database.read { db in
            try PackFile.fetchOne(db, key: ["versionId": versionId, "path": path])
        }
    }

    // MARK: - Changing

    /// Throws unless the viewer may change the pack (checked before accepting an upload's bytes).
    public func requireMaker(_ packId: Int64, viewer: Viewer) async throws {
        _ = try await database.read { db in try Self.authorizeMaker(db, packId: packId, viewer: viewer) }
    }

    /// Deletes a pack (its makers only): it leaves every listing at once, so school mirrors drop
    /// it at their next sync; the sweep releases its files.
    public func delete(_ packId: Int64, by viewer: Viewer, now: Date = Date()) async throws {
        try await database.write { db in
            _ = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            try db.execute(sql: "UPDATE resourcePack SET deletedAt = ? WHERE id = ?", arguments: [now, packId])
        }
    }

    /// Creates a pack with an empty draft (version 1). A teacher's pack belongs to their own lead
    /// school; a coordinator's or admin's to `leadSchoolId` (a coordinator's district's lead school
    /// by default).
    public func create(by viewer: Viewer, leadSchoolId: Int64?, changes: Changes) async throws -> PackView {
        let id = try await database.write { db -> Int64 in
            let schoolId: Int64
            switch viewer.role {
            case .teacher:
                guard let own = viewer.schoolId, leadSchoolId == nil || leadSchoolId == own else {
                    throw PackError.forbidden("teachers make packs for their own school")
                }
                schoolId = own
            case .coordinator:
                if let leadSchoolId {
                    schoolId = leadSchoolId
                } else {
                    guard let lead = try Int64.fetchOne(
                        db, sql: "SELECT id FROM school WHERE districtId = ? AND kind = 'lead' ORDER BY id LIMIT 1",
                        arguments: [viewer.districtId ?? -1])
                    else { throw PackError.conflict("your district has no lead school") }
                    schoolId = lead
                }
            case .admin:
                guard let leadSchoolId else {
                    throw PackError.forbidden("an admin makes packs only for a lead school they name (leadSchoolId)")
                }
                schoolId = leadSchoolId
            case .classroom, .reviewer:
                throw PackError.forbidden("only lead-school teachers and coordinators make resource packs")
            }
            guard let school = try School.fetchOne(db, key: schoolId) else { throw PackError.notFound("school \(schoolId)") }
            guard school.kind == .lead else { throw PackError.forbidden("resource packs are made by lead schools; \(school.name) is a member school") }
            guard Self.access(viewer, leadSchoolId: schoolId, districtId: school.districtId) == .maker else {
                throw PackError.forbidden("you cannot make packs for \(school.name)")
            }
            guard let title = changes.title?.trimmingCharacters(in: .whitespacesAndNewlines), !title.isEmpty else {
                throw PackError.invalid("a pack needs a title")
            }
            var pack = ResourcePack(leadSchoolId: schoolId, createdBy: viewer.personId)
            try pack.insert(db)
            var version = PackVersion(packId: pack.id!, number: 1, title: title, createdBy: viewer.personId)
            try Self.apply(changes, to: &version, school: school, db)
            return pack.id!
        }
        return try await view(id, for: viewer)
    }

    /// Applies changes to the pack's draft, starting a new draft from the latest published
    /// version when there is none: a published version never changes.
    public func edit(_ packId: Int64, by viewer: Viewer, changes: Changes) async throws -> PackView {
        try await database.write { db in
            let (_, school) = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            var draft = try Self.draft(db, packId: packId, viewer: viewer)
            try Self.apply(changes, to: &draft, school: school, db)
        }
        return try await view(packId, for: viewer)
    }

    /// Appends a recording (whole, or the part between `clipStart` and `clipEnd` seconds) to the
    /// draft, copying its provenance.
    public func addRecording(
        _ packId: Int64, by viewer: Viewer, recordingId: Int64, title: String?, note: String, clipStart: Double?, clipEnd: Double?
    ) async throws -> PackItem {
        try await database.write { db in
            _ = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.title, r.state, r.mediaInfo, p.displayName AS teacher, s.name AS school FROM recording r
                    JOIN person p ON p.id = r.teacherId JOIN school s ON s.id = r.schoolId
                    WHERE r.id = ? AND r.deletedAt IS NULL
                    """, arguments: [recordingId])
            else { throw PackError.notFound("recording \(recordingId)") }
            guard row["state"] as String == "ready" else {
                throw PackError.conflict("recording \(recordingId) is not ready yet (it is \(row["state"] as String))")
            }
            if clipStart != nil || clipEnd != nil {
                let start = clipStart ?? 0
                guard start >= 0, clipEnd.map({ $0 > start }) ?? true else {
                    throw PackError.invalid("a clip needs 0 <= clipStart < clipEnd (seconds)")
                }
            }
            let sourceTitle: String = row["title"]
            let draft = try Self.draft(db, packId: packId, viewer: viewer)
            var item = PackItem(
                versionId: draft.id!, position: try Self.nextPosition(db, versionId: draft.id!), kind: .recording,
                title: Self.clean(title) ?? sourceTitle, note: note, recordingId: recordingId, clipStart: clipStart, clipEnd: clipEnd,
                sourceTitle: sourceTitle, sourceTeacher: row["teacher"], sourceSchool: row["school"])
            try item.insert(db)
            return item
        }
    }

    /// Appends an attached file, already in the object store, to the draft.
    public func addAttachment(
        _ packId: Int64, by viewer: Viewer, fileName: String, title: String?, note: String, object: ObjectStore.Object
    ) async throws -> PackItem {
        try await database.write { db in
            _ = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            let draft = try Self.draft(db, packId: packId, viewer: viewer)
            var item = PackItem(
                versionId: draft.id!, position: try Self.nextPosition(db, versionId: draft.id!), kind: .attachment,
                title: Self.clean(title) ?? fileName, note: note, fileName: fileName, sha256: object.sha256, size: object.size)
            try item.insert(db)
            return item
        }
    }

    public func removeItem(_ packId: Int64, itemId: Int64, by viewer: Viewer) async throws {
        try await database.write { db in
            _ = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            let draft = try Self.draft(db, packId: packId, viewer: viewer)
            let deleted = try PackItem.filter(Column("id") == itemId && PackItem.Columns.versionId == draft.id!).deleteAll(db)
            if deleted == 0 { throw PackError.notFound("item \(itemId) in the draft") }
        }
    }

    /// Puts the draft's items in the given order (every item id exactly once).
    public func reorder(_ packId: Int64, itemIds: [Int64], by viewer: Viewer) async throws {
        try await database.write { db in
            _ = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            let draft = try Self.draft(db, packId: packId, viewer: viewer)
            let items = try PackItem.filter(PackItem.Columns.versionId == draft.id!).fetchAll(db)
            guard Set(itemIds) == Set(items.compactMap(\.id)), itemIds.count == items.count else {
                throw PackError.conflict("list every item of the draft exactly once")
            }
            for (position, id) in itemIds.enumerated() {
                try db.execute(sql: "UPDATE packItem SET position = ? WHERE id = ?", arguments: [position + 1, id])
            }
        }
    }

    /// The draft a maker is about to publish, with its items and targets. Throws `.conflict` when
    /// there is nothing to publish.
    public func draftForPublishing(_ packId: Int64, by viewer: Viewer) async throws -> (PackVersion, [PackItem], [PackTarget]) {
        try await database.read { db in
            _ = try Self.authorizeMaker(db, packId: packId, viewer: viewer)
            guard let draft = try PackVersion.filter(PackVersion.Columns.packId == packId && PackVersion.Columns.state == "draft").fetchOne(db)
            else { throw PackError.conflict("there is no draft to publish: edit the pack first") }
            let items = try PackItem.filter(PackItem.Columns.versionId == draft.id!).order(PackItem.Columns.position).fetchAll(db)
            let targets = try PackTarget.filter(PackTarget.Columns.versionId == draft.id!).fetchAll(db)
            guard !items.isEmpty else { throw PackError.conflict("the draft has no items") }
            guard !targets.isEmpty else { throw PackError.conflict("the draft is addressed to no school") }
            return (draft, items, targets)
        }
    }

    // MARK: - Rules

    static func access(_ viewer: Viewer, leadSchoolId: Int64, districtId: Int64) -> Access? {
        switch viewer.role {
        case .admin: .maker
        case .coordinator: viewer.districtId == districtId ? .maker : nil
        case .teacher: viewer.schoolId == leadSchoolId ? .maker : nil
        case .classroom, .reviewer: nil
        }
    }

    /// SQL over `resourcePack p` / `school s` for packs the viewer may see.
    static func visibility(_ viewer: Viewer) -> (String, [Int64]) {
        let addressed = """
            EXISTS (SELECT 1 FROM packVersion v JOIN packTarget t ON t.versionId = v.id
                    WHERE v.packId = p.id AND v.state = 'published' AND t.schoolId = ?)
            """
        switch viewer.role {
        case .admin: return ("1", [])
        case .coordinator: return ("(s.districtId = ? OR \(addressed))", [viewer.districtId ?? -1, viewer.schoolId ?? -1])
        case .teacher: return ("(p.leadSchoolId = ? OR \(addressed))", [viewer.schoolId ?? -1, viewer.schoolId ?? -1])
        case .classroom: return (addressed, [viewer.schoolId ?? -1])
        case .reviewer: return ("0", [])
        }
    }

    static func authorize(_ db: Database, packId: Int64, viewer: Viewer) throws -> (ResourcePack, School, Access) {
        guard let pack = try ResourcePack.fetchOne(db, key: packId), pack.deletedAt == nil,
            let school = try School.fetchOne(db, key: pack.leadSchoolId)
        else { throw PackError.notFound("pack \(packId)") }
        if let access = access(viewer, leadSchoolId: pack.leadSchoolId, districtId: school.districtId) {
            return (pack, school, access)
        }
        let addressed = try Bool.fetchOne(
            db,
            sql: """
                SELECT EXISTS (SELECT 1 FROM packVersion v JOIN packTarget t ON t.versionId = v.id
                               WHERE v.packId = ? AND v.state = 'published' AND t.schoolId = ?)
                """, arguments: [packId, viewer.schoolId ?? -1]) ?? false
        guard addressed, viewer.role != .reviewer else { throw PackError.forbidden("this pack is not addressed to your school") }
        return (pack, school, .reader)
    }

    static func authorizeMaker(_ db: Database, packId: Int64, viewer: Viewer) throws -> (ResourcePack, School) {
        let (pack, school, access) = try authorize(db, packId: packId, viewer: viewer)
        guard access == .maker else { throw PackError.forbidden("only \(school.name)'s teachers and its coordinator change this pack") }
        return (pack, school)
    }

    /// Versions the viewer may read, newest first: all for makers; for readers, published versions
    /// addressed to their school.
    static func readableVersions(_ db: Database, packId: Int64, viewer: Viewer, access: Access) throws -> [PackVersion] {
        if access == .maker {
            return try PackVersion.filter(PackVersion.Columns.packId == packId).order(PackVersion.Columns.number.desc).fetchAll(db)
        }
        return try PackVersion.fetchAll(
            db,
            sql: """
                SELECT v.* FROM packVersion v JOIN packTarget t ON t.versionId = v.id
                WHERE v.packId = ? AND v.state = 'published' AND t.schoolId = ? ORDER BY v.number DESC
                """, arguments: [packId, viewer.schoolId ?? -1])
    }

    static func versionView(_ version: PackVersion, _ db: Database) throws -> VersionView {
        let targets = try Row.fetchAll(
            db,
            sql: "SELECT t.schoolId, t.grades, s.name FROM packTarget t JOIN school s ON s.id = t.schoolId WHERE t.versionId = ? ORDER BY s.id",
            arguments: [version.id!]
        ).map { row in
            TargetView(schoolId: row["schoolId"], school: row["name"], grades: (row["grades"] as String).split(separator: ",").compactMap { Int($0) })
        }
        let items = try PackItem.filter(PackItem.Columns.versionId == version.id!).order(PackItem.Columns.position).fetchAll(db)
        return VersionView(
            number: version.number, state: version.state, title: version.title, description: version.description, notes: version.notes,
            createdAt: version.createdAt, publishedAt: version.publishedAt, manifestSha256: version.manifestSha256,
            totalSize: version.totalSize, fileCount: version.fileCount, downloadable: version.state == .published && version.sweptAt == nil,
            targets: targets, items: items)
    }

    /// The pack's draft, made from a copy of the latest version (targets and items) if needed.
    static func draft(_ db: Database, packId: Int64, viewer: Viewer) throws -> PackVersion {
        if let draft = try PackVersion.filter(PackVersion.Columns.packId == packId && PackVersion.Columns.state == "draft").fetchOne(db) {
            return draft
        }
        guard let latest = try PackVersion.filter(PackVersion.Columns.packId == packId).order(PackVersion.Columns.number.desc).fetchOne(db)
        else { throw PackError.notFound("pack \(packId)") }
        var draft = PackVersion(
            packId: packId, number: latest.number + 1, title: latest.title, description: latest.description, notes: latest.notes,
            createdBy: viewer.personId)
        try draft.insert(db)
        try db.execute(
            sql: "INSERT INTO packTarget (versionId, schoolId, grades) SELECT ?, schoolId, grades FROM packTarget WHERE versionId = ?",
            arguments: [draft.id!, latest.id!])
        try db.execute(
            sql: """
                INSERT INTO packItem (versionId, position, kind, title, note, recordingId, clipStart, clipEnd, sourceTitle,
                                      sourceTeacher, sourceSchool, fileName, sha256, size)
                SELECT ?, position, kind, title, note, recordingId, clipStart, clipEnd, sourceTitle, sourceTeacher, sourceSchool,
                       fileName, sha256, size FROM packItem WHERE versionId = ?
                """, arguments: [draft.id!, latest.id!])
        return draft
    }

    static func apply(_ changes: Changes, to version: inout PackVersion, school: School, _ db: Database) throws {
        if let title = changes.title {
            guard let title = clean(title) else { throw PackError.invalid("a pack needs a title") }
            guard title.count <= 200 else { throw PackError.invalid("a pack's title is limited to 200 characters") }
            version.title = title
        }
        if let description = changes.description {
            guard description.count <= 10_000 else { throw PackError.invalid("the description is limited to 10,000 characters") }
            version.description = description
        }
        if let notes = changes.notes {
            guard notes.count <= 50_000 else { throw PackError.invalid("the notes are limited to 50,000 characters") }
            version.notes = notes
        }
        try version.save(db)
        guard let targets = changes.targets else { return }
        // What the request itself gets wrong is answered before what it conflicts with.
        if targets.contains(where: { !($0.grades ?? []).allSatisfy { (1...12).contains($0) } }) {
            throw PackError.invalid("grades are 1 to 12")
        }
        try PackTarget.filter(PackTarget.Columns.versionId == version.id!).deleteAll(db)
        for target in targets {
            guard let member = try School.fetchOne(db, key: target.schoolId) else {
                throw PackError.notFound("school \(target.schoolId)")
            }
            guard member.districtId == school.districtId, member.kind == .member else {
                throw PackError.conflict("\(member.name) is not a member school of \(school.name)'s district")
            }
            try PackTarget(versionId: version.id!, schoolId: member.id!, grades: target.grades ?? []).insert(db, onConflict: .replace)
        }
    }

    static func nextPosition(_ db: Database, versionId: Int64) throws -> Int {
        let count = try PackItem.filter(PackItem.Columns.versionId == versionId).fetchCount(db)
        guard count < 500 else { throw PackError.conflict("a pack holds at most 500 items") }
        return (try Int.fetchOne(db, sql: "SELECT max(position) FROM packItem WHERE versionId = ?", arguments: [versionId]) ?? 0) + 1
    }

    static func clean(_ text: String?) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }
}

/// What went wrong with a pack request; the server maps each case to an HTTP status.
public enum PackError: Error, Sendable, Equatable {
    case notFound(String)
    case forbidden(String)
    case invalid(String)
    case conflict(String)
    case gone(String)
    case storage(String)

    /// The words for people, whatever the case.
    public var message: String {
        switch self {
        case .notFound(let text), .forbidden(let text), .invalid(let text), .conflict(let text), .gone(let text), .storage(let text):
            text
        }
    }
}

extension PackStore {
    /// Releases what no one can download any more: published versions superseded by a newer
    /// published version more than `keepOldVersions` ago, then every object no live version, draft
    /// or manifest names. Objects younger than an hour stay (a publish or an upload may be about
    /// to name them). Returns the versions released and the bytes freed.
    public func sweep(store: ObjectStore, keepOldVersions: TimeInterval, now: Date = Date()) async throws -> (versions: Int, bytes: Int64) {
        let cutoff = now.addingTimeInterval(-keepOldVersions)
        let (released, keep) = try await database.write { db -> (Int, Set<String>) in
            let old = try Int64.fetchAll(
                db,
                sql: """
                    SELECT v.id FROM packVersion v JOIN resourcePack p ON p.id = v.packId
                    WHERE v.state = 'published' AND v.sweptAt IS NULL AND (p.deletedAt IS NOT NULL OR EXISTS (
                        SELECT 1 FROM packVersion n WHERE n.packId = v.packId AND n.state = 'published'
                        AND n.number > v.number AND n.publishedAt < ?))
                    """, arguments: [cutoff])
            for id in old {
                try db.execute(sql: "UPDATE packVersion SET sweptAt = ? WHERE id = ?", arguments: [now, id])
                try db.execute(sql: "DELETE FROM packFile WHERE versionId = ?", arguments: [id])
            }
            let keep = try String.fetchSet(
                db,
                sql: """
                    SELECT sha256 FROM packFile
                    UNION SELECT i.sha256 FROM packItem i JOIN packVersion v ON v.id = i.versionId
                          JOIN resourcePack p ON p.id = v.packId WHERE i.sha256 IS NOT NULL AND p.deletedAt IS NULL
                    UNION SELECT manifestSha256 FROM packVersion WHERE manifestSha256 IS NOT NULL AND sweptAt IS NULL
                    """)
            return (old.count, keep)
        }
        return (released, store.sweep(keeping: keep, grace: 3600, now: now))
    }
}
