import Catalog
import Foundation
import Hummingbird
import Transcoding

/// `GET /readyz`: whether this server can do its work now, check by check with the reason, for a
/// load balancer or a county admin's monitoring. `/healthz` stays liveness (the process answers);
/// readiness is 200 only when the database answers, the storage has room and the transcode queue
/// is moving.
struct Readiness: Sendable {
    struct Check: Encodable, Equatable {
        var ok: Bool
        var detail: String
    }

    struct Report: ResponseEncodable {
        var status: String
        var checks: [String: Check]
    }

    let database: AppDatabase
    let storageRoot: String
    let queue: JobQueue
    /// `storage.minFreePercent`: below this share of the disk free, storage is not fine.
    let minFreePercent: Double
    /// `transcode.maxQueueWaitSeconds`: a job queued longer than this means the workers lag.
    let maxQueueWait: TimeInterval

    func report(now: Date = Date()) async -> Report {
        var checks: [String: Check] = [:]
        do {
            _ = try await database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            checks["database"] = Check(ok: true, detail: "answers")
        } catch {
            checks["database"] = Check(ok: false, detail: "does not answer: \(error)")
        }
        if let space = DiskSpace.of(storageRoot, minFreePercent: minFreePercent) {
            let detail =
                "\(Self.gibibytes(space.freeBytes)) free of \(Self.gibibytes(space.totalBytes)) (\(Int(space.freePercent.rounded(.down))) %)"
            checks["storage"] = space.low
                ? Check(ok: false, detail: detail + "; below \(Int(minFreePercent)) %: uploads will soon be refused")
                : Check(ok: true, detail: detail)
        } else {
            checks["storage"] = Check(ok: false, detail: "\(storageRoot) cannot be read")
        }
        do {
            if let oldest = try await queue.oldestQueued() {
                let wait = now.timeIntervalSince(oldest)
                checks["worker"] = Check(
                    ok: wait <= maxQueueWait,
                    detail: "the oldest queued transcode has waited \(Int(wait / 60)) min"
                        + (wait <= maxQueueWait ? "" : " (more than \(Int(maxQueueWait / 60)) min: is a worker running?)"))
            } else {
                checks["worker"] = Check(ok: true, detail: "no transcode waiting")
            }
        } catch {
            checks["worker"] = Check(ok: false, detail: "the queue cannot be read: \(error)")
        }
        return Report(status: checks.values.allSatisfy(\.ok) ? "ready" : "not_ready", checks: checks)
    }

    static func gibibytes(_ bytes: Int64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}

/// The storage root's disk: what readiness, the admin status and the metrics report.
struct DiskSpace: Encodable, Equatable {
    var freeBytes: Int64
    var totalBytes: Int64
    /// Rounded to a tenth.
    var freePercent: Double
    var minFreePercent: Double
    /// Below `minFreePercent` (`storage.minFreePercent`): uploads will soon be refused with 507.
    var low: Bool

    /// Nil when the folder cannot be read.
    static func of(_ path: String, minFreePercent: Double) -> DiskSpace? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let free = Int64(info.f_bavail) * Int64(info.f_frsize), total = Int64(info.f_blocks) * Int64(info.f_frsize)
        let percent = total > 0 ? 100 * Double(free) / Double(total) : 0
        return DiskSpace(
            freeBytes: free, totalBytes: total, freePercent: (percent * 10).rounded() / 10, minFreePercent: minFreePercent,
            low: percent < minFreePercent)
    }
}
