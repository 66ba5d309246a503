import Foundation
import HLS
import Testing

@Suite("Live playlists")
struct LivePlaylistTests {
    static func segments(_ publishes: [Int]) -> [LiveSegment] {
        var date = 1_795_680_000.0
        return publishes.enumerated().map { index, publish in
            defer { date += 2 }
            return LiveSegment(publish: publish, name: HLSNames.segment(index), date: date, duration: 2)
        }
    }

    @Test("A sliding window numbers its segments and counts the seams that scrolled out")
    func window() {
        let text = HLSPlaylist.live(segments: Self.segments([1, 1, 1, 2, 2, 3, 3, 3]), window: 4, targetDuration: 2, ended: false, holdBack: 6)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:4"))
        // Two publish changes lie before the window's first segment (1→2 at 3, 2→3 at 5 is inside).
        #expect(lines.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1"))
        #expect(lines.filter { $0 == "#EXT-X-DISCONTINUITY" }.count == 1)
        #expect(lines.filter { $0.hasPrefix("#EXT-X-MAP:") } == ["#EXT-X-MAP:URI=\"e2/init.mp4\"", "#EXT-X-MAP:URI=\"e3/init.mp4\""])
        #expect(lines.filter { $0.hasPrefix("#EXT-X-PROGRAM-DATE-TIME:") }.count == 4)
        #expect(lines.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:00:08.000Z"))
        #expect(lines.contains("#EXT-X-SERVER-CONTROL:HOLD-BACK=6.0"))
        #expect(lines.last == "e3/seg_00007.m4s")
        #expect(!text.contains("#EXT-X-ENDLIST"))
    }

    @Test("An ended playlist keeps its window and says it is over")
    func ended() {
        let text = HLSPlaylist.live(segments: Self.segments([1, 1, 1]), window: 2, targetDuration: 2, ended: true)
        #expect(text.contains("#EXT-X-MEDIA-SEQUENCE:1"))
        #expect(text.hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(!text.contains("HOLD-BACK"))
    }

    @Test("Only live files are served, named as the relay writes them")
    func served() {
        #expect(LiveNames.servedPath(["master.m3u8"]) == "master.m3u8")
        #expect(LiveNames.servedPath(["480p", "index.m3u8"]) == "480p/index.m3u8")
        #expect(LiveNames.servedPath(["source", "e12", "seg_00003.m4s"]) == "source/e12/seg_00003.m4s")
        #expect(LiveNames.servedPath(["audio", "e1", "init.mp4"]) == "audio/e1/init.mp4")
        for refused in [
            ["source", "segments.log"], ["e1", "archive.ts"], ["source", "e0", "init.mp4"], ["..", "index.m3u8"],
            ["source", "e1", "..", "init.mp4"], ["source", "ex", "seg_00001.m4s"], [],
        ] {
            #expect(LiveNames.servedPath(refused) == nil, "\(refused)")
        }
    }

    @Test("A segment log survives a line cut short")
    func log() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("segments-\(UUID()).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = Self.segments([1, 2]).map(LiveSegmentLog.line).joined()
        try Data(lines + Array(#"{"d":2,"e":2,"n":"seg_"#.utf8)).write(to: URL(fileURLWithPath: path))
        #expect(LiveSegmentLog.read(path) == Self.segments([1, 2]))
    }

    @Test("Every URI of a playlist, lines and URI attributes, can be pointed elsewhere")
    func mapURIs() {
        let media = """
            #EXTM3U
            #EXT-X-VERSION:7
            #EXT-X-MAP:URI="init.mp4"
            #EXTINF:2.000000,
            seg_00000.m4s
            #EXTINF:1.500000,
            seg_00001.m4s
            #EXT-X-ENDLIST

            """
        let pointed = HLSPlaylist.mapURIs(media) { "https://store/v1/360p/\($0)?sig=1" }
        #expect(pointed.contains(#"#EXT-X-MAP:URI="https://store/v1/360p/init.mp4?sig=1""#))
        #expect(pointed.contains("\nhttps://store/v1/360p/seg_00001.m4s?sig=1\n"))
        #expect(pointed.hasSuffix("#EXT-X-ENDLIST\n"), "blank lines and tags without URIs stay")
        #expect(HLSPlaylist.references(media) == ["init.mp4", "seg_00000.m4s", "seg_00001.m4s"])
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"a\",URI=\"audio/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n"
        #expect(HLSPlaylist.references(master) == ["audio/index.m3u8", "360p/index.m3u8"])
    }
}
