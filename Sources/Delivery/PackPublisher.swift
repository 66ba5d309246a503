import HLS
import Catalog
import Foundation
import GRDB
import Media
import PackSync

/// Publishes a pack's draft: gathers each item's files into the object store, writes the
/// manifest and freezes the version in one transaction.
///
/// Three steps so the slow middle one — hashing and linking what may be gigabytes — runs on a
/// thread pool the caller chooses, between two short database visits:
/// `prepare` (read what to publish) → `assemble` (blocking file work) → `commit`.
public struct PackPublisher: Sendable {
    public let database: AppDatabase
    public let store: ObjectStore
    public let mediaRoot: String
    public let planner: TierPlanner

    public init(database: AppDatabase, store: ObjectStore, mediaRoot: String, planner: TierPlanner) {
        self.database = database
        self.store = store
        self.mediaRoot = mediaRoot
        self.planner = planner
    }

    /// Everything `assemble` needs, read from the database.
    public struct Plan: Sendable {
        /// The pack being published.
        public var packId: Int64 { version.packId }
        /// How many items the version will hold.
        public var itemCount: Int { items.count }
        var version: PackVersion
        var items: [PackItem]
        var leadSchool: String
        var publisher: String
        var targets: [PackManifest.School]
        /// Video tiers the pack carries: for each target, its planned tier and every smaller one.
        var tiers: Set<String>
        var media: [Int64: (version: String, renditions: [Rendition])]
        var publishedAt: Date
    }

    /// The files and manifest of a version, stored, ready to commit.
    public struct Assembled: Sendable {
        var plan: Plan
        var manifest: PackManifest
        var manifestObject: ObjectStore.Object
        var files: [(path: String, object: ObjectStore.Object)]
    }

