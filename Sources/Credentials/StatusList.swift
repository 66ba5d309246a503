import CLinux
import Foundation

/// A W3C Bitstring Status List: one bit per issued credential (bit 0 is the most significant bit
/// of the first byte), set when the credential is revoked. Published GZIP-compressed, as multibase
/// base64url (`u…`), inside a signed `BitstringStatusListCredential`, so any verifier learns of a
/// revocation without asking who holds which certificate.
public struct StatusList: Sendable, Equatable {
    /// 131,072 entries (16 KB): the specification's minimum, so a list does not reveal how few
    /// credentials a county has issued.
    public static let minimumLength = 131_072

    public private(set) var bytes: [UInt8]

    public init(length: Int = StatusList.minimumLength) {
        bytes = Array(repeating: 0, count: (max(length, Self.minimumLength) + 7) / 8)
    }

    public var count: Int { bytes.count * 8 }

    public subscript(index: Int) -> Bool {
        get { index >= 0 && index < count && bytes[index / 8] & (0x80 >> UInt8(index % 8)) != 0 }
        set {
            precondition(index >= 0 && index < count, "status list index out of range")
            if newValue {
                bytes[index / 8] |= 0x80 >> UInt8(index % 8)
            } else {
                bytes[index / 8] &= ~(0x80 >> UInt8(index % 8))
            }
        }
    }

    /// `u` + base64url (no padding) of the GZIP-compressed bits.
    public var encoded: String {
        var output = [UInt8](repeating: 0, count: Int(lessonlink_gzip_bound(UInt(bytes.count))))
        let length = bytes.withUnsafeBufferPointer { input in
            lessonlink_gzip(input.baseAddress, UInt(input.count), &output, UInt(output.count))
        }
        precondition(length > 0, "zlib could not compress the status list")
        return "u" + Data(output[..<Int(length)]).base64URLEncodedString()
    }

    /// Decodes a list as `encoded` writes it (nil: not multibase base64url GZIP, or too large).
    public init?(encoded text: String) {
        guard text.hasPrefix("u"), let compressed = Data(base64URLEncoded: String(text.dropFirst())) else { return nil }
        // 16 MB of bits is 134 million credentials: far past any county.
        var output = [UInt8](repeating: 0, count: 16 << 20)
        let length = Array(compressed).withUnsafeBufferPointer { input in
            lessonlink_gunzip(input.baseAddress, UInt(input.count), &output, UInt(output.count))
        }
        guard length > 0 else { return nil }
        bytes = Array(output[..<Int(length)])
    }
}

extension Data {
    /// Base64url without padding (RFC 4648 §5).
    func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(base64URLEncoded text: String) {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        self.init(base64Encoded: standard)
    }
}
