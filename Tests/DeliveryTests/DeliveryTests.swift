import WebServing
import HLS
import Delivery
import Foundation
import Media
import Testing

@Suite("Playback tokens")
struct PlaybackSignerTests {
    let signer = PlaybackSigner(key: Data(repeating: 7, count: 32))
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("A token plays its recording until it expires, and nothing else")
    func check() {
        let token = signer.token(recordingId: 12, expires: now.addingTimeInterval(3600))
        #expect(signer.check(token, recordingId: 12, now: now) == .valid)
        #expect(signer.check(token, recordingId: 13, now: now) == .invalid, "another recording")
        #expect(signer.check(token, recordingId: 12, now: now.addingTimeInterval(3601)) == .expired)
        // Moving the expiry breaks the signature.
        let parts = token.split(separator: ".")
        #expect(signer.check("\(Int(parts[0])! + 86400).\(parts[1])", recordingId: 12, now: now) == .invalid)
        #expect(PlaybackSigner(key: Data(repeating: 8, count: 32)).check(token, recordingId: 12, now: now) == .invalid, "another key")
        for junk in ["", ".", "abc", "1.", ".abc", "1.2.3", "99999999999999999999.abc", "../../etc", "1.%%%"] {
            #expect(signer.check(junk, recordingId: 12, now: now) == .invalid, "\(junk)")
        }
    }

    @Test("The key file is made once, private, and reused")
    func keyFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)/playback.key").path
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let first = try PlaybackSigner.loadOrCreateKey(path: path)
        #expect(first.count == 32)
        #expect(try PlaybackSigner.loadOrCreateKey(path: path) == first)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

@Suite("Media file rules")
struct MediaFilesTests {
    @Test("Only the transcoder's file shapes map to paths")
    func paths() {
        #expect(MediaFiles.relativePath(["master.m3u8"]) == "master.m3u8")
        #expect(MediaFiles.relativePath(["720p", "seg_00042.m4s"]) == "720p/seg_00042.m4s")
        #expect(MediaFiles.relativePath(["audio-low", "init.mp4"]) == "audio-low/init.mp4")
        for bad in [["..", "master.m3u8"], ["720p", ".."], ["720p", "seg_1.m4s.tmp"], ["720p", "seg_../x.m4s"], ["a/b", "init.mp4"],
                    ["720p", "index.m3u8", "x"], ["secrets", "playback.key"], ["lessonlink.sqlite"], [], ["%2e%2e", "init.mp4"]] {
            #expect(MediaFiles.relativePath(bad) == nil, "\(bad)")
        }
        #expect(MediaFiles.isVersion("v12") && !MediaFiles.isVersion("v") && !MediaFiles.isVersion("..") && !MediaFiles.isVersion(".job-3"))
    }

    @Test("Range headers", arguments: [
        ("bytes=0-99", ByteRange.partial(0...99)),
        ("bytes=100-", .partial(100...999)),
        ("bytes=-10", .partial(990...999)),
        ("bytes=900-5000", .partial(900...999)),
        ("bytes=1000-", .unsatisfiable),
        ("bytes=5-1", .whole),
        ("bytes=0-1,5-6", .whole),
        ("items=0-1", .whole),
        ("bytes=abc", .whole),
    ])
    func ranges(header: String, expected: ByteRange) {
        #expect(ByteRange(header: header, size: 1000) == expected)
    }

    @Test("Segments are immutable; playlists are short-lived")
    func caching() {
        #expect(MediaFiles.cacheControl("720p/seg_00001.m4s") == "public, max-age=31536000, immutable")
        #expect(MediaFiles.cacheControl("master.m3u8") == "public, max-age=60")
        #expect(MediaFiles.contentType("720p/index.m3u8") == "application/vnd.apple.mpegurl")
        #expect(MediaFiles.contentType("720p/seg_00001.m4s") == "video/iso.segment")
    }
}

@Suite("One-tier masters")
struct SingleTierTests {
    let master = """
        #EXTM3U
        #EXT-X-VERSION:7
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,URI="audio/index.m3u8"
        #EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=854x480,AUDIO="audio"
        480p/index.m3u8
        #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="audio"
        360p/index.m3u8
        #EXT-X-STREAM-INF:BANDWIDTH=98000,CODECS="mp4a.40.2"
        audio/index.m3u8
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="480p/iframes.m3u8"
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=60000,URI="360p/iframes.m3u8"
        """

    @Test("A one-tier master keeps that tier, its I-frames and the audio rendition")
    func filter() throws {
        #expect(HLSNames.singleTier(of: "master-360p.m3u8") == "360p")
        #expect(HLSNames.singleTier(of: "master-../x.m3u8") == nil)
        #expect(MediaFiles.relativePath(["master-360p.m3u8"]) == "master-360p.m3u8")
        let reduced = try #require(HLSPlaylist.singleTierMaster(master, tier: "360p"))
        #expect(reduced.contains("360p/index.m3u8") && reduced.contains("360p/iframes.m3u8") && reduced.contains("audio/index.m3u8"))
        #expect(!reduced.contains("480p"))
        #expect(reduced.components(separatedBy: "#EXT-X-STREAM-INF").count == 2)
        #expect(HLSPlaylist.singleTierMaster(master, tier: "1080p") == nil)
    }
}

@Suite("Tier planner")
struct TierPlannerTests {
    let planner = TierPlanner(ladder: .default)

    @Test("With the county's default links, every recording classroom of a school gets 1080p")
    func defaults() {
        let plan = planner.plan(uplinkMbps: 1000, classroomLinkMbps: 100, classrooms: 8)
        #expect(plan.tier == "1080p" && !plan.underServed)
        #expect(abs(plan.perClassroomMbps - 70) < 0.001, "the classroom link, less 30 % headroom")
    }

    @Test("A shared uplink steps the tier down as more classrooms stream at once", arguments: [
        (10, "1080p", false), (100, "1080p", false), (200, "720p", true), (600, "480p", true), (1000, "360p", true), (2000, nil, true),
    ] as [(Int, String?, Bool)])
    func sharing(classrooms: Int, tier: String?, underServed: Bool) {
        let plan = planner.plan(uplinkMbps: 1000, classroomLinkMbps: 100, classrooms: classrooms)
        #expect(plan.tier == tier && plan.underServed == underServed, "\(plan.perClassroomMbps) Mb/s each")
    }

    @Test("A slow classroom link limits that classroom whatever the uplink; headroom is configurable")
    func classroomLink() {
        #expect(planner.plan(uplinkMbps: 1000, classroomLinkMbps: 4, classrooms: 1).tier == "720p")
        #expect(planner.plan(uplinkMbps: 1000, classroomLinkMbps: 4, classrooms: 1, headroom: 0.5).tier == "480p")
        #expect(planner.plan(uplinkMbps: 1000, classroomLinkMbps: 4, classrooms: 1, headroom: 0).tier == "720p")
    }
}
