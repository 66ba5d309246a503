import Foundation
import TestSupport
import Media
import Testing

/// The repository root, found from this file's location.

@Suite("Ladder configuration")
struct LadderTests {
    let shipped: String

    init() throws {
        shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("config/ladder.yaml"), encoding: .utf8)
    }

    @Test("config/ladder.yaml is the built-in default")
    func shippedFileIsTheDefault() throws {
        let ladder = try Ladder.load(path: repositoryRoot.appendingPathComponent("config/ladder.yaml").path)
        #expect(ladder == Ladder.default)
        #expect(ladder.video.map(\.height) == [1080, 720, 480, 360])
        #expect(ladder.video.map(\.maxRate) == [5_000_000, 2_500_000, 1_000_000, 500_000])
        #expect(ladder.segmentDuration == 4 && ladder.keyframeInterval == 2)
    }

    struct Malformed: CustomTestStringConvertible, Sendable {
        var replace: String
        var with: String
        var key: String
        var reason: String
        var testDescription: String { "\(key): \(reason)" }
    }

    @Test(
        "A malformed ladder names the file, the key and the reason",
        arguments: [
            Malformed(replace: "maxRate: 5000k", with: "maxrate: 5000k", key: "video.tiers[0].maxrate", reason: "unknown key"),
            Malformed(replace: "maxRate: 2500k", with: "maxRate: fast", key: "video.tiers[1].maxRate", reason: "expected a bit rate"),
            Malformed(replace: "height: 480", with: "height: 481", key: "video.tiers[2].height", reason: "must be even"),
            Malformed(replace: "height: 360", with: "height: 720", key: "video.tiers[3].height", reason: "tallest first"),
            Malformed(replace: "segmentDuration: 4", with: "segmentDuration: 3", key: "segmentDuration", reason: "whole multiple"),
            Malformed(replace: "      crf: 23\n      maxRate: 1000k", with: "      maxRate: 1000k", key: "video.tiers[2]", reason: "missing required key 'crf'"),
            Malformed(replace: "crf: 23\n      maxRate: 500k", with: "crf: 60\n      maxRate: 500k", key: "video.tiers[3].crf", reason: "out of range"),
            Malformed(replace: "preset: veryfast", with: "preset: turbo", key: "video.preset", reason: "unknown x264 preset"),
            Malformed(replace: "bitRate: 48k", with: "bitRate: 48q", key: "audio.tiers[1].bitRate", reason: "expected a bit rate"),
            Malformed(replace: "name: 720p", with: "name: ../720p", key: "video.tiers[1].name", reason: "must be letters"),
            Malformed(replace: "tiers:\n    # The projector", with: "tiers: [\n    # The projector", key: "", reason: "not valid YAML"),
        ])
    func malformed(_ change: Malformed) throws {
        #expect(shipped.contains(change.replace), "the shipped file changed; update this case")
        let yaml = shipped.replacingOccurrences(of: change.replace, with: change.with)
        let error = #expect(throws: MediaError.self) { try Ladder(yaml: yaml, file: "ladder-test.yaml") }
        #expect(error?.reason == .invalidConfiguration)
        #expect(error?.step.hasPrefix("ladder-test.yaml") == true)
        if !change.key.isEmpty {
            #expect(error?.message.contains(change.key) == true, "\(error?.description ?? "")")
        }
        #expect(error?.description.contains(change.reason) == true, "\(error?.description ?? "")")
    }

    @Test("A missing ladder file is reported with its path")
    func missingFile() {
        let error = #expect(throws: MediaError.self) { try Ladder.load(path: "/nonexistent/ladder.yaml") }
        #expect(error?.step == "reading /nonexistent/ladder.yaml")
    }
}
