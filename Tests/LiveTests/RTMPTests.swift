import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Live

/// Runs a program without holding a thread of the cooperative pool (the listener needs them);
/// its output and errors go through files, so neither pipe can fill up.
func run(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let files = (0..<2).map { _ in FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)") }
    defer { for file in files { try? FileManager.default.removeItem(at: file) } }
    let handles = try files.map { file in
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        return try FileHandle(forWritingTo: file)
    }
    process.standardOutput = handles[0]
    process.standardError = handles[1]
    try process.run()
    while process.isRunning { try await Task.sleep(for: .milliseconds(25)) }
    for handle in handles { try handle.close() }
    let texts = files.map { (try? String(contentsOf: $0, encoding: .utf8)) ?? "" }
    return (process.terminationStatus, texts[0], texts[1])
}

/// Collects one publish's FLV bytes in memory.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()
    private(set) var finished = false
    func append(_ buffer: ByteBuffer) { lock.withLock { bytes.append(contentsOf: buffer.readableBytesView) } }
    func finish() { lock.withLock { finished = true } }
    var data: Data { lock.withLock { bytes } }
}

@Suite("RTMP ingest")
struct RTMPTests {
    @Test("AMF0 values survive encoding and decoding")
    func amf() throws {
        let values: [AMF0] = [
            "publish", .number(5), .null, .object([("app", "live"), ("tcUrl", "rtmp://x/live"), ("n", .number(-1.5)), ("b", .boolean(true))]),
            .ecmaArray([("duration", .number(0))]), .strictArray([.undefined, "课"]),
        ]
        #expect(try AMF0.decodeAll(AMF0.encode(values)) == values)
        #expect(throws: AMF0.DecodingError.truncated) { try AMF0.decodeAll(ByteBuffer(bytes: [0x02, 0x00, 0x05, 0x61])) }
    }

    @Test("A bad version, and garbage, end only their own connection")
    func garbage() throws {
        var connection = RTMPConnection()
        #expect(throws: RTMPError.badVersion(0x47)) { try connection.receive(ByteBuffer(string: "GET / HTTP/1.1\r\n" + String(repeating: "x", count: 1600))) }
    }

    @Test("ffmpeg publishes over RTMP with the right key: the stream arrives as FLV that ffprobe reads; a wrong key is refused")
    func publish() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rtmp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let collected = Collected()
        let refusals = Collected()
        let listener = RTMPListener(host: "127.0.0.1", port: 0, logger: Logger(label: "rtmp-test")) { app, key in
            guard app == "live", key == "k7Qx-secret" else {
                refusals.append(ByteBuffer(string: "\(app)/\(key)\n"))
                return .failure(.init("unknown stream key"))
            }
            return .success(RTMPPublish(write: { collected.append($0) }, finish: { collected.finish() }))
        }
        let port = Mutex<Int?>(nil)
        let server = Task { try await listener.run { bound in port.withLock { $0 = bound } } }
        defer { server.cancel() }
        for _ in 0..<200 where port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(25)) }
        let bound = try #require(port.withLock { $0 })
        func publish(_ key: String) async throws -> (status: Int32, out: String, err: String) {
            try await run(
                "ffmpeg",
                [
                    "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-f", "flv", "rtmp://127.0.0.1:\(bound)/live/\(key)",
                ])
        }
        let wrong = try await publish("guessed")
        #expect(wrong.status != 0)
        #expect(String(decoding: refusals.data, as: UTF8.self) == "live/guessed\n")
        #expect(collected.data.isEmpty)

        let right = try await publish("k7Qx-secret")
        #expect(right.status == 0, "\(right.err)")
        // The publish ends when ffmpeg closes its stream.
        for _ in 0..<400 where !collected.finished { try await Task.sleep(for: .milliseconds(25)) }
        #expect(collected.finished)
        let file = folder.appendingPathComponent("published.flv")
        try collected.data.write(to: file)
        let probe = try await run(
            "ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width:format=duration", "-of", "default=nw=1", file.path]
        ).out
        #expect(probe.contains("codec_name=h264") && probe.contains("codec_name=aac") && probe.contains("width=320"), "\(probe)")
        let duration = probe.split(separator: "\n").first { $0.hasPrefix("duration=") }.flatMap { Double($0.dropFirst(9)) } ?? 0
        #expect(duration > 1.5 && duration < 2.6, "\(probe)")
    }
}