    public func prepare(_ packId: Int64, by viewer: Viewer) async throws -> Plan {
        let packs = PackStore(database: database)
        let (version, items, targets) = try await packs.draftForPublishing(packId, by: viewer)
        var schools: [PackManifest.School] = []
        var tiers = Set<String>()
        let ranked = planner.ladder.video.sorted { $0.maxRate > $1.maxRate }
        for target in targets {
            let plan = try await planner.plan(school: target.schoolId, classrooms: nil, headroom: 0.3, database: database)
            let name = try await database.read { db in try School.fetchOne(db, key: target.schoolId)?.name } ?? "?"
            schools.append(.init(id: target.schoolId, name: name, grades: target.gradeList, tier: plan?.tier))
            if let best = plan?.tier, let index = ranked.firstIndex(where: { $0.name == best }) {
                tiers.formUnion(ranked[index...].map(\.name))
            } else if let smallest = ranked.last {
                tiers.insert(smallest.name)
            }
        }
        let recordingIds = Set(items.compactMap(\.recordingId))
        let (media, leadSchool, publisher) = try await database.read { db in
            var media: [Int64: (String, [Rendition])] = [:]
            for id in recordingIds {
                guard let row = try Row.fetchOne(
                    db, sql: "SELECT state, mediaVersion, deletedAt FROM recording WHERE id = ?", arguments: [id]),
                    row["deletedAt"] as Date? == nil, row["state"] as String == "ready", let mediaVersion = row["mediaVersion"] as String?
                else { throw PackError.conflict("recording \(id) is no longer available; remove it from the pack") }
                let renditions = try Rendition.filter(Column("recordingId") == id && Column("version") == mediaVersion).fetchAll(db)
                media[id] = (mediaVersion, renditions)
            }
            let lead = try String.fetchOne(
                db, sql: "SELECT s.name FROM resourcePack p JOIN school s ON s.id = p.leadSchoolId WHERE p.id = ?", arguments: [packId])
            let publisher = try String.fetchOne(db, sql: "SELECT displayName FROM person WHERE id = ?", arguments: [viewer.personId])
            return (media, lead ?? "", publisher ?? "")
        }
        return Plan(
            version: version, items: items, leadSchool: leadSchool, publisher: publisher, targets: schools, tiers: tiers,
            media: media, publishedAt: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)))
    }

    /// Puts every file of the version into the object store and builds the manifest. Blocking.
    /// Stores every file of the plan's items and the manifest. `progress` is told after each item
    /// (items done, items in all): the slow part is reading and hashing a lesson's files.
    public func assemble(_ plan: Plan, viewer: Viewer, progress: (Int, Int) -> Void = { _, _ in }) throws -> Assembled {
        var files: [(path: String, object: ObjectStore.Object)] = []
        var items: [PackManifest.Item] = []
        func add(_ path: String, _ object: ObjectStore.Object) { files.append((path, object)) }
        do {
            for (index, item) in plan.items.enumerated() {
                defer { progress(index + 1, plan.items.count) }
                let number = String(format: "%02d", index + 1)
                switch item.kind {
                case .recording:
                    guard let recordingId = item.recordingId, let media = plan.media[recordingId] else { continue }
                    let folder = "\(mediaRoot)/\(recordingId)/\(media.version)"
                    let built = try RecordingItem(
                        folder: folder, renditions: media.renditions, tiers: plan.tiers, clip: (item.clipStart, item.clipEnd),
                        store: store
                    ).build()
                    for (path, object) in built.files { add("items/\(number)/\(path)", object) }
                    items.append(
                        .init(
                            position: index + 1, kind: "recording", title: item.title, note: item.note, path: "items/\(number)/master.m3u8",
                            provenance: .init(
                                recordingId: recordingId, title: item.sourceTitle ?? "", teacher: item.sourceTeacher ?? "",
                                school: item.sourceSchool ?? ""),
                            clip: built.clip.map { .init(requestedStart: item.clipStart ?? 0, requestedEnd: item.clipEnd ?? built.duration, start: $0.lowerBound, end: $0.upperBound) },
                            duration: built.duration, tiers: built.tiers))
                case .attachment:
                    guard let sha256 = item.sha256, let fileName = item.fileName else { continue }
                    let object = try ObjectStore.digest(file: store.path(of: sha256))
                    guard object.sha256 == sha256 else {
                        throw PackError.storage("attachment \(fileName) no longer matches its SHA-256; upload it again")
                    }
                    let path = "attachments/\(number)-\(Self.safeFileName(fileName))"
                    add(path, object)
                    items.append(
                        .init(
                            position: index + 1, kind: "attachment", title: item.title, note: item.note, path: path, fileName: fileName,
                            size: object.size, sha256: sha256))
                }
            }
        } catch let error as StoreError {
            throw PackError.storage(error.description)
        }
        let manifest = PackManifest(
            format: PackManifest.currentFormat, pack: plan.version.packId, version: plan.version.number, title: plan.version.title,
            description: plan.version.description, notes: plan.version.notes, leadSchool: plan.leadSchool, targets: plan.targets,
            publishedAt: plan.publishedAt, publishedBy: plan.publisher, items: items,
            files: files.map { .init(path: $0.path, size: $0.object.size, sha256: $0.object.sha256) },
            totalSize: files.reduce(0) { $0 + $1.object.size })
        do {
            let manifestObject = try store.add(data: try manifest.encoded())
            return Assembled(plan: plan, manifest: manifest, manifestObject: manifestObject, files: files)
        } catch let error as StoreError {
            throw PackError.storage(error.description)
        }
    }

    /// Freezes the draft as a published version. Throws `.conflict` if someone else published or
    /// changed it meanwhile.
    public func commit(_ assembled: Assembled, by viewer: Viewer) async throws -> PackVersion {
        try await database.write { db in
            let plan = assembled.plan
            guard var version = try PackVersion.fetchOne(db, key: plan.version.id!), version.state == .draft,
                version.title == plan.version.title, version.notes == plan.version.notes,
                try PackItem.filter(PackItem.Columns.versionId == version.id!).fetchAll(db).map(\.id) == plan.items.map(\.id)
            else { throw PackError.conflict("the draft changed while it was being published; publish again") }
            for (position, file) in assembled.files.enumerated() {
                try PackFile(
                    versionId: version.id!, path: file.path, sha256: file.object.sha256, size: file.object.size, crc32: file.object.crc32,
                    position: position
                ).insert(db)
            }
            version.state = .published
            version.publishedBy = viewer.personId
            version.publishedAt = plan.publishedAt
            version.manifestSha256 = assembled.manifestObject.sha256
            version.manifestSize = assembled.manifestObject.size
            version.totalSize = assembled.manifest.totalSize
            version.fileCount = assembled.files.count
            try version.update(db)
            return version
        }
    }

    /// A file name safe inside a ZIP and on any school PC's file system.
    static func safeFileName(_ name: String) -> String {
        var cleaned = String(name.unicodeScalars.map { scalar -> Character in
            scalar.value < 0x20 || "/\\:*?\"<>|".unicodeScalars.contains(scalar) ? "_" : Character(scalar)
        })
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        if cleaned.utf8.count > 150 {
            let ext = (cleaned as NSString).pathExtension
            cleaned = String(cleaned.prefix(60)) + (ext.isEmpty ? "" : ".\(ext.prefix(10))")
        }
        return cleaned.isEmpty ? "file" : cleaned
    }
}

