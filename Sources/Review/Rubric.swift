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

    /// The built-in rubric, the one `config/review-rubric.yaml` ships with: used when the
    /// configuration names no rubric file and none lies beside it.
    public static let standard = Rubric(criteria: [
        Criterion(key: "教学目标", description: "目标明确，符合课程标准与学情", min: 1, max: 5),
        Criterion(key: "内容准确", description: "知识讲解准确，无科学性错误", min: 1, max: 5),
        Criterion(key: "教学设计", description: "环节清楚，重难点突出，适合乡村课堂使用", min: 1, max: 5),
        Criterion(key: "讲解与板书", description: "语言规范清晰，板书工整、字迹在投影上清楚", min: 1, max: 5),
        Criterion(key: "音视频质量", description: "画面稳定清晰，声音清楚无杂音", min: 1, max: 5),
    ])

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
