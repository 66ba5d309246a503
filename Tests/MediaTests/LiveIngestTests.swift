import Foundation
import HLS
import Media
import Synchronization
import TestSupport
import Testing

/// The live relay's media side on files standing in for a publisher's FLV (the RTMP and SRT
/// paths are in Tests/system/test_live.py): the ladder, the playlists, a second publish, the
/// archive, and the refusals.
@Suite("Live ingest")
struct LiveIngestTests {
    /// A publisher's stream: 4 s of 640x360 H.264 with a 2 s GOP (or what `video` says) and AAC.
    static func publish(_ directory: URL, _ name: String, video: [String] = ["-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-pix_fmt", "yuv420p"], audio: Bool = true) throws -> String {
        let path = directory.appendingPathComponent(name).path
        var arguments = ["-hide_banner", "-loglevel", "error", "-y"]
        if !video.isEmpty { arguments += ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4"] }
        if audio { arguments += ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=4"] }
        arguments += video + (audio ? ["-c:a", "aac"] : []) + ["-f", "flv", path]
        try runTool("ffmpeg", arguments)
        return path
    }

    static var ladder: Ladder {
        var ladder = Ladder.default
        ladder.video.append(Ladder.VideoTier(name: "240p", height: 240, crf: 23, maxRate: 400_000, bufferSize: 800_000))
        ladder.live.tiers = ["240p"]
        return ladder
    }

    static func run(_ input: String, into folder: URL, ladder: Ladder = ladder) throws(MediaError) -> [LiveReport] {
        let reports = Mutex<[LiveReport]>([])
        var settings = LiveIngestSettings(input: input, format: "flv", protocols: "file", directory: folder.path, ladder: ladder, threads: 2)
        settings.paced = false
        try LiveIngest(settings: settings) { report in reports.withLock { $0.append(report) } }.run()
        return reports.withLock { $0 }
    }

    @Test("A publish becomes dated CMAF segments in every tier; the next publish continues after a seam; the archive joins both")
    func publishTwice() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = try Self.publish(scratch, "publish.flv")
        let live = scratch.appendingPathComponent("live")

        let before = Date().timeIntervalSince1970
        let first = try Self.run(input, into: live)
        let started = try #require(first.first { $0.event == .started })
        #expect(started.publish == 1 && started.tiers == ["source", "240p", "audio"] && started.width == 640)
        #expect(first.last?.event == .ended)
        let segments = first.filter { $0.event == .segment && $0.tier == "source" }
        #expect(segments.count == 2)
        // Dated by this machine's clock when the packets arrived (read here as fast as the disk allows).
        for segment in segments { #expect(abs((segment.date ?? 0) - before) < 30) }
        #expect(segments.allSatisfy { abs(($0.duration ?? 0) - 2) < 0.05 })

        _ = try Self.run(input, into: live)
        let playlist = try String(contentsOf: live.appendingPathComponent("source/index.m3u8"), encoding: .utf8)
        #expect(playlist.contains("#EXT-X-MAP:URI=\"e1/init.mp4\"") && playlist.contains("#EXT-X-MAP:URI=\"e2/init.mp4\""))
        #expect(playlist.components(separatedBy: "#EXT-X-DISCONTINUITY\n").count == 2)
        #expect(playlist.components(separatedBy: "#EXT-X-PROGRAM-DATE-TIME:").count == 5)
        #expect(!playlist.contains("#EXT-X-ENDLIST"))

        // A real HLS client reads the master and every variant: the source as it was sent, 240p encoded.
        let master = live.appendingPathComponent("master.m3u8").path
        let streams = try runTool("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", master])
        #expect(streams.contains("h264,640,360") && streams.contains("h264,426,240") && streams.contains("aac"))
        let text = try String(contentsOfFile: master, encoding: .utf8)
        #expect(text.contains("RESOLUTION=640x360") && text.contains("RESOLUTION=426x240") && text.contains("TYPE=AUDIO"))

        // The archive: both publishes, one after the other, nothing re-encoded.
        let joined = scratch.appendingPathComponent("joined.ts").path
        let seconds = try LiveArchive.join(
            parts: [live.appendingPathComponent("e1/archive.ts").path, live.appendingPathComponent("e2/archive.ts").path], output: joined)
        #expect(abs(seconds - 8) < 0.5)
        let probed = try runTool("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", joined])
        #expect(abs((Double(probed.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) - 8) < 0.5)
    }

    @Test("A stream the relay cannot pass on is refused with the reason")
    func refusals() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let live = scratch.appendingPathComponent("live")
        let cases: [(String, [String], Bool, Ladder, String)] = [
            ("sound.flv", [], true, Self.ladder, "no video"),
            ("sorenson.flv", ["-c:v", "flv1"], true, Self.ladder, "publish H.264"),
            ("tall.flv", ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"], false, { var l = Self.ladder; l.live.maxHeight = 240; return l }(), "up to 240 lines"),
        ]
        for (name, video, audio, ladder, reason) in cases {
            let input = try Self.publish(scratch, name, video: video, audio: audio)
            do {
                _ = try Self.run(input, into: live, ladder: ladder)
                Issue.record("\(name) was taken")
            } catch {
                #expect(error.description.contains(reason), "\(name): \(error)")
            }
        }
        // Nothing was published: no publish folder claimed, no playlist.
        #expect(!FileManager.default.fileExists(atPath: live.appendingPathComponent("master.m3u8").path))
    }
}
