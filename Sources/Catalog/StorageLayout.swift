import Foundation

/// Every path under the storage root, spelled once.
///
/// ```
/// storage/
///   lessonlink.sqlite            the database (unless database.path says otherwise)
///   uploads/<upload>.part        bytes of an upload in progress
///   sources/<recording>/source.* an accepted upload's file, the transcoder's input
///   media/<recording>/v<job>/    a published version of the ladder
///   media/<recording>/.job-<job>/  a job's staging folder, renamed to v<job> when published
///   objects/ab/<sha256>          pack files, stored once by content
///   secrets/                     keys the server made for itself (playback.key, credential-keys.json),
///                                and the first admin's one-time password until it is changed
/// ```
public struct StorageLayout: Sendable, Equatable {
    public var root: String

    public init(root: String) { self.root = root }

    public var uploads: String { "\(root)/uploads" }
    /// Where an upload's bytes are written while it is in progress.
    public func uploadData(_ id: String) -> String { "\(uploads)/\(id).part" }

    public var sources: String { "\(root)/sources" }
    public func sourceFolder(_ recordingId: Int64) -> String { "\(sources)/\(recordingId)" }
    /// A recording's source as stored in its row: relative to the root, so the root can move.
    public func relativeSource(_ recordingId: Int64, name: String) -> String { "sources/\(recordingId)/\(name)" }
    /// The absolute path of a stored relative path (`recording.sourcePath`).
    public func resolve(_ relative: String) -> String { "\(root)/\(relative)" }

    public var media: String { "\(root)/media" }
    public func mediaFolder(_ recordingId: Int64) -> String { "\(media)/\(recordingId)" }
    /// A published version (`v12`) of a recording's media.
    public func version(_ recordingId: Int64, _ version: String) -> String { "\(mediaFolder(recordingId))/\(version)" }
    /// Version folder names: `v` and the job id.
    public static func versionName(job: Int64) -> String { "v\(job)" }
    /// A job's staging folder: hidden, so nothing serves it before it is published.
    public func staging(_ recordingId: Int64, job: Int64) -> String { "\(mediaFolder(recordingId))/.job-\(job)" }

    /// The job of a staging folder name (`.job-12`), nil for anything else.
    public static func stagingJob(_ entry: String) -> Int64? {
        guard entry.hasPrefix(".job-") else { return nil }
        return Int64(entry.dropFirst(5))
    }

    public var objects: String { "\(root)/objects" }
    public var secrets: String { "\(root)/secrets" }
    public var playbackKey: String { "\(secrets)/playback.key" }
    /// The first admin's one-time password (mode 0600), until it is changed.
    public var initialAdminPassword: String { "\(secrets)/initial-admin-password" }
}
