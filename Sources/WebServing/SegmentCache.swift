import Foundation
import NIOCore
import Synchronization

/// Hot media files kept in memory, shared by every response that sends them.
///
/// A synchronized course (同步课堂) has a whole district's classrooms asking for the same few
/// segments within seconds of each other. Reading each from disk per request costs a thread-pool
/// round trip, a fresh buffer and a copy out of the page cache every time; a `ByteBuffer` held
/// here is written to every socket without another copy. Files are immutable once published (a
/// new transcode is a new version folder), and entries are keyed by path and modification time,
/// so a stale entry can never be served. Bounded by bytes, least recently used out first; files
/// larger than `largestFile` always stream from disk.
public final class SegmentCache: Sendable {
    struct Key: Hashable {
        var path: String
        var modified: Int
    }

    private struct Entry {
        var bytes: ByteBuffer
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var size = 0
        var clock: UInt64 = 0
    }

    let capacity: Int
    let largestFile: Int
    private let state = Mutex(State())

    public init(capacity: Int, largestFile: Int = 8 << 20) {
        self.capacity = capacity
        self.largestFile = min(largestFile, capacity)
    }

    func get(_ key: Key) -> ByteBuffer? {
        state.withLock { state in
            guard var entry = state.entries[key] else { return nil }
            state.clock += 1
            entry.lastUse = state.clock
            state.entries[key] = entry
            return entry.bytes
        }
    }

    func wants(size: Int) -> Bool { size > 0 && size <= largestFile }

    func put(_ key: Key, _ bytes: ByteBuffer) {
        guard wants(size: bytes.readableBytes) else { return }
        state.withLock { state in
            if state.entries[key] != nil { return }
            while state.size + bytes.readableBytes > capacity, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.size -= oldest.value.bytes.readableBytes
                state.entries.removeValue(forKey: oldest.key)
            }
            state.clock += 1
            state.entries[key] = Entry(bytes: bytes, lastUse: state.clock)
            state.size += bytes.readableBytes
        }
    }
}
