import Foundation
import HLS
internal import CFFmpeg

/// What a live ingest reads and where it writes.
public struct LiveIngestSettings: Sendable {
    /// `pipe:0` (FLV from the RTMP front) or an `srt://` listener URL.
    public var input: String
    /// `flv` or `mpegts`.
    public var format: String
    /// The protocols libavformat may use for `input` (`pipe`; `srt`).
    public var protocols: String
    /// Options for the input protocol (SRT's `passphrase`, `latency`).
    public var inputOptions: [String: String]
    /// The session's live folder (see `LiveNames`).
    public var directory: String
    public var ladder: Ladder
    /// Threads for the live encoders together.
    public var threads: Int
    /// The input arrives in real time (a publisher): a tier that cannot keep up is dropped rather
    /// than hold the others back. False for a file, which is read as fast as the encoders take it.
    public var paced = true

    public init(input: String, format: String, protocols: String, inputOptions: [String: String] = [:], directory: String, ladder: Ladder, threads: Int = 0) {
        self.input = input
        self.format = format
        self.protocols = protocols
        self.inputOptions = inputOptions
        self.directory = directory
        self.ladder = ladder
        self.threads = threads
    }
}

/// One line of what a live ingest tells its parent (JSON on stdout): the publish began, a
/// segment was published, a tier was dropped, how fast the encoders run, the end.
public struct LiveReport: Codable, Sendable, Equatable {
    public enum Event: String, Codable, Sendable {
        case started, segment, dropped, stats, ended, failed
    }

    public var event: Event
    public var publish: Int?
    public var tier: String?
    /// Tiers being written (started, dropped).
    public var tiers: [String]?
    public var width: Int?
    public var height: Int?
    /// Encoded media seconds per second the slowest live encoder was busy (≥ 1: it keeps up).
    public var speed: Double?
    /// A segment's program date-time (Unix seconds) and length.
    public var date: Double?
    public var duration: Double?
    public var message: String?

    public init(_ event: Event, publish: Int? = nil, tier: String? = nil, message: String? = nil) {
        self.event = event
        self.publish = publish
        self.tier = tier
        self.message = message
    }

    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }
}

/// Relays one publish of a live source into the session's HLS: the source's H.264 passed
/// through as the top tier (CMAF segments cut at its keyframes), lower tiers encoded in real time
/// with keyframes on the source's own, AAC audio, live playlists with program date-times, and an
/// MPEG-TS copy of everything received for the archive.
///
/// One publish per run: it ends when the input ends (the publisher stopped or dropped) or on
/// `cancel()`. The next publish of the same session is a new run that continues the playlists
/// after a discontinuity. Runs in the `live-ingest` child, so a stream that crashes libav takes
/// only that child down.
public final class LiveIngest: @unchecked Sendable {
    let settings: LiveIngestSettings
    let cancellation = CancellationFlag()
    private let report: @Sendable (LiveReport) -> Void

    public init(settings: LiveIngestSettings, report: @escaping @Sendable (LiveReport) -> Void) {
        self.settings = settings
        self.report = report
    }

    /// Stops reading; what was received is still packaged and the segments closed.
    public func cancel() { cancellation.cancel() }

    /// Runs the publish to its end on the calling thread.
    public func run() throws(MediaError) {
        _ = Libav.installed
        try LiveRun(settings: settings, cancellation: cancellation, report: report).run()
    }

    /// The publish number the next run will take: one past the highest `e<N>` folder.
    static func nextPublish(in directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return (names.compactMap(LiveNames.publishNumber).max() ?? 0) + 1
    }
}

/// One publish, on the thread that reads it.
private final class LiveRun {
    let settings: LiveIngestSettings
    let cancellation: CancellationFlag
    let report: @Sendable (LiveReport) -> Void
    /// Taken once the input is open: an SRT listener that waits for its caller claims no number.
    private(set) var publish = 0
    let master: LiveMaster

    init(settings: LiveIngestSettings, cancellation: CancellationFlag, report: @escaping @Sendable (LiveReport) -> Void) {
        self.settings = settings
        self.cancellation = cancellation
        self.report = report
        master = LiveMaster(directory: settings.directory)
    }

