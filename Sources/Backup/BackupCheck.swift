public import Foundation
import GRDB

/// Reading a snapshot back: `verify` proves it whole, `restore` rebuilds a storage root from it.
public enum BackupCheck {
    /// Every file of the manifest is there with its size and SHA-256, nothing else is, and the
    /// database passes SQLite's integrity check. Throws `.damaged` listing each wrong file.
    @discardableResult
    public static func verify(snapshot: String) throws(BackupError) -> BackupManifest {
        let manifest = try BackupManifest.read("\(snapshot)/\(BackupManifest.fileName)")
        var problems: [String] = []
        var listed = Set<String>()
        for entry in manifest.files {
            listed.insert(entry.path)
            let path = "\(snapshot)/\(entry.path)"
            guard let info = Files.info(path), info.isRegular else {
                problems.append("\(entry.path): missing")
                continue
            }
            guard info.size == entry.size else {
                problems.append("\(entry.path): \(info.size) bytes, the manifest says \(entry.size)")
                continue
            }
            do {
                let (_, sha) = try Files.digest(path)
                if sha != entry.sha256 { problems.append("\(entry.path): SHA-256 \(sha), the manifest says \(entry.sha256)") }
            } catch {
                problems.append("\(entry.path): \(error)")
            }
        }
        for extra in Files.walk(snapshot, skip: { _ in false }) where extra != BackupManifest.fileName && !listed.contains(extra) {
            problems.append("\(extra): not in the manifest")
        }
        if problems.isEmpty { problems += integrity(of: "\(snapshot)/\(StorageBackup.databaseName)") }
        guard problems.isEmpty else { throw .damaged(snapshot, problems) }
        return manifest
    }

    private static func integrity(of path: String) -> [String] {
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            let result = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
            return result == ["ok"] ? [] : result.map { "\(StorageBackup.databaseName): \($0)" }
        } catch {
            return ["\(StorageBackup.databaseName): cannot be opened: \(error)"]
        }
    }

    /// Rebuilds a storage root at `root` (new or empty) from `snapshot` (or the newest snapshot
    /// in a backup folder), after verifying it: a damaged backup is refused, file by file, before
    /// anything is written. Returns the files and bytes restored.
    public static func restore(from path: String, to root: String) throws(BackupError) -> (snapshot: String, files: Int, bytes: Int64) {
        let snapshot = try BackupFolder.snapshot(at: path)
        let manifest = try verify(snapshot: snapshot)
        if let names = try? FileManager.default.contentsOfDirectory(atPath: root), !names.isEmpty { throw .targetNotEmpty(root) }
        var bytes: Int64 = 0
        for entry in manifest.files {
            let (size, sha) = try Files.copy("\(snapshot)/\(entry.path)", to: "\(root)/\(entry.path)", mode: entry.mode)
            // Read back as it was copied: a disk failing during the restore is said, not trusted.
            guard size == entry.size, sha == entry.sha256 else { throw .damaged(snapshot, ["\(entry.path): changed while restoring"]) }
            bytes += size
        }
        return (snapshot, manifest.files.count, bytes)
    }
}

/// Which snapshots to keep: the newest of each of the last `daily` days that have one, and of
/// each of the last `weekly` weeks (Monday-based, in the server's time zone), like the usual
/// rotation of backup tools; the newest snapshot is always kept.
public enum BackupRetention {
    public static func keep(_ snapshots: [String], daily: Int, weekly: Int, calendar: Calendar = .current) -> Set<String> {
        let dated = snapshots.compactMap { path in BackupFolder.date(of: (path as NSString).lastPathComponent).map { (path, $0) } }
            .sorted { $0.1 > $1.1 }
        var kept = Set<String>()
        if let newest = dated.first { kept.insert(newest.0) }
        var week = calendar
        week.firstWeekday = 2
        week.minimumDaysInFirstWeek = 4
        for (count, key) in [(daily, { (date: Date) in calendar.dateComponents([.year, .month, .day], from: date) }),
                             (weekly, { (date: Date) in week.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date) })] {
            var seen: [DateComponents] = []
            for (path, date) in dated {
                let period = key(date)
                if seen.contains(period) { continue }
                guard seen.count < count else { break }
                seen.append(period)
                kept.insert(path)
            }
        }
        return kept
    }

    /// Removes the snapshots of `folder` that `keep` does not keep; returns them.
    @discardableResult
    public static func prune(folder: String, daily: Int, weekly: Int, calendar: Calendar = .current) -> [String] {
        let snapshots = BackupFolder(path: folder).snapshots()
        let kept = keep(snapshots, daily: daily, weekly: weekly, calendar: calendar)
        let removed = snapshots.filter { !kept.contains($0) }
        for path in removed { try? FileManager.default.removeItem(atPath: path) }
        return removed
    }
}
