import Foundation
import HLS
internal import CFFmpeg

/// How far a transcode has come, reported a few times a second.
public struct TranscodeProgress: Sendable, Equatable {
    /// Fraction of the source duration processed, 0…1.
    public var fraction: Double
    /// Seconds of the source processed.
    public var mediaTime: Double
    /// Wall-clock seconds since the transcode started.
    public var elapsed: Double
    /// Media seconds per wall second (2.0 = twice real time).
    public var speed: Double
    /// Seconds left at the current speed, when it can be estimated.
    public var estimatedRemaining: Double?
}

/// One rendition of a finished ladder, as measured on disk.
public struct RenditionSummary: Sendable, Codable, Equatable {
    public var name: String
    /// Media playlist path relative to the output folder, e.g. `720p/index.m3u8`.
    public var playlist: String
    public var width: Int?
    public var height: Int?
    /// RFC 6381 codec string.
    public var codecs: String
    public var averageBitRate: Int
    public var peakBitRate: Int
    /// Bytes on disk, init segment included.
    public var size: Int
    public var segmentCount: Int
    public var duration: Double

    public init(
        name: String, playlist: String, width: Int?, height: Int?, codecs: String, averageBitRate: Int, peakBitRate: Int,
        size: Int, segmentCount: Int, duration: Double
    ) {
        self.name = name
        self.playlist = playlist
        self.width = width
        self.height = height
        self.codecs = codecs
        self.averageBitRate = averageBitRate
        self.peakBitRate = peakBitRate
        self.size = size
        self.segmentCount = segmentCount
        self.duration = duration
    }
}

/// The outcome of a ladder transcode.
public struct LadderResult: Sendable, Codable, Equatable {
    /// The published output folder.
    public var directory: String
    public var source: MediaInfo
    public var video: [RenditionSummary]
    public var audio: [RenditionSummary]
    /// Poster file name inside `directory`, when there is video.
    public var poster: String?
    /// Wall-clock seconds the transcode took.
    public var elapsed: Double
    /// Source seconds per wall second.
    public var speed: Double
    public var duration: Double
}

/// Turns one recording into the HLS ladder in a single pass: demux and decode once, scale each tier
/// from the next larger one, encode the tiers on their own threads, encode the audio once.
///
/// `transcode(input:output:)` writes into a hidden sibling folder and renames it into place when
/// complete, so a failure or cancellation leaves nothing at `output`. `transcode(input:into:)`
/// writes only into the folder it is given, for a caller (the worker) that publishes it itself.
public struct LadderTranscoder: Sendable {
    public var ladder: Ladder
    /// Threads one transcode may use (decoder and encoders together); 0 means the core count.
    public var threads: Int

    public init(ladder: Ladder = .default, threads: Int = 0) {
        self.ladder = ladder
        self.threads = threads
    }

    /// Transcodes `input` into the folder `output`, which must not exist yet.
    ///
    /// The work runs on dedicated threads, never on Swift's cooperative pool; cancelling the calling
    /// task stops it within a second and removes everything written.
    public func transcode(
        input: String, output: String, progress: @escaping @Sendable (TranscodeProgress) -> Void = { _ in }
    ) async throws(MediaError) -> LadderResult {
        try await run(input: input, output: output, atomic: true, progress: progress)
    }

    /// Transcodes `input` straight into `folder`, which it creates (it must not exist yet) and
    /// removes again if the transcode fails or is cancelled. Nothing is written outside it.
    public func transcode(
        input: String, into folder: String, progress: @escaping @Sendable (TranscodeProgress) -> Void = { _ in }
    ) async throws(MediaError) -> LadderResult {
        try await run(input: input, output: folder, atomic: false, progress: progress)
    }

    private func run(
        input: String, output: String, atomic: Bool, progress: @escaping @Sendable (TranscodeProgress) -> Void
    ) async throws(MediaError) -> LadderResult {
        let flag = CancellationFlag()
        let (ladder, threads) = (ladder, threads)
        let result: Result<LadderResult, MediaError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    _ = Libav.installed
                    let job = TranscodeJob(
                        input: input, output: output, atomic: atomic, ladder: ladder, threads: threads,
                        cancellation: flag, progress: progress)
                    continuation.resume(returning: Result { () throws(MediaError) in try job.run() })
                }
                thread.name = "lessonlink.transcode"
                thread.start()
            }
        } onCancel: {
            flag.cancel()
        }
        return try result.get()
    }
}

