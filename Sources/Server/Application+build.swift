import Backup
import WebServing
import MirrorSite
import Catalog
import Ingest
import Transcoding
import Media
import Delivery
import PackSync
import Review
import Sessions
import Orders
import Foundation
import GRDB
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds the whole server from configuration. Production (`lessonlink serve`) and the tests call
/// this same function; only the configuration differs.
public func buildApplication(_ config: ServerConfig, logger: Logger? = nil) async throws -> some ApplicationProtocol {
    let logger = logger ?? Logger(label: "lessonlink")
    let services = try await AppServices.build(config, logger: logger)
    if let password = try await Bootstrap.createFirstAdmin(database: services.database, authenticator: services.authenticator) {
        Bootstrap.announceFirstAdmin(password: password, layout: services.layout, logger: logger)
    }
    var app = Application(
        router: buildRouter(services),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "LessonLink"),
        logger: logger)
    // Services stop in reverse order: the database closer is first so it closes last.
    app.addServices(
        DatabaseCloser(database: services.database), services.processor, services.publishing, Sweeper(services: services, logger: logger),
        services.live)
    if config.runsWorker {
        app.addServices(config.worker(services.database, logger: logger))
    }
    if let folder = config.backupFolder {
        app.addServices(
            BackupService(
                backup: StorageBackup(layout: services.layout, database: services.database, folder: folder), schedule: config.backupSchedule,
                keepDaily: config.backupKeepDaily, keepWeekly: config.backupKeepWeekly, status: services.backups, logger: logger))
    }
    return app
}

/// Everything the routes and services share, built once from configuration: the database, the
/// stores, the upload pipeline, the signer, the ladder.
struct AppServices: Sendable {
    /// Answers for files in the object store, when media lives in one.
    var bucketResponder: BucketResponder? {
        media.bucket.map { BucketResponder(bucket: $0, presigned: config.s3.presigned, lifetime: config.playbackTokenLifetime) }
    }

    let config: ServerConfig
    let database: AppDatabase
    let layout: StorageLayout
    let authenticator: Authenticator
    let processor: UploadProcessor
    let uploads: Uploads
    let metrics: ServerMetrics
    let signer: PlaybackSigner
    let ladder: Ladder
    let queue: JobQueue
    let media: MediaLayout
    let objects: ObjectStore
    let packs: PackStore
    let publishing: PackPublishing
    let sessions: SyncSessionStore
    let sessionHub: SessionHub
    let reviews: ReviewStore
    let credits: CreditStore
    let orders: OrderStore
    let orderStats: OrderStats
    let live: LiveRelay
    let backups: BackupStatus

    static func build(_ config: ServerConfig, logger: Logger) async throws -> AppServices {
        let layout = config.layout
        try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
        let database = try config.openDatabase()
        let processor = UploadProcessor(
            database: database, layout: layout, prober: config.mediaChildren, maxAttempts: config.transcodeMaxAttempts,
            logger: logger)
        // Read at start: a broken ladder file stops the server with its file:line message.
        let ladder = try Ladder.from(file: config.ladderPath)
        let rubric = try config.rubricPath.map { path throws(Rubric.LoadError) in try Rubric.load(path: path) } ?? .standard
        let objects = ObjectStore(root: layout.objects)
        let media = config.mediaLayout
        // The certificate key is made at the first start; an unreadable key file stops the server.
        let issuer = config.creditIssuer
        _ = try issuer.keys()
        let orders = OrderStore(database: database, attachmentsRoot: "\(layout.root)/orders", acceptWithinSchoolDays: config.ordersAcceptWithin)
        let sessions = SyncSessionStore(database: database)
        let sessionHub = SessionHub()
        let live = LiveRelay(
            settings: .init(
                rtmpHost: config.liveRTMPHost, rtmpPort: config.liveRTMPPort, srtPorts: config.liveSRTPorts, srtLatency: config.liveSRTLatency,
                publicHost: config.livePublicHost, executable: config.transcodeExecutable, ladderPath: config.ladderPath,
                threads: config.transcodeThreads, nice: config.liveNice, live: ladder.live),
            store: sessions, hub: sessionHub, layout: layout, database: database, prober: config.mediaChildren,
            maxAttempts: config.transcodeMaxAttempts, logger: logger)
        return AppServices(
            config: config, database: database, layout: layout,
            authenticator: Authenticator(database: database, tokenLifetime: config.tokenLifetime, bcryptCost: config.bcryptCost),
            processor: processor,
            uploads: Uploads(database: database, layout: layout, settings: config.uploadSettings, processor: processor),
            metrics: ServerMetrics(), signer: try config.playbackSigner(), ladder: ladder, queue: config.jobQueue(database),
            media: media, objects: objects, packs: PackStore(database: database),
            publishing: PackPublishing(
                publisher: PackPublisher(database: database, store: objects, mediaRoot: layout.media, planner: TierPlanner(ladder: ladder)),
                bucket: media.bucket.map { PackBucket(media: media, bucket: $0) }, logger: logger),
            sessions: sessions, sessionHub: sessionHub,
            reviews: ReviewStore(database: database, rubric: rubric, issuer: issuer), credits: CreditStore(database: database, issuer: issuer),
            orders: orders, orderStats: OrderStats(database: database, hub: orders.hub), live: live,
            backups: BackupStatus(folder: config.backupFolder, schedule: config.backupSchedule))
    }
}

