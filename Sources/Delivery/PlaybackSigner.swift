import Crypto
import Foundation

/// Signs and checks the tokens in media URLs.
///
/// Players (a `<video>` element, hls.js-style MSE code, a classroom set-top box) cannot add an
/// `Authorization` header to the requests they make for playlists and segments, so the right to
/// watch travels in the URL path: `/media/<recording>/<version>/<token>/master.m3u8`. Because the
/// token is a path segment, the playlists' relative URIs (`360p/index.m3u8`, `seg_00001.m4s`)
/// carry it along. The token is `<expiry>.<signature>`: HMAC-SHA256 over the recording id and
/// the expiry (Unix seconds), base64url without padding.
public struct PlaybackSigner: Sendable {
    public enum Check: Equatable, Sendable {
        case valid
        case expired
        /// Malformed, tampered with, or signed for another recording.
        case invalid
    }

    /// Kept as bytes: `SymmetricKey` is not `Sendable` in this swift-crypto.
    private let keyData: Data
    private var key: SymmetricKey { SymmetricKey(data: keyData) }

    public init(key: Data) {
        self.keyData = key
    }

    public func token(recordingId: Int64, expires: Date) -> String {
        token(scope: "playback", id: recordingId, expires: expires)
    }

    public func check(_ token: String, recordingId: Int64, now: Date = Date()) -> Check {
        check(token, scope: "playback", id: recordingId, now: now)
    }

    /// A live session's playback link: signed apart from recordings', so a recording's token
    /// never opens the live session that happens to share its number.
    public func token(liveSession id: Int64, expires: Date) -> String { token(scope: "live", id: id, expires: expires) }

    public func check(_ token: String, liveSession id: Int64, now: Date = Date()) -> Check {
        check(token, scope: "live", id: id, now: now)
    }

    private func token(scope: String, id: Int64, expires: Date) -> String {
        let expiry = Int64(expires.timeIntervalSince1970.rounded(.down))
        return "\(expiry).\(signature(scope: scope, id: id, expiry: expiry))"
    }

    private func check(_ token: String, scope: String, id recordingId: Int64, now: Date) -> Check {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 12, let expiry = Int64(parts[0]), expiry > 0,
            let given = parts[1].count <= 64 ? Data(base64URL: String(parts[1])) : nil
        else { return .invalid }
        let code = HMAC<SHA256>.authenticationCode(for: Self.message(scope: scope, id: recordingId, expiry: expiry), using: key)
        // Constant-time comparison: a timing difference must not reveal how much of a guess is right.
        guard code == given else { return .invalid }
        return Double(expiry) >= now.timeIntervalSince1970 ? .valid : .expired
    }

    private func signature(scope: String, id: Int64, expiry: Int64) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Self.message(scope: scope, id: id, expiry: expiry), using: key)).base64URL
    }

    private static func message(scope: String, id: Int64, expiry: Int64) -> Data {
        Data("lessonlink-\(scope):\(id):\(expiry)".utf8)
    }

    /// Reads the signing key from `path`, creating a random 32-byte one (mode 0600) on first use,
    /// so a fresh install needs no secret typed into its configuration.
    public static func loadOrCreateKey(path: String) throws -> Data {
        if let existing = FileManager.default.contents(atPath: path), existing.count >= 32 { return existing }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: key, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return key
    }
}
