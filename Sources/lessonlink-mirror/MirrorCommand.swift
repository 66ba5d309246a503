import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MirrorSite
import PackSync

/// `lessonlink mirror` (this executable, `lessonlink-mirror`, which `lessonlink mirror` runs):
/// keeps a school-local copy of every pack addressed to the school.
///
/// A separate executable because a school's mirror machine is small: without the database and
/// FFmpeg's hundred and eighty shared libraries it needs half the memory of `lessonlink`.
@main
struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lessonlink mirror",
        abstract: "Mirror the packs addressed to a school into a folder (incremental, resumable, verified).",
        discussion: """
            Run it from cron or leave it running with --watch. Files are checked by SHA-256 before they \
            become visible, and a pack version appears only when all of its files are present. Serve the \
            folder to classrooms with `lessonlink-mirror serve --dir PATH`.
            """,
        subcommands: [Sync.self, Export.self, Import.self, Serve.self],
        defaultSubcommand: Sync.self)

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sync", abstract: "Bring the mirror up to date (the default).")

        @Option(name: .long, help: "The county server, e.g. https://lessonlink.example.cn")
        var server: String

        @Option(name: .long, help: "A bearer token of the school's account (lessonlink token USER).")
        var token: String

        @Option(name: .long, help: "The mirror folder.")
        var dir: String

        @Option(name: .long, help: "Bandwidth cap, e.g. 50Mbps, 800Kbps or 6MB/s.")
        var maxRate: String?

        @Option(name: .long, help: "Only transfer inside this daily window of local time, e.g. 22:00-06:00.")
        var window: String?

        @Option(name: .long, help: "Files downloaded at once.")
        var connections = 4

        @Flag(name: .long, help: "Hash every file held, not only the ones whose size or time changed.")
        var verify = false

        @Option(name: .long, help: "Keep running: sync again this many seconds after each run.")
        var watch: Double?

        func run() async throws {
            let rate = try maxRate.map { text -> Double in
                guard let value = Self.bytesPerSecond(text) else { throw ValidationError("--max-rate: write it like 50Mbps, 800Kbps or 6MB/s") }
                return value
            }
            let window = try window.map { text -> TimeWindow in
                guard let value = TimeWindow(text) else { throw ValidationError("--window: write it like 22:00-06:00") }
                return value
            }
            let mirror = PackMirror(
                settings: .init(
                    server: server, token: token, folder: MirrorFolder(root: dir), maxBytesPerSecond: rate, window: window,
                    connections: connections, verifyAll: verify))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            while true {
                if let window, !window.contains(Date()) {
                    let opens = window.opening(after: Date())
                    log("outside the transfer window; waiting until \(opens)")
                    try await Task.sleep(for: .seconds(opens.timeIntervalSinceNow + 1))
                }
                do {
                    let report = try await mirror.run(log: { log($0) })
                    print(String(decoding: try encoder.encode(report), as: UTF8.self))
                    if watch == nil && !report.complete && !report.windowClosed { throw ExitCode(2) }
                } catch let error as MirrorError {
                    log("mirror: \(error)")
                    if watch == nil { throw ExitCode.failure }
                }
                guard let watch else { return }
                try await Task.sleep(for: .seconds(watch))
            }
        }

        /// `50Mbps`, `800Kbps`, `1Gbps` (bits) or `6MB/s`, `500KB/s` (bytes) → bytes per second.
        static func bytesPerSecond(_ text: String) -> Double? {
            let lower = text.lowercased().replacingOccurrences(of: " ", with: "")
            let units: [(String, Double)] = [
                ("gbps", 1e9 / 8), ("mbps", 1e6 / 8), ("kbps", 1e3 / 8), ("bps", 1 / 8),
                ("gb/s", 1e9), ("mb/s", 1e6), ("kb/s", 1e3), ("b/s", 1),
            ]
            for (unit, factor) in units where lower.hasSuffix(unit) {
                guard let number = Double(lower.dropLast(unit.count)), number > 0 else { return nil }
                return number * factor
            }
            return nil
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Copy a pack's newest version to a folder (a USB stick), verified.")

        @Option(name: .long, help: "The mirror folder.") var dir: String
        @Option(name: .long, help: "The pack id.") var pack: Int64
        @Option(name: .long, help: "Where to write it.") var to: String

        func run() async throws {
            let manifest = try MirrorFolder(root: dir).export(pack: pack, to: to)
            print("exported pack \(manifest.pack) version \(manifest.version): \(manifest.files.count) files, \(manifest.totalSize) bytes")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a pack version from a folder (an export or an unpacked ZIP), verified.")

        @Option(name: .long, help: "The mirror folder.") var dir: String
        @Option(name: .long, help: "The folder holding manifest.json.") var from: String

        func run() async throws {
            let (manifest, damaged) = try MirrorFolder(root: dir).importFolder(from)
            guard damaged.isEmpty else {
                for path in damaged { log("damaged or missing: \(path)") }
                log("pack \(manifest.pack) version \(manifest.version) was not imported: \(damaged.count) files do not match the manifest")
                throw ExitCode.failure
            }
            print("imported pack \(manifest.pack) version \(manifest.version): \(manifest.files.count) files")
        }
    }
}

extension MirrorCommand {
    /// `lessonlink-mirror serve`: the mirror on the school's LAN, read-only, with the county's
    /// player — all a school's machine needs, without the database or FFmpeg.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve the mirror read-only on the school's network.")

        @Option(name: .long, help: "The mirror folder.") var dir: String
        @Option(name: .long, help: "Address to listen on (0.0.0.0 for the whole LAN).") var host = "127.0.0.1"
        @Option(name: .long, help: "Port to listen on.") var port = 8080

        func run() async throws {
            guard FileManager.default.fileExists(atPath: dir) else { throw ValidationError("--dir: \(dir) does not exist") }
            var logger = Logger(label: "lessonlink-mirror")
            logger.logLevel = .info
            try await buildMirrorApplication(root: dir, host: host, port: port, logger: logger).runService()
        }
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
