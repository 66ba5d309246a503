public import Catalog
public import Foundation
import GRDB

/// One backup of a storage root into a backup folder, taken while the server runs.
///
/// A snapshot is a folder named by its UTC time (`20261126T020000Z`) that mirrors the storage
/// root: `lessonlink.sqlite` (SQLite's online backup: one consistent moment), `sources/`,
/// `media/<recording>/v<job>/`, `objects/`, `orders/`, `secrets/`, the acknowledged bytes of
/// uploads in progress, and the manifest. Like rsync's `--link-dest`, a file whose size and
/// modification time match the previous snapshot's is hard-linked to it rather than copied:
/// published versions, sources and pack objects never change, so a nightly backup copies only
/// the day's new lessons and costs their bytes alone, while every snapshot stays a whole tree.
///
/// The database is copied first, then the files: a file published after that moment may be
/// present without a row (harmless), and an upload whose bytes are gone by the time they are
/// copied (it finished meanwhile) is removed from the snapshot's database, so a restored server
/// says "not found" to its client — which starts over — rather than resuming into a hole.
/// Blocking: run it on a thread of its own.
public struct StorageBackup: Sendable {
    public var layout: StorageLayout
    public var database: AppDatabase
    /// The backup folder: snapshots side by side.
    public var folder: String

    public init(layout: StorageLayout, database: AppDatabase, folder: String) {
        self.layout = layout
        self.database = database
        self.folder = folder
    }

    public struct Report: Sendable, Equatable {
        public var snapshot: String
        public var files: Int
        public var bytes: Int64
        /// Written anew (hashed on the way).
        public var copied: Int
        public var copiedBytes: Int64
        /// Hard-linked to the previous snapshot.
        public var linked: Int
        /// Uploads in progress whose bytes were gone before they were copied.
        public var droppedUploads: [String]
    }

    /// The database file's name in a snapshot (and in a restored root).
    public static let databaseName = "lessonlink.sqlite"

    public func run(now: Date = Date()) throws(BackupError) -> Report {
        let set = BackupFolder(path: folder)
        try set.prepare()
        let previous = set.latest().flatMap { try? (path: $0, manifest: BackupManifest.read("\($0)/\(BackupManifest.fileName)")) }
        let earlier = Dictionary(previous?.manifest.files.map { ($0.path, $0) } ?? [], uniquingKeysWith: { first, _ in first })
        let name = set.newName(for: now)
        let partial = "\(folder)/.partial-\(name)"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create \(partial): \(error.localizedDescription)")
        }

        var report = Report(snapshot: "\(folder)/\(name)", files: 0, bytes: 0, copied: 0, copiedBytes: 0, linked: 0, droppedUploads: [])
        var entries: [BackupManifest.Entry] = []
        let databaseCopy = "\(partial)/\(Self.databaseName)"
        do {
            try database.backup(to: databaseCopy)
        } catch {
            throw .io("the database could not be backed up: \(error)")
        }

        // Uploads in progress: their acknowledged bytes, as the database copy counts them.
        var dropped: [String] = []
        var uploads: [BackupManifest.Entry] = []
        do {
            let copy = try DatabaseQueue(path: databaseCopy)
            let pending = try copy.read { db in
                try Row.fetchAll(db, sql: #"SELECT id, "offset" FROM upload WHERE processedAt IS NULL"#).map {
                    (id: $0["id"] as String, offset: $0["offset"] as Int64)
                }
            }
            for upload in pending {
                let source = layout.uploadData(upload.id)
                let relative = "uploads/\(upload.id).part"
                guard let info = Files.info(source), info.size >= upload.offset else {
                    dropped.append(upload.id)
                    continue
                }
                let (size, sha) = try Files.copy(source, to: "\(partial)/\(relative)", limit: upload.offset, mode: 0o640)
                uploads.append(.init(path: relative, size: size, sha256: sha, modified: info.modified, mode: 0o640))
                report.copied += 1
                report.copiedBytes += size
            }
            try copy.writeWithoutTransaction { db in
                if !dropped.isEmpty {
                    try db.inTransaction {
                        for id in dropped {
                            let recording = try Int64.fetchOne(db, sql: "SELECT recordingId FROM upload WHERE id = ?", arguments: [id])
                            try db.execute(sql: "DELETE FROM upload WHERE id = ?", arguments: [id])
                            if let recording, var row = try Recording.fetchOne(db, key: recording), row.state == .uploading {
                                try RecordingStore.transition(
                                    &row, .rejected(reason: "the upload was still arriving when the backup was taken; upload the file again"), db)
                            }
                        }
                        return .commit
                    }
                }
            }
            try copy.close()
        } catch let error as BackupError {
            throw error
        } catch {
            throw .io("the database copy could not be read: \(error)")
        }
        report.droppedUploads = dropped
        let (databaseSize, databaseSHA) = try Files.digest(databaseCopy)
        _ = chmod(databaseCopy, 0o600)
        entries.append(.init(path: Self.databaseName, size: databaseSize, sha256: databaseSHA, modified: 0, mode: 0o600))
        report.copied += 1
        report.copiedBytes += databaseSize
        entries += uploads

