import Foundation
import Yams

/// The scoring rubric reviewers fill in (`config/review-rubric.yaml`): named criteria, each scored
/// as a whole number in its range. Kept in configuration because the teaching-research offices
/// revise it; a decision stores the scores with their keys, so old decisions stay readable.
public struct Rubric: Sendable, Equatable, Decodable {
    public struct Criterion: Sendable, Equatable, Decodable {
        /// The key scores are stored under, e.g. 教学目标.
        public var key: String
        /// What the reviewer reads beside the score.
        public var description: String
        public var min: Int
        public var max: Int
    }

    public var criteria: [Criterion]

    public enum LoadError: Error, Equatable, CustomStringConvertible {
        case unreadable(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .unreadable(let why), .invalid(let why): why
            }
        }
    }

    public static func load(path: String) throws(LoadError) -> Rubric {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable("\(path): cannot be read (\(error.localizedDescription))")
        }
        let rubric: Rubric
        do {
            rubric = try YAMLDecoder().decode(Rubric.self, from: text)
        } catch {
            throw .invalid("\(path): \(error)")
        }
        guard !rubric.criteria.isEmpty else { throw .invalid("\(path): criteria: name at least one") }
        var seen = Set<String>()
        for criterion in rubric.criteria {
            guard !criterion.key.isEmpty, seen.insert(criterion.key).inserted else {
                throw .invalid("\(path): criteria: key '\(criterion.key)' is empty or repeated")
            }
            guard criterion.min <= criterion.max else {
                throw .invalid("\(path): criteria \(criterion.key): min \(criterion.min) is above max \(criterion.max)")
            }
        }
        return rubric
    }

    /// The first problem with a reviewer's scores, in words (nil: every criterion scored, in range,
    /// and nothing else).
    public func problem(with scores: [String: Int]) -> String? {
        let keys = Set(criteria.map(\.key))
        if let unknown = scores.keys.sorted().first(where: { !keys.contains($0) }) {
            return "'\(unknown)' is not a criterion of the rubric (\(criteria.map(\.key).joined(separator: ", ")))"
        }
        for criterion in criteria {
            guard let score = scores[criterion.key] else { return "score '\(criterion.key)' (\(criterion.min)–\(criterion.max))" }
            guard (criterion.min...criterion.max).contains(score) else {
                return "'\(criterion.key)' is scored \(criterion.min)–\(criterion.max), not \(score)"
            }
        }
        return nil
    }
}
