import Foundation
import GRDB

/// The LessonLink database: one SQLite file, opened as a WAL-mode `DatabasePool` so the web
/// server's reads never wait for an upload's or a worker's write. Migrations run on open.
public struct AppDatabase: Sendable {
    /// The GRDB connection (a pool on disk, a queue in memory for tests). Private: every module
    /// reaches the tables through a store's intent-named methods, which use `read` and `write`.
    private let writer: any DatabaseWriter

    /// A schema change another module owns (its tables, in its own files): registered after the
    /// catalog's migrations, in the order given. The server passes every module's list, always the
    /// same order, so a database is migrated the same way whoever opens it.
    public struct Migration: Sendable {
        public var name: String
        public var apply: @Sendable (Database) throws -> Void

        public init(_ name: String, _ apply: @escaping @Sendable (Database) throws -> Void) {
            self.name = name
            self.apply = apply
        }
    }

    /// Migrates `writer` to this build's schema. `beforeMigrating` runs when a database that has
    /// data is about to get new migrations (the first one's name given): `open` backs the file up
    /// there. A database with a migration this build does not know is refused, untouched.
    public init(
        _ writer: any DatabaseWriter, migrations: [Migration] = [], beforeMigrating: (@Sendable (String) throws -> Void)? = nil
    ) throws {
        self.writer = writer
        let migrator = Self.migrator(with: migrations)
        let (applied, releases) = try writer.read { db in
            (try migrator.appliedIdentifiers(db), try Self.releases(db))
        }
        if let unknown = applied.subtracting(migrator.migrations).sorted().first {
            throw SchemaTooNew(migration: unknown, neededVersion: releases[unknown], newestKnown: migrator.migrations.last ?? "")
        }
        let pending = migrator.migrations.filter { !applied.contains($0) }
        guard let first = pending.first else { return }
        if !applied.isEmpty { try beforeMigrating?(first) }
        try migrator.migrate(writer)
        try writer.write { db in
            try db.execute(sql: Self.releaseTable)
            for name in pending {
                try db.execute(sql: "INSERT OR IGNORE INTO lessonlinkRelease (migration, version) VALUES (?, ?)", arguments: [name, Release.version])
            }
        }
    }

    /// Opens (creating if needed) the database file at `path`. Before new migrations change a
    /// database that has data, the file is copied (SQLite's online backup) into
    /// `<folder>/database-backups/`, so an upgrade that goes wrong can be undone.
    public static func open(path: String, migrations: [Migration] = []) throws -> AppDatabase {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        return try AppDatabase(pool, migrations: migrations) { first in
            let folder = "\(directory.isEmpty ? "." : directory)/database-backups"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let stamp = Release.timestamp(Date())
            let copy = "\(folder)/lessonlink-\(stamp)-before-\(Release.slug(first)).sqlite"
            try Self.copy(pool, to: copy)
            FileHandle.standardError.write(Data("database backed up to \(copy) before migration '\(first)'\n".utf8))
        }
    }

    /// The names of every migration this build knows, oldest first.
    public static func knownMigrations(_ migrations: [Migration]) -> [String] { migrator(with: migrations).migrations }

    private static func migrator(with migrations: [Migration]) -> DatabaseMigrator {
        var migrator = Self.migrator
        for migration in migrations { migrator.registerMigration(migration.name, migrate: migration.apply) }
        return migrator
    }

    /// Which release applied each migration: an older binary can then say which version it needs.
    static let releaseTable = "CREATE TABLE IF NOT EXISTS lessonlinkRelease (migration TEXT PRIMARY KEY, version TEXT NOT NULL)"

    private static func releases(_ db: Database) throws -> [String: String] {
        guard try db.tableExists("lessonlinkRelease") else { return [:] }
        return try Dictionary(
            Row.fetchAll(db, sql: "SELECT migration, version FROM lessonlinkRelease").map { ($0["migration"], $0["version"]) },
            uniquingKeysWith: { first, _ in first })
    }

