import Foundation
public import ObjectStorage
import PackSync
public import Transcoding

/// A pack's side of `storage.media: s3`. Publishing fetches the lesson versions it is made from
/// (their segments are in the store, not on this disk), then puts every object of the new
/// version in the store under `objects/<ab>/<sha256>` before the version is committed, so a
/// mirror that reads the manifest never asks for an object the store lacks. Objects are content
/// addressed: one already there (the same lesson in another pack) is not sent again.
public struct PackBucket: Sendable {
    public let media: MediaLayout
    public let bucket: S3Bucket

    public init(media: MediaLayout, bucket: S3Bucket) {
        self.media = media
        self.bucket = bucket
    }

    /// Where an object is in the bucket.
    public static func key(_ sha256: String) -> String { "objects/\(sha256.prefix(2))/\(sha256)" }

    func fetch(_ plan: PackPublisher.Plan) async throws {
        for (recordingId, item) in plan.media.sorted(by: { $0.key < $1.key }) {
            try await media.fetch(recordingId: recordingId, version: item.version)
        }
    }

    func upload(_ assembled: PackPublisher.Assembled, from store: ObjectStore) async throws {
        var seen = Set<String>()
        let objects = ([assembled.manifestObject] + assembled.files.map(\.object)).filter { seen.insert($0.sha256).inserted }
        try await bucket.forEach(objects.map(\.sha256)) { sha256 in
            let key = Self.key(sha256)
            if try await bucket.head(key: key) != nil { return }
            try await bucket.put(file: store.path(of: sha256), key: key)
        }
    }
}
