import ArgumentParser
import Foundation
import Media

/// `lessonlink probe FILE`: what a media file contains.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "probe", abstract: "Describe a media file.")

    @Argument(help: "The file to probe.")
    var file: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var media: MediaOptions

    func run() async throws {
        media.apply()
        let info: MediaInfo
        do {
            info = try MediaInfo.probe(file)
        } catch {
            throw CommandFailure(error.description)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(info), as: UTF8.self))
        } else {
            print(Self.describe(info))
        }
    }

    static func describe(_ info: MediaInfo) -> String {
        var lines = [
            "container: \(info.container)",
            "duration:  \(info.duration.map { Format.duration($0) } ?? "unknown")",
            "bit rate:  \(info.bitRate.map { Format.bitRate($0) } ?? "unknown")",
            "size:      \(info.size.map { Format.bytes(Int($0)) } ?? "unknown")",
        ]
        for stream in info.streams {
            var text = "stream #\(stream.index): \(stream.kind.rawValue) \(stream.codec)"
            if let profile = stream.profile { text += " (\(profile))" }
            if let video = stream.video {
                text += ", \(video.width)x\(video.height)"
                if video.sampleAspectRatio != Rational(1, 1) { text += " SAR \(video.sampleAspectRatio)" }
                text += ", \(String(format: "%.3f", video.frameRate.doubleValue)) fps, \(video.pixelFormat)"
                if video.fieldOrder != .progressive { text += ", \(video.fieldOrder.rawValue)" }
                if video.rotation != 0 { text += ", rotated \(video.rotation)°" }
            }
            if let audio = stream.audio {
                text += ", \(audio.sampleRate) Hz, \(audio.channelLayout) (\(audio.channels) ch), \(audio.sampleFormat)"
            }
            if let bitRate = stream.bitRate { text += ", \(Format.bitRate(bitRate))" }
            if let language = stream.language { text += ", [\(language)]" }
            lines.append(text)
        }
        return lines.joined(separator: "\n")
    }
}

/// A failure shown to the user as one line on stderr, with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Human-readable numbers for terminal output.
enum Format {
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.down))
        let fraction = Int(((seconds - Double(total)) * 100).rounded(.down))
        return String(format: "%d:%02d:%02d.%02d", total / 3600, total / 60 % 60, total % 60, fraction)
    }

    static func bitRate(_ bitsPerSecond: Int) -> String {
        bitsPerSecond >= 1_000_000
            ? String(format: "%.2f Mb/s", Double(bitsPerSecond) / 1e6) : String(format: "%.0f kb/s", Double(bitsPerSecond) / 1e3)
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }
}
