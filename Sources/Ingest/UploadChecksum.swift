import Crypto
import Foundation

/// The tus checksum extension: `Upload-Checksum: <algorithm> <base64 digest>` covers one
/// request's body; a chunk that does not match is discarded (460) and sent again.
public struct UploadChecksum: Sendable {
    public enum Algorithm: String, Sendable, CaseIterable { case sha1, sha256 }

    public static let supported = Algorithm.allCases.map(\.rawValue).joined(separator: ",")

    public var algorithm: Algorithm
    public var expected: Data

    /// Parses the header; nil when it is absent.
    public static func parse(_ header: String?) throws(IngestError) -> UploadChecksum? {
        guard let header else { return nil }
        let parts = header.split(separator: " ")
        guard parts.count == 2 else {
            throw IngestError(.invalid, "invalid_checksum", "Upload-Checksum must be '<algorithm> <base64 digest>'")
        }
        guard let algorithm = Algorithm(rawValue: parts[0].lowercased()) else {
            throw IngestError(
                .invalid, "unsupported_checksum", "checksum algorithm '\(parts[0])' is not supported; use \(supported)")
        }
        guard let digest = Data(base64Encoded: String(parts[1])) else {
            throw IngestError(.invalid, "invalid_checksum", "the Upload-Checksum digest is not valid base64")
        }
        return UploadChecksum(algorithm: algorithm, expected: digest)
    }

    func makeHasher() -> Hasher {
        switch algorithm {
        case .sha1: .sha1(Insecure.SHA1())
        case .sha256: .sha256(SHA256())
        }
    }

    /// A running digest of one chunk in the checksum's algorithm.
    enum Hasher {
        case sha1(Insecure.SHA1)
        case sha256(SHA256)

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            switch self {
            case .sha1(var hasher):
                hasher.update(bufferPointer: bytes)
                self = .sha1(hasher)
            case .sha256(var hasher):
                hasher.update(bufferPointer: bytes)
                self = .sha256(hasher)
            }
        }

        func finalize() -> Data {
            switch self {
            case .sha1(let hasher): Data(hasher.finalize())
            case .sha256(let hasher): Data(hasher.finalize())
            }
        }
    }
}
