import Configuration
import Foundation
import SystemPackage

/// Everything the server reads from configuration, read once at start.
///
/// Sources, later ones winning: `config/lessonlink.yaml`, environment variables (`HTTP_PORT`),
/// command-line flags (`--http-port 9090`). Keys are dotted and scoped.
public struct ServerConfig: Sendable {
    /// `http.host`, `http.port`: where the server listens.
    public var host = "127.0.0.1"
    public var port = 8080
    /// `storage.root`: uploads, sources and renditions live below it.
    public var storageRoot = "storage"
    /// `database.path`: the SQLite file (default `<storage.root>/lessonlink.sqlite`).
    public var databasePath = "storage/lessonlink.sqlite"
    /// `transcode.ladder`: the bandwidth ladder file.
    public var ladderPath = "config/ladder.yaml"
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

    public init() {}

    public var uploadsDirectory: String { "\(storageRoot)/uploads" }
    public var sourcesDirectory: String { "\(storageRoot)/sources" }

    /// Reads the configuration file (if present), the environment and `arguments` (flags only).
    public static func load(
        file: String = "config/lessonlink.yaml", arguments: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ServerConfig {
        let reader = ConfigReader(providers: [
            CommandLineArgumentsProvider(arguments: ["lessonlink"] + arguments),
            EnvironmentVariablesProvider(environmentVariables: environment),
            try await FileProvider<YAMLSnapshot>(filePath: FilePath(file), allowMissing: true),
        ])
        return ServerConfig(reader: reader)
    }

    public init(reader: ConfigReader) {
        host = reader.string(forKey: "http.host", default: host)
        port = reader.int(forKey: "http.port", default: port)
        storageRoot = reader.string(forKey: "storage.root", default: storageRoot)
        databasePath = reader.string(forKey: "database.path", default: "\(storageRoot)/lessonlink.sqlite")
        ladderPath = reader.string(forKey: "transcode.ladder", default: ladderPath)
        uploadMaxSize = Int64(reader.int(forKey: "uploads.maxSize", default: Int(uploadMaxSize)))
        uploadExpiry = reader.double(forKey: "uploads.expirySeconds", default: uploadExpiry)
        uploadQuota = reader.int(forKey: "uploads.quota").map(Int64.init)
        tokenLifetime = reader.double(forKey: "auth.tokenLifetimeSeconds", default: tokenLifetime)
        bcryptCost = reader.int(forKey: "auth.bcryptCost", default: bcryptCost)
        loginAttempts = reader.int(forKey: "auth.loginAttempts", default: loginAttempts)
        loginWindow = reader.double(forKey: "auth.loginWindowSeconds", default: loginWindow)
        sweepInterval = reader.double(forKey: "maintenance.sweepSeconds", default: sweepInterval)
    }
}
