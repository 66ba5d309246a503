import Catalog
import WebServing
import Foundation
import Hummingbird

/// `GET /api/v1/admin/status`: what an admin must act on before users notice — the storage's free
/// space (the web pages show a warning below `storage.minFreePercent`, before uploads start to be
/// refused with 507) and the last scheduled backup.
struct AdminController {
    let storageRoot: String
    let minFreePercent: Double
    let backups: BackupStatus

    struct Status: ResponseEncodable {
        var version: String
        var storage: DiskSpace?
        var backup: BackupStatus.Snapshot
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("admin/status", use: status)
        return routes
    }

    @Sendable func status(_ request: Request, context: AppRequestContext) async throws -> Status {
        guard try context.requirePerson().role == .admin else {
            throw APIError(.forbidden, "forbidden", "only county admins see the server's status")
        }
        return Status(version: Release.version, storage: DiskSpace.of(storageRoot, minFreePercent: minFreePercent), backup: backups.current)
    }
}
