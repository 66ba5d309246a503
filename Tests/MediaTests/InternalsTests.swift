import Foundation
import TestSupport
import Testing

@testable import Media
import HLS

@Suite("Media internals")
struct InternalsTests {
    final class Token {}

    @Test("An error names what its own libav call logged, never an earlier call's complaint")
    func lastErrorDoesNotLeak() {
        _ = Libav.installed
        // One decoder complains and recovers…
        lessonlinkLibavLogLine(16, "[aac @ 0x1] stale complaint of another decoder\n")
        // …then another call fails without logging anything: its message is its own.
        let quiet = #expect(throws: MediaError.self) { try check(-22, "opening the video decoder") }
        #expect(quiet?.message.contains("stale") == false, "\(quiet?.message ?? "")")
        // A call that logs while failing gets its line in the message.
        let loud = #expect(throws: MediaError.self) {
            try check({ () -> Int32 in
                lessonlinkLibavLogLine(16, "[h264 @ 0x2] no frame!\n")
                return -22
            }(), "decoding video")
        }
        #expect(loud?.message.hasSuffix("(no frame!)") == true, "\(loud?.message ?? "")")
    }

    @Test("The queue lets go of what it hands out")
    func queueReleasesPoppedElements() {
        // A popped 1080p picture that the queue kept alive would cost 3 MB a frame.
        let queue = BoundedQueue<Token>(capacity: 4)
        weak var first: Token?
        do {
            let token = Token()
            first = token
            #expect(queue.push(token))
        }
        #expect(first != nil)
        var popped = queue.pop()
        #expect(popped === first)
        popped = nil
        #expect(first == nil)
        _ = popped
    }

    @Test("The queue drains after finish and stops at once on abort")
    func queueFinishAndAbort() {
        let queue = BoundedQueue<Int>(capacity: 2)
        #expect(queue.push(1) && queue.push(2))
        queue.finish()
        #expect(queue.pop() == 1 && queue.pop() == 2 && queue.pop() == nil)
        let aborted = BoundedQueue<Int>(capacity: 1)
        #expect(aborted.push(1))
        aborted.abort()
        #expect(!aborted.push(2))
        #expect(aborted.pop() == nil)
    }

    @Test("A full queue makes the producer wait for the consumer")
    func queueBlocksWhenFull() async {
        let queue = BoundedQueue<Int>(capacity: 1)
        #expect(queue.push(0))
        let producer = Task.detached { queue.push(1) }
        #expect(queue.pop() == 0)
        #expect(await producer.value)
        #expect(queue.pop() == 1)
    }

    @Test("The thread budget follows each tier's share of the pixels")
    func threadAllocation() throws {
        let info = TranscodePlanTests.source(width: 1920, height: 1080)
        let plan = try TranscodePlan(source: info, ladder: .default)
        // The 1080p tier is over half the work: with one thread it would leave a core idle.
        let small = ThreadAllocation(budget: 2, outputs: plan.video)
        #expect(small.encoders == [2, 1, 1, 1] && small.decoder == 0)
        #expect(ThreadAllocation(budget: 16, outputs: plan.video).encoders == [10, 5, 2, 2])
        #expect(ThreadAllocation(budget: 1, outputs: plan.video).decoder == 1)
    }

    @Test("Codec strings come from the SPS, in avcC or Annex B form")
    func codecStrings() {
        // High profile (100 = 0x64), no constraints, level 3.1 (31 = 0x1f).
        let sps: [UInt8] = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9]
        let annexB: [UInt8] = [0, 0, 0, 1, 0x06, 0x05, 0, 0, 1] + sps + [0, 0, 1, 0x68, 0xeb]
        #expect(HLSTrackWriter.h264ProfileLevel(annexB).map { "\($0)-\($1)-\($2)" } == "100-0-31")
        let avcC: [UInt8] = [1, 0x4d, 0x40, 0x1e, 0xff, 0xe1]
        #expect(HLSTrackWriter.h264ProfileLevel(avcC).map { "\($0)-\($1)-\($2)" } == "77-64-30")
        #expect(HLSTrackWriter.h264ProfileLevel([0, 0, 1, 0x68]) == nil)
    }

    @Test("The first sample's size is read from trun, or from the tfhd default")
    func firstSampleSize() {
        func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
            let size = UInt32(payload.count + 8)
            return [UInt8(size >> 24), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff)]
                + Array(type.utf8) + payload
        }
        func word(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        // trun with data offset (0x1), sample duration (0x100) and size (0x200): sizes 5000 then 300.
        let trun = box("trun", word(0x000301) + word(2) + word(0) + word(1) + word(5000) + word(1) + word(300))
        let tfhd = box("tfhd", word(0x020000) + word(1))
        let moof = box("moof", box("mfhd", word(0) + word(1)) + box("traf", tfhd + box("tfdt", word(0) + word(0)) + trun))
        #expect(MP4Boxes.firstSampleSize(moof: moof) == 5000)
        // Without per-sample sizes, the tfhd default-sample-size (0x10) applies.
        let tfhdDefault = box("tfhd", word(0x020010) + word(1) + word(777))
        let trunBare = box("trun", word(0x000001) + word(3) + word(0))
        let moof2 = box("moof", box("traf", tfhdDefault + trunBare))
        #expect(MP4Boxes.firstSampleSize(moof: moof2) == 777)
        #expect(MP4Boxes.firstSampleSize(moof: Array(moof.prefix(12))) == nil)
    }

    @Test("Target duration is the largest segment duration rounded to the nearest second")
    func targetDuration() {
        #expect(HLSPlaylist.targetDuration([4.0, 4.0, 2.3]) == 4)
        #expect(HLSPlaylist.targetDuration([3.4]) == 3)
        #expect(HLSPlaylist.targetDuration([4.5, 1]) == 5)
        #expect(HLSPlaylist.targetDuration([0.4]) == 1)
    }
}
