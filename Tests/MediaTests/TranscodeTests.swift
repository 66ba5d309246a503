import Foundation
import TestSupport
import Media
import Synchronization
import Testing

/// A ladder sized for 640x360 test clips, with short segments so a 3 s clip has several.
let testLadder = Ladder(
    preset: "veryfast", keyframeInterval: 0.4, segmentDuration: 0.8,
    video: [
        .init(name: "360p", height: 360, crf: 23, maxRate: 1_000_000, bufferSize: 2_000_000),
        .init(name: "240p", height: 240, crf: 23, maxRate: 600_000, bufferSize: 1_200_000),
        .init(name: "144p", height: 144, crf: 23, maxRate: 200_000, bufferSize: 400_000, profile: "main"),
    ],
    sampleRate: 48_000,
    audio: [.init(name: "audio", bitRate: 96_000, channels: 2), .init(name: "audio-low", bitRate: 48_000, channels: 1)],
    posterPosition: 0.1)

/// Runs the transcoder on a fixture into a fresh scratch folder.
func transcode(
    _ fixture: String, ladder: Ladder = testLadder, progress: @escaping @Sendable (TranscodeProgress) -> Void = { _ in }
) async throws -> (result: LadderResult, output: URL, inspector: HLSInspector) {
    let scratch = try scratchDirectory()
    let output = scratch.appendingPathComponent("out")
    let result = try await LadderTranscoder(ladder: ladder).transcode(
        input: try await Fixtures.shared.path(fixture), output: output.path, progress: progress)
    return (result, output, HLSInspector(root: output))
}

@Suite("Ladder transcode")
struct TranscodeTests {
    static let frame = 1.0 / 25

    @Test("A recording becomes every tier, aligned, with measured playlists")
    func ladder() async throws {
        let reports = Mutex<[TranscodeProgress]>([])
        let (result, output, hls) = try await transcode("clip.mp4") { progress in reports.withLock { $0.append(progress) } }
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }

        // Every tier no taller than the source, at the right size, and nothing left beside the output.
        #expect(result.video.map(\.name) == ["360p", "240p", "144p"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path) == ["out"])
        let expected = ["360p": (640, 360), "240p": (426, 240), "144p": (256, 144)]
        var keyframeTimes: [String: [Double]] = [:]
        for tier in result.video {
            let stream = try hls.probeStream(tier.name)
            #expect(stream["codec_name"] as? String == "h264")
            #expect(stream["width"] as? Int == expected[tier.name]!.0)
            #expect(stream["height"] as? Int == expected[tier.name]!.1)
            #expect(stream["nb_read_frames"] as? String == "75", "every source frame, once")
            let duration = Double(stream["format_duration"] as? String ?? "") ?? 0
            #expect(abs(duration - 3.0) <= Self.frame + 1e-6, "\(tier.name) lasts \(duration) s")

            // Each segment, on its own after the init segment, starts with a keyframe at its start time.
            let playlist = try hls.media("\(tier.name)/index.m3u8")
            #expect(playlist.segments.count == 4)
            var start = 0.0
            for segment in playlist.segments {
                let alone = try hls.joined(tier.name, segments: [segment.uri])
                defer { try? FileManager.default.removeItem(atPath: alone) }
                let json = try ffprobe(alone, ["-select_streams", "v", "-show_entries", "packet=pts_time,flags"])
                let packets = json["packets"] as? [[String: Any]] ?? []
                let first = packets.min { Double($0["pts_time"] as! String)! < Double($1["pts_time"] as! String)! }
                #expect((first?["flags"] as? String)?.hasPrefix("K") == true, "\(tier.name)/\(segment.uri) starts on a keyframe")
                #expect(abs((Double(first?["pts_time"] as? String ?? "") ?? -1) - start) < 1e-3)
                start += segment.duration
            }
            let joined = try hls.joined(tier.name)
            defer { try? FileManager.default.removeItem(atPath: joined) }
            keyframeTimes[tier.name] = try HLSInspector.keyframeTimes(joined)
        }
        // Keyframes every 0.4 s, at identical times in every tier.
        #expect(keyframeTimes["360p"] == [0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8])
        #expect(keyframeTimes["240p"] == keyframeTimes["360p"])
        #expect(keyframeTimes["144p"] == keyframeTimes["360p"])

