import Crypto
import Foundation
import ObjectStorage
import Testing

/// AWS's Signature Version 4 test suite (credentials AKIDEXAMPLE, service `service`, us-east-1,
/// 2015-08-30 12:36:00 UTC) and the S3 documentation's own examples.
@Suite("Signature V4")
struct SignatureV4Tests {
    static let suite = SignatureV4(
        credentials: .init(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), region: "us-east-1",
        service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z

    struct Vector: CustomStringConvertible {
        var name: String
        var method: String
        var target: String
        var headers: [(String, String)] = []
        var body = ""
        var signedHeaders: String
        var signature: String
        var sessionToken: String?
        var description: String { name }
    }

    static let token =
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

    static let vectors: [Vector] = [
        Vector(
            name: "post-vanilla", method: "POST", target: "/", signedHeaders: "host;x-amz-date",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Vector(
            name: "get-vanilla-query-order-key", method: "GET", target: "/?Param1=value2&Param1=Value1", signedHeaders: "host;x-amz-date",
            signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
        Vector(
            name: "get-utf8", method: "GET", target: "/%E1%88%B4", signedHeaders: "host;x-amz-date",
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        Vector(
            name: "get-unreserved", method: "GET", target: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            signedHeaders: "host;x-amz-date", signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Vector(
            name: "post-header-key-sort", method: "POST", target: "/", headers: [("My-Header1", "value1")],
            signedHeaders: "host;my-header1;x-amz-date", signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        Vector(
            name: "post-x-www-form-urlencoded", method: "POST", target: "/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: "Param1=value1", signedHeaders: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        Vector(
            name: "post-sts-header-before", method: "POST", target: "/", signedHeaders: "host;x-amz-date;x-amz-security-token",
            signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead", sessionToken: token),
    ]

    @Test("The AWS Signature Version 4 test suite", arguments: vectors)
    func suite(_ vector: Vector) throws {
        var signer = Self.suite
        signer.credentials.sessionToken = vector.sessionToken
        let url = try #require(URL(string: "https://example.amazonaws.com" + vector.target))
        let payload = SHA256.hash(data: Data(vector.body.utf8)).map { String(format: "%02x", $0) }.joined()
        let added = signer.sign(
            method: vector.method, url: url, headers: [("Host", "example.amazonaws.com")] + vector.headers, payloadHash: payload,
            date: Self.suiteDate)
        let authorization = added.first { $0.0 == "Authorization" }?.1
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(vector.signedHeaders), Signature=\(vector.signature)"
        )
        #expect(added.contains { $0 == ("X-Amz-Date", "20150830T123600Z") })
    }

    static let s3 = SignatureV4(
        credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z

    @Test("S3's examples: a GET with a range, and a presigned URL")
    func s3Examples() throws {
        let object = try #require(URL(string: "https://examplebucket.s3.amazonaws.com/test.txt"))
        let added = Self.s3.sign(
            method: "GET", url: object,
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SignatureV4.emptyPayload)],
            payloadHash: SignatureV4.emptyPayload, date: Self.s3Date)
        #expect(
            added.first?.1
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
        let presigned = Self.s3.presign(url: object, expires: 86_400, date: Self.s3Date)
        #expect(
            presigned.absoluteString
                == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        )
    }

    @Test("Host carries the port only when it is not the scheme's own")
    func host() throws {
        #expect(SignatureV4.hostHeader(try #require(URL(string: "http://127.0.0.1:5000/b/k"))) == "127.0.0.1:5000")
        #expect(SignatureV4.hostHeader(try #require(URL(string: "https://s3.example.cn:443/b"))) == "s3.example.cn")
    }
}
