import Foundation

/// tus `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
public enum UploadMetadata {
    public struct Invalid: Error { public var message: String }

    public static func parse(_ header: String) throws(Invalid) -> [String: String] {
        var result: [String: String] = [:]
        guard !header.trimmingCharacters(in: .whitespaces).isEmpty else { return result }
        guard header.count <= 4096 else { throw Invalid(message: "longer than 4096 characters") }
        for pair in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
            guard let key = parts.first, parts.count <= 2, !key.isEmpty,
                key.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "," })
            else { throw Invalid(message: "each entry must be 'key base64value'") }
            guard result[String(key)] == nil else { throw Invalid(message: "key '\(key)' appears twice") }
            var value = ""
            if parts.count == 2 {
                guard let data = Data(base64Encoded: String(parts[1])), let text = String(data: data, encoding: .utf8) else {
                    throw Invalid(message: "the value of '\(key)' is not base64-encoded UTF-8")
                }
                value = text
            }
            result[String(key)] = value
        }
        return result
    }

    /// The client's file name, if the header names one.
    static func filename(_ header: String) -> String? { (try? parse(header))?["filename"] }
}
