import Catalog
import Ingest
import Configuration
import Delivery
import Foundation
public import ObjectStorage
import Logging
import Orders
import Review
import Sessions
import Transcoding
import SystemPackage

/// Everything the server reads from configuration, read once at start.
///
/// Sources, later ones winning: the configuration file (`ConfigFile.locate`), environment variables
/// (`HTTP_PORT`), command-line flags (`--http-port 9090`). Keys are dotted and scoped. Relative
/// paths in the file are read from the file's own folder, so the server reads the same files
/// whichever folder it is started from; relative paths in flags and variables, from the working
/// directory, as a shell user expects.
public struct ServerConfig: Sendable {
    /// `http.host`, `http.port`: where the server listens.
    public var host = "127.0.0.1"
    public var port = 8080
    /// `storage.root`: uploads, sources and renditions live below it.
    public var storageRoot = "storage"
    /// `database.path`: the SQLite file (default `<storage.root>/lessonlink.sqlite`).
    public var databasePath = "storage/lessonlink.sqlite"
    /// `transcode.ladder`: the bandwidth ladder file; unset, `ladder.yaml` beside the configuration
    /// file if there is one, else the built-in ladder (nil).
    public var ladderPath: String?
    /// `review.rubric`: the criteria reviewers score by; unset, `review-rubric.yaml` beside the
    /// configuration file if there is one, else the built-in rubric (nil).
    public var rubricPath: String?
    /// The configuration file read, if any (the version banner and errors name it).
    public var file: String?
    /// `uploads.maxSize`: largest upload accepted, bytes (`Tus-Max-Size`).
    public var uploadMaxSize: Int64 = 20 << 30
    /// `uploads.expirySeconds`: an unfinished upload is kept this long after its last change.
    public var uploadExpiry: TimeInterval = 7 * 24 * 3600
    /// `uploads.quota`: bytes all unfinished uploads may reserve together; unset means the free
    /// space of the disk is the limit.
    public var uploadQuota: Int64?
    /// `auth.tokenLifetimeSeconds`: how long a sign-in lasts.
    public var tokenLifetime: TimeInterval = 12 * 3600
    /// `auth.bcryptCost`: bcrypt work factor for passwords.
    public var bcryptCost = 12
    /// `auth.loginAttempts` failures within `auth.loginWindowSeconds` lock a username (and an
    /// address) out for the rest of the window.
    public var loginAttempts = 5
    public var loginWindow: TimeInterval = 300
    /// `maintenance.sweepSeconds`: how often expired uploads and sessions are swept.
    public var sweepInterval: TimeInterval = 60
    /// `transcode.worker`: run the transcode worker inside `serve` (false when a separate
    /// `lessonlink worker` process does it).
    public var runsWorker = true
    /// `transcode.concurrency`: jobs at once; `transcode.threads`: threads each job's child may
    /// use. The defaults fit 2 cores: one job using both.
    public var transcodeConcurrency = 1
    public var transcodeThreads = 2
    /// `transcode.node`: this worker's name in job leases; unique per worker process. The default,
    /// the host name and a per-start id, keeps two workers on one host (or a restarted one) from
    /// taking each other's leases; a job of a worker that died is re-queued when its lease expires.
    public var transcodeNode = ServerConfig.defaultNode
    /// `transcode.nice`: niceness of the transcode and probe children (0–19), so that serving
    /// lessons comes first on a shared machine.
    public var transcodeNice = 15
    /// `transcode.executable`: the `lessonlink` binary that runs `transcode-job` children
    /// (default: the running executable).
    public var transcodeExecutable = ServerConfig.currentExecutable
    /// `transcode.leaseSeconds`: a job whose worker sent no heartbeat for this long is re-queued.
    public var transcodeLease: TimeInterval = 30
    /// `transcode.retryDelaySeconds`: back-off before a failed job's second attempt, doubled after.
    public var transcodeRetryDelay: TimeInterval = 10
    /// `transcode.maxAttempts`: attempts before a job is failed for good.
    public var transcodeMaxAttempts = 3
    /// `transcode.pollSeconds`: how often an idle worker looks for work.
    public var transcodePoll: TimeInterval = 1
    /// `media.keepOldVersionsSeconds`: how long a replaced version stays on disk for players
    /// still streaming it.
    public var keepOldVersions: TimeInterval = 24 * 3600
    /// `media.cacheMegabytes`: memory for hot segments shared by all responses (0 turns it off).
    public var mediaCacheBytes = 32 << 20

