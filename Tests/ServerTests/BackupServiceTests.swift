import Backup
import Catalog
import Foundation
import Logging
import TestSupport
import Testing

@testable import Server

@Suite("Scheduled backups")
struct BackupServiceTests {
    @Test("A scheduled run takes a snapshot, keeps the retention and reports to admins; a failure is reported, not thrown")
    func scheduledRun() async throws {
        let root = try scratchDirectory().path
        let database = try AppDatabase.open(path: "\(root)/lessonlink.sqlite", migrations: ServerConfig.migrations)
        defer { try? database.close() }
        try FileManager.default.createDirectory(atPath: "\(root)/sources/1", withIntermediateDirectories: true)
        try Data("source".utf8).write(to: URL(fileURLWithPath: "\(root)/sources/1/source.mp4"))
        let folder = try scratchDirectory().appendingPathComponent("backups").path
        let status = BackupStatus(folder: folder, schedule: TimeOfDay("02:00")!)
        let service = BackupService(
            backup: StorageBackup(layout: StorageLayout(root: root), database: database, folder: folder), schedule: TimeOfDay("02:00")!,
            keepDaily: 1, keepWeekly: 0, status: status, logger: Logger(label: "test"))
        await service.runOnce()
        try await Task.sleep(for: .seconds(1.1))  // snapshots are named by the second
        await service.runOnce()
        let snapshots = BackupFolder(path: folder).snapshots()
        #expect(snapshots.count == 1, "two the same day, one kept: \(snapshots)")
        #expect(status.current.lastSnapshot == snapshots.first && status.current.lastSuccessAt != nil && status.current.lastError == nil)
        try BackupCheck.verify(snapshot: snapshots[0])

        // A backup folder that cannot be made (a file is in the way): said to admins, the server goes on.
        let blocked = "\(root)/sources/1/source.mp4/backups"
        let failing = BackupService(
            backup: StorageBackup(layout: StorageLayout(root: root), database: database, folder: blocked), schedule: TimeOfDay("02:00")!,
            keepDaily: 1, keepWeekly: 0, status: status, logger: Logger(label: "test"))
        await failing.runOnce()
        #expect(status.current.lastError?.contains("cannot create the backup folder") == true)
        #expect(status.current.lastFailureAt != nil)
    }

    @Test("The schedule's next run is the next time that time of day comes")
    func schedule() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let at = try #require(TimeOfDay("02:00"))
        // 2026-11-26 01:30 in Beijing → 02:00 the same night; 02:30 → 02:00 the next.
        let before = Date(timeIntervalSince1970: 1_795_627_800)
        #expect(at.next(after: before, calendar: calendar) == Date(timeIntervalSince1970: 1_795_629_600))
        #expect(at.next(after: before.addingTimeInterval(3600), calendar: calendar) == Date(timeIntervalSince1970: 1_795_716_000))
        #expect(TimeOfDay("24:00") == nil && TimeOfDay("2") == nil && TimeOfDay("07:05")?.minute == 5)
    }
}