// MARK: - The job, on its own thread

/// Everything one transcode holds; lives on the thread that runs it.
final class TranscodeJob {
    let inputPath: String
    let outputPath: String
    /// Write into a hidden sibling and rename it to `outputPath` at the end.
    let atomic: Bool
    let ladder: Ladder
    let threads: Int
    let cancellation: CancellationFlag
    let report: @Sendable (TranscodeProgress) -> Void
    private let started = Date()
    private var lastReport = Date.distantPast

    init(
        input: String, output: String, atomic: Bool, ladder: Ladder, threads: Int, cancellation: CancellationFlag,
        progress: @escaping @Sendable (TranscodeProgress) -> Void
    ) {
        inputPath = input
        outputPath = output
        self.atomic = atomic
        self.ladder = ladder
        self.threads = threads
        self.cancellation = cancellation
        report = progress
    }

    func run() throws(MediaError) -> LadderResult {
        if cancellation.isCancelled { throw .cancelled }
        let output = URL(fileURLWithPath: outputPath).standardizedFileURL
        if FileManager.default.fileExists(atPath: output.path) {
            throw MediaError(.io, step: "preparing the output", message: "\(output.path) already exists")
        }
        let input = try InputFile(path: inputPath, cancellation: cancellation)
        var plan = try TranscodePlan(source: input.info, ladder: ladder)
        if plan.passthroughCandidate, let stream = plan.videoStream {
            plan.decidePassthrough(
                try SourceScan.read(
                    path: inputPath, stream: stream, duration: input.info.duration, window: plan.segmentDuration, cancellation: cancellation))
        }

        let parent = output.deletingLastPathComponent()
        let temporary =
            atomic ? parent.appendingPathComponent(".\(output.lastPathComponent).partial-\(UUID().uuidString)") : output
        do {
            try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        } catch {
            throw MediaError.io("creating \(temporary.path)", error)
        }
        do throws(MediaError) {
            var result = try Pipeline(job: self, input: input, plan: plan, directory: temporary.path).run()
            if cancellation.isCancelled { throw .cancelled }
            if atomic { try publish(temporary, as: output) }
            result.directory = output.path
            result.elapsed = Date().timeIntervalSince(started)
            result.speed = result.elapsed > 0 ? result.duration / result.elapsed : 0
            return result
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// rename(2) is atomic: readers see either no folder or the complete one. The parent folder is
    /// synced so the rename itself survives a power cut.
    private func publish(_ temporary: URL, as output: URL) throws(MediaError) {
        if rename(temporary.path, output.path) != 0 {
            throw OutputStream.failure("publishing to", output.path)
        }
        let directory = open(output.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            _ = fsync(directory)
            _ = close(directory)
        }
    }

    func progress(mediaTime: Double, duration: Double?, final: Bool = false) {
        let now = Date()
        guard final || now.timeIntervalSince(lastReport) >= 0.25 else { return }
        lastReport = now
        let elapsed = now.timeIntervalSince(started)
        let fraction = final ? 1 : min(0.99, max(0, duration.map { $0 > 0 ? mediaTime / $0 : 0 } ?? 0))
        let speed = elapsed > 0 ? mediaTime / elapsed : 0
        let remaining = duration.flatMap { total in speed > 0 ? max(0, (total - mediaTime) / speed) : nil }
        report(
            TranscodeProgress(
                fraction: fraction, mediaTime: mediaTime, elapsed: elapsed, speed: speed,
                estimatedRemaining: final ? 0 : remaining))
    }
}

@available(*, unavailable)
extension TranscodeJob: Sendable {}

/// The decode loop and the stages it feeds.
private final class Pipeline {
    let job: TranscodeJob
    let input: InputFile
    let plan: TranscodePlan
    let directory: String
    /// The start of the presentation in seconds; every output starts at zero from here.
    let origin: Double

    var videoDecoder: Decoder?
    var filter: VideoFilter?
    /// The top tier when it is the source's own packets (`plan.passthrough`).
    var passthrough: HLSTrackWriter?
    /// The presentation's start in the source stream's time base, taken off every passed-through
    /// packet and every picture so all tiers share one timeline.
    var originTicks: Int64 = 0
    var lastPassthroughDts = Int64.min
    var tiers: [TierWorker] = []
    /// One per tier, each scaling from the previous tier's picture (the first from the source).
    var scalers: [Scaler] = []
    var audioDecoder: Decoder?
    var audio: [AudioRendition] = []

    var encoderTimeBase = AVRational(num: 1, den: 25)
    var lastVideoPts: Int64 = -1
    /// Index of the next keyframe to force: keyframe k falls on the first frame at or after
    /// k × keyframeInterval seconds, the same frame in every tier.
    var nextKeyframe = 0
    var decodedFrames = 0
    var reached = 0.0
    var poster: Frame?
    var posterChosen = false
    var decodeFailures = 0
    var packetsSent = 0

    init(job: TranscodeJob, input: InputFile, plan: TranscodePlan, directory: String) throws(MediaError) {
        self.job = job
        self.input = input
        self.plan = plan
        self.directory = directory
        let start = input.context.pointee.start_time
        origin = start == lessonlink_nopts() ? 0 : Double(start) / Double(AV_TIME_BASE)
        input.discardAll(except: Set([plan.videoStream, plan.audioStream].compactMap { $0 }))

        if let index = plan.videoStream, !plan.video.isEmpty {
            let budget = job.threads > 0 ? job.threads : ProcessInfo.processInfo.activeProcessorCount
            let encoded = plan.passthrough ? Array(plan.video.dropFirst()) : plan.video
            let allocation = ThreadAllocation(budget: budget, outputs: encoded)
            let stream = input.stream(index)
            let decoder = try Decoder(stream: stream, threads: allocation.decoder)
            videoDecoder = decoder
            if let description = VideoFilter.description(deinterlace: plan.deinterlace, rotation: plan.rotation) {
                filter = try VideoFilter(decoder: decoder, description: description)
            }
            encoderTimeBase = AVRational(num: Int32(plan.frameRate.denominator), den: Int32(plan.frameRate.numerator))
            var frameTicks: Int64 = 1
            var gopFrames = plan.keyframeInterval * 2
            if plan.passthrough {
                // One timeline for every tier: the source's own time base, as the live relay does.
                encoderTimeBase = stream.pointee.time_base
                originTicks = Int64((origin / Rational(encoderTimeBase).doubleValue).rounded())
                frameTicks = max(1, Int64((1 / plan.frameRate.doubleValue / Rational(encoderTimeBase).doubleValue).rounded()))
                // x264's own keyframe interval is a backstop past the source's longest gap.
                gopFrames = Int((plan.frameRate.doubleValue * (plan.segmentDuration + 1)).rounded(.up))
                passthrough = try HLSTrackWriter(
                    directory: "\(directory)/\(plan.video[0].tier.name)", copying: stream.pointee.codecpar, timeBase: encoderTimeBase,
                    isVideo: true, segmentDuration: plan.segmentDuration, frameDuration: frameTicks)
            }
            let color = decoder.context.pointer.pointee
            for (index, (output, threads)) in zip(encoded, allocation.encoders).enumerated() {
                tiers.append(
                    try TierWorker(
                        output: output, plan: plan, timeBase: encoderTimeBase, frameTicks: frameTicks, gopFrames: gopFrames,
                        threads: threads, colors: (color.color_primaries, color.color_trc, color.colorspace),
                        directory: "\(directory)/\(output.tier.name)", queueDepth: index == 0 ? 4 : 12,
                        cancellation: job.cancellation))
                scalers.append(Scaler(width: output.width, height: output.height, format: AV_PIX_FMT_YUV420P))
            }
        }
        if let index = plan.audioStream, !plan.audio.isEmpty {
            let stream = input.stream(index)
            let decoder = try Decoder(stream: stream, threads: 1)
            audioDecoder = decoder
            let language = av_dict_get(stream.pointee.metadata, "language", nil, 0).map { String(cString: $0.pointee.value) }
            for tier in plan.audio {
                audio.append(
                    try AudioRendition(
                        tier: tier, sampleRate: plan.sampleRate, decoder: decoder,
                        directory: "\(directory)/\(tier.name)", segmentDuration: plan.segmentDuration,
                        language: language))
            }
        }
    }

    func run() throws(MediaError) -> LadderResult {
        tiers.forEach { $0.start() }
        do throws(MediaError) {
            try demux()
            tiers.forEach { $0.queue.finish() }
        } catch {
            stopTiers()
            throw tierFailure() ?? error
        }
        for tier in tiers { tier.join() }
        if let failure = tierFailure() { throw failure }
        if job.cancellation.isCancelled { throw .cancelled }

        let duration = input.info.duration
        if let duration, reached < duration - max(1.0, duration * 0.05) {
            throw MediaError(
                .truncated, step: "reading the input",
                message: "the file ends early: \(HLSPlaylist.decimal(reached, 1)) s of the \(HLSPlaylist.decimal(duration, 1)) s its header announces could be read")
        }
        if videoDecoder != nil && decodedFrames == 0 {
            throw MediaError(
                .unsupported, step: "decoding video",
                message: "no picture could be decoded" + (Libav.takeLastErrorLine().map { " (\($0))" } ?? ""))
        }
        return try package()
    }

    private func tierFailure() -> MediaError? { tiers.lazy.compactMap(\.failure).first }

    private func stopTiers() {
        job.cancellation.cancel()
        tiers.forEach { $0.queue.abort() }
        tiers.forEach { $0.join() }
    }

    // MARK: Demux and decode

    private func demux() throws(MediaError) {
        let packet = try Packet()
        let frame = try Frame()
        let videoIndex = plan.videoStream.map(Int32.init)
        let audioIndex = plan.audioStream.map(Int32.init)
        while true {
            if job.cancellation.isCancelled { throw tierFailure() ?? .cancelled }
            Libav.forgetLastError()
            let status = av_read_frame(input.context, packet.pointer)
            if status == lessonlink_averror_eof() { break }
            try checkCode(status, "reading the input")
            defer { packet.unref() }
            let streamIndex = packet.pointer.pointee.stream_index
            track(packet)
            if streamIndex == videoIndex, let decoder = videoDecoder {
                if let passthrough { try pass(packet, to: passthrough) }
                try decode(packet, with: decoder, into: frame, handle: handleVideo)
            } else if streamIndex == audioIndex, let decoder = audioDecoder {
                try decode(packet, with: decoder, into: frame, handle: handleAudio)
            }
            job.progress(mediaTime: reached, duration: input.info.duration)
        }
        if let decoder = videoDecoder { try decode(nil, with: decoder, into: frame, handle: handleVideo) }
        if let filter {
            try filter.push(nil)
            try drainFilter(filter, into: frame)
        }
        if let decoder = audioDecoder { try decode(nil, with: decoder, into: frame, handle: handleAudio) }
        for rendition in audio { try rendition.drain() }
    }

    /// The top tier, packet for packet: the source's own H.264 on the shared timeline.
    private func pass(_ packet: Packet, to writer: HLSTrackWriter) throws(MediaError) {
        let copy = try Packet()
        try check(av_packet_ref(copy.pointer, packet.pointer), "av_packet_ref")
        defer { copy.unref() }
        let p = copy.pointer
        if p.pointee.pts != lessonlink_nopts() { p.pointee.pts -= originTicks }
        if p.pointee.dts != lessonlink_nopts() { p.pointee.dts -= originTicks } else { p.pointee.dts = p.pointee.pts }
        // The muxer takes decode times only forwards; a damaged source's stray packet is left out.
        guard p.pointee.pts != lessonlink_nopts(), p.pointee.dts > lastPassthroughDts else { return }
        lastPassthroughDts = p.pointee.dts
        try writer.write(copy)
    }

    /// Remembers how far into the presentation the input has reached, for progress and to spot
    /// files that end before their header says.
    private func track(_ packet: Packet) {
        let p = packet.pointer.pointee
        guard p.pts != lessonlink_nopts() else { return }
        let timeBase = Rational(input.stream(Int(p.stream_index)).pointee.time_base).doubleValue
        reached = max(reached, Double(p.pts + max(p.duration, 0)) * timeBase - origin)
    }

    /// Sends a packet and hands every resulting frame on. Recordings often carry a damaged packet
    /// or two (a dropped network frame); those are skipped, but a stream that mostly fails is not
    /// a recording we can publish.
    private func decode(
        _ packet: Packet?, with decoder: Decoder, into frame: Frame, handle: (Frame) throws(MediaError) -> Void
    ) throws(MediaError) {
        let status = decoder.send(packet)
        if packet != nil { packetsSent += 1 }
        if status < 0 && status != lessonlink_averror_eof() {
            decodeFailures += 1
            if decodeFailures > max(10, packetsSent / 2) {
                throw MediaError.libav(status, step: "decoding \(decoder.kind)")
            }
            return
        }
        while true {
            let flow: Flow
            do throws(MediaError) {
                flow = try decoder.receive(into: frame)
            } catch {
                decodeFailures += 1
                if decodeFailures > max(10, packetsSent / 2) { throw error }
                continue
            }
            guard flow == .ready else { return }
            defer { frame.unref() }
            try handle(frame)
        }
    }

    private func handleVideo(_ frame: Frame) throws(MediaError) {
        guard let filter else { return try emitVideo(frame, timeBase: videoDecoder!.stream.pointee.time_base) }
        try filter.push(frame)
        let filtered = try Frame()
        try drainFilter(filter, into: filtered)
    }

    private func drainFilter(_ filter: VideoFilter, into frame: Frame) throws(MediaError) {
        while try filter.pull(into: frame) == .ready {
            defer { frame.unref() }
            try emitVideo(frame, timeBase: filter.outputTimeBase)
        }
    }

    /// Gives a frame its output timestamp and passes it to the first tier.
    private func emitVideo(_ frame: Frame, timeBase: AVRational) throws(MediaError) {
        let f = frame.pointer
        let stamp = f.pointee.best_effort_timestamp != lessonlink_nopts() ? f.pointee.best_effort_timestamp : f.pointee.pts
        if passthrough != nil {
            // The source's own timestamps, and a keyframe where the source has one: the lower
            // tiers then cut their segments where the passed-through top tier does.
            f.pointee.pts = max(stamp == lessonlink_nopts() ? lastVideoPts + 1 : stamp - originTicks, lastVideoPts + 1)
            lastVideoPts = f.pointee.pts
            f.pointee.pict_type = f.pointee.key_frame != 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
            decodedFrames += 1
            return try distribute(frame, time: Double(f.pointee.pts) * Rational(encoderTimeBase).doubleValue)
        }
        var pts = lastVideoPts + 1
        if stamp != lessonlink_nopts() {
            let seconds = Double(stamp) * Rational(timeBase).doubleValue - origin
            pts = Int64((seconds / Rational(encoderTimeBase).doubleValue).rounded())
        }
        // Encoders need strictly increasing timestamps; a jittery source must not break that.
        pts = max(pts, lastVideoPts + 1)
        lastVideoPts = pts
        f.pointee.pts = pts
        let time = Double(pts) * Rational(encoderTimeBase).doubleValue
        // Keyframes by time, not by frame count: a count cannot land on 0.5 s at 25 fps or on 2 s
        // at 29.97 fps, and timestamps may jitter. Every tier receives this same decision.
        if time >= Double(nextKeyframe) * plan.keyframeSeconds - 1e-6 {
            f.pointee.pict_type = AV_PICTURE_TYPE_I
            nextKeyframe = Int((time / plan.keyframeSeconds + 1e-6).rounded(.down)) + 1
        } else {
            f.pointee.pict_type = AV_PICTURE_TYPE_NONE
        }
        decodedFrames += 1
        try distribute(frame, time: time)
    }

    private func distribute(_ frame: Frame, time: Double) throws(MediaError) {
        try choosePoster(frame, time: time)
        // The scaling cascade runs here, on the decode thread (which has time to spare), so every
        // encoder gets its pictures through its own queue: the small tiers can run ahead and keep
        // a core busy while the 1080p encoder is catching up, instead of waiting on it.
        var picture = frame
        for (tier, scaler) in zip(tiers, scalers) {
            if !scaler.isPassThrough(picture) { picture = try scaler.scale(picture) }
            if !tier.queue.push(try picture.reference()) { throw tierFailure() ?? .cancelled }
        }
    }

    private func choosePoster(_ frame: Frame, time: Double) throws(MediaError) {
        guard !posterChosen else { return }
        let target = (input.info.duration ?? 0) * plan.posterPosition
        if poster == nil || time >= target {
            poster = try frame.reference()
            posterChosen = time >= target
        }
    }

    private func handleAudio(_ frame: Frame) throws(MediaError) {
        let f = frame.pointer.pointee
        let stamp = f.best_effort_timestamp != lessonlink_nopts() ? f.best_effort_timestamp : f.pts
        let time = stamp == lessonlink_nopts()
            ? nil : Double(stamp) * Rational(audioDecoder!.stream.pointee.time_base).doubleValue - origin
        for rendition in audio { try rendition.feed(frame, time: time) }
    }

    // MARK: Packaging

    private func package() throws(MediaError) -> LadderResult {
        var videoVariants: [HLSPlaylist.VideoVariant] = []
        var summaries: [RenditionSummary] = []
        if let passthrough, let top = plan.video.first {
            let track = try passthrough.finish()
            let folder = "\(directory)/\(top.tier.name)"
            try writeFile("\(folder)/\(HLSNames.mediaPlaylist)", HLSPlaylist.media(track))
            try writeFile("\(folder)/\(HLSNames.iFramePlaylist)", HLSPlaylist.iFrames(track))
            videoVariants.append(.init(folder: top.tier.name, width: top.width, height: top.height, track: track))
            summaries.append(summary(track, name: top.tier.name, width: top.width, height: top.height))
        }
        for tier in tiers {
            guard let track = tier.track else { continue }
            let output = tier.output
            try writeFile("\(tier.directory)/\(HLSNames.mediaPlaylist)", HLSPlaylist.media(track))
            try writeFile("\(tier.directory)/\(HLSNames.iFramePlaylist)", HLSPlaylist.iFrames(track))
            videoVariants.append(.init(folder: output.tier.name, width: output.width, height: output.height, track: track))
            summaries.append(summary(track, name: output.tier.name, width: output.width, height: output.height))
        }
        var audioVariants: [HLSPlaylist.AudioVariant] = []
        var audioSummaries: [RenditionSummary] = []
        for rendition in audio {
            let track = try rendition.finish()
            try writeFile("\(rendition.directory)/\(HLSNames.mediaPlaylist)", HLSPlaylist.media(track))
            audioVariants.append(.init(folder: rendition.tier.name, name: rendition.tier.name, channels: rendition.tier.channels, track: track))
            audioSummaries.append(summary(track, name: rendition.tier.name, width: nil, height: nil))
        }
        var posterName: String?
        if let poster, let size = posterSize() {
            posterName = HLSNames.poster
            try Poster.write(poster, width: size.width, height: size.height, to: "\(directory)/poster.jpg")
        }
        try writeFile(
            "\(directory)/\(HLSNames.master)",
            HLSPlaylist.master(video: videoVariants, audio: audioVariants, frameRate: plan.frameRate.doubleValue))
        let duration = (summaries + audioSummaries).map(\.duration).max() ?? 0
        job.progress(mediaTime: duration, duration: duration, final: true)
        return LadderResult(
            directory: directory, source: input.info, video: summaries, audio: audioSummaries, poster: posterName,
            elapsed: 0, speed: 0, duration: duration)
    }

    /// The poster is the largest tier no taller than 720 lines: plenty for a catalog card.
    private func posterSize() -> (width: Int, height: Int)? {
        guard let output = plan.video.first(where: { min($0.width, $0.height) <= 720 }) ?? plan.video.last else { return nil }
        return (output.width, output.height)
    }

    private func summary(_ track: HLSTrack, name: String, width: Int?, height: Int?) -> RenditionSummary {
        RenditionSummary(
            name: name, playlist: HLSNames.mediaPlaylist(tier: name), width: width, height: height, codecs: track.codecs,
            averageBitRate: track.averageBitRate, peakBitRate: track.peakBitRate,
            size: track.mediaSize + track.initSize, segmentCount: track.segments.count, duration: track.duration)
    }
}

@available(*, unavailable)
extension Pipeline: Sendable {}

// MARK: - Video tiers

/// How a job's thread budget is shared out. Every tier already runs on its own thread, so x264
/// needs few threads of its own: each tier gets its share of the budget by pixels, rounded up.
/// Rounding up matters: the top tier is over half the work, and with a single thread it would
/// be the bottleneck while a core sat idle (measured: 1.78 of 2 cores busy instead of 1.95).
/// Few x264 threads also mean less memory: each x264 frame thread holds pictures of its own.
struct ThreadAllocation: Equatable {
    var decoder: Int
    var encoders: [Int]

    init(budget: Int, outputs: [TranscodePlan.VideoOutput]) {
        let pixels = outputs.map { Double($0.width * $0.height) }
        let total = max(1, pixels.reduce(0, +))
        encoders = pixels.map { max(1, Int((Double(budget) * $0 / total).rounded(.up))) }
        // 0 lets libav pick its frame-thread count, which measured fastest even on 2 cores: the
        // decoder then never makes the tier threads wait for a picture.
        decoder = budget > 1 ? 0 : 1
    }
}

/// One video tier on its own thread: encodes the pictures the decode thread scaled for it and
/// packages them as an HLS rendition.
///
/// `@unchecked Sendable`: after `start()` only the worker thread touches the encoder, scaler and
/// writer; the job thread reads `failure` and `track` only after `join()`.
private final class TierWorker: @unchecked Sendable {
    let output: TranscodePlan.VideoOutput
    let directory: String
    // Deep enough to absorb jitter between stages; each slot may hold a 3 MB picture.
    let queue: BoundedQueue<Frame>
    private let encoder: Encoder
    private let writer: HLSTrackWriter
    private let cancellation: CancellationFlag
    private let done = DispatchSemaphore(value: 0)
    private var started = false
    private(set) var failure: MediaError?
    private(set) var track: HLSTrack?

    init(
        output: TranscodePlan.VideoOutput, plan: TranscodePlan, timeBase: AVRational, frameTicks: Int64, gopFrames: Int, threads: Int,
        colors: (AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace), directory: String,
        queueDepth: Int, cancellation: CancellationFlag
    ) throws(MediaError) {
        self.output = output
        self.directory = directory
        self.cancellation = cancellation
        // Each slot may hold a picture of this tier's size: 3 MB at 1080p, under 1.4 MB below.
        queue = BoundedQueue(capacity: queueDepth)
        let tier = output.tier
        encoder = try Encoder(
            name: "libx264",
            options: [
                "preset": plan.preset, "crf": "\(tier.crf)", "profile": tier.profile,
                // Keyframes only every keyframeInterval frames, in every tier alike: no scene-cut
                // keyframes and closed GOPs, so each segment starts with an IDR at the same time.
                "x264-params": "scenecut=0:open-gop=0",
                "forced-idr": "1",
            ]
        ) { c in
            c.pointee.width = Int32(output.width)
            c.pointee.height = Int32(output.height)
            c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            c.pointee.time_base = timeBase
            c.pointee.framerate = plan.frameRate.av
            c.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
            // Keyframes are forced by time on the frames themselves (see emitVideo); x264's own
            // interval is only a backstop, set past the forced one so it never adds a keyframe.
            c.pointee.gop_size = Int32(gopFrames)
            c.pointee.keyint_min = Int32(plan.keyframeInterval)
            c.pointee.rc_max_rate = Int64(tier.maxRate)
            c.pointee.rc_buffer_size = Int32(tier.bufferSize)
            c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
            c.pointee.thread_count = Int32(threads)
            c.pointee.color_primaries = colors.0
            c.pointee.color_trc = colors.1
            c.pointee.colorspace = colors.2
            c.pointee.color_range = AVCOL_RANGE_MPEG
        }
        writer = try HLSTrackWriter(
            directory: directory, encoder: encoder, isVideo: true, segmentDuration: plan.segmentDuration,
            frameDuration: frameTicks)
    }

    func start() {
        started = true
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.name = "lessonlink.tier.\(output.tier.name)"
        thread.start()
    }

    func join() {
        guard started else { return }
        started = false
        done.wait()
    }

    private func run() {
        do throws(MediaError) {
            let packet = try Packet()
            while let frame = queue.pop() {
                if cancellation.isCancelled { throw .cancelled }
                try encoder.send(frame)
                try drain(packet)
            }
            if cancellation.isCancelled { throw .cancelled }
            try encoder.send(nil)
            try drain(packet)
            track = try writer.finish()
        } catch {
            if error.reason != .cancelled { failure = error }
            cancellation.cancel()
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

// MARK: - Audio

/// One AAC rendition: resample to 48 kHz, cut into the encoder's 1024-sample frames, encode, package.
/// Runs on the job thread: AAC at 96 kb/s costs a few percent of one core.
final class AudioRendition {
    let tier: Ladder.AudioTier
    let directory: String
    private let resampler: Resampler
    private let fifo: AudioFIFO
    private let encoder: Encoder
    let writer: HLSTrackWriter
    private let packet: Packet
    private let sampleRate: Int32
    private var nextPts: Int64?

    init(
        tier: Ladder.AudioTier, sampleRate: Int, decoder: Decoder, directory: String, segmentDuration: Double,
        language: String?
    ) throws(MediaError) {
        self.tier = tier
        self.directory = directory
        self.sampleRate = Int32(sampleRate)
        resampler = try Resampler(input: decoder.context.pointer, sampleRate: sampleRate, channels: tier.channels)
        fifo = try AudioFIFO(channels: tier.channels)
        encoder = try Encoder(name: "aac") { c in
            c.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
            c.pointee.sample_rate = Int32(sampleRate)
            av_channel_layout_default(&c.pointee.ch_layout, Int32(tier.channels))
            c.pointee.bit_rate = Int64(tier.bitRate)
            c.pointee.time_base = AVRational(num: 1, den: Int32(sampleRate))
            c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        writer = try HLSTrackWriter(
            directory: directory, encoder: encoder, isVideo: false, segmentDuration: segmentDuration, language: language)
        packet = try Packet()
    }

    /// Takes one decoded frame; `time` (seconds from the presentation start) anchors the first one.
    func feed(_ frame: Frame, time: Double?) throws(MediaError) {
        if nextPts == nil { nextPts = Int64((max(0, time ?? 0) * Double(sampleRate)).rounded()) }
        try fifo.write(try resampler.convert(frame))
        try encodeAvailable(final: false)
    }

    /// Flushes the resampler, the last partial frame and the encoder.
    func drain() throws(MediaError) {
        if nextPts == nil { return }
        try fifo.write(try resampler.convert(nil))
        try encodeAvailable(final: true)
        try encoder.send(nil)
        try receivePackets()
    }

    func finish() throws(MediaError) -> HLSTrack { try writer.finish() }

    private func encodeAvailable(final: Bool) throws(MediaError) {
        let frameSize = max(encoder.context.pointer.pointee.frame_size, 1024)
        while fifo.count >= frameSize || (final && fifo.count > 0) {
            let frame = try fifo.read(frameSize, sampleRate: sampleRate)
            frame.pointer.pointee.pts = nextPts ?? 0
            nextPts = (nextPts ?? 0) + Int64(frame.pointer.pointee.nb_samples)
            try encoder.send(frame)
            try receivePackets()
        }
    }

    private func receivePackets() throws(MediaError) {
        while try encoder.receive(into: packet) == .ready {
            defer { packet.unref() }
            try writer.write(packet)
        }
    }
}

@available(*, unavailable)
extension AudioRendition: Sendable {}
