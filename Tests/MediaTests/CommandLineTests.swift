import Foundation
import TestSupport
import Testing

/// Runs the CLI from the repository root; returns exit status, stdout and stderr.
func runCLI(_ arguments: [String]) throws -> ProcessResult {
    try runProcess(try lessonlinkBinary(), arguments, in: repositoryRoot)
}

@Suite("Command line")
struct CommandLineTests {
    @Test("probe prints the streams, or JSON that decodes")
    func probe() async throws {
        let clip = try await Fixtures.shared.path("clip.mp4")
        let text = try runCLI(["probe", clip])
        #expect(text.status == 0)
        #expect(text.out.contains("video h264 (High), 640x360, 25.000 fps"))
        #expect(text.out.contains("audio aac (LC), 44100 Hz, mono"))
        let json = try runCLI(["probe", clip, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        #expect((object?["streams"] as? [Any])?.count == 2)
    }

    @Test("Errors go to stderr with a non-zero status")
    func errors() async throws {
        let notes = try await Fixtures.shared.path("notes.txt")
        let result = try runCLI(["probe", notes])
        #expect(result.status != 0)
        #expect(result.out.isEmpty)
        #expect(result.err.contains("opening the input: not a recognised audio or video file"))
        let badLadder = try runCLI(["transcode", notes, "--out", "/tmp/never", "--ladder", "/nonexistent.yaml"])
        #expect(badLadder.status != 0 && badLadder.err.contains("reading /nonexistent.yaml: there is no such file"))
    }

    @Test("transcode shows progress lines when not on a terminal and ends with a summary")
    func transcode() async throws {
        let clip = try await Fixtures.shared.path("clip.mp4")
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("lesson").path
        let result = try runCLI(["transcode", clip, "--out", out])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.err.contains("progress 100%"))
        #expect(result.out.contains("360p     640x360"))
        #expect(result.out.contains("x real time"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/master.m3u8"))
    }

    @Test("transcode works from any folder: away from config/, the built-in ladder")
    func transcodeElsewhere() async throws {
        let clip = try await Fixtures.shared.path("clip.mp4")
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let result = try runProcess(try lessonlinkBinary(), ["transcode", clip, "--out", "lesson"], in: scratch)
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("360p     640x360"))
        #expect(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("lesson/master.m3u8").path))
    }
}
