import Foundation
import Review
import TestSupport
import Testing

/// Every status × action × kind of person, against the one table of what is allowed.
@Suite("Review lifecycle")
struct ReviewLifecycleTests {
    static let subject = ReviewSubject(teacherId: 1, schoolId: 10)

    static let actors: [String: ReviewActor] = [
        "the teacher": ReviewActor(personId: 1, role: .teacher, schoolId: 10),
        "another teacher": ReviewActor(personId: 2, role: .teacher, schoolId: 11),
        "county reviewer A": ReviewActor(personId: 3, role: .reviewer(.county), schoolId: nil),
        "county reviewer B": ReviewActor(personId: 4, role: .reviewer(.county), schoolId: nil),
        "county reviewer of the same school": ReviewActor(personId: 5, role: .reviewer(.county), schoolId: 10),
        "city reviewer C": ReviewActor(personId: 6, role: .reviewer(.city), schoolId: nil),
        "city reviewer D": ReviewActor(personId: 7, role: .reviewer(.city), schoolId: nil),
        "the teacher as a reviewer": ReviewActor(personId: 1, role: .reviewer(.county), schoolId: nil),
        "the coordinator": ReviewActor(personId: 8, role: .coordinator, schoolId: nil),
        "an admin": ReviewActor(personId: 9, role: .admin, schoolId: nil),
    ]

    static let statuses: [String: ReviewStatus?] = [
        "not submitted": nil,
        "awaiting county": .awaiting(.county),
        "in county review by A": .inReview(.county, by: 3),
        "returned by county": .returned(.county),
        "awaiting city": .awaiting(.city),
        "in city review by C": .inReview(.city, by: 6),
        "returned by city": .returned(.city),
        "approved": .approved,
        "revoked": .revoked,
    ]

    /// (status, action, actor) → the status after it; everything not listed is refused.
    static let allowed: [String: ReviewStatus] = [
        "not submitted|submit|the teacher": .awaiting(.county),
        "returned by county|resubmit|the teacher": .awaiting(.county),
        "returned by city|resubmit|the teacher": .awaiting(.county),
        "awaiting county|claim|county reviewer A": .inReview(.county, by: 3),
        "awaiting county|claim|county reviewer B": .inReview(.county, by: 4),
        "in county review by A|release|county reviewer A": .awaiting(.county),
        "in county review by A|approve|county reviewer A": .awaiting(.city),
        "in county review by A|return|county reviewer A": .returned(.county),
        "awaiting city|claim|city reviewer C": .inReview(.city, by: 6),
        "awaiting city|claim|city reviewer D": .inReview(.city, by: 7),
        "in city review by C|release|city reviewer C": .awaiting(.city),
        "in city review by C|approve|city reviewer C": .approved,
        "in city review by C|return|city reviewer C": .returned(.city),
        "approved|revoke|an admin": .revoked,
    ]

