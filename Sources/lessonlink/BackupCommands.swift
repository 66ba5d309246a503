import ArgumentParser
import Backup
import Foundation
import Server

/// `lessonlink backup --to DIR`: a snapshot of the storage root while the server runs;
/// `lessonlink backup --verify PATH`: check a snapshot (or every snapshot of a folder).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up the database, media, sources and pack files; or verify a backup.",
        discussion: """
            A snapshot is a folder named by its UTC time; files unchanged since the previous snapshot are hard links
            to it, so only new lessons cost space. Safe while the server runs and teachers upload.
            """)

    @Option(name: .long, help: "The backup folder (default: backup.to of the configuration).")
    var to: String?

    @Option(name: .long, help: "Verify this snapshot, or every snapshot in this backup folder, against its manifest.")
    var verify: String?

    @Flag(name: .long, help: "After the backup, remove snapshots beyond backup.keep (daily, weekly).")
    var prune = false

    @OptionGroup var options: ServerOptions

    func run() async throws {
        if let verify {
            let snapshots = FileManager.default.fileExists(atPath: "\(verify)/\(BackupManifest.fileName)")
                ? [verify] : BackupFolder(path: verify).snapshots()
            guard !snapshots.isEmpty else { throw BackupError.noSnapshot(verify) }
            for snapshot in snapshots {
                let manifest = try await Task.detached { try BackupCheck.verify(snapshot: snapshot) }.value
                print("\(snapshot): intact (\(manifest.files.count) files)")
            }
            return
        }
        let config = try await options.load()
        guard let folder = to ?? config.backupFolder else { throw ValidationError("say where: --to DIR, or backup.to in the configuration") }
        let backup = StorageBackup(layout: config.layout, database: try config.openDatabase(), folder: folder)
        let report = try await Task.detached { try backup.run() }.value
        print(report.summary)
        if prune {
            for removed in BackupRetention.prune(folder: folder, daily: config.backupKeepDaily, weekly: config.backupKeepWeekly) {
                print("removed \(removed)")
            }
        }
    }
}

/// `lessonlink restore --from BACKUP --to STORAGE`: rebuild a storage root from a verified snapshot.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Rebuild a storage root from a backup (verified first; a damaged one is refused).",
        discussion: "Then point storage.root at the new folder (or start with --storage-root) and start the server.")

    @Option(name: .long, help: "A snapshot, or a backup folder (its newest snapshot).")
    var from: String

    @Option(name: .long, help: "The new storage root: a new or empty folder.")
    var to: String

    func run() async throws {
        let (from, to) = (from, to)
        let result = try await Task.detached { try BackupCheck.restore(from: from, to: to) }.value
        print("restored \(result.files) files (\(String(format: "%.1f MB", Double(result.bytes) / 1_000_000))) from \(result.snapshot) into \(to)")
    }
}