    func run() throws(MediaError) {
        let live = settings.ladder.live
        // The first bytes arrive about now: a publish is handed over as soon as it is accepted.
        // (Lowered below by the packets themselves; an SRT caller may come much later.)
        let wallOrigin = WallClockOrigin(Date().timeIntervalSince1970)
        let input = try InputFile(
            live: settings.input, format: settings.format, protocols: settings.protocols, options: settings.inputOptions,
            cancellation: cancellation)
        wallOrigin.reset(to: Date().timeIntervalSince1970)
        guard let video = input.info.primaryVideo, let details = video.video else {
            throw MediaError(.unsupported, step: "reading the live source", message: "the stream has no video: publish H.264 video with AAC sound")
        }
        guard video.codec == "h264" else {
            throw MediaError(
                .unsupported, step: "reading the live source",
                message: "the video is \(video.codec); publish H.264 (its picture is passed on as it is)")
        }
        let size = details.displaySize
        if live.maxHeight > 0, min(size.width, size.height) > live.maxHeight {
            throw MediaError(
                .unsupported, step: "reading the live source",
                message: "the picture is \(size.width)x\(size.height); this server takes live sources up to \(live.maxHeight) lines")
        }
        // Taken: the publish claims its number and folders.
        publish = LiveIngest.nextPublish(in: settings.directory)
        do {
            try FileManager.default.createDirectory(
                atPath: "\(settings.directory)/\(LiveNames.publish(publish))", withIntermediateDirectories: true)
        } catch {
            throw MediaError.io("creating \(settings.directory)", error)
        }
        let audio = input.info.primaryAudio
        input.discardAll(except: Set([video.index, audio?.index].compactMap { $0 }))
        let videoStream = input.stream(video.index)
        let timeBase = videoStream.pointee.time_base
        let rate = details.frameRate.isValid && details.frameRate.doubleValue >= 1 && details.frameRate.doubleValue <= 120
            ? details.frameRate : Rational(25, 1)
        let frameTicks = max(1, Int64((1 / rate.doubleValue / Rational(timeBase).doubleValue).rounded()))

        // The tiers.
        let publishFolder = LiveNames.publish(publish)
        let sourceLog = try LiveTierLog(directory: settings.directory, tier: "source", live: live, report: report, master: master)
        let source = try HLSTrackWriter(
            directory: "\(settings.directory)/source/\(publishFolder)", copying: videoStream.pointee.codecpar, timeBase: timeBase,
            isVideo: true, segmentDuration: live.segmentDuration, frameDuration: frameTicks)
        var origin: Double?
        source.onSegment = { segment, start throws(MediaError) in
            try sourceLog.append(
                LiveSegment(publish: self.publish, name: segment.name, date: wallOrigin.value + start, duration: segment.duration), publish: self.publish, size: segment.size)
        }
        master.set(
            .init(name: "source", width: size.width, height: size.height, codecs: source.codecs,
                  bandwidth: video.bitRate ?? 0))

        let outputs = TranscodePlan.videoOutputs(display: size, tiers: settings.ladder.video)
            .filter { live.tiers.contains($0.tier.name) && $0.tier.height < min(size.width, size.height) }
        var tiers: [LiveTier] = []
        var decoder: Decoder?
        if !outputs.isEmpty {
            decoder = try Decoder(stream: videoStream, threads: 0)
            let budget = settings.threads > 0 ? settings.threads : ProcessInfo.processInfo.activeProcessorCount
            for output in outputs {
                let log = try LiveTierLog(directory: settings.directory, tier: output.tier.name, live: live, report: report, master: master)
                let tier = try LiveTier(
                    output: output, preset: live.preset, timeBase: timeBase, frameRate: rate, threads: max(1, budget / outputs.count),
                    directory: "\(settings.directory)/\(output.tier.name)/\(publishFolder)", segmentDuration: live.segmentDuration,
                    frameTicks: frameTicks)
                tier.writer.onSegment = { segment, start throws(MediaError) in
                    try log.append(
                        LiveSegment(publish: self.publish, name: segment.name, date: wallOrigin.value + start, duration: segment.duration),
                        publish: self.publish, size: segment.size)
                }
                master.set(
                    .init(name: output.tier.name, width: output.width, height: output.height, codecs: tier.writer.codecs,
                          bandwidth: output.tier.maxRate))
                tiers.append(tier)
            }
        }
        var sound: AudioRendition?
        var audioDecoder: Decoder?
        if let audio, let audioTier = settings.ladder.audio.first {
            let decoderForAudio = try Decoder(stream: input.stream(audio.index), threads: 1)
            audioDecoder = decoderForAudio
            let rendition = try AudioRendition(
                tier: audioTier, sampleRate: settings.ladder.sampleRate, decoder: decoderForAudio,
                directory: "\(settings.directory)/\(audioTier.name)/\(publishFolder)", segmentDuration: live.segmentDuration,
                language: nil)
            let log = try LiveTierLog(directory: settings.directory, tier: audioTier.name, live: live, report: report, master: master)
            rendition.writer.onSegment = { segment, start throws(MediaError) in
                try log.append(
                    LiveSegment(publish: self.publish, name: segment.name, date: wallOrigin.value + start, duration: segment.duration),
                    publish: self.publish, size: segment.size)
            }
            master.setAudio(.init(name: audioTier.name, width: 0, height: 0, codecs: rendition.writer.codecs, bandwidth: audioTier.bitRate), channels: audioTier.channels)
            sound = rendition
        }
        let archive = try ArchiveWriter(
            path: "\(settings.directory)/\(publishFolder)/\(LiveNames.archive)", input: input,
            streams: [video.index, audio?.index].compactMap { $0 })

        var started = LiveReport(.started, publish: publish)
        started.tiers = ["source"] + tiers.map(\.output.tier.name) + (sound.map { [$0.tier.name] } ?? [])
        started.width = size.width
        started.height = size.height
        report(started)
        tiers.forEach { $0.start() }

        // The loop.
        let packet = try Packet()
        let copy = try Packet()
        let frame = try Frame()
        var sawKeyframe = false
        var lastDts = Int64.min
        var lastStats = Date()
        var lag = 0
        var failure: MediaError?
        reading: while true {
            let status = av_read_frame(input.context, packet.pointer)
            if status < 0 {
                // The publisher stopped, dropped, or we were told to stop: all end this publish.
                if status != lessonlink_averror_eof() && status != lessonlink_averror_exit() {
                    report(LiveReport(.stats, publish: publish, message: "the source ended: \(libavMessage(status))"))
                }
                break
            }
            defer { packet.unref() }
            let p = packet.pointer
            let index = Int(p.pointee.stream_index)
            let streamTimeBase = input.stream(index).pointee.time_base
            let stamp = p.pointee.dts != lessonlink_nopts() ? p.pointee.dts : p.pointee.pts
            guard stamp != lessonlink_nopts() else { continue }
            let seconds = Double(stamp) * Rational(streamTimeBase).doubleValue
            if origin == nil { origin = seconds }
            // Arrival can only be late, never early: the earliest arrival-minus-media-time is the
            // best estimate of when the source's time zero was captured.
            wallOrigin.lower(to: Date().timeIntervalSince1970 - (seconds - origin!))
            do throws(MediaError) {
                try archive.write(packet)
            } catch {
                failure = error
                break reading
            }
            if index == video.index {
                if !sawKeyframe {
                    guard p.pointee.flags & AV_PKT_FLAG_KEY != 0 else { continue }
                    sawKeyframe = true
                }
                let shift = Int64((origin! / Rational(timeBase).doubleValue).rounded())
                do throws(MediaError) {
                    try check(av_packet_ref(copy.pointer, p), "av_packet_ref")
                    defer { copy.unref() }
                    copy.pointer.pointee.pts -= shift
                    copy.pointer.pointee.dts -= shift
                    // The muxer takes decode times only forwards; a publisher's clock that jumps back is skipped over.
                    if copy.pointer.pointee.dts <= lastDts { continue }
                    lastDts = copy.pointer.pointee.dts
                    try source.write(copy)
                    guard let decoder, !tiers.isEmpty else { continue }
                    if decoder.send(packet) < 0 { continue }
                    while (try? decoder.receive(into: frame)) == .ready {
                        defer { frame.unref() }
                        let behind = try Self.distribute(frame, shift: shift, to: tiers, waiting: !settings.paced)
                        lag = behind ? lag + 1 : max(0, lag - 1)
                        // Two seconds of pictures refused: the machine cannot keep up; give up the
                        // lowest tier still encoded rather than fall behind the source.
                        if lag > Int(2 * rate.doubleValue), let lowest = tiers.last(where: { !$0.dropped }) {
                            lowest.drop()
                            master.remove(lowest.output.tier.name)
                            var dropped = LiveReport(
                                .dropped, publish: publish, tier: lowest.output.tier.name,
                                message: "the live encoders fell behind the source; \(lowest.output.tier.name) is no longer made")
                            dropped.tiers = master.names
                            report(dropped)
                            lag = 0
                        }
                    }
                } catch {
                    failure = error
                    break reading
                }
            } else if index == audio?.index, let audioDecoder, let sound {
                guard audioDecoder.send(packet) >= 0 else { continue }
                while (try? audioDecoder.receive(into: frame)) == .ready {
                    defer { frame.unref() }
                    let f = frame.pointer.pointee
                    let best = f.best_effort_timestamp != lessonlink_nopts() ? f.best_effort_timestamp : f.pts
                    let time = best == lessonlink_nopts() ? nil : Double(best) * Rational(streamTimeBase).doubleValue - origin!
                    do throws(MediaError) { try sound.feed(frame, time: time) } catch {
                        failure = error
                        break reading
                    }
                }
            }
            if Date().timeIntervalSince(lastStats) >= 5 {
                lastStats = Date()
                var stats = LiveReport(.stats, publish: publish)
                stats.speed = tiers.filter { !$0.dropped }.map(\.speed).min()
                stats.tiers = master.names
                report(stats)
            }
        }

        // The end of the publish: everything received is packaged, the pictures still in the
        // decoder included.
        if failure == nil, let decoder, sawKeyframe {
            _ = decoder.send(nil)
            let shift = Int64(((origin ?? 0) / Rational(timeBase).doubleValue).rounded())
            while (try? decoder.receive(into: frame)) == .ready {
                defer { frame.unref() }
                _ = try? Self.distribute(frame, shift: shift, to: tiers, waiting: true)
            }
        }
        for tier in tiers { tier.queue.finish() }
        for tier in tiers { tier.join() }
        do throws(MediaError) {
            try archive.finish()
            if sawKeyframe { _ = try source.finish() }
            for tier in tiers where tier.failure == nil && !tier.dropped { _ = try? tier.writer.finish() }
            if let sound {
                try sound.drain()
                _ = try? sound.finish()
            }
        } catch {
            failure = failure ?? error
        }
        if let failure { throw failure }
        if let tierFailure = tiers.compactMap(\.failure).first { throw tierFailure }
        guard sawKeyframe else {
            throw MediaError(.notMedia, step: "reading the live source", message: "no picture arrived before the source ended")
        }
        report(LiveReport(.ended, publish: publish))
    }
}

