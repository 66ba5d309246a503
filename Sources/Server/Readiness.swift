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
        if let space = Self.freeSpace(storageRoot) {
            let percent = space.total > 0 ? 100 * Double(space.free) / Double(space.total) : 0
            let detail = "\(Self.gibibytes(space.free)) free of \(Self.gibibytes(space.total)) (\(Int(percent.rounded(.down))) %)"
            checks["storage"] = percent >= minFreePercent
                ? Check(ok: true, detail: detail)
                : Check(ok: false, detail: detail + "; below \(Int(minFreePercent)) %: uploads will soon be refused")
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

    static func freeSpace(_ path: String) -> (free: Int64, total: Int64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return (Int64(info.f_bavail) * Int64(info.f_frsize), Int64(info.f_blocks) * Int64(info.f_frsize))
    }

    static func gibibytes(_ bytes: Int64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}