/// One recorded item's files: the whole published rendition folder (tiers the pack carries), or
/// a clip made from it by choosing whole segments and moving their timeline to zero.
struct RecordingItem {
    let folder: String
    let renditions: [Rendition]
    let tiers: Set<String>
    let clip: (start: Double?, end: Double?)
    let store: ObjectStore

    struct Built {
        var files: [(String, ObjectStore.Object)]
        var clip: ClosedRange<Double>?
        var duration: Double
        var tiers: [String]
    }

    func build() throws -> Built {
        let video = renditions.filter { $0.kind == .video }.sorted { ($0.height ?? 0) > ($1.height ?? 0) }
        var chosen = video.filter { tiers.contains($0.name) }
        if chosen.isEmpty, let smallest = video.last { chosen = [smallest] }
        chosen += renditions.filter { $0.kind == .audio }
        guard !chosen.isEmpty, let masterData = FileManager.default.contents(atPath: "\(folder)/master.m3u8") else {
            throw PackError.conflict("a recording's media files are missing; transcode it again")
        }
        let isClip = clip.start != nil || clip.end != nil
        let names = Set(chosen.map(\.name))
        var files: [(String, ObjectStore.Object)] = []
        let master = HLSPlaylist.master(String(decoding: masterData, as: UTF8.self), keeping: names, iFrames: !isClip)
        files.append((HLSNames.master, try store.add(data: Data(master.utf8))))
        if FileManager.default.fileExists(atPath: "\(folder)/poster.jpg") {
            files.append((HLSNames.poster, try store.add(file: "\(folder)/\(HLSNames.poster)")))
        }
        let duration = chosen.map(\.duration).max() ?? 0
        guard isClip else {
            for rendition in chosen {
                let tierFolder = "\(folder)/\(rendition.name)"
                let names = (try? FileManager.default.contentsOfDirectory(atPath: tierFolder)) ?? []
                for name in names.sorted() where HLSNames.isTierFile(name) {
                    files.append(("\(rendition.name)/\(name)", try store.add(file: "\(tierFolder)/\(name)")))
                }
            }
            return Built(files: files, clip: nil, duration: duration, tiers: chosen.map(\.name))
        }
        // Segment times come from the first video tier (every tier has the same boundaries,
        // keyframes aligned); audio follows the video's span.
        let reference = try MediaPlaylist(path: "\(folder)/\((chosen.first { $0.kind == .video } ?? chosen[0]).playlist)")
        let span = reference.span(from: clip.start ?? 0, to: clip.end ?? .infinity)
        guard let span else { throw PackError.invalid("the clip lies outside the recording (it is \(Int(duration)) s long)") }
        let bounds = reference.start(of: span.lowerBound)...reference.start(of: span.upperBound + 1)
        for rendition in chosen {
            let playlist = try MediaPlaylist(path: "\(folder)/\(rendition.playlist)")
            let segments = rendition.kind == .video
                ? span : playlist.segments(within: bounds, reachingEnd: span.upperBound == reference.durations.count - 1)
            guard let segments else { continue }
            let tierFolder = "\(folder)/\(rendition.name)"
            let initBytes = [UInt8](FileManager.default.contents(atPath: "\(tierFolder)/\(HLSNames.initSegment)") ?? Data())
            guard let timescale = FragmentedMP4.timescale(initSegment: initBytes) else {
                throw PackError.conflict("the \(rendition.name) tier's init segment is unreadable; transcode the recording again")
            }
            files.append(("\(rendition.name)/\(HLSNames.initSegment)", try store.add(file: "\(tierFolder)/\(HLSNames.initSegment)")))
            var offset: UInt64?
            var written: [(name: String, duration: Double)] = []
            for (number, index) in segments.enumerated() {
                let name = HLSNames.segment(number)
                let source = "\(tierFolder)/\(playlist.uris[index])"
                if bounds.lowerBound == 0 {
                    files.append(("\(rendition.name)/\(name)", try store.add(file: source)))
                } else {
                    var bytes = [UInt8](FileManager.default.contents(atPath: source) ?? Data())
                    if offset == nil {
                        let first = FragmentedMP4.baseDecodeTime(segment: bytes) ?? 0
                        offset = min(UInt64((bounds.lowerBound * Double(timescale)).rounded()), first)
                    }
                    guard FragmentedMP4.shiftDecodeTimes(&bytes, by: offset!) else {
                        throw PackError.conflict("segment \(playlist.uris[index]) of \(rendition.name) could not be re-timed")
                    }
                    files.append(("\(rendition.name)/\(name)", try store.add(data: Data(bytes))))
                }
                written.append((name, playlist.durations[index]))
            }
            files.append((HLSNames.mediaPlaylist(tier: rendition.name), try store.add(data: Data(HLSPlaylist.media(segments: written).utf8))))
        }
        return Built(files: files, clip: bounds, duration: bounds.upperBound - bounds.lowerBound, tiers: chosen.map(\.name))
    }
}

