import Backup
import Catalog
import Foundation
import GRDB
import TestSupport
import Testing

/// A storage root with one of everything a backup meets: a source, a published version and its
/// staging neighbour, a pack object, a secret, uploads in progress, a live relay's folder.
private struct Fixture {
    let root: String
    let database: AppDatabase

    init() async throws {
        root = try scratchDirectory().path
        database = try AppDatabase.open(path: "\(root)/lessonlink.sqlite")
        let files: [(String, String)] = [
            ("sources/1/source.mp4", String(repeating: "source bytes ", count: 1000)),
            ("media/1/v3/master.m3u8", "#EXTM3U\n"),
            ("media/1/v3/360p/seg_00000.m4s", String(repeating: "segment ", count: 500)),
            ("media/1/.job-4/master.m3u8", "staging: not published yet"),
            ("objects/ab/ab12", "a pack file"),
            ("objects/incoming/upload-1", "half-received attachment"),
            ("orders/7/plan.pdf", "%PDF-1.4 plan"),
            ("live/9/e1/source/seg_00001.m4s", "live segment"),
            ("uploads/partial.part", "0123456789ABCDEF"),
        ]
        for (path, text) in files {
            try FileManager.default.createDirectory(
                atPath: ("\(root)/\(path)" as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: "\(root)/\(path)", atomically: false, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: "\(root)/secrets", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(root)/secrets/playback.key", contents: Data("k".utf8), attributes: [.posixPermissions: 0o600])
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO person (id, username, displayName, role, passwordHash, createdAt) VALUES (1, 't', 'T', 'teacher', 'x', ?)",
                arguments: [Date()])
            // Acknowledged up to 10 of the 16 bytes on disk; the other upload's file is gone (it finished meanwhile).
            for (id, offset) in [("partial", 10), ("vanished", 4)] {
                try db.execute(
                    sql: #"INSERT INTO upload (id, ownerId, length, "offset", createdAt, expiresAt) VALUES (?, 1, 100, ?, ?, ?)"#,
                    arguments: [id, offset, Date(), Date().addingTimeInterval(3600)])
            }
        }
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
}

@Suite("Backups")
struct BackupTests {
    @Test("A snapshot holds the database, the published media, objects and secrets, and the acknowledged upload bytes")
    func snapshot() async throws {
        let fixture = try await Fixture()
        let folder = try scratchDirectory().path
        let report = try StorageBackup(layout: StorageLayout(root: fixture.root), database: fixture.database, folder: folder).run()
        let snapshot = report.snapshot
        #expect(BackupFolder(path: folder).snapshots() == [snapshot])
        for kept in ["sources/1/source.mp4", "media/1/v3/master.m3u8", "media/1/v3/360p/seg_00000.m4s", "objects/ab/ab12", "orders/7/plan.pdf",
                     "secrets/playback.key", "lessonlink.sqlite", BackupManifest.fileName] {
            #expect(FileManager.default.fileExists(atPath: "\(snapshot)/\(kept)"), "\(kept) is backed up")
        }
        for skipped in ["media/1/.job-4", "objects/incoming", "live", "lessonlink.sqlite-wal"] {
            #expect(!FileManager.default.fileExists(atPath: "\(snapshot)/\(skipped)"), "\(skipped) is not backed up")
        }
        #expect(fixture.read("\(snapshot)/uploads/partial.part") == "0123456789", "only the acknowledged bytes")
        #expect(report.droppedUploads == ["vanished"])
        let uploads = try await DatabaseQueue(path: "\(snapshot)/lessonlink.sqlite").read { db in try String.fetchAll(db, sql: "SELECT id FROM upload") }
        #expect(uploads == ["partial"], "an upload whose bytes are not in the backup is not in its database either")
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(snapshot)/secrets/playback.key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let manifest = try BackupCheck.verify(snapshot: snapshot)
        #expect(manifest.files.count == report.files && report.linked == 0)
    }

    @Test("A second backup copies only what is new and hard-links the rest to the first")
    func incremental() async throws {
        let fixture = try await Fixture()
        let folder = try scratchDirectory().path
        let backup = StorageBackup(layout: StorageLayout(root: fixture.root), database: fixture.database, folder: folder)
        let first = try backup.run(now: Date(timeIntervalSince1970: 1_800_000_000))
        try FileManager.default.createDirectory(atPath: "\(fixture.root)/media/2/v5", withIntermediateDirectories: true)
        try "#EXTM3U\n#new lesson\n".write(toFile: "\(fixture.root)/media/2/v5/master.m3u8", atomically: false, encoding: .utf8)
        let second = try backup.run(now: Date(timeIntervalSince1970: 1_800_086_400))

        // New: the database, the upload's bytes, the new version. Linked: the six unchanged files.
        #expect(second.copied == 3 && second.linked == 6, "\(second.summary)")
        #expect(second.files == first.files + 1)
        func inode(_ path: String) throws -> UInt64 { try #require(FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64) }
        let segment = "media/1/v3/360p/seg_00000.m4s"
        #expect(try inode("\(first.snapshot)/\(segment)") == inode("\(second.snapshot)/\(segment)"))
        try BackupCheck.verify(snapshot: second.snapshot)
        // Removing the first snapshot leaves the second whole: links, not references.
        try FileManager.default.removeItem(atPath: first.snapshot)
        try BackupCheck.verify(snapshot: second.snapshot)
    }

    @Test("A flipped byte, a missing file or a stray file is found, named, and refused by restore")
    func damage() async throws {
        let fixture = try await Fixture()
        let folder = try scratchDirectory().path
        let snapshot = try StorageBackup(layout: StorageLayout(root: fixture.root), database: fixture.database, folder: folder).run().snapshot
        let segment = "\(snapshot)/media/1/v3/360p/seg_00000.m4s"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[100] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: segment))
        try FileManager.default.removeItem(atPath: "\(snapshot)/orders/7/plan.pdf")
        try "?".write(toFile: "\(snapshot)/stray.txt", atomically: false, encoding: .utf8)

        let problems: [String]
        do {
            try BackupCheck.verify(snapshot: snapshot)
            problems = []
        } catch {
            guard case .damaged(_, let found) = error else { throw error }
            problems = found
        }
        #expect(problems.count == 3)
        #expect(problems.contains { $0.hasPrefix("media/1/v3/360p/seg_00000.m4s: SHA-256 ") })
        #expect(problems.contains("orders/7/plan.pdf: missing"))
        #expect(problems.contains("stray.txt: not in the manifest"))

        let target = try scratchDirectory().appendingPathComponent("restored").path
        #expect(throws: BackupError.self) { try BackupCheck.restore(from: folder, to: target) }
        #expect(!FileManager.default.fileExists(atPath: "\(target)/lessonlink.sqlite"), "nothing is written from a damaged backup")
    }

    @Test("Restore rebuilds the root a server opens, into a new or empty folder only")
    func restore() async throws {
        let fixture = try await Fixture()
        let folder = try scratchDirectory().path
        let report = try StorageBackup(layout: StorageLayout(root: fixture.root), database: fixture.database, folder: folder).run()
        let target = try scratchDirectory().appendingPathComponent("restored").path
        let restored = try BackupCheck.restore(from: folder, to: target)
        #expect(restored.snapshot == report.snapshot && restored.files == report.files)
        #expect(fixture.read("\(target)/sources/1/source.mp4") == fixture.read("\(fixture.root)/sources/1/source.mp4"))
        #expect(fixture.read("\(target)/uploads/partial.part") == "0123456789")
        let database = try AppDatabase.open(path: "\(target)/lessonlink.sqlite")
        let offset = try await database.read { db in try Int.fetchOne(db, sql: #"SELECT "offset" FROM upload WHERE id = 'partial'"#) }
        #expect(offset == 10, "the upload resumes from its acknowledged offset")
        #expect(throws: BackupError.targetNotEmpty(target)) { try BackupCheck.restore(from: folder, to: target) }
    }

    @Test("Retention keeps the newest of each of the last days and weeks")
    func retention() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Two snapshots a day (02:00 and 14:00) for 40 days ending Thursday 2026-11-26.
        let end = Date(timeIntervalSince1970: 1_795_658_400)  // 2026-11-26T02:00:00Z
        var names: [String] = []
        for day in 0..<40 {
            for hours in [0.0, 12] {
                let offset: TimeInterval = Double(-day) * 86_400 + hours * 3600
                names.append("/b/" + Release.timestamp(end.addingTimeInterval(offset)))
            }
        }
        let kept = BackupRetention.keep(names, daily: 7, weekly: 4, calendar: calendar)
        let days = (0..<7).map { "/b/" + Release.timestamp(end.addingTimeInterval(Double(-$0) * 86_400 + 12 * 3600)) }
        #expect(days.allSatisfy(kept.contains), "the newest of each of the last 7 days")
        // Weeks (Monday-based): this one (kept by the days), and the three before end on Sundays 22, 15, 8 November.
        for sunday in ["20261122T140000Z", "20261115T140000Z", "20261108T140000Z"] { #expect(kept.contains("/b/\(sunday)")) }
        #expect(kept.count == 9, "7 days (22 November among them) and the Sundays 15 and 8 November")
        #expect(BackupRetention.keep(names, daily: 0, weekly: 0, calendar: calendar).count == 1, "the newest always stays")
    }
}

@Suite("Database upgrades")
struct UpgradeTests {
    @Test("New migrations on a database with data are preceded by a copy of the file")
    func backupBeforeMigrating() async throws {
        let root = try scratchDirectory().path
        let path = "\(root)/lessonlink.sqlite"
        let old = try AppDatabase.open(path: path)
        try await old.write { db in try db.execute(sql: "INSERT INTO district (name) VALUES ('青山')") }
        try old.close()
        let next = AppDatabase.Migration("v99 an upgrade") { db in try db.execute(sql: "CREATE TABLE upgraded (id INTEGER)") }
        let upgraded = try AppDatabase.open(path: path, migrations: [next])
        try upgraded.close()
        let copies = try FileManager.default.contentsOfDirectory(atPath: "\(root)/database-backups")
        #expect(copies.count == 1 && copies[0].hasSuffix("-before-v99-an-upgrade.sqlite"), "\(copies)")
        let copy = try DatabaseQueue(path: "\(root)/database-backups/\(copies[0])")
        #expect(try await copy.read { db in try String.fetchOne(db, sql: "SELECT name FROM district") } == "青山")
        #expect(try await copy.read { db in try db.tableExists("upgraded") } == false, "the copy is from before the migration")
        // Opening again with nothing new to apply makes no copy.
        try AppDatabase.open(path: path, migrations: [next]).close()
        let after = try FileManager.default.contentsOfDirectory(atPath: "\(root)/database-backups")
        #expect(after.count == 1, "\(after)")
    }

    @Test("A binary older than the database refuses it and says which release it needs")
    func newerDatabase() async throws {
        let root = try scratchDirectory().path
        let path = "\(root)/lessonlink.sqlite"
        let future = AppDatabase.Migration("v99 from the future") { db in try db.execute(sql: "CREATE TABLE future (id INTEGER)") }
        try AppDatabase.open(path: path, migrations: [future]).close()
        do {
            _ = try AppDatabase.open(path: path)
            Issue.record("an older build opened a newer database")
        } catch let error as SchemaTooNew {
            #expect(error.migration == "v99 from the future" && error.neededVersion == Release.version)
            #expect("\(error)".contains("run LessonLink \(Release.version) or newer"))
        }
        let untouched = try DatabaseQueue(path: path)
        #expect(try await untouched.read { db in try db.tableExists("future") })
    }
}
