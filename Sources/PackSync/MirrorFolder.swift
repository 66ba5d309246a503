import Foundation

/// A school's local copy of its packs, laid out so that nothing half-made is ever visible:
///
/// ```
/// <dir>/objects/ab/<sha256>      verified files, stored once by content
/// <dir>/partial/<sha256>         downloads in progress (their length is the resume offset)
/// <dir>/packs/<id>/v<N>/         a complete version: manifest.json + every file (hard links to objects)
/// <dir>/packs/<id>/.v<N>.building  a version being assembled; renamed to v<N> only when whole
/// <dir>/verified.log             objects already hashed: sha256, size, mtime, inode
/// ```
///
/// A version folder appears by one `rename` after every file in it was verified and flushed, so a
/// power cut mid-import leaves either the old state or the new one. Used by `lessonlink mirror`,
/// by `lessonlink serve --mirror` (read only) and by export/import for USB sticks.
public struct MirrorFolder: Sendable {
    public let root: String
    public let store: ObjectStore

    public init(root: String) {
        self.root = root
        self.store = ObjectStore(root: "\(root)/objects")
    }

    public var partialDirectory: String { "\(root)/partial" }
    public func packDirectory(_ pack: Int64) -> String { "\(root)/packs/\(pack)" }
    public func versionDirectory(_ pack: Int64, _ version: Int) -> String { "\(packDirectory(pack))/v\(version)" }

    /// A complete version on disk.
    public struct Version: Sendable {
        public var pack: Int64
        public var number: Int
        public var directory: String
        public var manifest: PackManifest
        public var manifestData: Data
    }

    /// The newest complete version of every pack in the folder.
    public func versions() -> [Version] {
        let packs = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/packs")) ?? []
        return packs.compactMap(Int64.init).sorted(by: >).compactMap { latest(pack: $0) }
    }

