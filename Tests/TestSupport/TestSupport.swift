public import Foundation
import Synchronization

// What every test target shares: where the repository and the built binaries are, one way to run
// a program, scratch folders, and waiting for background work.

/// The repository's root folder.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A test's precondition that did not hold (a tool missing, a child that failed).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A built executable of this package (`lessonlink`, `lessonlink-mirror`): next to the running
/// test bundle (`swift build --build-tests` puts them there), else in `.build/debug`.
public func builtBinary(_ name: String = "lessonlink") throws -> URL {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    let fallback = repositoryRoot.appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: fallback.path) else {
        throw TestFailure("\(name) is not built; run swift build --build-tests first")
    }
    return fallback
}

/// The `lessonlink` binary (it runs the transcode and probe children, and the CLI tests).
public func lessonlinkBinary() throws -> URL { try builtBinary("lessonlink") }

/// What a finished program left.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var out: String
    public var err: String
}

/// Runs a program to completion. Standard output and standard error are read at the same time,
/// so a child that writes a lot to either never blocks on a full pipe.
public func runProcess(
    _ executable: URL, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let errorData = Mutex(Data())
    let errorsRead = DispatchSemaphore(value: 0)
    Thread {
        errorData.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() }
        errorsRead.signal()
    }.start()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    errorsRead.wait()
    return ProcessResult(
        status: process.terminationStatus, out: String(decoding: out, as: UTF8.self),
        err: String(decoding: errorData.withLock { $0 }, as: UTF8.self))
}

/// Runs a tool found on the PATH (`ffmpeg`, `python3`) and returns its standard output; throws
/// with its standard error when it fails.
@discardableResult
public func runTool(_ tool: String, _ arguments: [String], in directory: URL? = nil) throws -> String {
    let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), [tool] + arguments, in: directory)
    guard result.status == 0 else { throw TestFailure("\(tool) \(arguments.prefix(3).joined(separator: " ")) …: \(result.err)") }
    return result.out
}

/// A fresh, empty scratch folder for one test.
public func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Polls until `condition` holds (background work such as upload processing), or fails after `seconds`.
public func eventually(_ seconds: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("condition not met within \(seconds) s")
}