    /// Runs `body` on a read-only snapshot; with WAL it never waits for a writer.
    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }

    /// Runs `body` in one write transaction (serialized with every other writer).
    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.write(body)
    }

    /// Copies the database into a new file at `path` with SQLite's online backup: a consistent
    /// snapshot of one moment, taken while uploads and workers go on writing.
    public func backup(to path: String) throws {
        try Self.copy(writer, to: path)
    }

    /// The copy is one self-contained file (not in WAL mode), so it can be hashed, moved and
    /// opened read-only.
    private static func copy(_ source: any DatabaseWriter, to path: String) throws {
        let destination = try DatabaseQueue(path: path)
        try source.backup(to: destination)
        try destination.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
        try destination.close()
    }

    /// Closes the pool's connections (at shutdown, after every other service has stopped).
    public func close() throws {
        if let pool = writer as? DatabasePool { try pool.close() }
    }

    /// An empty database in memory, with every migration applied.
    public static func inMemory(migrations: [Migration] = []) throws -> AppDatabase {
        try AppDatabase(DatabaseQueue(configuration: configuration), migrations: migrations)
    }

    static var configuration: Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // A writer waits up to 5 s for another (an upload's offset update, a worker's progress).
        configuration.busyMode = .timeout(5)
        return configuration
    }

    /// Migrations: named, raw SQL, never edited once on main — add a new one instead.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 catalog, accounts, uploads") { db in
            try db.execute(sql: Schema.v1)
        }
        migrator.registerMigration("v2 search facets") { db in
            try db.execute(sql: Schema.v2)
            try RecordingStore.reindexAll(db)
        }
        migrator.registerMigration("v3 transcode jobs and renditions") { db in
            try db.execute(sql: Schema.v3)
        }
        migrator.registerMigration("v4 resource packs") { db in
            try db.execute(sql: Schema.v4)
        }
        return migrator
    }
}

enum Schema {
    static let v1 = """
        CREATE TABLE district (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE
        );
        CREATE TABLE school (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            districtId INTEGER NOT NULL REFERENCES district(id),
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('lead', 'member')),
            uplinkMbps INTEGER NOT NULL DEFAULT 1000 CHECK (uplinkMbps > 0)
        );
        CREATE INDEX school_districtId ON school(districtId);
        CREATE TABLE classroom (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            schoolId INTEGER NOT NULL REFERENCES school(id),
            name TEXT NOT NULL,
            isRecording INTEGER NOT NULL DEFAULT 0,
            linkMbps INTEGER NOT NULL DEFAULT 100 CHECK (linkMbps > 0),
            UNIQUE (schoolId, name)
        );
        CREATE TABLE person (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            displayName TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'teacher', 'classroom', 'reviewer')),
            districtId INTEGER REFERENCES district(id),
            schoolId INTEGER REFERENCES school(id),
            classroomId INTEGER REFERENCES classroom(id),
            passwordHash TEXT NOT NULL,
            mustChangePassword INTEGER NOT NULL DEFAULT 0,
            disabled INTEGER NOT NULL DEFAULT 0,
            createdAt DATETIME NOT NULL
        );
        CREATE INDEX person_schoolId ON person(schoolId);
        CREATE TABLE authSession (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tokenHash TEXT NOT NULL UNIQUE,
            personId INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
            createdAt DATETIME NOT NULL,
            expiresAt DATETIME NOT NULL
        );
        CREATE INDEX authSession_personId ON authSession(personId);
        CREATE TABLE textbookVolume (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            subject TEXT NOT NULL,
            grade INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 12),
            edition TEXT NOT NULL,
            volume TEXT NOT NULL,
            UNIQUE (subject, grade, edition, volume)
        );
        CREATE TABLE textbookLesson (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            volumeId INTEGER NOT NULL REFERENCES textbookVolume(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            unit TEXT NOT NULL,
            number INTEGER NOT NULL,
            title TEXT NOT NULL,
            isNewCourse INTEGER NOT NULL DEFAULT 1,
            UNIQUE (volumeId, position)
        );
        CREATE TABLE recording (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            teacherId INTEGER NOT NULL REFERENCES person(id),
            schoolId INTEGER NOT NULL REFERENCES school(id),
            classroomId INTEGER REFERENCES classroom(id),
            lessonId INTEGER REFERENCES textbookLesson(id),
            recordedOn TEXT,
            state TEXT NOT NULL CHECK (state IN ('uploading', 'queued', 'processing', 'ready', 'failed')),
            failure TEXT,
            sourcePath TEXT,
            sourceSize INTEGER,
            sourceSha256 TEXT,
            mediaInfo TEXT,
            createdAt DATETIME NOT NULL,
            updatedAt DATETIME NOT NULL,
            deletedAt DATETIME
        );
        CREATE INDEX recording_schoolId ON recording(schoolId);
        CREATE INDEX recording_teacherId ON recording(teacherId);
        CREATE INDEX recording_lessonId ON recording(lessonId);
        CREATE INDEX recording_createdAt ON recording(createdAt, id);
        CREATE INDEX recording_sourceSha256 ON recording(sourceSha256);
        CREATE TABLE attachment (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recordingId INTEGER NOT NULL REFERENCES recording(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('lessonPlan', 'worksheet', 'slides', 'subtitles', 'other')),
            filename TEXT NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            createdAt DATETIME NOT NULL
        );
        CREATE TABLE upload (
            id TEXT PRIMARY KEY,
            ownerId INTEGER NOT NULL REFERENCES person(id),
            recordingId INTEGER REFERENCES recording(id),
            length INTEGER NOT NULL CHECK (length >= 0),
            "offset" INTEGER NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
            metadata TEXT NOT NULL DEFAULT '',
            createdAt DATETIME NOT NULL,
            expiresAt DATETIME NOT NULL,
            completedAt DATETIME,
            processedAt DATETIME
        );
        CREATE INDEX upload_expiresAt ON upload(expiresAt);
        CREATE TABLE transcodeJob (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recordingId INTEGER NOT NULL REFERENCES recording(id),
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            createdAt DATETIME NOT NULL
        );
        CREATE INDEX transcodeJob_state ON transcodeJob(state);
        -- Search text is pre-tokenised by SearchText (CJK unigrams and bigrams, Latin words).
        CREATE VIRTUAL TABLE recordingSearch USING fts5(
            title, description, teacher, school, textbook, tokenize = 'unicode61 remove_diacritics 2'
        );
        """

