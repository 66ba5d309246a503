import Credentials
import Crypto
import Foundation
import Testing

/// The `eddsa-jcs-2022` test vector of the W3C Data Integrity EdDSA Cryptosuites specification
/// (vc-di-eddsa, "Representation: eddsa-jcs-2022"), reproduced byte for byte.
@Suite("Data Integrity eddsa-jcs-2022")
struct DataIntegrityTests {
    static let privateKey = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
    static let publicKey = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    static let unsigned = #"""
        {
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                "https://www.w3.org/ns/credentials/examples/v2"
            ],
            "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
            "type": ["VerifiableCredential", "AlumniCredential"],
            "name": "Alumni Credential",
            "description": "A minimum viable example of an Alumni Credential.",
            "issuer": "https://vc.example/issuers/5678",
            "validFrom": "2023-01-01T00:00:00Z",
            "credentialSubject": {
                "id": "did:example:abcdefgh",
                "alumniOf": "The School of Examples"
            }
        }
        """#

    static func hex(_ data: some Sequence<UInt8>) -> String { data.map { String(format: "%02x", $0) }.joined() }

    @Test("The key pair: private multibase → the public did:key")
    func keys() throws {
        let key = try #require(PrivateKeyMultibase.decode(Self.privateKey))
        #expect(DIDKey(key.publicKey).multibase == Self.publicKey)
        #expect(PrivateKeyMultibase.encode(key) == Self.privateKey)
        #expect(DIDKey(verificationMethod: "did:key:\(Self.publicKey)#\(Self.publicKey)")?.multibase == Self.publicKey)
    }

    @Test("Every intermediate value and the proofValue match the specification's")
    func vector() throws {
        let key = try #require(PrivateKeyMultibase.decode(Self.privateKey))
        let document = try JSONValue.parse(Data(Self.unsigned.utf8))
        #expect(
            String(decoding: try JCS.canonical(document), as: UTF8.self)
                == #"{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],"credentialSubject":{"alumniOf":"The School of Examples","id":"did:example:abcdefgh"},"description":"A minimum viable example of an Alumni Credential.","id":"urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33","issuer":"https://vc.example/issuers/5678","name":"Alumni Credential","type":["VerifiableCredential","AlumniCredential"],"validFrom":"2023-01-01T00:00:00Z"}"#)
        let signed = try EddsaJCS2022.sign(document, key: key, created: "2023-02-24T23:36:38Z")
        let proof = try #require(signed["proof"])
        let options = proof.removing("proofValue")
        #expect(
            String(decoding: try JCS.canonical(options), as: UTF8.self)
                == #"{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],"created":"2023-02-24T23:36:38Z","cryptosuite":"eddsa-jcs-2022","proofPurpose":"assertionMethod","type":"DataIntegrityProof","verificationMethod":"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}"#)
        let hashData = try EddsaJCS2022.hashData(document: document, options: options)
        #expect(
            Self.hex(hashData)
                == "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19")
        let proofValue = try #require(proof["proofValue"]?.stringValue)
        #expect(
            Self.hex(try #require(Base58.fromMultibase(proofValue)))
                == "407cd12654b33d718ecbb99179a1506daaa849450bf3fc523cce3e1c96f8b80351da3f253d725c6f00b07c9e5448d50b3ef78012b9ab54255116d069c6dd2808")
        #expect(proof["proofValue"]?.stringValue == "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX")
        #expect(try EddsaJCS2022.verify(signed).multibase == Self.publicKey)
    }

    @Test("A changed byte anywhere, a forged key or a missing proof fails verification")
    func tampering() throws {
        let key = try #require(PrivateKeyMultibase.decode(Self.privateKey))
        let signed = try EddsaJCS2022.sign(try JSONValue.parse(Data(Self.unsigned.utf8)), key: key, created: "2023-02-24T23:36:38Z")
        let changedSubject = signed.setting(
            "credentialSubject", .object([("id", .string("did:example:abcdefgh")), ("alumniOf", .string("The School of Exampled"))]))
        #expect(throws: EddsaJCS2022.Failure.tampered) { try EddsaJCS2022.verify(changedSubject) }
        let proof = try #require(signed["proof"])
        let laterProof = signed.setting("proof", proof.setting("created", .string("2023-02-24T23:36:39Z")))
        #expect(throws: EddsaJCS2022.Failure.tampered) { try EddsaJCS2022.verify(laterProof) }
        // Signed by another key but claiming the county's: the signature does not match.
        let forger = Curve25519.Signing.PrivateKey()
        let forged = try EddsaJCS2022.sign(try JSONValue.parse(Data(Self.unsigned.utf8)), key: forger, created: "2023-02-24T23:36:38Z")
        let forgedProof = try #require(forged["proof"])
        let claimed = forged.setting(
            "proof", forgedProof.setting("verificationMethod", .string("did:key:\(Self.publicKey)#\(Self.publicKey)")))
        #expect(throws: EddsaJCS2022.Failure.tampered) { try EddsaJCS2022.verify(claimed) }
        #expect(throws: EddsaJCS2022.Failure.noProof) { try EddsaJCS2022.verify(signed.removing("proof")) }
        let otherSuite = signed.setting("proof", proof.setting("cryptosuite", .string("eddsa-rdfc-2022")))
        #expect(throws: EddsaJCS2022.Failure.wrongCryptosuite("eddsa-rdfc-2022")) { try EddsaJCS2022.verify(otherSuite) }
        // Key order and whitespace do not matter: the canonical form is what is signed.
        let reordered = try JSONValue.parse(Data(String(decoding: try JCS.canonical(signed), as: UTF8.self).utf8))
        #expect(try EddsaJCS2022.verify(reordered).multibase == Self.publicKey)
    }

    @Test("Base58 keeps leading zero bytes and round-trips")
    func base58() {
        #expect(Base58.encode([0, 0, 1]) == "112")
        #expect(Base58.decode("112") == [0, 0, 1])
        #expect(Base58.encode(Array("Hello World!".utf8)) == "2NEpo7TZRRrLZSi2U")
        #expect(Base58.decode("0OIl") == nil)
    }
}