extension LiveRun {
    /// Hands a decoded picture to every tier still encoded, each scaled from the one above it;
    /// the lower tiers' keyframes fall on the source's, so every tier switches at the same
    /// boundaries. Returns whether a tier had no room (only when not `waiting`).
    fileprivate static func distribute(_ frame: Frame, shift: Int64, to tiers: [LiveTier], waiting: Bool) throws(MediaError) -> Bool {
        let f = frame.pointer
        let best = f.pointee.best_effort_timestamp != lessonlink_nopts() ? f.pointee.best_effort_timestamp : f.pointee.pts
        f.pointee.pts = best - shift
        f.pointee.pict_type = f.pointee.key_frame != 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
        var picture = frame
        var behind = false
        for tier in tiers where !tier.dropped {
            if !tier.scaler.isPassThrough(picture) { picture = try tier.scaler.scale(picture) }
            let copy = try picture.reference()
            if waiting { _ = tier.queue.push(copy) } else if !tier.queue.offer(copy) { behind = true }
        }
        return behind
    }
}

@available(*, unavailable)
extension LiveRun: Sendable {}

/// When the source's time zero was captured, by this machine's clock; read by every tier's
/// thread as it dates a segment, lowered by the reader as packets arrive.
private final class WallClockOrigin: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds: Double

    init(_ seconds: Double) { self.seconds = seconds }

    var value: Double { lock.withLock { seconds } }
    func reset(to value: Double) { lock.withLock { seconds = value } }
    func lower(to candidate: Double) { lock.withLock { seconds = min(seconds, candidate) } }
}