    public func latest(pack: Int64) -> Version? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packDirectory(pack))) ?? []
        let numbers = names.compactMap { $0.hasPrefix("v") ? Int($0.dropFirst()) : nil }.sorted(by: >)
        for number in numbers {
            let directory = versionDirectory(pack, number)
            if let data = FileManager.default.contents(atPath: "\(directory)/manifest.json"),
                let manifest = try? PackManifest.decode(data)
            {
                return Version(pack: pack, number: number, directory: directory, manifest: manifest, manifestData: data)
            }
        }
        return nil
    }

    /// Makes a version visible once all its files are in the object store: links them into a
    /// hidden folder, writes the manifest, flushes, renames. Older versions of the pack go away.
    public func publish(_ manifest: PackManifest, manifestData: Data) throws(StoreError) {
        let final = versionDirectory(manifest.pack, manifest.version)
        let building = "\(packDirectory(manifest.pack))/.v\(manifest.version).building"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: building)
        do {
            try fileManager.createDirectory(atPath: building, withIntermediateDirectories: true)
            for file in manifest.files {
                guard PackManifest.isSafePath(file.path) else { throw StoreError.io("checking the manifest", "unsafe path \(file.path)") }
                let target = "\(building)/\(file.path)"
                try fileManager.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let source = store.path(of: file.sha256)
                if link(source, target) != 0 {
                    try fileManager.copyItem(atPath: source, toPath: target)
                }
            }
            guard fileManager.createFile(atPath: "\(building)/manifest.json", contents: manifestData) else {
                throw StoreError.io("writing manifest.json", String(cString: strerror(errno)))
            }
            try ObjectStore.flush("\(building)/manifest.json")
            try ObjectStore.flush(building)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .io("assembling pack \(manifest.pack) version \(manifest.version)", error.localizedDescription)
        }
        let old = fileManager.fileExists(atPath: final) ? "\(packDirectory(manifest.pack))/.v\(manifest.version).old" : nil
        if let old {
            try? fileManager.removeItem(atPath: old)
            rename(final, old)
        }
        guard rename(building, final) == 0 else { throw .io("making the version visible", String(cString: strerror(errno))) }
        try? ObjectStore.flush(packDirectory(manifest.pack))
        if let old { try? fileManager.removeItem(atPath: old) }
        // Only the newest version is kept; the objects the old one alone used go at the next sweep.
        for name in (try? fileManager.contentsOfDirectory(atPath: packDirectory(manifest.pack))) ?? [] {
            if name.hasPrefix("v"), let number = Int(name.dropFirst()), number < manifest.version {
                try? fileManager.removeItem(atPath: "\(packDirectory(manifest.pack))/\(name)")
            }
        }
    }

    /// Removes packs not in `keep`, hidden leftovers of interrupted runs, objects no version links
    /// to any more, and partial downloads nobody wants.
    public func sweep(keepingPacks keep: Set<Int64>, wanted: Set<String>) {
        let fileManager = FileManager.default
        for name in (try? fileManager.contentsOfDirectory(atPath: "\(root)/packs")) ?? [] {
            guard let pack = Int64(name) else { continue }
            if !keep.contains(pack) {
                try? fileManager.removeItem(atPath: packDirectory(pack))
                continue
            }
            for entry in (try? fileManager.contentsOfDirectory(atPath: packDirectory(pack))) ?? [] where entry.hasPrefix(".") {
                try? fileManager.removeItem(atPath: "\(packDirectory(pack))/\(entry)")
            }
        }
        var linked = Set<String>()
        for version in versions() { linked.formUnion(version.manifest.files.map(\.sha256)) }
        store.sweep(keeping: linked.union(wanted), grace: 0)
        for name in (try? fileManager.contentsOfDirectory(atPath: partialDirectory)) ?? [] where !wanted.contains(name) {
            try? fileManager.removeItem(atPath: "\(partialDirectory)/\(name)")
        }
    }

    // MARK: - Verification

    /// Objects hashed before, by what `stat` said then: a file whose size, mtime or inode changed
    /// since is hashed again; `--verify` hashes everything.
    public struct Journal: Sendable {
        struct Entry: Equatable {
            var size: Int64
            var modified: Int64
            var inode: UInt64
        }
        let path: String
        private var entries: [String: Entry] = [:]

        public init(path: String) {
            self.path = path
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 4, let size = Int64(fields[1]), let modified = Int64(fields[2]), let inode = UInt64(fields[3]) else {
                    continue
                }
                entries[String(fields[0])] = Entry(size: size, modified: modified, inode: inode)
            }
        }

        static func status(of path: String) -> Entry? {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            return Entry(
                size: Int64(status.st_size), modified: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec),
                inode: UInt64(status.st_ino))
        }

        /// Whether the object at `path` is known to hold `sha256`'s bytes without reading it.
        public func trusts(_ sha256: String, at path: String) -> Bool {
            guard let known = entries[sha256], let now = Self.status(of: path) else { return false }
            return known == now
        }

        public mutating func record(_ sha256: String, at path: String) {
            guard let entry = Self.status(of: path) else { return }
            entries[sha256] = entry
            if let handle = FileHandle(forWritingAtPath: self.path) ?? create() {
                handle.seekToEndOfFile()
                handle.write(Data("\(sha256) \(entry.size) \(entry.modified) \(entry.inode)\n".utf8))
                try? handle.close()
            }
        }

        private func create() -> FileHandle? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }

        public mutating func forget(_ sha256: String) { entries[sha256] = nil }

        /// Rewrites the log with only the current entries (it is append-only while running).
        public func compact(keeping hashes: Set<String>) {
            let lines = entries.filter { hashes.contains($0.key) }.map { "\($0.key) \($0.value.size) \($0.value.modified) \($0.value.inode)\n" }
            let temporary = "\(path).tmp"
            if FileManager.default.createFile(atPath: temporary, contents: Data(lines.joined().utf8)) {
                rename(temporary, path)
            }
        }
    }

    /// Whether the object for `sha256` is present and sound (hashing it when the journal cannot
    /// vouch for it). A corrupt object is deleted, so it is downloaded again.
    public func check(_ sha256: String, size: Int64, journal: inout Journal, full: Bool) -> Bool {
        let path = store.path(of: sha256)
        guard FileManager.default.fileExists(atPath: path) else { return false }
        if !full && journal.trusts(sha256, at: path) { return true }
        if let object = try? ObjectStore.digest(file: path), object.sha256 == sha256, object.size == size {
            journal.record(sha256, at: path)
            return true
        }
        unlink(path)
        journal.forget(sha256)
        return false
    }

    // MARK: - USB sticks

    /// Copies the newest complete version of `pack` into `folder` (manifest.json and every file),
    /// checking each file's hash on the way out.
    public func export(pack: Int64, to folder: String) throws(StoreError) -> PackManifest {
        guard let version = latest(pack: pack) else { throw .io("exporting", "pack \(pack) is not in this mirror") }
        let fileManager = FileManager.default
        do {
            for file in version.manifest.files {
                let source = "\(version.directory)/\(file.path)"
                let object = try ObjectStore.digest(file: source)
                guard object.sha256 == file.sha256 else {
                    throw StoreError.io("exporting \(file.path)", "the mirror's copy is damaged; run lessonlink mirror to repair it")
                }
                let target = "\(folder)/\(file.path)"
                try fileManager.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try? fileManager.removeItem(atPath: target)
                try fileManager.copyItem(atPath: source, toPath: target)
            }
            guard fileManager.createFile(atPath: "\(folder)/manifest.json", contents: version.manifestData) else {
                throw StoreError.io("writing manifest.json", String(cString: strerror(errno)))
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .io("exporting to \(folder)", error.localizedDescription)
        }
        return version.manifest
    }

    /// Adds a version from a folder (an export, or an unpacked ZIP): every file is hashed and
    /// must match the manifest before the version becomes visible. Returns the files that did not.
    public func importFolder(_ folder: String) throws(StoreError) -> (manifest: PackManifest, damaged: [String]) {
        guard let data = FileManager.default.contents(atPath: "\(folder)/manifest.json") else {
            throw .io("importing", "\(folder) has no manifest.json")
        }
        let manifest: PackManifest
        do { manifest = try PackManifest.decode(data) } catch { throw .io("reading manifest.json", "\(error)") }
        var damaged: [String] = []
        var journal = Journal(path: "\(root)/verified.log")
        for file in manifest.files {
            guard PackManifest.isSafePath(file.path) else { throw .io("importing", "unsafe path \(file.path) in the manifest") }
            if check(file.sha256, size: file.size, journal: &journal, full: false) { continue }
            let source = "\(folder)/\(file.path)"
            guard let object = try? ObjectStore.digest(file: source), object.sha256 == file.sha256, object.size == file.size else {
                damaged.append(file.path)
                continue
            }
            try store.add(file: source)
            journal.record(file.sha256, at: store.path(of: file.sha256))
        }
        if damaged.isEmpty { try publish(manifest, manifestData: data) }
        return (manifest, damaged)
    }
}