func buildRouter(_ services: AppServices) -> Router<AppRequestContext> {
    let config = services.config
    let database = services.database
    let metrics = services.metrics
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: ErrorMiddleware())
    let methods = RouteMethods()
    router.add(middleware: MethodNotAllowedMiddleware(methods: methods))
    router.get("healthz") { _, _ in HealthResponse(status: "ok") }
    let readiness = Readiness(
        database: database, storageRoot: services.layout.root, queue: services.queue, minFreePercent: config.minFreePercent,
        maxQueueWait: config.maxQueueWait)
    router.get("readyz") { _, _ in
        let report = await readiness.report()
        return EditedResponse(status: report.status == "ready" ? .ok : .serviceUnavailable, response: report)
    }
    router.get("metrics") { _, _ in
        try await metrics.updateQueue(services.queue)
        try await metrics.updateSessions(services.sessions, services.sessionHub)
        metrics.updateHousekeeping(
            storage: DiskSpace.of(services.layout.root, minFreePercent: config.minFreePercent), backup: services.backups.current)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
    }
    // The document states this server's own upload limit (Tus-Max-Size).
    let openapi = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
        .replacingOccurrences(of: "maximum: 21474836480}", with: "maximum: \(config.uploadMaxSize)}")
        .replacingOccurrences(of: "    RubricScores: {type: object}", with: ReviewsController.scoresSchema(services.reviews.rubric))
    router.get("api/v1/openapi.yaml") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: openapi)))
    }
    router.addRoutes(WebController().endpoints)
    router.addRoutes(
        MediaController(
            signer: services.signer, mediaRoot: services.layout.media,
            files: FileResponder(cache: SegmentCache(capacity: config.mediaCacheBytes)),
            liveness: RecordingLiveness(database: database), bucket: services.bucketResponder
        ).endpoints, atPath: "media")
    let api = router.group("api/v1").add(middleware: AuthenticationMiddleware(authenticator: services.authenticator))
    let throttle = LoginThrottle(limit: config.loginAttempts, window: config.loginWindow)
    api.addRoutes(SignInController(authenticator: services.authenticator, throttle: throttle).endpoints)
    api.addRoutes(
        RecordingsController(
            database: database, queue: services.queue, signer: services.signer, playbackLifetime: config.playbackTokenLifetime,
            layout: services.layout
        ).endpoints, atPath: "recordings")
    api.addRoutes(
        DirectoryController(directory: DirectoryStore(database: database), database: database, planner: TierPlanner(ladder: services.ladder))
            .endpoints)
    api.addRoutes(
        PacksController(
            packs: services.packs, publishing: services.publishing, attachmentMaxSize: config.packAttachmentMaxSize,
            bucket: services.bucketResponder)
            .endpoints, atPath: "packs")
    api.addRoutes(
        SyncSessionsController(
            store: services.sessions, hub: services.sessionHub, metrics: metrics, live: services.live, srtPorts: config.liveSRTPorts
        ).endpoints, atPath: "sync-sessions")
    let live = LiveController(
        store: services.sessions, relay: services.live, signer: services.signer, playbackLifetime: config.playbackTokenLifetime,
        files: FileResponder(), publicHost: config.livePublicHost, srtLatency: config.liveSRTLatency)
    api.addRoutes(live.apiRoutes, atPath: "sync-sessions")
    router.addRoutes(live.mediaRoutes, atPath: "live")
    let reviews = ReviewsController(
        store: services.reviews, comments: CommentStore(database: database), shelf: TextbookShelf(database: database),
        posters: PosterLinks(signer: services.signer, lifetime: config.playbackTokenLifetime, layout: services.layout))
    api.addRoutes(reviews.recordingRoutes, atPath: "recordings")
    api.addRoutes(reviews.endpoints)
    let credits = CreditsController(credits: services.credits, database: database)
    api.addRoutes(credits.endpoints)
    router.addRoutes(credits.publicEndpoints)
    api.addRoutes(
        OrdersController(store: services.orders, stats: services.orderStats, attachmentMaxSize: config.orderAttachmentMaxSize).endpoints,
        atPath: "orders")
    api.addRoutes(UploadsController(uploads: services.uploads, metrics: metrics).endpoints, atPath: "uploads")
    let runners = RunnersController(
        jobs: RunnerJobs(
            queue: services.queue, runners: RunnerStore(database: database), media: services.media,
            ladder: config.ladderPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }),
        files: FileResponder())
    api.addRoutes(runners.adminRoutes)
    router.addRoutes(runners.protocolRoutes, atPath: "api/v1/runners")
    api.addRoutes(AdminController(storageRoot: services.layout.root, minFreePercent: config.minFreePercent, backups: services.backups).endpoints)
    methods.load(router.routes.map { ($0.path.description, $0.method) })
    return router
}

struct HealthResponse: ResponseEncodable {
    var status: String
}

/// Closes the database after every other service has stopped (services stop in reverse order).
struct DatabaseCloser: Service {
    let database: AppDatabase

    func run() async throws {
        try? await gracefulShutdown()
        try database.close()
    }
}