    @Test("The table: every status × every action × every kind of person")
    func table() {
        var checked = 0
        for (statusName, status) in Self.statuses {
            for action in ReviewAction.allCases {
                for (actorName, actor) in Self.actors {
                    let key = "\(statusName)|\(action.rawValue)|\(actorName)"
                    let result = Result { () throws(ReviewError) in try ReviewLifecycle.next(status, action, by: actor, on: Self.subject) }
                    switch (Self.allowed[key], result) {
                    case (let expected?, .success(let next)): #expect(next == expected, "\(key)")
                    case (nil, .failure): break
                    case (let expected, let outcome): Issue.record("\(key): expected \(String(describing: expected)), got \(outcome)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked == 9 * 7 * 10)
    }

    @Test(
        "Refusals say why",
        arguments: [
            ("awaiting county", ReviewAction.claim, "county reviewer of the same school", "nobody reviews a recording of their own school"),
            ("awaiting county", .claim, "the teacher as a reviewer", "nobody reviews their own recording"),
            ("awaiting county", .claim, "city reviewer C", "the county office reviews it first"),
            ("awaiting city", .claim, "county reviewer A", "the county office has already approved it; it waits for the city office"),
            ("in county review by A", .approve, "county reviewer B", "another reviewer has claimed it"),
            ("not submitted", .submit, "another teacher", "only the recording's teacher submits it for review"),
            ("awaiting county", .submit, "the teacher", "the recording is already under review (awaiting at the county)"),
            ("approved", .revoke, "the coordinator", "only a county admin revokes an approval"),
            ("in city review by C", .approve, "the teacher", "only the offices' reviewers review"),
        ])
    func reasons(_ status: String, _ action: ReviewAction, _ actor: String, _ message: String) {
        #expect(throws: ReviewError.self) {
            try ReviewLifecycle.next(Self.statuses[status]!, action, by: Self.actors[actor]!, on: Self.subject)
        }
        do {
            _ = try ReviewLifecycle.next(Self.statuses[status]!, action, by: Self.actors[actor]!, on: Self.subject)
        } catch {
            #expect(error.message == message)
        }
    }

    @Test("The whole path: county, then city, then final; a return restarts at the county")
    func path() throws {
        let teacher = Self.actors["the teacher"]!
        let county = Self.actors["county reviewer A"]!
        let city = Self.actors["city reviewer C"]!
        var status = try ReviewLifecycle.next(nil, .submit, by: teacher, on: Self.subject)
        status = try ReviewLifecycle.next(status, .claim, by: county, on: Self.subject)
        status = try ReviewLifecycle.next(status, .approve, by: county, on: Self.subject)
        status = try ReviewLifecycle.next(status, .claim, by: city, on: Self.subject)
        status = try ReviewLifecycle.next(status, .return, by: city, on: Self.subject)
        #expect(status == .returned(.city))
        status = try ReviewLifecycle.next(status, .resubmit, by: teacher, on: Self.subject)
        #expect(status == .awaiting(.county), "re-recorded: the county reviews it again")
        status = try ReviewLifecycle.next(status, .claim, by: county, on: Self.subject)
        status = try ReviewLifecycle.next(status, .approve, by: county, on: Self.subject)
        status = try ReviewLifecycle.next(status, .claim, by: city, on: Self.subject)
        status = try ReviewLifecycle.next(status, .approve, by: city, on: Self.subject)
        #expect(status == .approved)
    }
}

@Suite("Review rubric")
struct RubricTests {
    @Test("The shipped rubric: five criteria scored 1–5")
    func shipped() throws {
        let rubric = try Rubric.load(path: repositoryRoot.appendingPathComponent("config/review-rubric.yaml").path)
        #expect(rubric.criteria.map(\.key) == ["教学目标", "内容准确", "教学设计", "讲解与板书", "音视频质量"])
        #expect(rubric.criteria.allSatisfy { $0.min == 1 && $0.max == 5 })
        #expect(rubric == Rubric.standard, "the built-in rubric (a server with no rubric file) is the shipped one")
        let full = Dictionary(uniqueKeysWithValues: rubric.criteria.map { ($0.key, 4) })
        #expect(rubric.problem(with: full) == nil)
        #expect(rubric.problem(with: full.merging(["音视频质量": 6]) { $1 }) == "'音视频质量' is scored 1–5, not 6")
        #expect(rubric.problem(with: full.merging(["教学目标": 0]) { $1 }) == "'教学目标' is scored 1–5, not 0")
        #expect(rubric.problem(with: full.merging(["板书": 3]) { $1 })?.hasPrefix("'板书' is not a criterion of the rubric") == true)
        #expect(rubric.problem(with: full.filter { $0.key != "教学设计" }) == "score '教学设计' (1–5)")
    }

    @Test("A broken rubric file is refused with its path and the fault")
    func broken() throws {
        let folder = try scratchDirectory()
        let path = folder.appendingPathComponent("rubric.yaml").path
        try "criteria:\n  - {key: 教学目标, description: x, min: 5, max: 1}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: Rubric.LoadError.invalid("\(path): criteria 教学目标: min 5 is above max 1")) { try Rubric.load(path: path) }
        try "criteria: []\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: Rubric.LoadError.invalid("\(path): criteria: name at least one")) { try Rubric.load(path: path) }
        #expect(throws: Rubric.LoadError.self) { try Rubric.load(path: folder.appendingPathComponent("missing.yaml").path) }
    }
}