        let backupFolder = URL(fileURLWithPath: folder).standardizedFileURL.path
        for relative in Files.walk(layout.root, skip: { skip($0, backupFolder: backupFolder) }) {
            let source = "\(layout.root)/\(relative)"
            guard let info = Files.info(source) else { continue }
            let target = "\(partial)/\(relative)"
            if let before = earlier[relative], let previous, before.size == info.size, before.modified == info.modified,
                try Files.link("\(previous.path)/\(relative)", to: target)
            {
                entries.append(before)
                report.linked += 1
                continue
            }
            let (size, sha) = try Files.copy(source, to: target, mode: info.mode)
            entries.append(.init(path: relative, size: size, sha256: sha, modified: info.modified, mode: info.mode))
            report.copied += 1
            report.copiedBytes += size
        }

        report.files = entries.count
        report.bytes = entries.reduce(0) { $0 + $1.size }
        let manifest = BackupManifest(release: Release.version, createdAt: now, storageRoot: layout.root, files: entries)
        do {
            try manifest.write("\(partial)/\(BackupManifest.fileName)")
            try FileManager.default.moveItem(atPath: partial, toPath: report.snapshot)
        } catch {
            throw .io("the snapshot could not be completed: \(error.localizedDescription)")
        }
        return report
    }

    /// What is not backed up: uploads (copied from the database's view above), live relays
    /// (their archive becomes a recording), staging and temporary files, the database files
    /// (the online copy stands for them), and the backup folder itself if it lies inside.
    func skip(_ relative: String, backupFolder: String) -> Bool {
        let components = relative.split(separator: "/")
        guard let top = components.first else { return false }
        if components.count == 1, ["uploads", "live", "database-backups"].contains(top) || top.hasPrefix("lessonlink.sqlite") { return true }
        if relative == "objects/incoming" { return true }
        if components.contains(where: { $0.hasPrefix(".") }) || (components.last?.contains(".tmp-") ?? false) { return true }
        return URL(fileURLWithPath: "\(layout.root)/\(relative)").standardizedFileURL.path == backupFolder
    }
}

/// A backup folder: complete snapshots side by side, named by their UTC time.
public struct BackupFolder: Sendable {
    public var path: String

    public init(path: String) { self.path = path }

    /// Complete snapshots (those with a manifest), oldest first.
    public func snapshots() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") && Self.date(of: $0) != nil && FileManager.default.fileExists(atPath: "\(path)/\($0)/\(BackupManifest.fileName)") }
            .sorted().map { "\(path)/\($0)" }
    }

    public func latest() -> String? { snapshots().last }

    /// `path` itself when it is a snapshot, else the newest snapshot in it.
    public static func snapshot(at path: String) throws(BackupError) -> String {
        if FileManager.default.fileExists(atPath: "\(path)/\(BackupManifest.fileName)") { return path }
        guard let latest = BackupFolder(path: path).latest() else { throw .noSnapshot(path) }
        return latest
    }

    /// Creates the folder and removes snapshots a crash left unfinished.
    func prepare() throws(BackupError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create the backup folder \(path): \(error.localizedDescription)")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.hasPrefix(".partial-") {
            try? FileManager.default.removeItem(atPath: "\(path)/\(name)")
        }
    }

    /// The snapshot name for `date`; `-2`, `-3`… when one of that second exists.
    func newName(for date: Date) -> String {
        let base = Release.timestamp(date)
        var name = base
        var counter = 2
        while FileManager.default.fileExists(atPath: "\(path)/\(name)") {
            name = "\(base)-\(counter)"
            counter += 1
        }
        return name
    }

    /// The time a snapshot name stands for.
    static func date(of name: String) -> Date? {
        let stamp = String(name.prefix(16))
        guard stamp.count == 16 else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: stamp)
    }
}

extension StorageBackup.Report {
    /// One line for a terminal or a log.
    public var summary: String {
        "\(snapshot): \(files) files, \(Self.megabytes(bytes)) — copied \(copied) (\(Self.megabytes(copiedBytes))), linked \(linked) unchanged"
            + (droppedUploads.isEmpty ? "" : "; \(droppedUploads.count) upload(s) finished meanwhile were left out")
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
