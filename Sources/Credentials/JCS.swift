import Foundation

/// The JSON Canonicalization Scheme (RFC 8785): the one byte sequence a JSON value signs as.
/// Object members sorted by their keys' UTF-16 code units, no whitespace, strings with the
/// minimal escapes, numbers as ECMAScript's Number.prototype.toString writes them.
public enum JCS {
    public static func canonical(_ value: JSONValue) throws(JSONError) -> Data {
        var out = ""
        try write(value, into: &out)
        return Data(out.utf8)
    }

    static func write(_ value: JSONValue, into out: inout String) throws(JSONError) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let number): out += try Self.number(number)
        case .string(let text): string(text, into: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                try write(item, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let sorted = members.sorted { Array($0.0.utf16).lexicographicallyPrecedes(Array($1.0.utf16)) }
            for (index, (key, member)) in sorted.enumerated() {
                if index > 0 { out += "," }
                string(key, into: &out)
                out += ":"
                try write(member, into: &out)
            }
            out += "}"
        }
    }

    static func string(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20) from the shortest digits that read
    /// back as the same double — which is what Swift's own description prints.
    public static func number(_ value: Double) throws(JSONError) -> String {
        guard value.isFinite else { throw .notANumber }
        if value == 0 { return "0" }
        if value < 0 { return "-" + (try number(-value)) }
        // Swift writes e.g. "1.0", "5e-324", "1.7976931348623157e+308", "9007199254740992.0".
        let text = value.description
        let parts = text.split(separator: "e", maxSplits: 1)
        let mantissa = parts[0]
        let exponent = parts.count > 1 ? Int(parts[1])! : 0
        let pieces = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = String(pieces[0])
        let fraction = pieces.count > 1 ? String(pieces[1]) : ""
        // value = 0.digits × 10^n, with digits free of leading and trailing zeros.
        var digits = whole + fraction
        var n = whole.count + exponent
        while digits.hasPrefix("0") {
            digits.removeFirst()
            n -= 1
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        let k = digits.count
        if k <= n && n <= 21 { return digits + String(repeating: "0", count: n - k) }
        if 0 < n && n <= 21 { return String(digits.prefix(n)) + "." + String(digits.dropFirst(n)) }
        if -6 < n && n <= 0 { return "0." + String(repeating: "0", count: -n) + digits }
        let e = n - 1
        let sign = e < 0 ? "-" : "+"
        let head = k == 1 ? digits : String(digits.prefix(1)) + "." + String(digits.dropFirst())
        return head + "e" + sign + String(abs(e))
    }
}
