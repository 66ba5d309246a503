import Catalog
import Sessions
import Transcoding
import Hummingbird
import Prometheus

/// The server's Prometheus metrics. A registry per application (rather than the global
/// MetricsSystem) so that tests can build many apps in one process.
struct ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let uploadsInProgress: Gauge
    let bytesReceived: Counter
    let stallSeconds: Counter

    init() {
        registry = PrometheusCollectorRegistry()
        uploadsInProgress = registry.makeGauge(descriptor: Self.name("lessonlink_uploads_in_progress", "tus PATCH requests streaming now"))
        bytesReceived = registry.makeCounter(descriptor: Self.name("lessonlink_upload_bytes_received_total", "upload bytes received"))
        stallSeconds = registry.makeCounter(
            descriptor: Self.name("lessonlink_session_stall_seconds_total", "seconds classroom players reported stalled in sessions"))
    }

    /// A metric's full name (our names already carry their unit) and its help text.
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func request(method: String, status: Int, seconds: Double) {
        registry.makeCounter(
            descriptor: Self.name("lessonlink_http_requests_total", "HTTP requests answered"),
            labels: [("method", method), ("status", "\(status)")]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("lessonlink_http_request_duration_seconds", "time to answer"), labels: [("method", method)],
            buckets: [.milliseconds(5), .milliseconds(20), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10)]
        ).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Sets the transcode-queue gauges from the database: the worker may be another process, so
    /// the queue is read at scrape time rather than counted in memory.
    func updateQueue(_ queue: JobQueue) async throws {
        let byState = try await queue.countsByState()
        for state in TranscodeJob.State.allCases {
            registry.makeGauge(
                descriptor: Self.name("lessonlink_transcode_jobs", "transcode jobs by state"), labels: [("state", state.rawValue)]
            ).set(Double(byState[state] ?? 0))
        }
    }

    /// The storage's free space (and whether it is below `storage.minFreePercent`), and the last
    /// scheduled backup, read at scrape time.
    func updateHousekeeping(storage: DiskSpace?, backup: BackupStatus.Snapshot) {
        if let storage {
            registry.makeGauge(descriptor: Self.name("lessonlink_storage_free_bytes", "bytes free on the storage root's disk"))
                .set(Double(storage.freeBytes))
            registry.makeGauge(descriptor: Self.name("lessonlink_storage_total_bytes", "size of the storage root's disk"))
                .set(Double(storage.totalBytes))
            registry.makeGauge(descriptor: Self.name("lessonlink_storage_low", "1 when free space is below storage.minFreePercent"))
                .set(storage.low ? 1.0 : 0.0)
        }
        if let success = backup.lastSuccessAt {
            registry.makeGauge(
                descriptor: Self.name("lessonlink_backup_last_success_timestamp_seconds", "when the last scheduled backup finished")
            ).set(success.timeIntervalSince1970)
        }
        registry.makeGauge(descriptor: Self.name("lessonlink_backup_failing", "1 when the last scheduled backup failed"))
            .set(backup.lastError == nil ? 0.0 : 1.0)
    }

    /// Sessions playing or paused (from the database) and classrooms with an open event stream
    /// (this process's streams), read at scrape time.
    func updateSessions(_ store: SyncSessionStore, _ hub: SessionHub) async throws {
        registry.makeGauge(descriptor: Self.name("lessonlink_sessions_running", "synchronized sessions playing or paused"))
            .set(Double(try await store.runningCount()))
        registry.makeGauge(descriptor: Self.name("lessonlink_session_classrooms_joined", "classrooms following a session now"))
            .set(Double(await hub.joinedClassrooms()))
    }

    func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// Counts every request and its latency, errors included.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.request(method: request.method.rawValue, status: response.status.code, seconds: elapsed(since: start))
            return response
        } catch let error as any HTTPResponseError {
            metrics.request(method: request.method.rawValue, status: error.status.code, seconds: elapsed(since: start))
            throw error
        }
    }

    private func elapsed(since start: ContinuousClock.Instant) -> Double {
        let duration = ContinuousClock.now - start
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
