import Catalog
import Foundation
import HLS
import Ingest
import Live
import Logging
import Media
import NIOCore
import ServiceLifecycle
import Sessions
import Synchronization
import Transcoding

/// The live relay: takes publishes from recording classrooms (RTMP on one shared port, SRT on a
/// port per session), runs one `live-ingest` child per publish, follows what the child reports,
/// and makes the archive recording when the session ends.
///
/// Each publish is a child process of its own, like a transcode: a stream that crashes libav
/// ends that publish only; the server, the other sessions and the segments already written stay.
actor LiveRelay: Service {
    struct Settings: Sendable {
        /// `live.rtmpHost`, `live.rtmpPort`: where publishers connect (nil: no RTMP; 0: any free port).
        var rtmpHost = "0.0.0.0"
        var rtmpPort: Int?
        /// `live.srtPorts` (e.g. `9000-9019`): a UDP port per open live session; unset, no SRT.
        var srtPorts: ClosedRange<Int>?
        /// `live.srtLatencyMilliseconds`: SRT's retransmission window; more survives a worse link.
        var srtLatency = 500
        /// `live.publicHost`: the host name in publish URLs; unset, the one the host page was asked by.
        var publicHost: String?
        /// The `lessonlink` executable, the ladder file and the children's threads and niceness.
        var executable = ServerConfig.currentExecutable
        var ladderPath: String?
        var threads = 2
        /// Live encoding must not wait behind on-demand transcodes (PeerTube gives live 5, VOD 15).
        var nice = 5
        /// The ladder's live section: the playlist window for ending playlists.
        var live = Ladder.Live()
    }

    /// What the host page shows about a session's source.
    struct SourceStatus: Sendable, Encodable {
        var state: LiveSourceEvent.State = .waiting
        var publish: Int?
        var tiers: [String] = []
        var dropped: [String] = []
        var width: Int?
        var height: Int?
        /// Encoded seconds per busy second of the slowest live encoder.
        var encoderSpeed: Double?
        var lastSegmentAt: Date?
        /// Newest first, the last 20.
        var events: [LiveSourceEvent] = []
    }

    let settings: Settings
    let store: SyncSessionStore
    let hub: SessionHub
    let layout: StorageLayout
    let database: AppDatabase
    let prober: ChildTranscoder
    let maxAttempts: Int
    let logger: Logger
    private var children: [Int64: IngestChild] = [:]
    private var statuses: [Int64: SourceStatus] = [:]
    private var archiving: Set<Int64> = []
    /// The RTMP port actually bound (tests ask for 0).
    private(set) var rtmpPort: Int?
    private var boundWaiters: [CheckedContinuation<Int, Never>] = []

    init(
        settings: Settings, store: SyncSessionStore, hub: SessionHub, layout: StorageLayout, database: AppDatabase, prober: ChildTranscoder,
        maxAttempts: Int, logger: Logger
    ) {
        self.settings = settings
        self.store = store
        self.hub = hub
        self.layout = layout
        self.database = database
        self.prober = prober
        self.maxAttempts = maxAttempts
        self.logger = logger
        // A child that died leaves its stdin pipe broken: writing to it must fail, not kill us.
        signal(SIGPIPE, SIG_IGN)
    }

    nonisolated func folder(_ session: Int64) -> String { "\(layout.root)/live/\(session)" }

    // MARK: - Service

    func run() async throws {
        // On graceful shutdown the listener and the supervisor are cancelled (publishers'
        // connections end), then every child is asked to close its segments.
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                if let port = self.settings.rtmpPort {
                    let listener = RTMPListener(host: self.settings.rtmpHost, port: port, logger: self.logger) { app, key in
                        await self.authorize(app: app, key: key)
                    }
                    group.addTask {
                        try await listener.run { port in Task { await self.bound(port) } }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        await self.supervise()
                        try await Task.sleep(for: .seconds(2))
                    }
                }
            }
        }
        await stopAll()
    }

    private func bound(_ port: Int) {
        rtmpPort = port
        for waiter in boundWaiters { waiter.resume(returning: port) }
        boundWaiters = []
    }

    /// The RTMP port once it is bound.
    func boundRTMPPort() async -> Int {
        if let rtmpPort { return rtmpPort }
        return await withCheckedContinuation { boundWaiters.append($0) }
    }

    /// Keeps an SRT listener open for every running live session that has no publish going, and
    /// makes the archives of sessions that ended while the server was down.
    private func supervise() async {
        do {
            for source in try await store.runningLiveSources() where children[source.sessionId] == nil {
                if let port = source.srtPort { spawn(source.sessionId, input: .srt(port: port, passphrase: source.srtPassphrase)) }
            }
            for session in try await store.archivesDue() where !archiving.contains(session) && children[session] == nil {
                archiving.insert(session)
                Task { await self.archive(session) }
            }
        } catch is CancellationError {
            return
        } catch {
            logger.error("live supervision failed", metadata: ["error": "\(error)"])
        }
    }

    /// SIGTERM to every child, then SIGKILL to any still running after five seconds.
    private func stopAll() async {
        let running = Array(children.values)
        children = [:]
        for child in running { child.terminate() }
        await withTaskGroup(of: Void.self) { group in
            for child in running {
                group.addTask {
                    let killer = Task {
                        try await Task.sleep(for: .seconds(5))
                        child.kill()
                    }
                    await child.exited()
                    killer.cancel()
                }
            }
        }
    }

    // MARK: - Publishing

    /// Decides an RTMP publish (`rtmp://HOST/live/KEY`).
    func authorize(app: String, key: String) async -> Result<RTMPPublish, RTMPListener.Refusal> {
        guard app == "live" else { return .failure(.init("publish to rtmp://HOST:PORT/live/STREAM-KEY")) }
        let target: Result<Int64, PublishRefusal>
        do {
            target = try await store.publishTarget(key: key)
        } catch {
            return .failure(.init("the server cannot look the key up now"))
        }
        switch target {
        case .failure(let refusal):
            logger.notice("live publish refused", metadata: ["reason": "\(refusal)"])
            return .failure(.init(refusal.description))
        case .success(let session):
            if let current = children[session] {
                if current.isPublishing {
                    logger.notice("second publisher refused", metadata: ["session": "\(session)"])
                    return .failure(.init("this session already has a live publisher"))
                }
                // An SRT listener still waiting for its caller gives way.
                current.terminate()
                await current.exited()
                children[session] = nil
            }
            let child = spawn(session, input: .rtmp)
            guard let writer = child.input else { return .failure(.init("the live relay could not start")) }
            return .success(RTMPPublish(write: { try writer.write($0) }, finish: { writer.finish() }))
        }
    }

    enum Input {
        case rtmp
        case srt(port: Int, passphrase: String)
    }

    @discardableResult
    private func spawn(_ session: Int64, input: Input) -> IngestChild {
        var arguments = [
            "live-ingest", "--directory", folder(session), "--threads", "\(settings.threads)", "--nice", "\(settings.nice)",
        ] + (settings.ladderPath.map { ["--ladder", $0] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        switch input {
        case .rtmp:
            arguments += ["--input", "pipe:0"]
        case .srt(let port, let passphrase):
            // The passphrase goes by the environment, not the command line, which `ps` shows everyone.
            arguments += ["--input", "srt://0.0.0.0:\(port)?mode=listener&latency=\(settings.srtLatency * 1000)"]
            environment["LESSONLINK_SRT_PASSPHRASE"] = passphrase
        }
        let child = IngestChild(executable: settings.executable, arguments: arguments, environment: environment, pipeInput: input.isRTMP)
        children[session] = child
        do {
            try FileManager.default.createDirectory(atPath: folder(session), withIntermediateDirectories: true)
            try child.start(
                report: { report in Task { await self.received(report, session: session, from: child) } },
                exit: { status in Task { await self.ended(session, child: child, status: status) } })
        } catch {
            children[session] = nil
            logger.error("live ingest could not start", metadata: ["session": "\(session)", "error": "\(error)"])
        }
        return child
    }

    private func received(_ report: LiveReport, session: Int64, from child: IngestChild) async {
        var status = statuses[session] ?? SourceStatus()
        switch report.event {
        case .started:
            child.isPublishing = true
            let back = status.state == .lost
            status.state = .live
            status.publish = report.publish
            status.tiers = report.tiers ?? []
            status.dropped = []
            status.width = report.width
            status.height = report.height
            let size = report.width.flatMap { w in report.height.map { "\(w)x\($0)" } } ?? "?"
            note(&status, session, .init(state: .live, publish: report.publish, message: back ? "信号已恢复（\(size)）" : "开始直播（\(size)）", tiers: status.tiers))
            try? await store.published(session)
            logger.info("live publish started", metadata: ["session": "\(session)", "publish": "\(report.publish ?? 0)", "size": "\(size)"])
        case .segment:
            status.lastSegmentAt = Date()
        case .dropped:
            status.tiers = report.tiers ?? status.tiers
            if let tier = report.tier { status.dropped.append(tier) }
            note(&status, session, .init(state: .live, publish: report.publish, message: "机器跟不上，已停止 \(report.tier ?? "") 档", tiers: status.tiers))
            logger.warning("live tier dropped", metadata: ["session": "\(session)", "tier": "\(report.tier ?? "")", "reason": "\(report.message ?? "")"])
        case .stats:
            status.encoderSpeed = report.speed
            if let message = report.message { logger.info("live source", metadata: ["session": "\(session)", "message": "\(message)"]) }
        case .failed:
            child.failure = report.message
            logger.warning("live publish failed", metadata: ["session": "\(session)", "error": "\(report.message ?? "")"])
        case .ended:
            break
        }
        statuses[session] = status
    }

    private func ended(_ session: Int64, child: IngestChild, status exitStatus: Int32) async {
        if children[session] === child { children[session] = nil }
        var status = statuses[session] ?? SourceStatus()
        if child.isPublishing, status.state == .live {
            status.state = .lost
            note(&status, session, .init(state: .lost, publish: status.publish, message: "信号中断：等待录播教室重新推流", tiers: status.tiers))
            logger.notice("live source lost", metadata: ["session": "\(session)"])
        } else if let failure = child.failure, status.events.first?.message != "推流被拒绝：\(failure)" {
            // Said once: an SRT listener that keeps failing the same way (its port taken) is
            // restarted every round and must not flood the host page.
            note(&status, session, .init(state: status.state, publish: status.publish, message: "推流被拒绝：\(failure)", tiers: status.tiers))
        }
        statuses[session] = status
    }

    private func note(_ status: inout SourceStatus, _ session: Int64, _ event: LiveSourceEvent) {
        status.events.insert(event, at: 0)
        if status.events.count > 20 { status.events.removeLast(status.events.count - 20) }
        let hub = hub
        Task { await hub.publish(session, .source(event)) }
    }

    func status(of session: Int64) -> SourceStatus { statuses[session] ?? SourceStatus() }

    // MARK: - The end

    /// The session ended or was cancelled: the publish stops and the playlists end.
    func stop(_ session: Int64) async {
        if let child = children[session] {
            child.terminate()
            await child.exited()
            children[session] = nil
        }
        Self.endPlaylists(in: folder(session), live: settings.live)
        var status = statuses[session] ?? SourceStatus()
        guard status.state != .ended else { return }
        status.state = .ended
        note(&status, session, .init(state: .ended, publish: status.publish, message: "直播结束", tiers: []))
        statuses[session] = status
    }

    /// The session ended: after `stop`, the lesson becomes a recording.
    func sessionEnded(_ session: Int64, archive: Bool) async {
        await stop(session)
        if archive, !archiving.contains(session) {
            archiving.insert(session)
            await self.archive(session)
        }
    }

    /// Rewrites every tier's playlist with `EXT-X-ENDLIST`, so players stop asking for more.
    static func endPlaylists(in folder: String, live: Ladder.Live) {
        for tier in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let log = "\(folder)/\(tier)/\(LiveNames.segmentLog)"
            let segments = LiveSegmentLog.read(log)
            guard !segments.isEmpty else { continue }
            let text = live.playlist(segments, ended: true)
            let path = "\(folder)/\(tier)/\(HLSNames.mediaPlaylist)"
            if FileManager.default.createFile(atPath: path + ".new", contents: Data(text.utf8)) { _ = rename(path + ".new", path) }
        }
    }

    /// Joins what was received into the archive recording and queues it for the ladder. Safe to
    /// run again after a restart: the recording is made once, the join redone.
    func archive(_ session: Int64) async {
        defer { archiving.remove(session) }
        do {
            guard let recordingId = try await store.beginArchive(session) else { return }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder(session))) ?? []
            let parts = names.compactMap(LiveNames.publishNumber).sorted()
                .map { "\(folder(session))/\(LiveNames.publish($0))/\(LiveNames.archive)" }
                .filter { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int).map { $0 > 0 } ?? false }
            guard !parts.isEmpty else {
                try await store.archiveFailed(session, reason: "nothing was received from the recording classroom")
                return
            }
            let sourceFolder = layout.sourceFolder(recordingId)
            try FileManager.default.createDirectory(atPath: sourceFolder, withIntermediateDirectories: true)
            let output = "\(sourceFolder)/source.ts"
            let joined = IngestChild(
                executable: settings.executable, arguments: ["live-archive", "--output", output] + parts,
                environment: ProcessInfo.processInfo.environment, pipeInput: false)
            let exit = ExitBox()
            try joined.start(report: { _ in }, exit: { exit.set($0) })
            await joined.exited()
            guard exit.value == 0 else {
                try await store.archiveFailed(session, reason: "the received parts could not be joined")
                return
            }
            let info: MediaInfo
            do {
                info = try await prober.probe(source: output)
            } catch {
                try await store.archiveFailed(session, reason: "the joined lesson could not be read: \(error.message)")
                return
            }
            let (size, sha256) = try await UploadFile.digest(path: output)
            let maxAttempts = maxAttempts
            try await store.archiveAccepted(
                session, source: SourceMedia(info), path: layout.relativeSource(recordingId, name: "source.ts"), size: size,
                sha256: sha256
            ) { id, db in _ = try JobQueue.enqueue(recordingId: id, maxAttempts: maxAttempts, db) }
            logger.info("live archive queued", metadata: ["session": "\(session)", "recording": "\(recordingId)", "parts": "\(parts.count)"])
        } catch {
            logger.error("live archive failed", metadata: ["session": "\(session)", "error": "\(error)"])
        }
    }
}

