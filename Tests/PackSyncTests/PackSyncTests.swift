import Foundation
import PackSync
import TestSupport
import Testing

@Suite("Pack files without a database")
struct PackSyncTests {
    @Test("Manifest paths cannot leave the pack's folder")
    func safePaths() {
        for path in ["items/01/master.m3u8", "attachments/03-练习单.pdf", "a"] { #expect(PackManifest.isSafePath(path), "\(path)") }
        for path in ["", "/etc/passwd", "../x", "items/../../x", "items//x", "./x", "a\\b", "items/.."] {
            #expect(!PackManifest.isSafePath(path), "\(path)")
        }
    }

    @Test("The object store keeps one copy per content and links rather than copies")
    func objectStore() throws {
        let folder = try scratchDirectory().path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = ObjectStore(root: "\(folder)/objects")
        let source = "\(folder)/seg.m4s"
        _ = FileManager.default.createFile(atPath: source, contents: Data(repeating: 9, count: 5000))
        let first = try store.add(file: source)
        let second = try store.add(data: Data(repeating: 9, count: 5000))
        #expect(first == second && first.size == 5000)
        let objects = try FileManager.default.subpathsOfDirectory(atPath: "\(folder)/objects").filter { $0.count > 3 }
        #expect(objects == ["\(first.sha256.prefix(2))/\(first.sha256)"])
        var status = stat()
        #expect(stat(store.path(of: first.sha256), &status) == 0 && status.st_nlink == 2, "a hard link to the source")
        // Sweeping keeps what is named and drops the rest.
        #expect(store.sweep(keeping: [first.sha256], grace: 0) == 0)
        #expect(store.sweep(keeping: [], grace: 0) == 5000)
        #expect(!store.contains(first.sha256))
    }

    @Test("Transfer windows, including one across midnight")
    func windows() throws {
        let night = try #require(TimeWindow("22:00-06:00"))
        let calendar = Calendar.current
        func at(_ hour: Int, _ minute: Int) -> Date {
            calendar.date(from: DateComponents(year: 2026, month: 11, day: 23, hour: hour, minute: minute))!
        }
        #expect(night.contains(at(23, 0)) && night.contains(at(5, 59)) && !night.contains(at(6, 0)) && !night.contains(at(12, 0)))
        #expect(night.opening(after: at(12, 0)) == at(22, 0))
        #expect(night.closing(after: at(23, 0)) == at(6, 0).addingTimeInterval(86400))
        #expect(TimeWindow("9:00-17:30").map { $0.contains(at(12, 0)) } == true)
        for bad in ["", "22:00", "25:00-06:00", "22:00-22:00", "ab-cd"] { #expect(TimeWindow(bad) == nil, "\(bad)") }
    }
}

@Suite("Digest cache")
struct DigestCacheTests {
    @Test("A file's digest is computed once and kept on the file while its size, time and inode stay")
    func cachedDigest() throws {
        let folder = try scratchDirectory().path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/seg_00001.m4s"
        _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 1, count: 4096))
        let first = try ObjectStore.cachedDigest(file: path)
        let hashed = try ObjectStore.digest(file: path)
        #expect(first == hashed)
        // The same bytes, kept on the file: rewriting it in place with the same size and time is
        // not noticed (segments of a published version never change), …
        var status = stat()
        #expect(stat(path, &status) == 0)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data(repeating: 2, count: 4096))
        try handle.close()
        var times = [status.st_atim, status.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        #expect(try ObjectStore.cachedDigest(file: path) == first, "read from the file's attribute, not hashed again")
        // … but a change of size or time is: the digest is computed again.
        let longer = try #require(FileHandle(forWritingAtPath: path))
        try longer.seekToEnd()
        try longer.write(contentsOf: Data([3]))
        try longer.close()
        let again = try ObjectStore.cachedDigest(file: path)
        let fresh = try ObjectStore.digest(file: path)
        #expect(again.size == 4097 && again == fresh)
    }
}
