import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Synchronization

/// Keeps a school's mirror folder in step with the packs addressed to it (`lessonlink mirror`).
///
/// One run: list the school's packs, fetch each newest version's manifest (checked against the
/// hash the server listed), check the files already held (hashing those the journal cannot vouch
/// for), download only what is missing — resuming partial files with `Range` — verify each
/// file's SHA-256 before it enters the store, and make a version visible only when all of its
/// files are there. Interrupt it anywhere (power cut, link drop, the night window closing) and
/// the next run continues where this one stopped.
public struct PackMirror: Sendable {
    public struct Settings: Sendable {
        /// The county server, e.g. `https://lessonlink.example.edu.cn`.
        public var server: String
        public var token: String
        public var folder: MirrorFolder
        /// Bandwidth cap for all downloads together, bytes per second.
        public var maxBytesPerSecond: Double?
        /// Downloads stop when the window closes (partial files are kept for the next run).
        public var window: TimeWindow?
        /// Files downloaded at once.
        public var connections: Int
        /// Hash every held file, not only those whose size, time or inode changed.
        public var verifyAll: Bool

        public init(
            server: String, token: String, folder: MirrorFolder, maxBytesPerSecond: Double? = nil, window: TimeWindow? = nil,
            connections: Int = 4, verifyAll: Bool = false
        ) {
            self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
            self.token = token
            self.folder = folder
            self.maxBytesPerSecond = maxBytesPerSecond
            self.window = window
            self.connections = max(1, connections)
            self.verifyAll = verifyAll
        }
    }

    /// What a run did, printed as JSON by the CLI.
    public struct Report: Codable, Sendable, Equatable {
        public var packs = 0
        /// Versions that became visible (new, or rebuilt after a repair).
        public var versionsPublished = 0
        public var files = 0
        /// Files already held and sound.
        public var reused = 0
        public var downloaded = 0
        public var downloadedBytes: Int64 = 0
        /// Downloads continued from a partial file.
        public var resumed = 0
        /// Bytes that came over the network (less than `downloadedBytes` when downloads resumed).
        public var receivedBytes: Int64 = 0
        /// Held files found damaged and fetched again.
        public var repaired = 0
        /// Files that could not be fetched this run (with why).
        public var failures: [String] = []
        /// Whether every pack is complete and visible.
        public var complete = true
        public var windowClosed = false
    }

    public let settings: Settings

    public init(settings: Settings) {
        self.settings = settings
    }