// MARK: - Tiers

/// One live-encoded tier on its own thread. Unlike the on-demand ladder's tiers it never makes
/// the reader wait: a picture it has no room for is refused, and the reader counts refusals to
/// decide when the machine cannot keep up.
///
/// `@unchecked Sendable`: after `start()` only the tier's thread touches the encoder and writer;
/// the reader reads `failure`, `speed` and `dropped`, which are guarded by `lock`.
private final class LiveTier: @unchecked Sendable {
    let output: TranscodePlan.VideoOutput
    let queue: BoundedQueue<Frame>
    let scaler: Scaler
    let writer: HLSTrackWriter
    private let encoder: Encoder
    private let frameTicks: Int64
    private let timeBase: AVRational
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var started = false
    private var _failure: MediaError?
    private var _dropped = false
    private var busy = 0.0
    private var encoded = 0.0

    var failure: MediaError? { lock.withLock { _failure } }
    var dropped: Bool { lock.withLock { _dropped } }
    /// Media seconds encoded per busy second.
    var speed: Double { lock.withLock { busy > 0 ? encoded / busy : 0 } }

    init(
        output: TranscodePlan.VideoOutput, preset: String, timeBase: AVRational, frameRate: Rational, threads: Int,
        directory: String, segmentDuration: Double, frameTicks: Int64
    ) throws(MediaError) {
        self.output = output
        self.frameTicks = frameTicks
        self.timeBase = timeBase
        // About a second of pictures: enough to absorb jitter, little enough to notice falling behind.
        queue = BoundedQueue(capacity: max(8, Int(frameRate.doubleValue.rounded())))
        scaler = Scaler(width: output.width, height: output.height, format: AV_PIX_FMT_YUV420P)
        let tier = output.tier
        encoder = try Encoder(
            name: "libx264",
            options: [
                "preset": preset, "tune": "zerolatency", "crf": "\(tier.crf)", "profile": tier.profile,
                // Keyframes only where the source has them (forced per picture), closed GOPs.
                "x264-params": "scenecut=0:open-gop=0", "forced-idr": "1",
            ]
        ) { c in
            c.pointee.width = Int32(output.width)
            c.pointee.height = Int32(output.height)
            c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            c.pointee.time_base = timeBase
            c.pointee.framerate = frameRate.av
            c.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
            c.pointee.gop_size = Int32(frameRate.doubleValue * 20)
            c.pointee.rc_max_rate = Int64(tier.maxRate)
            c.pointee.rc_buffer_size = Int32(tier.bufferSize)
            c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
            c.pointee.thread_count = Int32(threads)
        }
        writer = try HLSTrackWriter(
            directory: directory, encoder: encoder, isVideo: true, segmentDuration: segmentDuration, frameDuration: frameTicks)
    }