    /// `playback.signingKey`: the HMAC key for media URLs (any string of 32+ characters); unset,
    /// a random key is kept in `<storage.root>/secrets/playback.key`.
    public var playbackSigningKey: String?
    /// `playback.tokenLifetimeSeconds`: how long a playback link works (a school day).
    public var playbackTokenLifetime: TimeInterval = 8 * 3600

    /// `packs.attachmentMaxMegabytes`: the largest file a pack may carry as an attachment.
    public var packAttachmentMaxSize: Int64 = 500 << 20
    /// `packs.keepOldVersionsSeconds`: how long a superseded pack version stays downloadable.
    public var packKeepOldVersions: TimeInterval = 30 * 24 * 3600

    /// `credentials.issuerName`: the education bureau that issues 支教 certificates.
    public var issuerName = "县教育局"
    /// `credentials.issuerIdentifier`: the bureau's own identifier (e.g. 统一社会信用代码), optional.
    public var issuerIdentifier: String?
    /// `credentials.publicURL`: how people outside reach this server (the certificate's QR code,
    /// status list and verification page); unset, `http://host:port`.
    public var publicURL: String?
    /// `credentials.keyFile`: the certificate signing keys; unset, `<storage.root>/secrets/credential-keys.json`.
    public var credentialKeyFile: String?

    /// `orders.acceptWithinSchoolDays`: school days a lead school has to accept a dispatched
    /// order before the coordinator is told.
    public var ordersAcceptWithin = 3
    /// `orders.attachmentMaxMegabytes`: the largest file attached to an order.
    public var orderAttachmentMaxSize = 20 << 20

    /// `live.rtmpPort`: the RTMP port every live publisher connects to (unset: no RTMP);
    /// `live.rtmpHost`: the address it listens on.
    public var liveRTMPPort: Int?
    public var liveRTMPHost = "0.0.0.0"
    /// `live.srtPorts`: UDP ports for SRT publishers, one per open live session (`9000-9019`;
    /// unset: no SRT). `live.srtLatencyMilliseconds`: SRT's retransmission window.
    public var liveSRTPorts: ClosedRange<Int>?
    public var liveSRTLatency = 500
    /// `live.publicHost`: the host name publishers reach this server by, in publish URLs (unset:
    /// the one the host page was loaded from).
    public var livePublicHost: String?
    /// `live.nice`: niceness of the live ingest children: above on-demand transcodes.
    public var liveNice = 5

    /// `storage.media`: where published media lives, `disk` (below `storage.root`) or `s3`.
    public var mediaStorage = "disk"
    /// `storage.s3.*`: the bucket, when `storage.media` is `s3`.
    public var s3 = S3Settings()
    /// `storage.minFreePercent`: below this share of the disk free, `/readyz` says storage is not fine.
    public var minFreePercent = 10.0
    /// `transcode.maxQueueWaitSeconds`: a transcode queued longer than this makes `/readyz` say the workers lag.
    public var maxQueueWait: TimeInterval = 3600

    /// `backup.to`: the folder the server backs up into at `backup.schedule` (unset: no scheduled
    /// backups; `lessonlink backup --to` still works).
    public var backupFolder: String?
    /// `backup.schedule`: the local time of day of the nightly backup.
    public var backupSchedule = TimeOfDay("02:00")!
    /// `backup.keep.daily`, `backup.keep.weekly`: snapshots kept, the newest of each day and week.
    public var backupKeepDaily = 7
    public var backupKeepWeekly = 4

    public init() {}

