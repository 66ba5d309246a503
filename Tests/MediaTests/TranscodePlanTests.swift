import Media
import Testing

@Suite("Transcode plan")
struct TranscodePlanTests {
    static func source(
        width: Int, height: Int, sar: Rational = Rational(1, 1), rotation: Int = 0, fps: Rational = Rational(25, 1),
        fieldOrder: VideoDetails.FieldOrder = .progressive, audio: Bool = true
    ) -> MediaInfo {
        var streams = [
            StreamInfo(
                index: 0, kind: .video, codec: "h264",
                video: VideoDetails(
                    width: width, height: height, sampleAspectRatio: sar, rotation: rotation, frameRate: fps,
                    pixelFormat: "yuv420p", fieldOrder: fieldOrder))
        ]
        if audio {
            streams.append(
                StreamInfo(
                    index: 1, kind: .audio, codec: "aac",
                    audio: AudioDetails(channels: 2, channelLayout: "stereo", sampleRate: 48000, sampleFormat: "fltp")))
        }
        return MediaInfo(container: "mov", duration: 60, bitRate: nil, size: nil, streams: streams)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var info: MediaInfo
        var tiers: [String]
        var sizes: [String]
        var testDescription: String { name }
    }

    @Test(
        "Tiers never upscale, keep the aspect ratio and have even sizes",
        arguments: [
            Case(name: "1080p classroom recording", info: source(width: 1920, height: 1080),
                 tiers: ["1080p", "720p", "480p", "360p"], sizes: ["1920x1080", "1280x720", "854x480", "640x360"]),
            Case(name: "720p source drops 1080p", info: source(width: 1280, height: 720),
                 tiers: ["720p", "480p", "360p"], sizes: ["1280x720", "854x480", "640x360"]),
            Case(name: "900 lines sits between tiers and stays the top tier", info: source(width: 1600, height: 900),
                 tiers: ["900p", "720p", "480p", "360p"], sizes: ["1600x900", "1280x720", "854x480", "640x360"]),
            Case(name: "smaller than every tier keeps its own size", info: source(width: 320, height: 240),
                 tiers: ["240p"], sizes: ["320x240"]),
            Case(name: "odd dimensions become even", info: source(width: 321, height: 181),
                 tiers: ["180p"], sizes: ["320x180"]),
            Case(name: "portrait phone recording compares its short side", info: source(width: 1080, height: 1920),
                 tiers: ["1080p", "720p", "480p", "360p"], sizes: ["1080x1920", "720x1280", "480x854", "360x640"]),
            Case(name: "rotation is applied to the size", info: source(width: 1280, height: 720, rotation: 90),
                 tiers: ["720p", "480p", "360p"], sizes: ["720x1280", "480x854", "360x640"]),
            Case(name: "anamorphic PAL DVD uses its display aspect", info: source(width: 720, height: 576, sar: Rational(16, 15)),
                 tiers: ["576p", "480p", "360p"], sizes: ["768x576", "640x480", "480x360"]),
        ])
    func videoTiers(_ example: Case) throws {
        let plan = try TranscodePlan(source: example.info, ladder: .default)
        #expect(plan.video.map(\.tier.name) == example.tiers)
        #expect(plan.video.map { "\($0.width)x\($0.height)" } == example.sizes)
        #expect(plan.video.allSatisfy { $0.width % 2 == 0 && $0.height % 2 == 0 })
    }

    @Test("A tier added for the source's own height takes the next taller tier's rates")
    func inBetweenTierSettings() throws {
        let plan = try TranscodePlan(source: Self.source(width: 1600, height: 900), ladder: .default)
        #expect(plan.video[0].tier.maxRate == 5_000_000)
        #expect(plan.video[0].tier.bufferSize == 10_000_000)
    }

    @Test("Keyframe interval is counted in frames of the source's rate")
    func keyframes() throws {
        #expect(try TranscodePlan(source: Self.source(width: 1920, height: 1080), ladder: .default).keyframeInterval == 50)
        let ntsc = try TranscodePlan(source: Self.source(width: 1920, height: 1080, fps: Rational(30000, 1001)), ladder: .default)
        #expect(ntsc.keyframeInterval == 60)
        let unknown = try TranscodePlan(source: Self.source(width: 640, height: 360, fps: Rational(0, 0)), ladder: .default)
        #expect(unknown.frameRate == Rational(25, 1))
    }

    @Test("Audio: one shared rendition with video, the whole audio ladder without")
    func audio() throws {
        let withVideo = try TranscodePlan(source: Self.source(width: 1280, height: 720), ladder: .default)
        #expect(withVideo.audio.map(\.name) == ["audio"])
        let silent = try TranscodePlan(source: Self.source(width: 1280, height: 720, audio: false), ladder: .default)
        #expect(silent.audio.isEmpty && silent.audioStream == nil)
        var audioOnly = Self.source(width: 1, height: 1)
        audioOnly.streams.removeFirst()
        let plan = try TranscodePlan(source: audioOnly, ladder: .default)
        #expect(plan.video.isEmpty && plan.videoStream == nil)
        #expect(plan.audio.map(\.name) == ["audio", "audio-low"])
    }

    @Test("Interlaced sources are deinterlaced; rotation is carried to the pixels")
    func pictureFixes() throws {
        let interlaced = try TranscodePlan(source: Self.source(width: 1920, height: 1080, fieldOrder: .topFieldFirst), ladder: .default)
        #expect(interlaced.deinterlace)
        let progressive = try TranscodePlan(source: Self.source(width: 1920, height: 1080), ladder: .default)
        #expect(!progressive.deinterlace && progressive.rotation == 0)
        #expect(try TranscodePlan(source: Self.source(width: 640, height: 360, rotation: 270), ladder: .default).rotation == 270)
    }

    @Test("A file with neither audio nor video is not media")
    func nothingToTranscode() {
        let info = MediaInfo(
            container: "mov", duration: 1, bitRate: nil, size: nil,
            streams: [StreamInfo(index: 0, kind: .subtitle, codec: "mov_text")])
        let error = #expect(throws: MediaError.self) { try TranscodePlan(source: info, ladder: .default) }
        #expect(error?.reason == .notMedia)
    }
}
