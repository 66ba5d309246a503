import ArgumentParser
import Foundation
import Synchronization
import Media

/// `lessonlink transcode FILE --out DIR`: make the HLS ladder for one file.
struct TranscodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode", abstract: "Turn a recording into the HLS bandwidth ladder.")

    @Argument(help: "The recording to transcode.")
    var file: String

    @Option(name: .long, help: "Output folder; must not exist yet.")
    var out: String

    @Option(name: .long, help: "Ladder configuration (default: ./config/ladder.yaml if there is one, else the built-in ladder).")
    var ladder: String?

    @Option(name: .long, help: "Threads this transcode may use (0: the core count).")
    var threads = 0

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    @OptionGroup var media: MediaOptions

    func run() async throws {
        media.apply()
        let result: LadderResult
        do {
            let transcoder = LadderTranscoder(ladder: try Ladder.chosen(ladder), threads: threads)
            let bar = ProgressBar(interactive: isatty(STDERR_FILENO) == 1)
            result = try await transcoder.transcode(input: file, output: out) { bar.show($0) }
            bar.finish()
        } catch {
            throw CommandFailure(error.description)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(Self.summary(result))
        }
    }

    static func summary(_ result: LadderResult) -> String {
        var lines = ["\(result.directory)/master.m3u8"]
        let header = "tier".padded(9) + "resolution".padded(12) + "average".padded(12) + "peak".padded(12)
            + "size".padded(10) + "segments"
        lines.append(header)
        for rendition in result.video + result.audio {
            let resolution = rendition.width.map { "\($0)x\(rendition.height ?? 0)" } ?? "audio"
            lines.append(
                rendition.name.padded(9) + resolution.padded(12) + Format.bitRate(rendition.averageBitRate).padded(12)
                    + Format.bitRate(rendition.peakBitRate).padded(12) + Format.bytes(rendition.size).padded(10)
                    + "\(rendition.segmentCount)")
        }
        let total = (result.video + result.audio).reduce(0) { $0 + $1.size }
        lines.append(
            "\(Format.duration(result.duration)) of media in \(String(format: "%.1f", result.elapsed)) s "
                + "(\(String(format: "%.2f", result.speed))x real time), \(Format.bytes(total)) in all")
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// Pads to `width` characters (at least one space after), for the command line's tables.
    func padded(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

/// Progress on stderr: a redrawn bar with ETA on a terminal, plain lines every 10 % otherwise.
final class ProgressBar: Sendable {
    let interactive: Bool
    private let lastDecile = Mutex(-1)

    init(interactive: Bool) { self.interactive = interactive }

    func show(_ progress: TranscodeProgress) {
        let percent = Int(progress.fraction * 100)
        let eta = progress.estimatedRemaining.map { "ETA \(Format.duration($0).dropLast(3))" } ?? ""
        let speed = String(format: "%.2fx", progress.speed)
        if interactive {
            let width = 30
            let filled = Int(progress.fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r[\(bar)] \(percent)% \(speed) \(eta)   ".utf8))
        } else {
            let decile = percent / 10
            let changed = lastDecile.withLock { last in
                defer { last = max(last, decile) }
                return decile > last
            }
            if changed { FileHandle.standardError.write(Data("progress \(percent)% \(speed) \(eta)\n".utf8)) }
        }
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
