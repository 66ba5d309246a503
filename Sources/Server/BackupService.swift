import Backup
import Catalog
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The outcome of the last scheduled backup, for the admin page and `/metrics`.
final class BackupStatus: Sendable {
    struct Snapshot: Sendable, Encodable {
        /// `backup.to`, when scheduled backups are on.
        var folder: String?
        /// Local time of day they run.
        var schedule: String?
        var lastSuccessAt: Date?
        var lastSnapshot: String?
        var lastFailureAt: Date?
        var lastError: String?
    }

    private let state: Mutex<Snapshot>

    init(folder: String?, schedule: TimeOfDay) {
        state = Mutex(Snapshot(folder: folder, schedule: folder == nil ? nil : String(format: "%02d:%02d", schedule.hour, schedule.minute)))
    }

    var current: Snapshot { state.withLock { $0 } }

    func succeeded(_ report: StorageBackup.Report, at date: Date) {
        state.withLock {
            $0.lastSuccessAt = date
            $0.lastSnapshot = report.snapshot
            $0.lastError = nil
        }
    }

    func failed(_ error: String, at date: Date) {
        state.withLock {
            $0.lastFailureAt = date
            $0.lastError = error
        }
    }
}

/// Nightly backups from the server itself (`backup.to`, `backup.schedule`, `backup.keep`): at
/// the scheduled time a snapshot is taken beside the serving (on a thread of its own, at the
/// disk's pace), then snapshots beyond the retention are removed. A failure is logged, shown to
/// admins and retried at the next scheduled time; it never stops the server.
struct BackupService: Service {
    let backup: StorageBackup
    let schedule: TimeOfDay
    let keepDaily: Int
    let keepWeekly: Int
    let status: BackupStatus
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            let next = schedule.next(after: Date())
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(max(1, next.timeIntervalSinceNow))) }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            await runOnce()
        }
    }

    func runOnce() async {
        let started = Date()
        let (backup, daily, weekly) = (backup, keepDaily, keepWeekly)
        do {
            let report = try await Task.detached { try backup.run(now: started) }.value
            status.succeeded(report, at: Date())
            logger.notice("backup taken", metadata: ["summary": "\(report.summary)"])
            let removed = await Task.detached { BackupRetention.prune(folder: backup.folder, daily: daily, weekly: weekly) }.value
            if !removed.isEmpty { logger.info("old backups removed", metadata: ["snapshots": "\(removed.joined(separator: ", "))"]) }
        } catch {
            status.failed("\(error)", at: Date())
            logger.error("backup failed", metadata: ["folder": "\(backup.folder)", "error": "\(error)"])
        }
    }
}
