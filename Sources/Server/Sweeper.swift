import Catalog
import Delivery
import Foundation
import GRDB
import Ingest
import Logging
import PackSync
import ServiceLifecycle
import Transcoding

/// Periodically removes what has expired or can never be used: unfinished uploads and deleted
/// recordings' sources (`Uploads.sweep`), signed-in sessions, replaced media versions and
/// staging folders (`MediaLayout.sweep`), and superseded pack versions and unreferenced objects;
/// and tells coordinators of dispatched orders a lead school has not accepted in time.
struct Sweeper: Service {
    let services: AppServices
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await sweep()
            // Woken by graceful shutdown too, so the server stops at once.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(services.config.sweepInterval)) }
        }
    }

    func sweep(now: Date = Date()) async throws {
        let config = services.config
        let uploads = try await services.uploads.sweep(now: now, logger: logger)
        try await services.authenticator.sweepSessions(now: now)
        let media = try await services.media.sweep(database: services.database, keepOldVersions: config.keepOldVersions, now: now)
        let packs = try await services.packs.sweep(
            store: services.objects, keepOldVersions: config.packKeepOldVersions, now: now)
        let reminded = try await services.orders.remindUnaccepted(at: now)
        if reminded > 0 { logger.info("orders not accepted in time reported to coordinators", metadata: ["orders": "\(reminded)"]) }
        if !uploads.isEmpty || !media.isEmpty || packs.versions > 0 || packs.bytes > 0 {
            logger.info(
                "swept",
                metadata: [
                    "expiredUploads": "\(uploads.expired)", "abandonedUploads": "\(uploads.abandoned)",
                    "deletedRecordings": "\(uploads.deletedSources)", "mediaFolders": "\(media.count)",
                    "packVersions": "\(packs.versions)", "packBytes": "\(packs.bytes)",
                ])
        }
    }
}
