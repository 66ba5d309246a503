/// CSV for spreadsheets (RFC 4180): UTF-8 with a byte-order mark and CRLF line ends, so Excel
/// reads Chinese text as it is. Every report that exports CSV writes it here.
public enum CSV {
    /// The whole document: a BOM, then each row's fields joined by commas.
    public static func document(_ rows: [[String]]) -> String {
        "\u{FEFF}" + rows.map { $0.map(field).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// One field: quoted when it holds a comma, quote or line break; a leading = + - @ that is
    /// not a number is prefixed with ' so a spreadsheet shows it rather than running a formula.
    public static func field(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@".contains(first), Double(text) == nil { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
