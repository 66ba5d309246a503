import Catalog
import GRDB
import Hummingbird
import Prometheus

/// The server's Prometheus metrics. A registry per application (rather than the global
/// MetricsSystem) so that tests can build many apps in one process.
struct ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let uploadsInProgress: Gauge
    let bytesReceived: Counter

    init() {
        registry = PrometheusCollectorRegistry()
        uploadsInProgress = registry.makeGauge(name: "lessonlink_uploads_in_progress", help: "tus PATCH requests streaming now")
        bytesReceived = registry.makeCounter(name: "lessonlink_upload_bytes_received_total", help: "upload bytes received")
    }

    func request(method: String, status: Int, seconds: Double) {
        registry.makeCounter(
            name: "lessonlink_http_requests_total", labels: [("method", method), ("status", "\(status)")],
            help: "HTTP requests answered"
        ).increment()
        registry.makeDurationHistogram(
            name: "lessonlink_http_request_duration_seconds", labels: [("method", method)],
            buckets: [.milliseconds(5), .milliseconds(20), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10)],
            help: "time to answer"
        ).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Sets the transcode-queue gauges from the database: the worker may be another process, so
    /// the queue is read at scrape time rather than counted in memory.
    func updateQueue(_ database: AppDatabase) async throws {
        let counts = try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS count FROM transcodeJob GROUP BY state")
        }
        var byState: [String: Int] = [:]
        for row in counts { byState[row["state"]] = row["count"] }
        for state in TranscodeJob.State.allCases {
            registry.makeGauge(
                name: "lessonlink_transcode_jobs", labels: [("state", state.rawValue)], help: "transcode jobs by state"
            ).set(Double(byState[state.rawValue] ?? 0))
        }
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
