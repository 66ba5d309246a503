import Crypto
public import Foundation

/// AWS Signature Version 4, the signing every S3-compatible store accepts (AWS, MinIO, Ceph, the
/// provinces' object stores), written on swift-crypto: no SDK is available here.
///
/// Checked against AWS's published Signature Version 4 test suite and the S3 documentation's
/// presigned-URL example (`SignatureV4Tests`). Paths are encoded once and never normalized, as
/// S3 requires (`a//b` and `a/./b` are different keys).
public struct SignatureV4: Sendable {
    public struct Credentials: Sendable, Equatable {
        public var accessKey: String
        public var secretKey: String
        /// For temporary credentials (`X-Amz-Security-Token`).
        public var sessionToken: String?

        public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
            self.accessKey = accessKey
            self.secretKey = secretKey
            self.sessionToken = sessionToken
        }
    }

    public var credentials: Credentials
    public var region: String
    public var service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The SHA-256 of an empty body, and the marker for a body the signature does not cover.
    public static let emptyPayload = hex(SHA256.hash(data: Data()))
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// The headers to add to a request: `Authorization`, `X-Amz-Date`, and the security token when
    /// there is one. `headers` are those the request will carry (Host included) and all are signed.
    public func sign(
        method: String, url: URL, headers: [(String, String)], payloadHash: String, date: Date
    ) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        var signed = headers
        signed.append(("X-Amz-Date", stamp))
        if let token = credentials.sessionToken { signed.append(("X-Amz-Security-Token", token)) }
        let (canonical, names) = Self.canonicalRequest(
            method: method, path: url.path(percentEncoded: true), query: url.query(percentEncoded: true), headers: signed,
            payloadHash: payloadHash)
        let signature = self.signature(canonicalRequest: canonical, stamp: stamp)
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope(stamp)), SignedHeaders=\(names), Signature=\(signature)"
        return [("Authorization", authorization), ("X-Amz-Date", stamp)]
            + (credentials.sessionToken.map { [("X-Amz-Security-Token", $0)] } ?? [])
    }

    /// A presigned URL: anyone holding it may `method` the object until `expires` seconds after
    /// `date` (the store checks), with no other credentials. Only `host` is signed.
    public func presign(method: String = "GET", url: URL, expires: Int, date: Date) -> URL {
        let stamp = Self.timestamp(date)
        var query: [(String, String)] = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(credentials.accessKey)/\(scope(stamp))"),
            ("X-Amz-Date", stamp), ("X-Amz-Expires", "\(expires)"), ("X-Amz-SignedHeaders", "host"),
        ]
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        let existing = url.query(percentEncoded: true).map { $0 + "&" } ?? ""
        let queryString = existing + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let host = Self.hostHeader(url)
        let (canonical, _) = Self.canonicalRequest(
            method: method, path: url.path(percentEncoded: true), query: queryString, headers: [("host", host)],
            payloadHash: Self.unsignedPayload)
        let signature = self.signature(canonicalRequest: canonical, stamp: stamp)
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)!
        components.percentEncodedQuery = Self.sortedQuery(queryString) + "&X-Amz-Signature=\(signature)"
        return components.url!
    }

    /// `Host` as a client sends it: the port only when it is not the scheme's default.
    public static func hostHeader(_ url: URL) -> String {
        let host = url.host(percentEncoded: false) ?? ""
        guard let port = url.port, !(url.scheme == "http" && port == 80), !(url.scheme == "https" && port == 443) else { return host }
        return "\(host):\(port)"
    }

    // MARK: - The steps of the algorithm

    func scope(_ stamp: String) -> String { "\(stamp.prefix(8))/\(region)/\(service)/aws4_request" }

    func signature(canonicalRequest: String, stamp: String) -> String {
        let stringToSign = Self.stringToSign(canonicalRequest: canonicalRequest, stamp: stamp, scope: scope(stamp))
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretKey)".utf8))
        for part in [String(stamp.prefix(8)), region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    static func stringToSign(canonicalRequest: String, stamp: String, scope: String) -> String {
        ["AWS4-HMAC-SHA256", stamp, scope, hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    /// The canonical request and the signed header names (`host;x-amz-date`).
    static func canonicalRequest(
        method: String, path: String, query: String?, headers: [(String, String)], payloadHash: String
    ) -> (String, String) {
        // Header names lower-cased and sorted; repeated names joined by commas in order; values
        // trimmed, inner runs of spaces folded to one.
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let folded = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
            merged[name.lowercased(), default: []].append(folded)
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let canonicalPath = path.isEmpty ? "/" : encodePath(path)
        let request = [
            method, canonicalPath, sortedQuery(query ?? ""), canonicalHeaders, names.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
        return (request, names.joined(separator: ";"))
    }

    /// Each path segment decoded, then encoded as SigV4 wants: unreserved characters kept.
    static func encodePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { encode(String($0).removingPercentEncoding ?? String($0)) }
            .joined(separator: "/")
    }

    /// Query parameters decoded, re-encoded, and sorted by name then value.
    static func sortedQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        func decode(_ text: String) -> String { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? text }
        var pairs: [(name: String, value: String)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            pairs.append((encode(decode(parts[0])), encode(decode(parts.count > 1 ? parts[1] : ""))))
        }
        pairs.sort { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        return pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// RFC 3986 encoding with upper-case hex, everything but the unreserved characters.
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
