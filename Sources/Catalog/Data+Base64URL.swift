import Foundation

/// base64url without padding (RFC 4648 §5): safe in URL paths and query strings, used for
/// tokens, signatures and cursors.
extension Data {
    public var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    /// A new unguessable identifier: 32 random bytes from the system's generator, base64url.
    /// Bearer tokens and upload URLs are such identifiers. Never one that begins with "-": pasted
    /// after `--token` on a command line it would read as an option (a one-in-64 draw is redrawn,
    /// which costs a fiftieth of a bit of randomness).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let token = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64URL
            if !token.hasPrefix("-") { return token }
        }
    }
}
