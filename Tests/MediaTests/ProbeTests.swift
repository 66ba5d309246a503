import Foundation
import TestSupport
import Media
import Testing

@Suite("Probing")
struct ProbeTests {
    @Test("A recording with sound: container, duration and every stream property")
    func clip() async throws {
        let info = try MediaInfo.probe(try await Fixtures.shared.path("clip.mp4"))
        #expect(info.container.contains("mp4"))
        #expect(abs((info.duration ?? 0) - 3.0) < 0.05)
        #expect((info.bitRate ?? 0) > 0)
        #expect(info.size == Int64(try FileManager.default.attributesOfItem(atPath: try await Fixtures.shared.path("clip.mp4"))[.size] as! Int))
        let video = try #require(info.primaryVideo?.video)
        #expect(info.primaryVideo?.codec == "h264")
        #expect(info.primaryVideo?.profile == "High")
        #expect(video.width == 640 && video.height == 360)
        #expect(video.frameRate == Rational(25, 1))
        #expect(video.pixelFormat == "yuv420p")
        #expect(video.fieldOrder == .progressive)
        #expect(video.rotation == 0)
        #expect(video.sampleAspectRatio == Rational(1, 1))
        let audio = try #require(info.primaryAudio)
        #expect(audio.codec == "aac" && audio.profile == "LC")
        #expect(audio.audio == AudioDetails(channels: 1, channelLayout: "mono", sampleRate: 44100, sampleFormat: "fltp"))
        #expect(audio.language == "und")
    }

    @Test("MediaInfo survives a JSON round trip unchanged")
    func json() async throws {
        let info = try MediaInfo.probe(try await Fixtures.shared.path("clip.mp4"))
        let decoded = try JSONDecoder().decode(MediaInfo.self, from: try JSONEncoder().encode(info))
        #expect(decoded == info)
    }

    @Test("Interlaced field order is reported")
    func interlaced() async throws {
        let info = try MediaInfo.probe(try await Fixtures.shared.path("interlaced.mp4"))
        #expect(info.primaryVideo?.video?.fieldOrder == .topFieldFirst)
    }

    @Test("Rotation agrees with ffprobe's display matrix")
    func rotation() async throws {
        let path = try await Fixtures.shared.path("rotated.mp4")
        let reference = try ffprobe(path, ["-select_streams", "v", "-show_entries", "stream_side_data=rotation"])
        let sideData = ((reference["streams"] as? [[String: Any]])?.first?["side_data_list"] as? [[String: Any]])?.first
        let counterClockwise = try #require(sideData?["rotation"] as? Int)
        let info = try MediaInfo.probe(path)
        #expect(info.primaryVideo?.video?.rotation == ((-counterClockwise % 360) + 360) % 360)
        #expect(info.primaryVideo?.video?.rotation != 0)
    }

    @Test("Odd sizes and other codecs are described as they are")
    func odd() async throws {
        let info = try MediaInfo.probe(try await Fixtures.shared.path("odd.mkv"))
        #expect(info.container.contains("matroska"))
        #expect(info.primaryVideo?.codec == "ffv1")
        #expect(info.primaryVideo?.video?.width == 321 && info.primaryVideo?.video?.height == 181)
        #expect(info.primaryVideo?.video?.pixelFormat == "yuv444p")
        #expect(info.primaryAudio == nil)
    }

    @Test("Audio-only files have no picture")
    func audioOnly() async throws {
        let info = try MediaInfo.probe(try await Fixtures.shared.path("audio.m4a"))
        #expect(info.primaryVideo == nil)
        #expect(info.primaryAudio?.codec == "aac")
    }

    @Test(
        "Files that are not media fail with a clear message",
        arguments: [
            ("random.bin", MediaError.Reason.notMedia, "not a recognised audio or video file"),
            ("empty.mp4", .notMedia, "not a recognised audio or video file"),
            ("notes.txt", .notMedia, "not a recognised audio or video file"),
            ("no-moov.mp4", .notMedia, "moov atom not found"),
        ])
    func notMedia(_ fixture: String, _ reason: MediaError.Reason, _ message: String) async throws {
        let path = try await Fixtures.shared.path(fixture)
        let error = #expect(throws: MediaError.self) { try MediaInfo.probe(path) }
        #expect(error?.reason == reason)
        #expect(error?.step == "opening the input")
        #expect(error?.message.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test("A missing file says so")
    func missing() {
        let error = #expect(throws: MediaError.self) { try MediaInfo.probe("/nonexistent/lesson.mp4") }
        #expect(error?.reason == .io)
        #expect(error?.message == "no such file: /nonexistent/lesson.mp4")
    }
}
