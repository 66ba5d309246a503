import Crypto
import Foundation

/// An Ed25519 key as `did:key` names it: the multicodec prefix 0xed 0x01, then the 32-byte
/// public key, multibase base58btc (`z6Mk…`). A verifier needs nothing else: the identifier is
/// the key, so a certificate verifies offline, years later, whatever became of the server.
public struct DIDKey: Sendable, Equatable {
    /// The 32 bytes of the Ed25519 public key.
    public let publicKeyBytes: [UInt8]

    public init(_ publicKey: Curve25519.Signing.PublicKey) { publicKeyBytes = Array(publicKey.rawRepresentation) }

    public var publicKey: Curve25519.Signing.PublicKey {
        // Checked when the value was made: 32 bytes that form a key.
        try! Curve25519.Signing.PublicKey(rawRepresentation: publicKeyBytes)
    }

    /// `z6Mk…`: the key as multibase.
    public var multibase: String { Base58.multibase([0xED, 0x01] + publicKeyBytes) }
    /// `did:key:z6Mk…`
    public var did: String { "did:key:" + multibase }
    /// The key's verification method, `did:key:z6Mk…#z6Mk…`.
    public var verificationMethod: String { did + "#" + multibase }

    /// The key a `did:key` identifier or verification method names (nil: not an Ed25519 did:key).
    public init?(verificationMethod: String) {
        guard verificationMethod.hasPrefix("did:key:") else { return nil }
        let identifier = verificationMethod.dropFirst(8).split(separator: "#", maxSplits: 1).first.map(String.init) ?? ""
        guard let bytes = Base58.fromMultibase(identifier), bytes.count == 34, bytes[0] == 0xED, bytes[1] == 0x01,
            (try? Curve25519.Signing.PublicKey(rawRepresentation: bytes[2...])) != nil
        else { return nil }
        publicKeyBytes = Array(bytes[2...])
    }
}

/// Ed25519 private keys in multibase form (multicodec 0x8026 `ed25519-priv`, then the 32-byte
/// seed), as the W3C test vectors and key files write them.
public enum PrivateKeyMultibase {
    public static func encode(_ key: Curve25519.Signing.PrivateKey) -> String {
        Base58.multibase([0x80, 0x26] + Array(key.rawRepresentation))
    }

    public static func decode(_ text: String) -> Curve25519.Signing.PrivateKey? {
        guard let bytes = Base58.fromMultibase(text), bytes.count == 34, bytes[0] == 0x80, bytes[1] == 0x26 else { return nil }
        return try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes[2...])
    }
}

/// Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite (W3C vc-di-eddsa §3.3): the
/// document and the proof options each canonicalized with JCS and hashed with SHA-256, the proof
/// options' hash first, signed with Ed25519; `proofValue` is the signature in multibase base58btc.
public enum EddsaJCS2022 {
    public static let cryptosuite = "eddsa-jcs-2022"

    /// Why a secured document does not verify, in words for the person checking it.
    public enum Failure: Error, Equatable, Sendable {
        case noProof
        case wrongCryptosuite(String)
        case unknownKey(String)
        case malformed(String)
        /// The signature does not match: the document or its proof was changed.
        case tampered
    }

    /// The document with a `proof` member added.
    /// - Parameters:
    ///   - created: RFC 3339 timestamp for the proof's `created`.
    public static func sign(
        _ document: JSONValue, key: Curve25519.Signing.PrivateKey, created: String, proofPurpose: String = "assertionMethod"
    ) throws -> JSONValue {
        let verificationMethod = DIDKey(key.publicKey).verificationMethod
        var options: JSONValue = .object([
            ("type", .string("DataIntegrityProof")), ("cryptosuite", .string(cryptosuite)), ("created", .string(created)),
            ("verificationMethod", .string(verificationMethod)), ("proofPurpose", .string(proofPurpose)),
        ])
        if let context = document["@context"] { options = options.setting("@context", context) }
        let signature = try key.signature(for: try hashData(document: document.removing("proof"), options: options))
        return document.setting("proof", options.setting("proofValue", .string(Base58.multibase(Array(signature)))))
    }

    /// Checks the document's proof; returns the key that signed it (its verification method).
    @discardableResult
    public static func verify(_ secured: JSONValue) throws(Failure) -> DIDKey {
        guard let proof = secured["proof"], case .object = proof else { throw .noProof }
        guard proof["type"]?.stringValue == "DataIntegrityProof", let suite = proof["cryptosuite"]?.stringValue else {
            throw .malformed("the proof is not a DataIntegrityProof")
        }
        guard suite == cryptosuite else { throw .wrongCryptosuite(suite) }
        guard let method = proof["verificationMethod"]?.stringValue else { throw .malformed("the proof names no key") }
        guard let key = DIDKey(verificationMethod: method) else { throw .unknownKey(method) }
        guard let value = proof["proofValue"]?.stringValue, let signature = Base58.fromMultibase(value), signature.count == 64 else {
            throw .malformed("the proof's value is not an Ed25519 signature in base58btc")
        }
        let document = secured.removing("proof")
        let options = proof.removing("proofValue")
        if let context = options["@context"], context != document["@context"] {
            throw .malformed("the proof's @context differs from the document's")
        }
        guard let data = try? hashData(document: document, options: options),
            key.publicKey.isValidSignature(signature, for: data)
        else { throw .tampered }
        return key
    }

    /// SHA-256(JCS(proof options)) ‖ SHA-256(JCS(document)).
    public static func hashData(document: JSONValue, options: JSONValue) throws(JSONError) -> Data {
        Data(SHA256.hash(data: try JCS.canonical(options))) + Data(SHA256.hash(data: try JCS.canonical(document)))
    }
}