    /// Catalog filters move into the search index as "facet" tokens (`school12`, `stateready`…), so
    /// search plus filters is one FTS5 query that intersects posting lists and walks them newest
    /// first, stopping after a page. Joining filters in SQL made SQLite either read every match of a
    /// common word or every row of a filter: over 100 ms at 100,000 recordings.
    ///
    /// Facets are computed in SQL (the `recordingFacets` view) and kept current by triggers, so a
    /// state change made anywhere — the upload processor, the worker — is searchable at once.
    /// Listings order by id, which AUTOINCREMENT makes creation order, so the createdAt index goes.
    static let v2 = """
        DROP TABLE recordingSearch;
        DROP INDEX recording_createdAt;
        CREATE INDEX recording_title ON recording(title);
        CREATE VIRTUAL TABLE recordingSearch USING fts5(
            title, description, teacher, school, textbook, facets, tokenize = 'unicode61 remove_diacritics 2'
        );
        -- Subjects are hex-encoded so any name is one token.
        CREATE VIEW recordingFacets AS
        SELECT r.id AS recordingId,
               'state' || r.state || ' school' || r.schoolId || ' district' || s.districtId ||
               ' teacher' || r.teacherId ||
               coalesce(' volume' || v.id || ' grade' || v.grade || ' subject' || hex(v.subject), '') AS facets
        FROM recording r
        JOIN school s ON s.id = r.schoolId
        LEFT JOIN textbookLesson l ON l.id = r.lessonId
        LEFT JOIN textbookVolume v ON v.id = l.volumeId;
        CREATE TRIGGER recording_facets AFTER UPDATE OF state, schoolId, teacherId, lessonId ON recording
        BEGIN
            UPDATE recordingSearch SET facets = (SELECT facets FROM recordingFacets WHERE recordingId = NEW.id)
            WHERE rowid = NEW.id;
        END;
        CREATE TRIGGER school_facets AFTER UPDATE OF districtId ON school
        BEGIN
            UPDATE recordingSearch SET facets = (SELECT facets FROM recordingFacets WHERE recordingId = rowid)
            WHERE rowid IN (SELECT id FROM recording WHERE schoolId = NEW.id);
        END;
        """