    /// The host name and a random id for this start: unique per worker process.
    static var defaultNode: String {
        "\(ProcessInfo.processInfo.hostName)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Every path under `storage.root`.
    public var layout: StorageLayout { StorageLayout(root: storageRoot) }

    /// Reads the configuration `file` (nil: none, the built-in defaults), the environment and
    /// `arguments` (flags only), after checking every one of them against the known settings.
    public static func load(
        file: String?, arguments: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ServerConfig {
        let fileValues = try file.map { path throws(ConfigError) in try ConfigFile.read(file: path) } ?? [:]
        try ConfigFile.check(arguments: arguments, environment: environment)
        // The file is read only when it sets something: the YAML provider refuses an empty one.
        let filePath = fileValues.isEmpty ? nil : file
        let reader = ConfigReader(providers: [
            CommandLineArgumentsProvider(arguments: ["lessonlink"] + arguments),
            EnvironmentVariablesProvider(environmentVariables: environment),
            try await FileProvider<YAMLSnapshot>(filePath: FilePath(filePath ?? "/nonexistent/lessonlink.yaml"), allowMissing: true),
        ])
        var config = ServerConfig(reader: reader)
        _ = try config.mediaBucket()
        config.file = file
        if let file { config.resolvePaths(relativeTo: file, fileValues: fileValues, arguments: arguments, environment: environment) }
        return config
    }

    /// Reads the file named by `--config` (`flag`), `LESSONLINK_CONFIG`, or found on the search path.
    public static func load(configFlag flag: String?, arguments: [String] = []) async throws -> ServerConfig {
        let environment = ProcessInfo.processInfo.environment
        return try await load(file: try ConfigFile.locate(flag: flag, environment: environment), arguments: arguments, environment: environment)
    }

    /// Makes the file's relative paths relative to the file's folder, and finds the ladder and
    /// rubric beside the file when no setting names them.
    mutating func resolvePaths(relativeTo file: String, fileValues: [String: String], arguments: [String], environment: [String: String]) {
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        func fromFile(_ key: String) -> String? {
            guard !ConfigFile.overridden(key, arguments: arguments, environment: environment), let value = fileValues[key] else { return nil }
            return value.hasPrefix("/") ? value : folder.appendingPathComponent(value).standardizedFileURL.path
        }
        func beside(_ name: String) -> String? {
            let path = folder.appendingPathComponent(name).standardizedFileURL.path
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        if let root = fromFile("storage.root") {
            if !ConfigFile.overridden("database.path", arguments: arguments, environment: environment), fileValues["database.path"] == nil {
                databasePath = "\(root)/lessonlink.sqlite"
            }
            storageRoot = root
        }
        databasePath = fromFile("database.path") ?? databasePath
        if !ConfigFile.overridden("transcode.ladder", arguments: arguments, environment: environment) {
            ladderPath = fromFile("transcode.ladder") ?? beside("ladder.yaml")
        }
        if !ConfigFile.overridden("review.rubric", arguments: arguments, environment: environment) {
            rubricPath = fromFile("review.rubric") ?? beside("review-rubric.yaml")
        }
        transcodeExecutable = fromFile("transcode.executable") ?? transcodeExecutable
        credentialKeyFile = fromFile("credentials.keyFile") ?? credentialKeyFile
        backupFolder = fromFile("backup.to") ?? backupFolder
    }

    public init(reader: ConfigReader) {
        host = reader.string(forKey: "http.host", default: host)
        port = reader.int(forKey: "http.port", default: port)
        storageRoot = reader.string(forKey: "storage.root", default: storageRoot)
        databasePath = reader.string(forKey: "database.path", default: "\(storageRoot)/lessonlink.sqlite")
        ladderPath = reader.string(forKey: "transcode.ladder")
        rubricPath = reader.string(forKey: "review.rubric")
        uploadMaxSize = Int64(reader.int(forKey: "uploads.maxSize", default: Int(uploadMaxSize)))
        uploadExpiry = reader.double(forKey: "uploads.expirySeconds", default: uploadExpiry)
        uploadQuota = reader.int(forKey: "uploads.quota").map(Int64.init)
        tokenLifetime = reader.double(forKey: "auth.tokenLifetimeSeconds", default: tokenLifetime)
        bcryptCost = reader.int(forKey: "auth.bcryptCost", default: bcryptCost)
        loginAttempts = reader.int(forKey: "auth.loginAttempts", default: loginAttempts)
        loginWindow = reader.double(forKey: "auth.loginWindowSeconds", default: loginWindow)
        sweepInterval = reader.double(forKey: "maintenance.sweepSeconds", default: sweepInterval)
        runsWorker = reader.bool(forKey: "transcode.worker", default: runsWorker)
        transcodeConcurrency = reader.int(forKey: "transcode.concurrency", default: transcodeConcurrency)
        transcodeThreads = reader.int(forKey: "transcode.threads", default: transcodeThreads)
        transcodeNode = reader.string(forKey: "transcode.node", default: transcodeNode)
        transcodeExecutable = reader.string(forKey: "transcode.executable", default: transcodeExecutable)
        transcodeNice = max(0, min(19, reader.int(forKey: "transcode.nice", default: transcodeNice)))
        transcodeLease = reader.double(forKey: "transcode.leaseSeconds", default: transcodeLease)
        transcodeRetryDelay = reader.double(forKey: "transcode.retryDelaySeconds", default: transcodeRetryDelay)
        transcodeMaxAttempts = reader.int(forKey: "transcode.maxAttempts", default: transcodeMaxAttempts)
        transcodePoll = reader.double(forKey: "transcode.pollSeconds", default: transcodePoll)
        keepOldVersions = reader.double(forKey: "media.keepOldVersionsSeconds", default: keepOldVersions)
        mediaCacheBytes = reader.int(forKey: "media.cacheMegabytes", default: mediaCacheBytes >> 20) << 20
        playbackSigningKey = reader.string(forKey: "playback.signingKey", isSecret: true)
        playbackTokenLifetime = reader.double(forKey: "playback.tokenLifetimeSeconds", default: playbackTokenLifetime)
        packAttachmentMaxSize = Int64(reader.int(forKey: "packs.attachmentMaxMegabytes", default: Int(packAttachmentMaxSize >> 20))) << 20
        packKeepOldVersions = reader.double(forKey: "packs.keepOldVersionsSeconds", default: packKeepOldVersions)
        issuerName = reader.string(forKey: "credentials.issuerName", default: issuerName)
        issuerIdentifier = reader.string(forKey: "credentials.issuerIdentifier")
        publicURL = reader.string(forKey: "credentials.publicURL")
        credentialKeyFile = reader.string(forKey: "credentials.keyFile")
        ordersAcceptWithin = reader.int(forKey: "orders.acceptWithinSchoolDays", default: ordersAcceptWithin)
        orderAttachmentMaxSize = reader.int(forKey: "orders.attachmentMaxMegabytes", default: orderAttachmentMaxSize >> 20) << 20
        minFreePercent = reader.double(forKey: "storage.minFreePercent", default: minFreePercent)
        mediaStorage = reader.string(forKey: "storage.media", default: mediaStorage)
        s3 = S3Settings(
            endpoint: reader.string(forKey: "storage.s3.endpoint"), bucket: reader.string(forKey: "storage.s3.bucket"),
            region: reader.string(forKey: "storage.s3.region", default: s3.region),
            accessKey: reader.string(forKey: "storage.s3.accessKey"), secretKey: reader.string(forKey: "storage.s3.secretKey", isSecret: true),
            pathStyle: reader.bool(forKey: "storage.s3.pathStyle", default: s3.pathStyle),
            publicEndpoint: reader.string(forKey: "storage.s3.publicEndpoint"), links: reader.string(forKey: "storage.s3.links", default: s3.links),
            partMegabytes: reader.int(forKey: "storage.s3.partMegabytes", default: s3.partMegabytes))
        maxQueueWait = reader.double(forKey: "transcode.maxQueueWaitSeconds", default: maxQueueWait)
        liveRTMPPort = reader.int(forKey: "live.rtmpPort")
        liveRTMPHost = reader.string(forKey: "live.rtmpHost", default: liveRTMPHost)
        liveSRTPorts = reader.string(forKey: "live.srtPorts").flatMap(Self.portRange)
        liveSRTLatency = reader.int(forKey: "live.srtLatencyMilliseconds", default: liveSRTLatency)
        livePublicHost = reader.string(forKey: "live.publicHost")
        liveNice = max(0, min(19, reader.int(forKey: "live.nice", default: liveNice)))
        backupFolder = reader.string(forKey: "backup.to")
        backupSchedule = reader.string(forKey: "backup.schedule").flatMap(TimeOfDay.init) ?? backupSchedule
        backupKeepDaily = max(0, reader.int(forKey: "backup.keep.daily", default: backupKeepDaily))
        backupKeepWeekly = max(0, reader.int(forKey: "backup.keep.weekly", default: backupKeepWeekly))
    }

    /// `9000-9019` or `9000`.
    static func portRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard let first = parts.first ?? nil, let last = parts.last ?? nil, (1...65535).contains(first), (first...65535).contains(last) else { return nil }
        return first...last
    }
}

extension ServerConfig {
    /// The job queue these settings describe.
    public func jobQueue(_ database: AppDatabase) -> JobQueue {
        JobQueue(database: database, leaseDuration: transcodeLease, retryDelay: transcodeRetryDelay, maxAttempts: transcodeMaxAttempts)
    }

    /// The children that transcode and probe, as these settings describe them.
    public var mediaChildren: ChildTranscoder {
        ChildTranscoder(executable: transcodeExecutable, ladderPath: ladderPath, threads: transcodeThreads, nice: transcodeNice)
    }

    /// The transcode worker these settings describe.
    public func worker(_ database: AppDatabase, logger: Logger) -> TranscodeWorker {
        TranscodeWorker(
            queue: jobQueue(database), transcoder: mediaChildren, media: mediaLayout, node: transcodeNode,
            concurrency: transcodeConcurrency, pollInterval: transcodePoll, logger: logger)
    }

    /// Where published media is written: the storage root, and the bucket when there is one.
    public var mediaLayout: MediaLayout {
        MediaLayout(storageRoot: storageRoot, bucket: try? mediaBucket())
    }

    /// Limits and lifetimes of uploads.
    public var uploadSettings: UploadSettings {
        UploadSettings(maxSize: uploadMaxSize, expiry: uploadExpiry, quota: uploadQuota)
    }
}

extension ServerConfig {
    /// The signer for media URLs: the configured key, or the one kept under the storage root.
    public func playbackSigner() throws -> PlaybackSigner {
        if let key = playbackSigningKey {
            guard key.utf8.count >= 32 else { throw ConfigError("playback.signingKey must be at least 32 characters") }
            return PlaybackSigner(key: Data(key.utf8))
        }
        return PlaybackSigner(key: try PlaybackSigner.loadOrCreateKey(path: layout.playbackKey))
    }
}

extension ServerConfig {
    /// Who signs 支教 certificates, with which keys, and where verifiers find this server.
    public var creditIssuer: CreditIssuer {
        CreditIssuer(
            name: issuerName, identifier: issuerIdentifier, publicURL: publicURL ?? "http://\(host):\(port)",
            keyFile: credentialKeyFile ?? "\(layout.secrets)/credential-keys.json")
    }
}

/// A configuration value that cannot work.
public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension ServerConfig {
    /// Every module's tables, in one fixed order: the catalog's, the sessions', the review's, the
    /// notices', the orders', the live sources', the runners'.
    public static let migrations: [AppDatabase.Migration] = SessionSchema.migrations + ReviewSchema.migrations + Notices.migrations
        + OrderSchema.migrations + LiveSchema.migrations + RunnerStore.migrations

    /// The database at `database.path`, migrated to this build's schema. Everything that opens
    /// the server's database (the server, the CLI's commands, the tests) opens it here.
    public func openDatabase() throws -> AppDatabase {
        try AppDatabase.open(path: databasePath, migrations: Self.migrations)
    }
}

/// `storage.s3.*`: an S3-compatible bucket for published media and pack files.
public struct S3Settings: Sendable, Equatable {
    /// The store as this server reaches it: `http://127.0.0.1:9000`, `https://s3.cn-north-1.amazonaws.com.cn`.
    public var endpoint: String?
    public var bucket: String?
    public var region = "us-east-1"
    /// The keys (`storage.s3.secretKey` is better given as `STORAGE_S3_SECRET_KEY` in the
    /// environment than written in the file).
    public var accessKey: String?
    public var secretKey: String?
    /// `endpoint/bucket/key` (MinIO, Ceph, most self-hosted stores); false: `bucket.endpoint/key`.
    public var pathStyle = true
    /// The store's address for players and mirrors, when not `endpoint` (a CDN, a public name).
    public var publicEndpoint: String?
    /// `presigned`: players and mirrors fetch segments and pack files from the store with signed
    /// links; `proxied`: the server fetches them and passes them on (a store players cannot reach).
    public var links = "presigned"
    /// Files up to this size go up in one request, bigger ones in parts of this size (at least 5).
    public var partMegabytes = 8

    public init(
        endpoint: String? = nil, bucket: String? = nil, region: String = "us-east-1", accessKey: String? = nil, secretKey: String? = nil,
        pathStyle: Bool = true, publicEndpoint: String? = nil, links: String = "presigned", partMegabytes: Int = 8
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.pathStyle = pathStyle
        self.publicEndpoint = publicEndpoint
        self.links = links
        self.partMegabytes = partMegabytes
    }

    /// Whether players get signed links to the store (else the server proxies).
    public var presigned: Bool { links == "presigned" }
}

extension ServerConfig {
    /// The bucket `storage.media: s3` names, nil for `disk`; a setting that cannot work is said.
    public func mediaBucket() throws(ConfigError) -> S3Bucket? {
        switch mediaStorage {
        case "disk": return nil
        case "s3": break
        default: throw ConfigError("storage.media is \(mediaStorage); it must be disk or s3")
        }
        func required(_ value: String?, _ key: String) throws(ConfigError) -> String {
            guard let value, !value.isEmpty else { throw ConfigError("storage.media is s3, so \(key) must be set") }
            return value
        }
        func address(_ text: String, _ key: String) throws(ConfigError) -> URL {
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigError("\(key) must be an http:// or https:// address, not \(text)")
            }
            return url
        }
        guard ["presigned", "proxied"].contains(s3.links) else {
            throw ConfigError("storage.s3.links is \(s3.links); it must be presigned or proxied")
        }
        guard s3.partMegabytes >= 5, s3.partMegabytes <= 5120 else {
            throw ConfigError("storage.s3.partMegabytes must be between 5 and 5120 (S3's part sizes)")
        }
        let endpoint = try address(try required(s3.endpoint, "storage.s3.endpoint"), "storage.s3.endpoint")
        let bucket = try required(s3.bucket, "storage.s3.bucket")
        guard bucket.count >= 3, bucket.count <= 63, bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw ConfigError("storage.s3.bucket \(bucket) is not a bucket name (3-63 lower-case letters, digits, - and .)")
        }
        let credentials = SignatureV4.Credentials(
            accessKey: try required(s3.accessKey, "storage.s3.accessKey"), secretKey: try required(s3.secretKey, "storage.s3.secretKey"))
        let publicEndpoint = try s3.publicEndpoint.map { text throws(ConfigError) in try address(text, "storage.s3.publicEndpoint") }
        return S3Bucket(
            location: S3Location(
                endpoint: endpoint, bucket: bucket, region: s3.region, credentials: credentials, pathStyle: s3.pathStyle,
                publicEndpoint: publicEndpoint),
            partSize: s3.partMegabytes << 20)
    }
}
