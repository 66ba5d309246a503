import Foundation
import Yams

/// A YAML node with the path that led to it, so every complaint can say `file:line: key: reason`.
struct ConfigNode {
    let node: Node
    let path: String
    let file: String

    static func parse(yaml: String, file: String) throws(MediaError) -> ConfigNode {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw MediaError(.invalidConfiguration, step: file, message: "the file is empty")
            }
            return ConfigNode(node: node, path: "", file: file)
        } catch let error as MediaError {
            throw error
        } catch {
            throw MediaError(.invalidConfiguration, step: file, message: "not valid YAML: \(error)")
        }
    }

    /// An error pointing at this node.
    func invalid(_ reason: String) -> MediaError {
        let line = node.mark.map { ":\($0.line)" } ?? ""
        return MediaError(
            .invalidConfiguration, step: "\(file)\(line)", message: "\(path.isEmpty ? "(top level)" : path): \(reason)")
    }

    func mapping(allowed: Set<String>) throws(MediaError) -> Mapping {
        guard let mapping = node.mapping else { throw invalid("expected a mapping of keys to values") }
        var values: [String: ConfigNode] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            let child = ConfigNode(node: value, path: path.isEmpty ? name : "\(path).\(name)", file: file)
            if !allowed.contains(name) {
                throw ConfigNode(node: key, path: child.path, file: file).invalid(
                    "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            values[name] = child
        }
        return Mapping(node: self, values: values)
    }

    func sequence() throws(MediaError) -> [ConfigNode] {
        guard let sequence = node.sequence else { throw invalid("expected a list") }
        return sequence.enumerated().map { ConfigNode(node: $1, path: "\(path)[\($0)]", file: file) }
    }

    func string() throws(MediaError) -> String {
        guard let scalar = node.scalar else { throw invalid("expected a single value") }
        return scalar.string
    }

    /// A name safe to use as a folder name.
    func identifier() throws(MediaError) -> String {
        let value = try string()
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_"))
        if value.isEmpty || value.unicodeScalars.contains(where: { !allowed.contains($0) || !$0.isASCII }) {
            throw invalid("'\(value)' must be letters, digits, '-' or '_'")
        }
        return value
    }

    func integer(in range: ClosedRange<Int>) throws(MediaError) -> Int {
        let text = try string()
        guard let value = Int(text) else { throw invalid("expected a whole number, found '\(text)'") }
        if !range.contains(value) {
            throw invalid("\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    /// A positive duration in seconds (`4`, `2.5`).
    func seconds() throws(MediaError) -> Double {
        let text = try string()
        guard let value = Double(text), value > 0, value <= 60 else {
            throw invalid("expected seconds between 0 and 60, found '\(text)'")
        }
        return value
    }

    func boolean() throws(MediaError) -> Bool {
        switch try string() {
        case "true": return true
        case "false": return false
        case let other: throw invalid("expected true or false, found '\(other)'")
        }
    }

    func fraction() throws(MediaError) -> Double {
        let text = try string()
        guard let value = Double(text), value >= 0, value < 1 else {
            throw invalid("expected a fraction from 0 up to 1, found '\(text)'")
        }
        return value
    }

    /// A bit rate such as `96k`, `2500k`, `2.5M` or `800000`.
    func bitRate() throws(MediaError) -> Int {
        let text = try string().trimmingCharacters(in: .whitespaces)
        let multipliers: [Character: Double] = ["k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6]
        var digits = Substring(text)
        var multiplier = 1.0
        if let last = text.last, let factor = multipliers[last] {
            multiplier = factor
            digits = digits.dropLast()
        }
        guard let value = Double(digits), value > 0 else {
            throw invalid("expected a bit rate such as 96k, 2500k or 2.5M, found '\(text)'")
        }
        let bits = value * multiplier
        if bits < 8_000 || bits > 200_000_000 { throw invalid("\(text) is outside 8k…200M") }
        return Int(bits)
    }

    /// The keys of a mapping node, each reachable with its path.
    struct Mapping {
        let node: ConfigNode
        let values: [String: ConfigNode]

        func require(_ key: String) throws(MediaError) -> ConfigNode {
            guard let value = values[key] else { throw node.invalid("missing required key '\(key)'") }
            return value
        }

        func optional(_ key: String) -> ConfigNode? { values[key] }
    }
}
