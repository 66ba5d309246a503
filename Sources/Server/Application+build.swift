import Catalog
import Media
import Delivery
import PackSync
import Foundation
import GRDB
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds the whole server from configuration. Production (`lessonlink serve`) and the tests call
/// this same function; only the configuration differs.
public func buildApplication(_ config: ServerConfig, logger: Logger? = nil) async throws -> some ApplicationProtocol {
    let logger = logger ?? Logger(label: "lessonlink")
    try FileManager.default.createDirectory(atPath: config.storageRoot, withIntermediateDirectories: true)
    let database = try AppDatabase.open(path: config.databasePath)
    let authenticator = Authenticator(database: database, tokenLifetime: config.tokenLifetime, bcryptCost: config.bcryptCost)
    if let password = try await Bootstrap.createFirstAdmin(database: database, authenticator: authenticator) {
        // Printed once, at the first start with an empty database; the admin must change it.
        print("LessonLink: created user 'admin' with one-time password \(password) — sign in and change it.")
        logger.notice("created the first admin account", metadata: ["username": "admin"])
    }
    let registry = UploadRegistry()
    let processor = UploadProcessor(database: database, config: config, registry: registry, logger: logger)
    let metrics = ServerMetrics()
    let router = buildRouter(
        database: database, config: config, authenticator: authenticator, registry: registry, processor: processor,
        metrics: metrics, signer: try config.playbackSigner(),
        // Read at start: a broken ladder file stops the server with its file:line message.
        ladder: try Ladder.load(path: config.ladderPath))
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "LessonLink"),
        logger: logger)
    // Services stop in reverse order: the database closer is first so it closes last.
    app.addServices(DatabaseCloser(database: database), processor, Sweeper(database: database, config: config, logger: logger))
    if config.runsWorker {
        app.addServices(config.worker(database, logger: logger))
    }
    return app
}

func buildRouter(
    database: AppDatabase, config: ServerConfig, authenticator: Authenticator, registry: UploadRegistry,
    processor: UploadProcessor, metrics: ServerMetrics, signer: PlaybackSigner, ladder: Ladder = .default
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: ErrorMiddleware())
    router.get("healthz") { _, _ in HealthResponse(status: "ok") }
    router.get("metrics") { _, _ in
        try await metrics.updateQueue(database)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
    }
    router.get("api/v1/openapi.yaml") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/yaml"],
            body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
    }
    router.addRoutes(WebController().endpoints)
    router.addRoutes(MediaController(
            signer: signer, mediaRoot: config.mediaDirectory, cache: SegmentCache(capacity: config.mediaCacheBytes),
            liveness: RecordingLiveness(database: database)).endpoints, atPath: "media")
    let api = router.group("api/v1").add(middleware: AuthenticationMiddleware(authenticator: authenticator))
    let throttle = LoginThrottle(limit: config.loginAttempts, window: config.loginWindow)
    api.addRoutes(SessionsController(authenticator: authenticator, throttle: throttle).endpoints)
    api.addRoutes(RecordingsController(
            database: database, queue: config.jobQueue(database), signer: signer, playbackLifetime: config.playbackTokenLifetime).endpoints, atPath: "recordings")
    api.addRoutes(DirectoryController(database: database, planner: TierPlanner(ladder: ladder)).endpoints)
    let publisher = PackPublisher(
        database: database, store: ObjectStore(root: config.objectsDirectory), mediaRoot: config.mediaDirectory,
        planner: TierPlanner(ladder: ladder))
    api.addRoutes(
        PacksController(packs: PackStore(database: database), publisher: publisher, attachmentMaxSize: config.packAttachmentMaxSize)
            .endpoints, atPath: "packs")
    api.addRoutes(
        UploadsController(database: database, config: config, registry: registry, processor: processor, metrics: metrics).endpoints,
        atPath: "uploads")
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
        if let pool = database.writer as? DatabasePool { try pool.close() }
    }
}