extension LiveRelay.Input {
    var isRTMP: Bool { if case .rtmp = self { true } else { false } }
}

/// An exit status handed from the reading thread.
final class ExitBox: Sendable {
    private let status = Mutex<Int32?>(nil)
    func set(_ value: Int32) { status.withLock { $0 = value } }
    var value: Int32? { status.withLock { $0 } }
}

/// One `live-ingest` (or `live-archive`) child: its stdin for FLV, its stdout read line by line
/// on a thread of its own, its exit awaited.
///
/// `@unchecked Sendable`: the process is started once and then only signalled; the flags are
/// guarded by `lock`.
final class IngestChild: @unchecked Sendable {
    let process = Process()
    let input: PipeWriter?
    private let output = Pipe()
    private let lock = NSLock()
    private var _publishing = false
    private var _failure: String?
    private var done = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    var isPublishing: Bool {
        get { lock.withLock { _publishing } }
        set { lock.withLock { _publishing = newValue } }
    }

    var failure: String? {
        get { lock.withLock { _failure } }
        set { lock.withLock { _failure = newValue } }
    }

    init(executable: String, arguments: [String], environment: [String: String], pipeInput: Bool) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        if pipeInput {
            let pipe = Pipe()
            process.standardInput = pipe
            input = PipeWriter(pipe.fileHandleForWriting)
        } else {
            process.standardInput = FileHandle.nullDevice
            input = nil
        }
    }

    func start(report: @escaping @Sendable (LiveReport) -> Void, exit: @escaping @Sendable (Int32) -> Void) throws {
        try process.run()
        let reader = output.fileHandleForReading
        let thread = Thread { [self] in
            var buffer = Data()
            let decoder = JSONDecoder()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = buffer[buffer.startIndex..<newline]
                    buffer.removeSubrange(buffer.startIndex...newline)
                    if let parsed = try? decoder.decode(LiveReport.self, from: Data(line)) { report(parsed) }
                }
            }
            process.waitUntilExit()
            input?.abandon()
            exit(process.terminationStatus)
            let waiting: [CheckedContinuation<Void, Never>] = lock.withLock {
                done = true
                defer { waiters = [] }
                return waiters
            }
            for waiter in waiting { waiter.resume() }
        }
        thread.name = "lessonlink.live.child"
        thread.start()
    }

    /// Asks the child to finish (SIGTERM: it closes its segments and exits).
    func terminate() {
        input?.abandon()
        if process.isRunning { process.terminate() }
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    func exited() async {
        await withCheckedContinuation { continuation in
            let finished = lock.withLock {
                if done { return true }
                waiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }
}

/// Writes a publish's FLV into a child's stdin without ever blocking the RTMP connection: a
/// serial queue does the blocking writes, and a child that stops reading (hung, or far behind)
/// is noticed by the backlog and the publish ended, instead of the server's memory filling up.
final class PipeWriter: Sendable {
    struct Backlog: Error, CustomStringConvertible {
        var description: String { "the live relay is not keeping up with this publisher" }
    }

    /// The child ended (it refused the stream, or the session ended): the publish is over.
    struct Closed: Error, CustomStringConvertible {
        var description: String { "the live relay closed this publish" }
    }

    private let handle: FileHandle
    private let queue = DispatchQueue(label: "lessonlink.live.stdin")
    private let pending = Mutex(0)
    private let closed = Mutex(false)
    static let limit = 64 << 20

    init(_ handle: FileHandle) { self.handle = handle }

    func write(_ buffer: ByteBuffer) throws {
        let data = Data(buffer.readableBytesView)
        let backlog = pending.withLock { value in
            value += data.count
            return value
        }
        if closed.withLock({ $0 }) { throw Closed() }
        guard backlog < Self.limit else { throw Backlog() }
        queue.async { [self] in
            if !closed.withLock({ $0 }) { try? handle.write(contentsOf: data) }
            pending.withLock { $0 -= data.count }
        }
    }

    /// The publisher is done: what is queued is written, then the pipe closes (the child sees
    /// the end of the stream and closes its last segments).
    func finish() {
        queue.async { [self] in
            let wasOpen = closed.withLock { value in
                defer { value = true }
                return !value
            }
            if wasOpen { try? handle.close() }
        }
    }

    /// The child is gone or being stopped: further writes fail at once (ending the publisher's
    /// connection), queued ones are dropped, and the pipe closes.
    func abandon() {
        let wasOpen = closed.withLock { value in
            defer { value = true }
            return !value
        }
        if wasOpen { queue.async { [self] in try? handle.close() } }
    }
}
