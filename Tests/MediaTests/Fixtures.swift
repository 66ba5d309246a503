import Foundation
import TestSupport
import Synchronization
import Media
import Testing

/// Test media, generated with the ffmpeg CLI at test time (never committed) and shared by every
/// test in the run. All small: 2–4 s, at most 640x360.
actor Fixtures {
    static let shared = Fixtures()

    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lessonlink-fixtures-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    private var tasks: [String: Task<String, any Error>] = [:]

    /// The path of fixture `name`, generating it on first use.
    func path(_ name: String) async throws -> String {
        if let task = tasks[name] { return try await task.value }
        let directory = directory.path
        let task = Task { try Self.made(name, directory) }
        tasks[name] = task
        return try await task.value
    }

    private static let source = "testsrc2=size=640x360:rate=25:duration=3"
    private static let tone = "sine=frequency=440:sample_rate=44100:duration=3"

    private static func make(_ name: String, at target: String, directory: String) throws {
        switch name {
        case "clip.mp4":
            // 640x360 H.264 + mono 44.1 kHz AAC: resampling and upmixing are exercised too.
            try ffmpeg(["-f", "lavfi", "-i", source, "-f", "lavfi", "-i", tone] + h264 + ["-c:a", "aac", "-shortest", target])
        case "faststart.mp4":
            try ffmpeg(["-f", "lavfi", "-i", source, "-f", "lavfi", "-i", tone] + h264 + ["-c:a", "aac", "-shortest", "-movflags", "+faststart", target])
        case "recorder.mp4":
            // What a recording classroom's box writes: H.264 High with B-frames, a closed GOP every
            // 0.4 s (10 frames), its rate capped under the test ladder's 360p tier.
            try ffmpeg(
                ["-f", "lavfi", "-i", source, "-f", "lavfi", "-i", tone] + h264
                    + ["-g", "10", "-keyint_min", "10", "-sc_threshold", "0", "-b:v", "500k", "-maxrate", "600k", "-bufsize", "600k",
                       "-c:a", "aac", "-shortest", target])
        case "silent.mp4":
            try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3"] + h264 + [target])
        case "audio.m4a":
            try ffmpeg(["-f", "lavfi", "-i", tone, "-c:a", "aac", target])
        case "interlaced.mp4":
            try ffmpeg(
                ["-f", "lavfi", "-i", source, "-vf", "setfield=tff", "-flags", "+ildct+ilme", "-c:v", "libx264",
                 "-preset", "veryfast", "-x264-params", "tff=1", "-pix_fmt", "yuv420p", target])
        case "rotated.mp4":
            // The rotate tag becomes a display matrix when stream-copied: players turn the picture.
            try ffmpeg(["-i", try made("clip.mp4", directory), "-c", "copy", "-metadata:s:v:0", "rotate=90", target])
        case "odd.mkv":
            // Odd dimensions need a codec that allows them: FFV1 in 4:4:4.
            try ffmpeg(["-f", "lavfi", "-i", source, "-vf", "scale=321:181", "-pix_fmt", "yuv444p", "-c:v", "ffv1", target])
        case "random.bin":
            try Data((0..<200_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: target))
        case "empty.mp4":
            try Data().write(to: URL(fileURLWithPath: target))
        case "notes.txt":
            try Data("第一课 秋天的雨\nLesson plan: read the text aloud twice.\n".utf8).write(to: URL(fileURLWithPath: target))
        case "truncated.mp4":
            // moov up front, then the media data cut in half: the header promises more than is there.
            let whole = try Data(contentsOf: URL(fileURLWithPath: try made("faststart.mp4", directory)))
            try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: target))
        case "no-moov.mp4":
            // The usual truncation of a recording that was still being written: no moov at the end.
            let whole = try Data(contentsOf: URL(fileURLWithPath: try made("clip.mp4", directory)))
            try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: target))
        case "garbage-payload.mp4":
            // A valid MP4 header whose media data is random bytes: demuxes, cannot be decoded.
            var data = try Data(contentsOf: URL(fileURLWithPath: try made("faststart.mp4", directory)))
            guard let mdat = data.range(of: Data("mdat".utf8)) else { throw TestFailure("no mdat in faststart.mp4") }
            for i in (mdat.upperBound + 16)..<data.count { data[i] = UInt8.random(in: 0...255) }
            try data.write(to: URL(fileURLWithPath: target))
        default:
            throw TestFailure("unknown fixture \(name)")
        }
    }

    private static let h264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]

    /// The fixture's path, made if missing. Written under a temporary name and renamed into place,
    /// so a test never reads a half-written file.
    private static func made(_ name: String, _ directory: String) throws -> String {
        let path = "\(directory)/\(name)"
        if !FileManager.default.fileExists(atPath: path) {
            let partial = "\(directory)/.\(UUID().uuidString)-\(name)"
            defer { try? FileManager.default.removeItem(atPath: partial) }
            try make(name, at: partial, directory: directory)
            if rename(partial, path) != 0 && !FileManager.default.fileExists(atPath: path) {
                throw TestFailure("could not place \(name)")
            }
        }
        return path
    }

    static func ffmpeg(_ arguments: [String]) throws {
        try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y"] + arguments)
    }

    /// Runs a tool and returns its standard output; throws with its stderr when it fails.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String { try runTool(tool, arguments) }
}

/// What ffprobe (the independent reference) says about a file, as JSON.
func ffprobe(_ path: String, _ arguments: [String]) throws -> [String: Any] {
    let text = try Fixtures.run("ffprobe", ["-v", "error", "-of", "json"] + arguments + [path])
    return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
}
