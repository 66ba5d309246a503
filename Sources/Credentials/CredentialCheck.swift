import Foundation

/// What a verifier tells a promotion committee about a certificate: one verdict, and a sentence
/// in plain Chinese that says why. The same checks run on the public verification page, in the
/// API and in `lessonlink credential verify`, so all three always agree.
public struct CredentialCheck: Sendable, Equatable {
    public enum Verdict: String, Sendable, Codable {
        /// Signed by one of the county's keys, unchanged, not revoked.
        case valid
        /// The signature does not match the content: something was changed.
        case tampered
        /// The county withdrew it.
        case revoked
        /// Correctly signed, but by a key that is not the county's.
        case unknownIssuer
        /// Not a credential this verifier can read.
        case malformed
    }

    public var verdict: Verdict
    public var message: String
    /// The credential's `id` (`urn:uuid:…`), when it has one.
    public var id: String?
    /// The signing key, when the signature could be checked.
    public var key: String?

    /// Checks a credential's text.
    /// - Parameters:
    ///   - trusted: the county's keys (`did:key` identifiers), current and retired.
    ///   - issuerName: how the verdict names the county.
    ///   - revocation: whether the credential is revoked, and why (nil when not known to be).
    public static func check(
        _ data: Data, trusted: Set<String>, issuerName: String, revocation: (JSONValue) -> String?
    ) -> CredentialCheck {
        let document: JSONValue
        do {
            document = try JSONValue.parse(data)
        } catch {
            return CredentialCheck(verdict: .malformed, message: "这不是一份可识别的证书：内容不是有效的 JSON（\(error)）。", id: nil, key: nil)
        }
        let id = document["id"]?.stringValue
        guard case .array(let types) = document["type"] ?? .null, types.contains(.string("VerifiableCredential")) else {
            return CredentialCheck(verdict: .malformed, message: "这不是一份可识别的证书：缺少 VerifiableCredential 类型。", id: id, key: nil)
        }
        let key: DIDKey
        do {
            key = try EddsaJCS2022.verify(document)
        } catch .tampered {
            return CredentialCheck(
                verdict: .tampered, message: "证书内容已被改动：签名与内容不符，此证书不可信。", id: id, key: nil)
        } catch .noProof {
            return CredentialCheck(verdict: .malformed, message: "这份证书没有签名（缺少 proof），无法证明由谁签发。", id: id, key: nil)
        } catch .wrongCryptosuite(let suite) {
            return CredentialCheck(verdict: .malformed, message: "签名方式 \(suite) 不是本系统使用的 eddsa-jcs-2022。", id: id, key: nil)
        } catch .unknownKey(let method) {
            return CredentialCheck(
                verdict: .unknownIssuer, message: "签名密钥 \(method) 不是 \(issuerName) 的密钥：此证书不是由其签发的。", id: id, key: nil)
        } catch .malformed(let why) {
            return CredentialCheck(verdict: .malformed, message: "签名无法读取：\(why)。", id: id, key: nil)
        } catch {
            return CredentialCheck(verdict: .malformed, message: "签名无法读取。", id: id, key: nil)
        }
        let issuer = document["issuer"].flatMap { $0.stringValue ?? $0["id"]?.stringValue }
        guard trusted.contains(key.did), issuer == key.did else {
            return CredentialCheck(
                verdict: .unknownIssuer,
                message: "签名本身完好，但签名密钥不属于 \(issuerName)：此证书不是由其签发的。", id: id, key: key.did)
        }
        if let reason = revocation(document) {
            return CredentialCheck(
                verdict: .revoked, message: "证书已被 \(issuerName) 撤销，不再有效。原因：\(reason)", id: id, key: key.did)
        }
        return CredentialCheck(
            verdict: .valid, message: "证书有效：由 \(issuerName) 签发，内容未被改动，也未被撤销。", id: id, key: key.did)
    }

    /// The index a credential holds in its status list (nil: it has no such entry).
    public static func statusIndex(of credential: JSONValue) -> Int? {
        guard let entry = credential["credentialStatus"], entry["type"]?.stringValue == "BitstringStatusListEntry",
            entry["statusPurpose"]?.stringValue == "revocation"
        else { return nil }
        return entry["statusListIndex"]?.stringValue.flatMap { Int($0) }
    }

    /// Reads the revocation bit from a signed status list credential, after checking its
    /// signature against the county's keys. Nil when the list cannot be trusted or read.
    public static func revokedBit(_ index: Int, in list: JSONValue, trusted: Set<String>) -> Bool? {
        guard let key = try? EddsaJCS2022.verify(list), trusted.contains(key.did),
            let encoded = list["credentialSubject"]?["encodedList"]?.stringValue, let bits = StatusList(encoded: encoded)
        else { return nil }
        return bits[index]
    }
}