    func start() {
        started = true
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.name = "lessonlink.live.\(output.tier.name)"
        thread.start()
    }

    func join() {
        guard started else { return }
        started = false
        done.wait()
    }

    /// Stops encoding this tier for the rest of the publish.
    func drop() {
        lock.withLock { _dropped = true }
        queue.abort()
    }

    private func run() {
        do throws(MediaError) {
            let packet = try Packet()
            while let frame = queue.pop() {
                let began = Date()
                try encoder.send(frame)
                try drain(packet)
                lock.withLock {
                    busy += Date().timeIntervalSince(began)
                    encoded += Double(frameTicks) * Rational(timeBase).doubleValue
                }
            }
            if dropped { return }
            try encoder.send(nil)
            try drain(packet)
        } catch {
            lock.withLock { _failure = error }
            queue.abort()
        }
    }

    private func drain(_ packet: Packet) throws(MediaError) {
        while try encoder.receive(into: packet) == .ready {
            defer { packet.unref() }
            try writer.write(packet)
        }
    }
}

// MARK: - Playlists

/// A tier's segment log and live playlist: each segment is logged, then the playlist rewritten
/// (atomically: written aside and renamed), so a player never reads half a playlist.
private final class LiveTierLog: @unchecked Sendable {
    let tier: String
    let folder: String
    let live: Ladder.Live
    let report: @Sendable (LiveReport) -> Void
    let master: LiveMaster
    private var segments: [LiveSegment]
    private let log: Int32