    /// The durable job queue's columns, at most one active job per recording, and the published
    /// renditions.
    static let v3 = """
        ALTER TABLE transcodeJob ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE transcodeJob ADD COLUMN maxAttempts INTEGER NOT NULL DEFAULT 3;
        ALTER TABLE transcodeJob ADD COLUMN leaseOwner TEXT;
        ALTER TABLE transcodeJob ADD COLUMN leaseExpiresAt DATETIME;
        ALTER TABLE transcodeJob ADD COLUMN heartbeatAt DATETIME;
        ALTER TABLE transcodeJob ADD COLUMN notBefore DATETIME;
        ALTER TABLE transcodeJob ADD COLUMN progress REAL NOT NULL DEFAULT 0;
        ALTER TABLE transcodeJob ADD COLUMN etaSeconds REAL;
        ALTER TABLE transcodeJob ADD COLUMN lastError TEXT;
        ALTER TABLE transcodeJob ADD COLUMN startedAt DATETIME;
        ALTER TABLE transcodeJob ADD COLUMN finishedAt DATETIME;
        CREATE INDEX transcodeJob_recordingId ON transcodeJob(recordingId);
        CREATE UNIQUE INDEX transcodeJob_active ON transcodeJob(recordingId) WHERE state IN ('queued', 'running');
        ALTER TABLE recording ADD COLUMN mediaVersion TEXT;
        ALTER TABLE recording ADD COLUMN mediaPublishedAt DATETIME;
        CREATE TABLE rendition (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recordingId INTEGER NOT NULL REFERENCES recording(id) ON DELETE CASCADE,
            version TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('video', 'audio')),
            playlist TEXT NOT NULL,
            width INTEGER,
            height INTEGER,
            codecs TEXT NOT NULL,
            averageBitRate INTEGER NOT NULL,
            peakBitRate INTEGER NOT NULL,
            size INTEGER NOT NULL,
            segmentCount INTEGER NOT NULL,
            duration REAL NOT NULL,
            UNIQUE (recordingId, version, name)
        );
        """

    /// Resource packs (资源包): a pack belongs to a lead school; its versions are drafts until
    /// published, then frozen. `packFile` is a published version's file list (the manifest's
    /// rows); the bytes live once per SHA-256 in the object store, so the hash is the link.
    static let v4 = """
        CREATE TABLE resourcePack (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            leadSchoolId INTEGER NOT NULL REFERENCES school(id),
            createdBy INTEGER NOT NULL REFERENCES person(id),
            createdAt DATETIME NOT NULL,
            deletedAt DATETIME
        );
        CREATE INDEX resourcePack_leadSchoolId ON resourcePack(leadSchoolId);
        CREATE TABLE packVersion (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            packId INTEGER NOT NULL REFERENCES resourcePack(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('draft', 'published')),
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            createdBy INTEGER NOT NULL REFERENCES person(id),
            createdAt DATETIME NOT NULL,
            publishedBy INTEGER REFERENCES person(id),
            publishedAt DATETIME,
            manifestSha256 TEXT,
            manifestSize INTEGER,
            totalSize INTEGER,
            fileCount INTEGER,
            sweptAt DATETIME,
            UNIQUE (packId, number)
        );
        CREATE UNIQUE INDEX packVersion_draft ON packVersion(packId) WHERE state = 'draft';
        CREATE TABLE packTarget (
            versionId INTEGER NOT NULL REFERENCES packVersion(id) ON DELETE CASCADE,
            schoolId INTEGER NOT NULL REFERENCES school(id),
            grades TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (versionId, schoolId)
        );
        CREATE INDEX packTarget_schoolId ON packTarget(schoolId);
        CREATE TABLE packItem (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            versionId INTEGER NOT NULL REFERENCES packVersion(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('recording', 'attachment')),
            title TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            recordingId INTEGER REFERENCES recording(id),
            clipStart REAL,
            clipEnd REAL,
            sourceTitle TEXT,
            sourceTeacher TEXT,
            sourceSchool TEXT,
            fileName TEXT,
            sha256 TEXT,
            size INTEGER,
            CHECK ((kind = 'recording') = (recordingId IS NOT NULL)),
            CHECK ((kind = 'attachment') = (sha256 IS NOT NULL))
        );
        CREATE INDEX packItem_versionId ON packItem(versionId, position);
        CREATE TABLE packFile (
            versionId INTEGER NOT NULL REFERENCES packVersion(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            crc32 INTEGER NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (versionId, path)
        );
        CREATE INDEX packFile_sha256 ON packFile(sha256);
        """
}
