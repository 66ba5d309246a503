@testable import Delivery
import Foundation
import TestSupport
import Testing
import PackSync

/// A fresh folder under the temporary directory.
/// Runs python3 with `script`, `arguments` as sys.argv[1...]; returns stdout.
func python(_ script: String, _ arguments: [String]) throws -> String {
    try runTool("python3", ["-c", script] + arguments)
}

/// Writes the whole archive a layout describes.
func write(_ layout: ZipLayout, to path: String, sparse: Bool = false) throws {
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    let handle = try #require(FileHandle(forWritingAtPath: path))
    defer { try? handle.close() }
    var offset: UInt64 = 0
    for piece in layout.pieces(in: 0...(layout.length - 1)) {
        switch piece {
        case .bytes(let bytes):
            try handle.seek(toOffset: offset)
            handle.write(Data(bytes))
            offset += UInt64(bytes.count)
        case .file(let source, let start, let length):
            if !sparse {
                let reader = try #require(FileHandle(forReadingAtPath: source))
                try reader.seek(toOffset: UInt64(start))
                try handle.seek(toOffset: offset)
                handle.write(reader.readData(ofLength: Int(length)))
                try reader.close()
            }
            offset += UInt64(length)
        }
    }
    try handle.truncate(atOffset: offset)
}

@Suite("Pack ZIPs")
struct ZipLayoutTests {
    @Test("A stored ZIP of real files that Python's zipfile reads back, CRCs and all")
    func roundTrip() throws {
        let folder = try scratchDirectory().path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = ObjectStore(root: "\(folder)/objects")
        let contents = [("manifest.json", Data("{}".utf8)), ("items/01/360p/seg_00000.m4s", Data((0..<70_000).map { UInt8($0 % 251) })),
            ("attachments/02-练习单.pdf", Data("作业".utf8)), ("empty.txt", Data())]
        var entries: [ZipLayout.Entry] = []
        var hashes: [String] = []
        for (name, data) in contents {
            let object = try store.add(data: data)
            hashes.append(object.sha256)
            entries.append(.init(name: name, size: object.size, crc32: object.crc32, source: store.path(of: object.sha256)))
        }
        let layout = ZipLayout(entries: entries, modified: Date(timeIntervalSince1970: 1_790_000_000))
        try write(layout, to: "\(folder)/pack.zip")
        let listing = try python(
            """
            import sys, zipfile, hashlib
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            for i in z.infolist():
                assert i.compress_type == zipfile.ZIP_STORED
                print(i.filename, i.file_size, hashlib.sha256(z.read(i)).hexdigest(), i.date_time[0])
            """, ["\(folder)/pack.zip"])
        let expected = zip(contents, hashes).map { "\($0.0.0) \($0.0.1.count) \($0.1) 2026" }
        #expect(listing.split(separator: "\n").map(String.init) == expected)
        #expect(Int64((try FileManager.default.attributesOfItem(atPath: "\(folder)/pack.zip")[.size] as? Int) ?? 0) == layout.length)
    }

    @Test("Any byte range of the archive is the same bytes as the whole archive's slice")
    func ranges() throws {
        let folder = try scratchDirectory().path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = ObjectStore(root: folder)
        let entries = try (0..<5).map { index -> ZipLayout.Entry in
            let object = try store.add(data: Data((0..<(index * 1000 + 7)).map { UInt8(($0 + index) % 256) }))
            return .init(name: "f\(index)", size: object.size, crc32: object.crc32, source: store.path(of: object.sha256))
        }
        let layout = ZipLayout(entries: entries, modified: Date())
        func bytes(_ range: ClosedRange<Int64>) throws -> [UInt8] {
            try layout.pieces(in: range).flatMap { piece -> [UInt8] in
                switch piece {
                case .bytes(let bytes): return bytes
                case .file(let path, let offset, let length):
                    let data = try Data(contentsOf: URL(fileURLWithPath: path))
                    return [UInt8](data[Int(offset)..<Int(offset + length)])
                }
            }
        }
        let whole = try bytes(0...(layout.length - 1))
        #expect(Int64(whole.count) == layout.length)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let start = Int64.random(in: 0..<layout.length, using: &generator)
            let end = Int64.random(in: start..<layout.length, using: &generator)
            #expect(try bytes(start...end) == Array(whole[Int(start)...Int(end)]))
        }
    }

    @Test("Past 4 GiB, entries and the directory switch to ZIP64")
    func zip64() throws {
        let folder = try scratchDirectory().path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A sparse 4.5 GiB file: only the headers are written for real.
        let big = "\(folder)/big.bin"
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        let size: Int64 = 9 << 29
        #expect(truncate(big, off_t(size)) == 0)
        let layout = ZipLayout(
            entries: [.init(name: "lesson.mp4", size: size, crc32: 0, source: big), .init(name: "after.txt", size: 0, crc32: 0, source: big)],
            modified: Date())
        try write(layout, to: "\(folder)/pack.zip", sparse: true)
        let listing = try python(
            """
            import sys, zipfile
            for i in zipfile.ZipFile(sys.argv[1]).infolist():
                print(i.filename, i.file_size, i.header_offset)
            """, ["\(folder)/pack.zip"])
        let lines = listing.split(separator: "\n").map(String.init)
        #expect(lines.first == "lesson.mp4 \(size) 0")
        // The second entry starts past 4 GiB: its offset only fits ZIP64's extra field.
        #expect(lines.last.map { $0.hasPrefix("after.txt 0 ") && Int64($0.split(separator: " ")[2])! > 0xFFFF_FFFF } == true)
    }
}

@Suite("Pack files")
struct PackFilesTests {
    @Test("Clips take whole segments; audio follows the video's span")
    func clipSpans() {
        let video = MediaPlaylist(durations: [4, 4, 4, 4, 2])
        let audio = MediaPlaylist(durations: [4.010667, 3.989333, 4.010667, 3.989333, 2.0, 0.021333])
        #expect(video.span(from: 4.5, to: 7) == 1...1)
        #expect(video.span(from: 0, to: 8) == 0...1)
        #expect(video.span(from: 3.9, to: 12.1) == 0...3)
        #expect(video.span(from: 17, to: .infinity) == 4...4)
        #expect(video.span(from: 30, to: 40) == nil)
        #expect(video.start(of: 1) == 4 && video.start(of: 5) == 18)
        #expect(audio.segments(within: 4...8, reachingEnd: false) == 1...1)
        #expect(audio.segments(within: 16...18, reachingEnd: true) == 4...5, "the last sliver of audio goes with the last segment")
        #expect(audio.segments(within: 0...16, reachingEnd: false) == 0...3)
    }

    @Test("Attachment names are made safe for every file system")
    func safeFileNames() {
        #expect(PackPublisher.safeFileName("../教案:第一课?.docx") == "_教案_第一课_.docx")
    }
}
