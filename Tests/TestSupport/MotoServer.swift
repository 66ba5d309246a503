public import Foundation
public import ObjectStorage

/// One moto S3 server (PyPI's `moto[server]`) for the suite, on a port of its own. It stops with
/// the test process: the shell that starts it reads a pipe only this process writes to, and ends
/// the server when the pipe closes — at this process's exit, however it ends.
public final class MotoServer: Sendable {
    public let endpoint: URL
    public let port: Int
    /// Held open for the life of the process.
    let lifeline: Pipe

    public static let shared: MotoServer = {
        let port = Int.random(in: 20_000...60_000)
        let lifeline = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "moto_server -H 127.0.0.1 -p \(port) >/dev/null 2>&1 </dev/null & child=$!; cat >/dev/null; kill -9 $child"]
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try! process.run()
        return MotoServer(port: port, lifeline: lifeline)
    }()

    init(port: Int, lifeline: Pipe) {
        self.port = port
        self.lifeline = lifeline
        endpoint = URL(string: "http://127.0.0.1:\(port)")!
    }

    /// A new bucket for one test (moto keeps buckets in memory).
    public func bucket(partSize: Int = 5 << 20) async throws -> S3Bucket {
        let location = S3Location(
            endpoint: endpoint, bucket: "test-\(UUID().uuidString.lowercased().prefix(18))", region: "us-east-1",
            credentials: .init(accessKey: "testing", secretKey: "testing"))
        let bucket = S3Bucket(location: location, partSize: partSize)
        try await eventually(30) { (try? await bucket.create()) != nil }
        return bucket
    }
}

