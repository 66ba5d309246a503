@testable import WebServing
import Hummingbird
import TestSupport
import Testing

@testable import Server

@Suite("Hot segment cache")
struct SegmentCacheTests {
    func bytes(_ count: Int) -> ByteBuffer { ByteBuffer(repeating: 7, count: count) }

    @Test("Least recently used out first, within the byte budget; large files are never kept")
    func eviction() {
        let cache = SegmentCache(capacity: 300, largestFile: 200)
        let a = SegmentCache.Key(path: "a", modified: 1)
        let b = SegmentCache.Key(path: "b", modified: 1)
        let c = SegmentCache.Key(path: "c", modified: 1)
        cache.put(a, bytes(100))
        cache.put(b, bytes(100))
        #expect(cache.get(a)?.readableBytes == 100)  // a is now more recent than b
        cache.put(c, bytes(150))
        #expect(cache.get(b) == nil, "b was least recently used")
        #expect(cache.get(a) != nil && cache.get(c) != nil)
        cache.put(SegmentCache.Key(path: "big", modified: 1), bytes(250))
        #expect(cache.get(SegmentCache.Key(path: "big", modified: 1)) == nil)
        #expect(!cache.wants(size: 0) && !cache.wants(size: 201) && cache.wants(size: 200))
    }

    @Test("A changed file is a different entry")
    func modified() {
        let cache = SegmentCache(capacity: 1000)
        cache.put(SegmentCache.Key(path: "a", modified: 1), bytes(10))
        #expect(cache.get(SegmentCache.Key(path: "a", modified: 2)) == nil)
        #expect(SegmentCache(capacity: 0).wants(size: 1) == false, "capacity 0 turns it off")
    }
}