    init(directory: String, tier: String, live: Ladder.Live, report: @escaping @Sendable (LiveReport) -> Void, master: LiveMaster) throws(MediaError) {
        self.tier = tier
        self.live = live
        self.report = report
        self.master = master
        folder = "\(directory)/\(tier)"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw MediaError.io("creating \(folder)", error)
        }
        segments = LiveSegmentLog.read("\(folder)/\(LiveNames.segmentLog)")
        log = open("\(folder)/\(LiveNames.segmentLog)", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if log < 0 { throw OutputStream.failure("opening", "\(folder)/\(LiveNames.segmentLog)") }
    }

    deinit { close(log) }

    func append(_ segment: LiveSegment, publish: Int, size: Int) throws(MediaError) {
        segments.append(segment)
        let line = LiveSegmentLog.line(segment)
        let written = line.withUnsafeBytes { write(log, $0.baseAddress, $0.count) }
        if written != line.count { throw OutputStream.failure("writing", "\(folder)/\(LiveNames.segmentLog)") }
        let text = live.playlist(segments, ended: false)
        try replaceFile("\(folder)/\(HLSNames.mediaPlaylist)", text)
        master.segmentWritten(tier, bitRate: segment.duration > 0.5 ? Int(Double(size) * 8 / segment.duration) : 0)
        var line2 = LiveReport(.segment, publish: publish, tier: tier)
        line2.date = segment.date
        line2.duration = segment.duration
        report(line2)
    }
}

/// Writes a small file by writing a sibling and renaming it over the old one.
func replaceFile(_ path: String, _ text: String) throws(MediaError) {
    let temporary = path + ".new"
    try writeFile(temporary, text)
    if rename(temporary, path) != 0 { throw OutputStream.failure("replacing", path) }
}

/// The live master playlist: written once every tier has a segment (so a player finds every
/// variant's playlist), rewritten when a tier is dropped.
private final class LiveMaster: @unchecked Sendable {
    struct Variant {
        var name: String
        var width: Int
        var height: Int
        var codecs: String
        var bandwidth: Int
    }

    let directory: String
    private let lock = NSLock()
    private var variants: [Variant] = []
    private var audio: (Variant, channels: Int)?
    private var ready: Set<String> = []
    private var written = false

    init(directory: String) { self.directory = directory }

    func set(_ variant: Variant) { lock.withLock { variants.append(variant) } }
    func setAudio(_ variant: Variant, channels: Int) { lock.withLock { audio = (variant, channels) } }

    var names: [String] { lock.withLock { variants.map(\.name) + (audio.map { [$0.0.name] } ?? []) } }

    func remove(_ name: String) {
        let text: String? = lock.withLock {
            variants.removeAll { $0.name == name }
            return written ? render() : nil
        }
        if let text { try? replaceFile("\(directory)/\(HLSNames.master)", text) }
    }

