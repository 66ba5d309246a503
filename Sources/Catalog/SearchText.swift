import Foundation

/// Tokenisation for searching Chinese and English together with SQLite FTS5.
///
/// Chinese has no spaces between words, and FTS5's `trigram` tokenizer cannot match the
/// two-character words that most searches are (秋天, 分数). So text is indexed as its Latin words
/// plus, for every run of CJK characters, each character and each pair of neighbours:
/// "秋天的雨" → 秋 天 的 雨 秋天 天的 的雨. A query of one CJK character matches the unigram; a
/// longer one matches the phrase of its bigrams. The tokens go to FTS5's `unicode61` tokenizer,
/// which lower-cases Latin words and strips diacritics.
public enum SearchText {
    /// The text to store in the FTS5 table for `text`.
    public static func index(_ text: String) -> String {
        var tokens: [String] = []
        for run in runs(text) {
            switch run {
            case .latin(let word): tokens.append(word)
            case .cjk(let characters):
                tokens += characters.map(String.init)
                tokens += zip(characters, characters.dropFirst()).map { "\($0)\($1)" }
            }
        }
        return tokens.joined(separator: " ")
    }

    /// An FTS5 MATCH expression for what a user typed, or nil when it holds nothing searchable.
    /// Every token is quoted: nothing the user types is read as FTS5 syntax.
    public static func matchExpression(_ query: String) -> String? {
        var terms: [String] = []
        for run in runs(query) {
            switch run {
            case .latin(let word):
                // Prefix match, so "frac" finds "fractions" as a teacher types.
                terms.append("\"\(word.replacingOccurrences(of: "\"", with: "\"\""))\"*")
            case .cjk(let characters) where characters.count == 1:
                terms.append("\"\(characters[0])\"")
            case .cjk(let characters):
                let bigrams = zip(characters, characters.dropFirst()).map { "\($0)\($1)" }
                terms.append("\"\(bigrams.joined(separator: " "))\"")
            }
        }
        return terms.isEmpty ? nil : terms.joined(separator: " AND ")
    }

    enum Run: Equatable {
        case latin(String)
        case cjk([Character])
    }

    /// Splits text into Latin/digit words and CJK runs; punctuation and spaces separate them.
    static func runs(_ text: String) -> [Run] {
        var result: [Run] = []
        var word = ""
        var cjk: [Character] = []
        func flush() {
            if !word.isEmpty { result.append(.latin(word)) }
            if !cjk.isEmpty { result.append(.cjk(cjk)) }
            word = ""
            cjk = []
        }
        for character in text {
            if isCJK(character) {
                if !word.isEmpty { flush() }
                cjk.append(character)
            } else if character.isLetter || character.isNumber {
                if !cjk.isEmpty { flush() }
                word.append(character)
            } else {
                flush()
            }
        }
        flush()
        return result
    }

    static func isCJK(_ character: Character) -> Bool {
        guard let scalar = character.unicodeScalars.first else { return false }
        switch scalar.value {
        case 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0x20000...0x2FA1F, 0x3040...0x30FF, 0xAC00...0xD7AF:
            return true
        default:
            return false
        }
    }
}