    public func run(log: @escaping @Sendable (String) -> Void = { _ in }) async throws(MirrorError) -> Report {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(60)), decompression: .disabled))
        do {
            let report = try await sync(client, log: log)
            try? await client.shutdown()
            return report
        } catch {
            try? await client.shutdown()
            if let error = error as? MirrorError { throw error }
            throw .network("\(error)")
        }
    }

    /// What `GET /api/v1/packs` says about each pack (the fields a mirror needs).
    private struct Listing: Decodable {
        struct Pack: Decodable {
            var id: Int64
            var latestVersion: Int?
            var manifestSha256: String?
        }
        var items: [Pack]
    }

    private func sync(_ client: HTTPClient, log: @escaping @Sendable (String) -> Void) async throws -> Report {
        let folder = settings.folder
        try FileManager.default.createDirectory(atPath: folder.partialDirectory, withIntermediateDirectories: true)
        let closesAt = settings.window?.closing(after: Date())
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let listing = try decoder.decode(Listing.self, from: try await fetch(client, "/api/v1/packs"))
        let state = RunState(journal: MirrorFolder.Journal(path: "\(folder.root)/verified.log"))
        let limiter = settings.maxBytesPerSecond.map { RateLimiter(bytesPerSecond: $0) }
        var keepPacks = Set<Int64>()
        var wanted = Set<String>()
        for summary in listing.items {
            guard let number = summary.latestVersion, let manifestHash = summary.manifestSha256 else { continue }
            keepPacks.insert(summary.id)
            state.report.withLock { $0.packs += 1 }
            let visible = folder.latest(pack: summary.id)
            let current = visible.flatMap { $0.number == number && Self.hash($0.manifestData) == manifestHash ? $0 : nil }
            let manifestData: Data
            if let current {
                manifestData = current.manifestData
            } else {
                manifestData = try await fetch(client, "/api/v1/packs/\(summary.id)/versions/\(number)/manifest")
                guard Self.hash(manifestData) == manifestHash else {
                    throw MirrorError.integrity("the manifest of pack \(summary.id) version \(number) does not match the hash the server listed")
                }
            }
            let manifest: PackManifest
            do { manifest = try PackManifest.decode(manifestData) } catch { throw MirrorError.integrity("pack \(summary.id): \(error)") }
            guard manifest.files.allSatisfy({ PackManifest.isSafePath($0.path) && ObjectStore.isHash($0.sha256) }) else {
                throw MirrorError.integrity("pack \(summary.id)'s manifest names an unsafe path")
            }
            // What is held already (a damaged object is deleted by the check and fetched again).
            var missing: [PackManifest.File] = []
            var seen = Set<String>()
            for file in manifest.files where seen.insert(file.sha256).inserted {
                wanted.insert(file.sha256)
                let wasHeld = FileManager.default.fileExists(atPath: folder.store.path(of: file.sha256))
                let sound = state.journal.withLock { folder.check(file.sha256, size: file.size, journal: &$0, full: settings.verifyAll) }
                if sound {
                    state.report.withLock { $0.reused += 1 }
                } else {
                    if wasHeld { state.report.withLock { $0.repaired += 1 } }
                    missing.append(file)
                }
            }
            state.report.withLock { $0.files += seen.count }
            if !missing.isEmpty {
                log("pack \(summary.id) v\(number): fetching \(missing.count) of \(seen.count) files")
            }
            let base = "/api/v1/packs/\(summary.id)/versions/\(number)/files/"
            await withTaskGroup(of: Void.self) { [state] group in

                var queue = missing[...]
                func next() -> Bool {
                    guard let file = queue.popFirst() else { return false }
                    group.addTask {
                        do {
                            let (resumed, received) = try await download(
                                client, file, path: base + Self.encode(file.path), limiter: limiter, closesAt: closesAt)
                            state.journal.withLock { $0.record(file.sha256, at: folder.store.path(of: file.sha256)) }
                            state.report.withLock {
                                $0.downloaded += 1
                                $0.downloadedBytes += file.size
                                $0.receivedBytes += received
                                if resumed { $0.resumed += 1 }
                            }
                        } catch MirrorError.windowClosed {
                            state.report.withLock { $0.windowClosed = true }
                        } catch {
                            state.report.withLock { $0.failures.append("\(file.path): \(error)") }
                        }
                    }
                    return true
                }
                for _ in 0..<settings.connections where next() {}
                while await group.next() != nil {
                    if state.report.withLock({ $0.windowClosed }) { continue }
                    _ = next()
                }
            }
            let complete = manifest.files.allSatisfy { FileManager.default.fileExists(atPath: folder.store.path(of: $0.sha256)) }
            if complete && (current == nil || !missing.isEmpty) {
                do { try folder.publish(manifest, manifestData: manifestData) } catch { throw MirrorError.storage(error.description) }
                state.report.withLock { $0.versionsPublished += 1 }
                log("pack \(summary.id) v\(number) is complete")
            } else if !complete {
                state.report.withLock { $0.complete = false }
            }
            if state.report.withLock({ $0.windowClosed }) { break }
        }
        if !state.report.withLock({ $0.windowClosed }) {
            folder.sweep(keepingPacks: keepPacks, wanted: wanted)
            state.journal.withLock { $0.compact(keeping: wanted) }
        }
        return state.report.withLock { $0 }
    }

    // MARK: - HTTP

    private func request(_ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: settings.server + path)
        request.headers.add(name: "Authorization", value: "Bearer \(settings.token)")
        request.headers.add(name: "User-Agent", value: "lessonlink-mirror")
        return request
    }

    /// A small JSON document (a listing, a manifest).
    private func fetch(_ client: HTTPClient, _ path: String) async throws -> Data {
        let response = try await client.execute(request(path), timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else { throw MirrorError.http(Int(response.status.code), Self.message(body)) }
        return Data(body.readableBytesView)
    }

    /// Downloads one file into `partial/<sha256>`, continuing what an earlier run left, checks
    /// it and moves it into the store. Returns whether it resumed a partial file, and the bytes received.
    private func download(
        _ client: HTTPClient, _ file: PackManifest.File, path: String, limiter: RateLimiter?, closesAt: Date?
    ) async throws -> (resumed: Bool, received: Int64) {
        let partial = "\(settings.folder.partialDirectory)/\(file.sha256)"
        let descriptor = open(partial, O_WRONLY | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw MirrorError.storage("opening \(partial): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(descriptor) } }
        var offset = Int64(lseek(descriptor, 0, SEEK_END))
        if offset > file.size {
            ftruncate(descriptor, 0)
            offset = 0
        }
        var digest = ObjectStore.Digest(crc: false)
        let resumed = offset > 0
        var received: Int64 = 0
        if resumed { try Self.hashPrefix(partial, length: offset, into: &digest) }
        if offset < file.size {
            if let closesAt, Date() >= closesAt { throw MirrorError.windowClosed }
            var request = request(path)
            if offset > 0 {
                request.headers.add(name: "Range", value: "bytes=\(offset)-")
                // If the file changed on the server, send it whole rather than a mismatched tail.
                request.headers.add(name: "If-Range", value: "\"\(file.sha256)\"")
            }
            let response = try await client.execute(request, timeout: .hours(24))
            switch response.status.code {
            case 206 where offset > 0:
                break
            case 200:
                ftruncate(descriptor, 0)
                offset = 0
                digest = ObjectStore.Digest(crc: false)
            default:
                throw MirrorError.http(Int(response.status.code), Self.message(try await response.body.collect(upTo: 1 << 20)))
            }
            for try await buffer in response.body {
                try Self.write(buffer, to: descriptor, at: offset)
                buffer.withUnsafeReadableBytes { digest.update($0) }
                offset += Int64(buffer.readableBytes)
                received += Int64(buffer.readableBytes)
                if let limiter, let pause = limiter.account(buffer.readableBytes) { try await Task.sleep(for: pause) }
                if let closesAt, Date() >= closesAt {
                    _ = fsync(descriptor)
                    throw MirrorError.windowClosed
                }
            }
        }
        guard fsync(descriptor) == 0 else { throw MirrorError.storage("flushing \(partial): \(String(cString: strerror(errno)))") }
        close(descriptor)
        closed = true
        let object = digest.finish()
        guard object.sha256 == file.sha256, object.size == file.size else {
            unlink(partial)
            throw MirrorError.integrity("\(file.path) arrived damaged (SHA-256 mismatch); it will be fetched again")
        }
        do { try settings.folder.store.adopt(partial, as: object) } catch { throw MirrorError.storage(error.description) }
        return (resumed, received)
    }

    private static func write(_ buffer: ByteBuffer, to descriptor: Int32, at offset: Int64) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                if written < 0 {
                    if errno == EINTR { continue }
                    throw MirrorError.storage("writing a download: \(String(cString: strerror(errno)))")
                }
                done += written
            }
        }
    }

    private static func hashPrefix(_ path: String, length: Int64, into digest: inout ObjectStore.Digest) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw MirrorError.storage("reading \(path)") }
        defer { try? handle.close() }
        var remaining = length
        while remaining > 0 {
            let data = handle.readData(ofLength: Int(min(remaining, 1 << 20)))
            if data.isEmpty { throw MirrorError.storage("\(path) is shorter than it was") }
            data.withUnsafeBytes { digest.update($0) }
            remaining -= Int64(data.count)
        }
    }

    /// The `message` of the server's JSON error, or the body's start.
    private static func message(_ body: ByteBuffer) -> String {
        struct Failure: Decodable {
            struct Detail: Decodable { var message: String }
            var error: Detail
        }
        if let failure = try? JSONDecoder().decode(Failure.self, from: Data(body.readableBytesView)) { return failure.error.message }
        return String(buffer: body).prefix(200).description
    }

    static func encode(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%;")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }

    private static func hash(_ data: Data) -> String { ObjectStore.hex(SHA256.hash(data: data)) }
}