/// The segments of an HLS media playlist (RFC 8216 §4.3.2.1 EXTINF + URI lines).
struct MediaPlaylist {
    var durations: [Double] = []
    var uris: [String] = []

    init(durations: [Double]) {
        self.durations = durations
        self.uris = durations.indices.map(HLSNames.segment)
    }

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PackError.conflict("a media playlist is missing; transcode the recording again")
        }
        var pending: Double?
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("#EXTINF:") {
                pending = Double(line.dropFirst(8).split(separator: ",").first ?? "")
            } else if !line.hasPrefix("#"), let duration = pending, HLSNames.isTierFile(String(line)) {
                durations.append(duration)
                uris.append(String(line))
                pending = nil
            }
        }
    }

    /// Where segment `index` starts (the playlist's end for `index == count`).
    func start(of index: Int) -> Double {
        durations.prefix(index).reduce(0, +)
    }

    /// Indices of the segments overlapping [from, to): whole segments, so the clip starts on a keyframe.
    func span(from: Double, to: Double) -> ClosedRange<Int>? {
        var first: Int?
        var last: Int?
        var time = 0.0
        for (index, duration) in durations.enumerated() {
            if time + duration > from && time < to {
                if first == nil { first = index }
                last = index
            }
            time += duration
        }
        guard let first, let last else { return nil }
        return first...last
    }

    /// Indices of segments whose middle falls inside `bounds` (and, when the clip reaches the
    /// recording's end, every later one too): an audio track's boundaries sit a few milliseconds
    /// off the video's.
    func segments(within bounds: ClosedRange<Double>, reachingEnd: Bool) -> ClosedRange<Int>? {
        var chosen: [Int] = []
        var time = 0.0
        for (index, duration) in durations.enumerated() {
            let middle = time + duration / 2
            if middle >= bounds.lowerBound && (middle < bounds.upperBound || reachingEnd) { chosen.append(index) }
            time += duration
        }
        guard let first = chosen.first, let last = chosen.last else { return nil }
        return first...last
    }
}
