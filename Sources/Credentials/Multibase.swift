import Foundation

/// Base58 with the Bitcoin alphabet, and multibase's `z` prefix for it: how did:key identifiers
/// and Data Integrity `proofValue`s write bytes.
public enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let values: [UInt8: UInt8] = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, UInt8($0)) })

    public static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [UInt8] = []  // base 58, least significant first
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        return String(repeating: "1", count: zeros) + String(decoding: digits.reversed().map { alphabet[Int($0)] }, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        let zeros = characters.prefix { $0 == UInt8(ascii: "1") }.count
        var bytes: [UInt8] = []  // base 256, least significant first
        for character in characters {
            guard let value = values[character] else { return nil }
            var carry = Int(value)
            for index in bytes.indices {
                carry += Int(bytes[index]) * 58
                bytes[index] = UInt8(carry & 0xFF)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        return Array(repeating: 0, count: zeros) + bytes.reversed()
    }

    /// Multibase base58btc: `z` then Base58.
    public static func multibase(_ bytes: [UInt8]) -> String { "z" + encode(bytes) }

    public static func fromMultibase(_ text: String) -> [UInt8]? {
        guard text.hasPrefix("z") else { return nil }
        return decode(String(text.dropFirst()))
    }
}