/// A run's shared bookkeeping, updated by its concurrent downloads.
private final class RunState: Sendable {
    let journal: Mutex<MirrorFolder.Journal>
    let report = Mutex(PackMirror.Report())

    init(journal: MirrorFolder.Journal) {
        self.journal = Mutex(journal)
    }
}

/// Why a mirror run stopped.
public enum MirrorError: Error, Sendable, CustomStringConvertible {
    case http(Int, String)
    case network(String)
    case integrity(String)
    case storage(String)
    case windowClosed

    public var description: String {
        switch self {
        case .http(401, let message): "the server refused the token (401): \(message)"
        case .http(let status, let message): "the server answered \(status): \(message)"
        case .network(let message): "could not reach the server: \(message)"
        case .integrity(let message): message
        case .storage(let message): message
        case .windowClosed: "the transfer window closed"
        }
    }
}

/// A daily window of local time, such as `22:00-06:00` (it may span midnight).
public struct TimeWindow: Sendable, Equatable {
    public var start: Int
    public var end: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        func minutes(_ part: Substring) -> Int? {
            let fields = part.split(separator: ":")
            guard fields.count == 2, let hour = Int(fields[0]), let minute = Int(fields[1]), (0...23).contains(hour), (0...59).contains(minute)
            else { return nil }
            return hour * 60 + minute
        }
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]), start != end else { return nil }
        self.start = start
        self.end = end
    }

    private func minuteOfDay(_ date: Date) -> Int {
        let parts = Calendar.current.dateComponents([.hour, .minute], from: date)
        return (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
    }

    public func contains(_ date: Date) -> Bool {
        let minute = minuteOfDay(date)
        return start < end ? (start <= minute && minute < end) : (minute >= start || minute < end)
    }

    /// The next time (after `date`) the clock reads `minute`.
    private func next(_ minute: Int, after date: Date) -> Date {
        let now = minuteOfDay(date)
        let seconds = Calendar.current.component(.second, from: date)
        var wait = (minute - now) * 60 - seconds
        if wait <= 0 { wait += 24 * 3600 }
        return date.addingTimeInterval(TimeInterval(wait))
    }

    /// When the window next opens (now, if it is open).
    public func opening(after date: Date) -> Date { contains(date) ? date : next(start, after: date) }

    /// When the window that is open now closes (or the next one, if it is closed).
    public func closing(after date: Date) -> Date { next(end, after: opening(after: date)) }
}

/// Paces downloads to a byte rate shared by all of them.
final class RateLimiter: Sendable {
    let bytesPerSecond: Double
    private let state = Mutex<(start: ContinuousClock.Instant?, bytes: Double)>((nil, 0))

    init(bytesPerSecond: Double) {
        self.bytesPerSecond = bytesPerSecond
    }

    /// Counts `count` bytes; returns how long to pause so the average stays at the rate.
    func account(_ count: Int) -> Duration? {
        let now = ContinuousClock.now
        let ahead = state.withLock { state -> Double in
            let start = state.start ?? now
            state.start = start
            state.bytes += Double(count)
            let elapsed = Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18
            return state.bytes / bytesPerSecond - elapsed
        }
        return ahead > 0.005 ? .milliseconds(Int(ahead * 1000)) : nil
    }
}