    /// A tier has a segment of `bitRate`: BANDWIDTH must cover every segment's rate (RFC 8216
    /// §4.3.4.2), and a passed-through source's rate is known only from its segments.
    func segmentWritten(_ tier: String, bitRate: Int) {
        let text: String? = lock.withLock {
            ready.insert(tier)
            var raised = false
            if let index = variants.firstIndex(where: { $0.name == tier }), bitRate > variants[index].bandwidth {
                variants[index].bandwidth = bitRate + bitRate / 5
                raised = true
            }
            let all = variants.map(\.name) + (audio.map { [$0.0.name] } ?? [])
            guard all.allSatisfy(ready.contains), !written || raised else { return nil }
            written = true
            return render()
        }
        if let text { try? replaceFile("\(directory)/\(HLSNames.master)", text) }
    }

    private func render() -> String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(HLSPlaylist.version)", "#EXT-X-INDEPENDENT-SEGMENTS"]
        if let (sound, channels) = audio {
            lines.append(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"\(sound.name)\",DEFAULT=YES,AUTOSELECT=YES,"
                    + "CHANNELS=\"\(channels)\",URI=\"\(HLSNames.mediaPlaylist(tier: sound.name))\"")
        }
        for variant in variants {
            var attributes = [
                "BANDWIDTH=\(variant.bandwidth + (audio?.0.bandwidth ?? 0))",
                "CODECS=\"\([variant.codecs, audio?.0.codecs].compactMap { $0 }.joined(separator: ","))\"",
                "RESOLUTION=\(variant.width)x\(variant.height)",
            ]
            if audio != nil { attributes.append("AUDIO=\"audio\"") }
            lines.append("#EXT-X-STREAM-INF:" + attributes.joined(separator: ","))
            lines.append(HLSNames.mediaPlaylist(tier: variant.name))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

// MARK: - Archive

/// An MPEG-TS copy of the publish as received: it survives being cut off at any byte (a killed
/// child, a server restart), and the session's archive recording is made from it.
private final class ArchiveWriter {
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private var mapping: [Int: Int32] = [:]
    private let input: InputFile
    private let path: String

    init(path: String, input: InputFile, streams: [Int]) throws(MediaError) {
        self.path = path
        self.input = input
        try check(avformat_alloc_output_context2(&context, nil, "mpegts", path), "creating the archive")
        guard let context else { throw MediaError(.io, step: "creating the archive", message: "out of memory") }
        for index in streams {
            guard let stream = avformat_new_stream(context, nil) else {
                throw MediaError(.io, step: "creating the archive", message: "out of memory")
            }
            try check(avcodec_parameters_copy(stream.pointee.codecpar, input.stream(index).pointee.codecpar), "copying codec parameters")
            stream.pointee.codecpar.pointee.codec_tag = 0
            stream.pointee.time_base = input.stream(index).pointee.time_base
            mapping[index] = stream.pointee.index
        }
        try check(avio_open(&context.pointee.pb, path, AVIO_FLAG_WRITE), "opening \(path)")
        try check(avformat_write_header(context, nil), "writing the archive header")
    }

    func write(_ packet: Packet) throws(MediaError) {
        let p = packet.pointer
        guard let context, let target = mapping[Int(p.pointee.stream_index)] else { return }
        let clone = try Packet()
        try check(av_packet_ref(clone.pointer, p), "av_packet_ref")
        let source = input.stream(Int(p.pointee.stream_index)).pointee.time_base
        clone.pointer.pointee.stream_index = target
        av_packet_rescale_ts(clone.pointer, source, context.pointee.streams[Int(target)]!.pointee.time_base)
        try check(av_interleaved_write_frame(context, clone.pointer), "writing the archive")
    }

    func finish() throws(MediaError) {
        guard let context else { return }
        try check(av_write_trailer(context), "finishing the archive")
        avio_flush(context.pointee.pb)
    }

    deinit {
        if let context {
            avio_closep(&context.pointee.pb)
            avformat_free_context(context)
        }
    }
}

@available(*, unavailable)
extension ArchiveWriter: Sendable {}