        // Audio: resampled to 48 kHz stereo AAC, the length of the source.
        let audio = try hls.probeStream("audio")
        #expect(audio["codec_name"] as? String == "aac")
        #expect(audio["sample_rate"] as? String == "48000")
        #expect(audio["channels"] as? Int == 2)
        #expect(abs((Double(audio["format_duration"] as? String ?? "") ?? 0) - 3.0) < 0.05)

        // Progress only moves forward and ends at 1.
        let fractions = reports.withLock { $0.map(\.fraction) }
        #expect(fractions.last == 1)
        #expect(zip(fractions, fractions.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(result.speed > 0 && result.elapsed > 0)
    }

    @Test("A recording that fits the top tier is passed through; the other tiers switch where it does")
    func passthrough() async throws {
        let source = try await Fixtures.shared.path("recorder.mp4")
        let (result, output, hls) = try await transcode("recorder.mp4")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        #expect(result.video.map(\.name) == ["360p", "240p", "144p"])

        // The top tier is the source's packets, byte for byte in size and order, keyframes included.
        func packets(_ path: String) throws -> [String] {
            let json = try ffprobe(path, ["-select_streams", "v", "-show_entries", "packet=size,flags"])
            return (json["packets"] as? [[String: Any]] ?? []).map { "\($0["size"] ?? "")\(($0["flags"] as? String ?? "").prefix(1))" }
        }
        let top = try hls.joined("360p")
        defer { try? FileManager.default.removeItem(atPath: top) }
        let original = try packets(source)
        #expect(try packets(top) == original && original.count == 75)
        let sourceKeyframes = try HLSInspector.keyframeTimes(source)
        #expect(sourceKeyframes == [0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8])

        // Every tier: keyframes where the source has them, the same segments, each opening on a keyframe.
        var segmentation: [[Double]] = []
        for tier in result.video {
            let joined = try hls.joined(tier.name)
            defer { try? FileManager.default.removeItem(atPath: joined) }
            #expect(try HLSInspector.keyframeTimes(joined) == sourceKeyframes, "\(tier.name)")
            let playlist = try hls.media("\(tier.name)/index.m3u8")
            segmentation.append(playlist.segments.map(\.duration))
            var start = 0.0
            for segment in playlist.segments {
                let alone = try hls.joined(tier.name, segments: [segment.uri])
                defer { try? FileManager.default.removeItem(atPath: alone) }
                let times = try HLSInspector.keyframeTimes(alone)
                #expect(abs((times.first ?? -1) - start) < 1e-3, "\(tier.name)/\(segment.uri) opens on a keyframe at \(start)")
                start += segment.duration
            }
            let stream = try hls.probeStream(tier.name)
            #expect(stream["nb_read_frames"] as? String == "75", "\(tier.name): every frame, once")
        }
        #expect(segmentation.allSatisfy { $0 == segmentation[0] } && segmentation[0].count == 4, "\(segmentation)")
        // The whole ladder plays: ffmpeg decodes the master playlist without a complaint.
        let decoded = try Fixtures.run("ffmpeg", ["-v", "error", "-i", output.appendingPathComponent("master.m3u8").path, "-map", "0", "-f", "null", "-"])
        #expect(decoded.isEmpty)

        // Turned off in the ladder, the same source is encoded like any other.
        var encoding = testLadder
        encoding.passthrough = false
        let (_, again, encoded) = try await transcode("recorder.mp4", ladder: encoding)
        defer { try? FileManager.default.removeItem(at: again.deletingLastPathComponent()) }
        let reencoded = try encoded.joined("360p")
        defer { try? FileManager.default.removeItem(atPath: reencoded) }
        #expect(try packets(reencoded) != original)
    }

    @Test("Passthrough needs H.264 at the top tier's size, keyframes a segment apart and a rate under the cap")
    func passthroughRules() async throws {
        let fits = SourceScan(startsWithKeyframe: true, maxKeyframeGap: 0.8, peakBitRate: 900_000)
        let info = try MediaInfo.probe(try await Fixtures.shared.path("recorder.mp4"))
        var plan = try TranscodePlan(source: info, ladder: testLadder)
        #expect(plan.passthroughCandidate)
        plan.decidePassthrough(fits)
        #expect(plan.passthrough)
        for scan in [
            SourceScan(startsWithKeyframe: false, maxKeyframeGap: 0.8, peakBitRate: 900_000),
            SourceScan(startsWithKeyframe: true, maxKeyframeGap: 1.2, peakBitRate: 900_000),
            SourceScan(startsWithKeyframe: true, maxKeyframeGap: 0.8, peakBitRate: 1_100_000),
        ] {
            plan.decidePassthrough(scan)
            #expect(!plan.passthrough, "\(scan)")
        }
        // Taller than the top tier (it would be scaled down), or a ladder that forbids it: never.
        var smaller = testLadder
        smaller.video.removeFirst()
        #expect(try TranscodePlan(source: info, ladder: smaller).passthroughCandidate == false)
        #expect(try TranscodePlan(source: try MediaInfo.probe(try await Fixtures.shared.path("interlaced.mp4")), ladder: testLadder).passthroughCandidate == false)
        var off = testLadder
        off.passthrough = false
        #expect(try TranscodePlan(source: info, ladder: off).passthroughCandidate == false)
    }

    @Test("Master playlist attributes match the media actually written")
    func master() async throws {
        let (result, output, hls) = try await transcode("clip.mp4")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        let master = try hls.text("master.m3u8")
        #expect(master.hasPrefix("#EXTM3U\n"))
        #expect(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"))
        let audioPeak = try hls.measuredBitRates("audio")
        let media = try hls.variants(tag: "#EXT-X-MEDIA:")
        #expect(media.count == 1 && media[0].attributes["TYPE"] == "AUDIO" && media[0].uri == "audio/index.m3u8")

        let variants = try hls.variants()
        #expect(variants.map(\.uri) == ["360p/index.m3u8", "240p/index.m3u8", "144p/index.m3u8", "audio/index.m3u8"])
        for variant in variants {
            let folder = String(variant.uri.split(separator: "/")[0])
            let measured = try hls.measuredBitRates(folder)
            if folder == "audio" {
                #expect(variant.bandwidth == measured.peak)
                #expect(variant.averageBandwidth == measured.average)
                #expect(variant.attributes["CODECS"] == "mp4a.40.2")
                continue
            }
            // Video variants carry the audio rendition: BANDWIDTH is the sum of both peaks.
            #expect(variant.bandwidth == measured.peak + audioPeak.peak)
            #expect(variant.averageBandwidth == measured.average + audioPeak.average)
            #expect(variant.attributes["FRAME-RATE"] == "25.000")
            #expect(variant.attributes["AUDIO"] == media[0].attributes["GROUP-ID"])
            let stream = try hls.probeStream(folder)
            #expect(variant.attributes["RESOLUTION"] == "\(stream["width"]!)x\(stream["height"]!)")
            // avc1.PPCCLL: profile_idc, constraints, level_idc, as the encoder wrote them.
            let profile = ["High": "64", "Main": "4d", "Constrained Baseline": "42"][stream["profile"] as? String ?? ""]
            let level = String(format: "%02x", stream["level"] as? Int ?? 0)
            let codecs = try #require(variant.attributes["CODECS"])
            #expect(codecs.hasPrefix("avc1.\(profile ?? "?")") && codecs.hasSuffix("\(level),mp4a.40.2"), "\(codecs)")
            #expect(result.video.first { $0.name == folder }?.peakBitRate == measured.peak)
        }

        // Media playlists: VOD, independent segments, target duration honoured (RFC 8216 §4.3.3.1).
        for folder in ["360p", "240p", "144p", "audio"] {
            let playlist = try hls.media("\(folder)/index.m3u8")
            #expect(playlist.tags.contains("#EXT-X-PLAYLIST-TYPE:VOD"))
            #expect(playlist.tags.contains("#EXT-X-INDEPENDENT-SEGMENTS"))
            #expect(playlist.tags.contains("#EXT-X-ENDLIST"))
            #expect(playlist.map == "init.mp4")
            #expect(playlist.segments.allSatisfy { Int($0.duration.rounded()) <= playlist.targetDuration })
            #expect(abs(playlist.segments.reduce(0) { $0 + $1.duration } - 3.0) < 0.05)
        }
    }

    @Test("I-frame playlists point at decodable keyframes; the poster is a JPEG")
    func iFramesAndPoster() async throws {
        let (result, output, hls) = try await transcode("clip.mp4")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        let iframeVariants = try hls.variants(tag: "#EXT-X-I-FRAME-STREAM-INF:")
        #expect(iframeVariants.map(\.uri) == ["360p/iframes.m3u8", "240p/iframes.m3u8", "144p/iframes.m3u8"])
        let playlist = try hls.media("240p/iframes.m3u8")
        #expect(playlist.tags.contains("#EXT-X-I-FRAMES-ONLY"))
        #expect(playlist.segments.count == 8 && playlist.byteRanges.count == 8)
        let initData = try Data(contentsOf: output.appendingPathComponent("240p/init.mp4"))
        for (segment, range) in zip(playlist.segments, playlist.byteRanges) {
            let file = try Data(contentsOf: output.appendingPathComponent("240p/\(segment.uri)"))
            let slice = initData + file.subdata(in: range.offset..<(range.offset + range.length))
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("iframe-\(UUID().uuidString).mp4").path
            try slice.write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let frames = try Fixtures.run(
                "ffprobe", ["-v", "quiet", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path])
            #expect(frames.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "one picture per I-frame range")
        }
        #expect(result.poster == "poster.jpg")
        let poster = try ffprobe(output.appendingPathComponent("poster.jpg").path, ["-show_streams"])
        let stream = (poster["streams"] as? [[String: Any]])?.first
        #expect(stream?["codec_name"] as? String == "mjpeg")
        #expect(stream?["width"] as? Int == 640 && stream?["height"] as? Int == 360)
    }

    @Test("No upscaling, and a silent recording has no audio")
    func silentSmallSource() async throws {
        let (result, output, hls) = try await transcode("silent.mp4")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        #expect(result.video.map(\.name) == ["240p", "144p"])
        #expect(result.video.map { "\($0.width!)x\($0.height!)" } == ["320x240", "192x144"])
        #expect(result.audio.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("audio").path))
        let master = try hls.text("master.m3u8")
        #expect(!master.contains("#EXT-X-MEDIA:") && !master.contains("AUDIO=") && !master.contains("mp4a"))
    }

    @Test("An audio-only recording becomes the audio ladder")
    func audioOnly() async throws {
        let (result, output, hls) = try await transcode("audio.m4a")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        #expect(result.video.isEmpty && result.poster == nil)
        #expect(result.audio.map(\.name) == ["audio", "audio-low"])
        #expect(try hls.variants().map(\.uri) == ["audio/index.m3u8", "audio-low/index.m3u8"])
        #expect(try hls.probeStream("audio-low")["channels"] as? Int == 1)
        #expect(try hls.probeStream("audio")["channels"] as? Int == 2)
        let low = try hls.measuredBitRates("audio-low").average
        let high = try hls.measuredBitRates("audio").average
        #expect(low < high)
    }

    @Test("Interlaced video comes out progressive, frame for frame")
    func interlaced() async throws {
        let (_, output, hls) = try await transcode("interlaced.mp4")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        let stream = try hls.probeStream("360p")
        #expect(stream["field_order"] as? String == "progressive")
        #expect(stream["nb_read_frames"] as? String == "75")
    }

    @Test("Rotation is applied to the pixels, the way ffmpeg's autorotate shows it")
    func rotated() async throws {
        let (result, output, hls) = try await transcode("rotated.mp4")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        #expect(result.video.map { "\($0.width!)x\($0.height!)" } == ["360x640", "240x426", "144x256"])
        // Same picture as the reference decoder's autorotated frame: a wrong direction would differ.
        let ours = try hls.joined("360p")
        let scratch = try scratchDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: ours)
            try? FileManager.default.removeItem(at: scratch)
        }
        let reference = scratch.appendingPathComponent("reference.png").path
        let mine = scratch.appendingPathComponent("ours.png").path
        try Fixtures.ffmpeg(["-i", try await Fixtures.shared.path("rotated.mp4"), "-frames:v", "1", "-vf", "scale=360:640", reference])
        try Fixtures.ffmpeg(["-i", ours, "-frames:v", "1", mine])
        let psnr = try psnrOf(mine, reference)
        #expect(psnr > 30, "PSNR against the reference: \(psnr) dB")
    }

    @Test("Odd-sized sources give even tiers")
    func odd() async throws {
        let (result, output, _) = try await transcode("odd.mkv")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        #expect(result.video.map { "\($0.width!)x\($0.height!)" } == ["320x180", "256x144"])
    }

    @Test(
        "Bad input fails clearly and leaves nothing behind",
        arguments: [
            ("random.bin", MediaError.Reason.notMedia),
            ("empty.mp4", .notMedia),
            ("notes.txt", .notMedia),
            ("no-moov.mp4", .notMedia),
            ("truncated.mp4", .truncated),
        ])
    func badInput(_ fixture: String, _ reason: MediaError.Reason) async throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = try await Fixtures.shared.path(fixture)
        let error = await #expect(throws: MediaError.self) {
            try await LadderTranscoder(ladder: testLadder).transcode(input: input, output: scratch.appendingPathComponent("out").path)
        }
        #expect(error?.reason == reason, "\(error?.description ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    @Test("A stream libav cannot decode fails with libav's message and leaves nothing behind")
    func undecodable() async throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = try await Fixtures.shared.path("garbage-payload.mp4")
        let error = await #expect(throws: MediaError.self) {
            try await LadderTranscoder(ladder: testLadder).transcode(input: input, output: scratch.appendingPathComponent("out").path)
        }
        #expect(error?.step.hasPrefix("decoding") == true, "\(error?.description ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    @Test("An existing output folder is never overwritten")
    func existingOutput() async throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = scratch.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: output.appendingPathComponent("lesson.txt"))
        let input = try await Fixtures.shared.path("clip.mp4")
        let error = await #expect(throws: MediaError.self) {
            try await LadderTranscoder(ladder: testLadder).transcode(input: input, output: output.path)
        }
        #expect(error?.message.contains("already exists") == true)
        #expect(try String(contentsOf: output.appendingPathComponent("lesson.txt"), encoding: .utf8) == "keep me")
    }

    @Test("Writing into a given folder touches nothing beside it, and removes it on failure")
    func intoFolder() async throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = scratch.appendingPathComponent(".job-7").path
        // A truncated input fails: the folder is gone and nothing else was made.
        let truncated = try await Fixtures.shared.path("truncated.mp4")
        await #expect(throws: MediaError.self) {
            try await LadderTranscoder(ladder: testLadder).transcode(input: truncated, into: folder)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
        // A good one: the ladder is in that folder, under its own name, and there is no sibling.
        let result = try await LadderTranscoder(ladder: testLadder).transcode(input: try await Fixtures.shared.path("clip.mp4"), into: folder)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [".job-7"])
        #expect(FileManager.default.fileExists(atPath: "\(folder)/master.m3u8"))
        #expect(!result.video.isEmpty)
    }

    @Test("Cancelling stops the transcode and removes everything it wrote")
    func cancellation() async throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = try await Fixtures.shared.path("clip.mp4")
        let handle = Mutex<Task<LadderResult, any Error>?>(nil)
        let sawProgress = Mutex(false)
        let task = Task {
            try await LadderTranscoder(ladder: testLadder).transcode(input: input, output: scratch.appendingPathComponent("out").path) { _ in
                // The first report comes with the first packet, long before the end: cancel right there.
                sawProgress.withLock { $0 = true }
                handle.withLock { $0?.cancel() }
            }
        }
        handle.withLock { $0 = task }
        if sawProgress.withLock({ $0 }) { task.cancel() }
        let error = await #expect(throws: MediaError.self) { try await task.value }
        #expect(error?.reason == .cancelled)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }
}

/// PSNR (dB) between two pictures, measured by ffmpeg's psnr filter.
func psnrOf(_ a: String, _ b: String) throws -> Double {
    let text = try runProcess(
        URL(fileURLWithPath: "/usr/bin/env"), ["ffmpeg", "-hide_banner", "-i", a, "-i", b, "-lavfi", "psnr", "-f", "null", "-"]
    ).err
    guard let range = text.range(of: "average:") else { throw TestFailure("no PSNR in: \(text)") }
    let value = text[range.upperBound...].prefix { !$0.isWhitespace }
    return value == "inf" ? .infinity : Double(value) ?? 0
}
