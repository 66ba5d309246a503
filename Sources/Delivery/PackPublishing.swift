import Catalog
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Publishing packs with progress that anyone watching can follow, now or in the background.
///
/// A version of a pack with several 45-minute lessons is gigabytes to read, hash and link, so a
/// publish can take a while: `publish` runs it within the caller's request, `start` hands it to
/// this service and returns at once (`Prefer: respond-async`, RFC 7240). Either way the pack's
/// `PublishStatus` moves through `queued → publishing → published | failed` with the items done,
/// for the pages' progress bar (Server-Sent Events). Statuses live in memory: a publish cut off
/// by a restart leaves the draft a draft, to be published again.
public final class PackPublishing: Service, Sendable {
    /// Where a pack's latest publish is.
    public struct PublishStatus: Codable, Sendable, Equatable {
        /// `idle`: nothing published since the server started (the pack's versions say what exists).
        public enum State: String, Codable, Sendable { case idle, queued, publishing, published, failed }
        public var pack: Int64
        public var state: State
        public var itemsDone: Int
        public var items: Int
        /// The version made, once published.
        public var version: Int?
        public var manifestSha256: String?
        public var fileCount: Int?
        public var totalSize: Int64?
        /// Why it failed, in words for the teacher.
        public var error: String?
        public var updatedAt: Date

        public var isFinished: Bool { state == .published || state == .failed || state == .idle }

        /// The status of a pack with no publish since the server started.
        public static func idle(pack: Int64, at now: Date = Date()) -> PublishStatus {
            PublishStatus(pack: pack, state: .idle, itemsDone: 0, items: 0, updatedAt: now)
        }
    }

    struct Job: Sendable {
        var plan: PackPublisher.Plan
        var viewer: Viewer
    }

    public let publisher: PackPublisher
    /// The object store, when media lives in one.
    public let bucket: PackBucket?
    let logger: Logger
    private let statuses = Mutex<[Int64: PublishStatus]>([:])
    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    public init(publisher: PackPublisher, bucket: PackBucket? = nil, logger: Logger) {
        self.publisher = publisher
        self.bucket = bucket
        self.logger = logger
        (jobs, continuation) = AsyncStream.makeStream()
    }

    public func run() async throws {
        for await job in jobs.cancelOnGracefulShutdown() {
            _ = try? await execute(job)
        }
    }

    /// The pack's latest publish, if one ran since the server started.
    public func status(pack: Int64) -> PublishStatus? { statuses.withLock { $0[pack] } }

    /// Checks the draft can be published (throws `PackError` at once if not) and queues it.
    /// Refuses a second publish of the same pack while one is under way.
    public func start(_ packId: Int64, by viewer: Viewer) async throws -> PublishStatus {
        let plan = try await prepare(packId, by: viewer)
        let status = PublishStatus(pack: packId, state: .queued, itemsDone: 0, items: plan.itemCount, updatedAt: Date())
        statuses.withLock { $0[packId] = status }
        continuation.yield(Job(plan: plan, viewer: viewer))
        return status
    }

    /// Publishes the draft now, within the caller's task, with the same progress.
    public func publish(_ packId: Int64, by viewer: Viewer) async throws -> PackVersion {
        let plan = try await prepare(packId, by: viewer)
        return try await execute(Job(plan: plan, viewer: viewer))
    }

    private func prepare(_ packId: Int64, by viewer: Viewer) async throws -> PackPublisher.Plan {
        if let current = status(pack: packId), !current.isFinished {
            throw PackError.conflict("this pack is being published already; wait for it to finish")
        }
        return try await publisher.prepare(packId, by: viewer)
    }

    @discardableResult
    private func execute(_ job: Job) async throws -> PackVersion {
        let pack = job.plan.packId
        statuses.withLock {
            $0[pack] = PublishStatus(pack: pack, state: .publishing, itemsDone: 0, items: job.plan.itemCount, updatedAt: Date())
        }
        do {
            let publisher = self.publisher
            try await bucket?.fetch(job.plan)
            // Hashing and linking every file reads them all: the thread pool, not the event loop.
            let assembled = try await NIOThreadPool.singleton.runIfActive { [self] in
                try publisher.assemble(job.plan, viewer: job.viewer) { done, _ in
                    update(pack) { $0.itemsDone = done }
                }
            }
            try await bucket?.upload(assembled, from: publisher.store)
            let version = try await publisher.commit(assembled, by: job.viewer)
            update(pack) { status in
                status.state = .published
                status.version = version.number
                status.manifestSha256 = version.manifestSha256
                status.fileCount = version.fileCount
                status.totalSize = version.totalSize
            }
            logger.info("pack published", metadata: ["pack": "\(pack)", "version": "\(version.number)"])
            return version
        } catch {
            let message = (error as? PackError).map(\.message) ?? "publishing failed: \(error)"
            update(pack) { status in
                status.state = .failed
                status.error = message
            }
            logger.warning("pack publishing failed", metadata: ["pack": "\(pack)", "error": "\(message)"])
            throw error
        }
    }

    /// Changes the status of a publish under way (`execute` made it) and stamps the time.
    private func update(_ pack: Int64, _ change: (inout PublishStatus) -> Void) {
        statuses.withLock { statuses in
            guard var status = statuses[pack] else { return }
            change(&status)
            status.updatedAt = Date()
            statuses[pack] = status
        }
    }
}
