/// The two review levels, in the order a recording passes them: the county teaching-research
/// office (县教研室) first, then the city's (市教研室).
public enum ReviewLevel: String, Sendable, Codable, CaseIterable {
    case county, city

    /// The level after this one (nil after the city: the recording is approved).
    public var next: ReviewLevel? { self == .county ? .city : nil }
}

/// Where a submitted recording stands in review.
public struct ReviewStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Waiting in `level`'s queue for a reviewer to claim it.
        case awaiting
        /// Claimed by `claimedBy` of `level`'s office, being watched and scored.
        case inReview
        /// Sent back to the teacher by `level`, with reasons; resubmitting starts again at the county.
        case returned
        /// Approved by the city office: final, unless an admin revokes it.
        case approved
        /// Approval withdrawn by an admin, with a reason.
        case revoked
    }

    public var state: State
    public var level: ReviewLevel?
    public var claimedBy: Int64?

    public init(_ state: State, level: ReviewLevel? = nil, claimedBy: Int64? = nil) {
        self.state = state
        self.level = level
        self.claimedBy = claimedBy
    }

    public static func awaiting(_ level: ReviewLevel) -> ReviewStatus { ReviewStatus(.awaiting, level: level) }
    public static func inReview(_ level: ReviewLevel, by reviewer: Int64) -> ReviewStatus {
        ReviewStatus(.inReview, level: level, claimedBy: reviewer)
    }
    public static func returned(_ level: ReviewLevel) -> ReviewStatus { ReviewStatus(.returned, level: level) }
    public static let approved = ReviewStatus(.approved)
    public static let revoked = ReviewStatus(.revoked)
}

/// What someone does to a submission.
public enum ReviewAction: String, Sendable, CaseIterable {
    case submit, claim, release, approve, `return`, resubmit, revoke
}

/// Who acts, as far as the review rules care.
public struct ReviewActor: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case teacher
        /// A reviewer of a teaching-research office at this level.
        case reviewer(ReviewLevel)
        case coordinator
        case admin
        case other
    }

    public var personId: Int64
    public var role: Role
    public var schoolId: Int64?

    public init(personId: Int64, role: Role, schoolId: Int64?) {
        self.personId = personId
        self.role = role
        self.schoolId = schoolId
    }
}

/// The recording under review, as far as the rules care: whose it is and from which school.
public struct ReviewSubject: Sendable, Equatable {
    public var teacherId: Int64
    public var schoolId: Int64

    public init(teacherId: Int64, schoolId: Int64) {
        self.teacherId = teacherId
        self.schoolId = schoolId
    }
}

/// Why an action was refused: `forbidden` (not this person's to do), `conflict` (not now),
/// `notFound` (nothing this person may see), `invalid` (a field is wrong: scores, a comment).
public enum ReviewError: Error, Equatable, Sendable {
    case forbidden(String)
    case conflict(String)
    case notFound(String)
    case invalid(String)

    public var message: String {
        switch self {
        case .forbidden(let why), .conflict(let why), .invalid(let why): why
        case .notFound(let what): "no such \(what)"
        }
    }
}

/// The review's rules as one pure function: a submission's status (nil: never submitted), an
/// action, who acts, and on whose recording → the next status, or why not. The store applies it
/// inside the transaction that records the decision, so a rule lives in exactly one place.
public enum ReviewLifecycle {
    public static func next(
        _ status: ReviewStatus?, _ action: ReviewAction, by actor: ReviewActor, on subject: ReviewSubject
    ) throws(ReviewError) -> ReviewStatus {
        let isTeacher = actor.role == .teacher && actor.personId == subject.teacherId
        switch action {
        case .submit, .resubmit:
            guard isTeacher else { throw .forbidden("only the recording's teacher submits it for review") }
            switch (action, status?.state) {
            case (.submit, nil), (.resubmit, .returned?): return .awaiting(.county)
            case (.submit, _): throw .conflict("the recording is already under review (\(describe(status)))")
            default: throw .conflict("only a returned recording is resubmitted (it is \(describe(status)))")
            }
        case .claim:
            let level = try reviewerLevel(actor, subject)
            guard let status, status.state == .awaiting, let waiting = status.level else {
                throw .conflict("nothing to claim: the recording is \(describe(status))")
            }
            guard waiting == level else {
                throw level == .city
                    ? .conflict("the county office reviews it first")
                    : .conflict("the county office has already approved it; it waits for the city office")
            }
            return .inReview(level, by: actor.personId)
        case .release, .approve, .return:
            let level = try reviewerLevel(actor, subject)
            guard let status, status.state == .inReview, status.level == level else {
                throw .conflict("the recording is not in review at the \(level.rawValue) office (it is \(describe(status)))")
            }
            guard status.claimedBy == actor.personId else { throw .forbidden("another reviewer has claimed it") }
            switch action {
            case .release: return .awaiting(level)
            case .return: return .returned(level)
            default: return level.next.map { .awaiting($0) } ?? .approved
            }
        case .revoke:
            guard actor.role == .admin else { throw .forbidden("only a county admin revokes an approval") }
            guard status?.state == .approved else { throw .conflict("only an approved recording is revoked (it is \(describe(status)))") }
            return .revoked
        }
    }

    /// The actor's office level, if they may review this recording at all: a reviewer, not its
    /// teacher, not of its school.
    static func reviewerLevel(_ actor: ReviewActor, _ subject: ReviewSubject) throws(ReviewError) -> ReviewLevel {
        guard case .reviewer(let level) = actor.role else { throw .forbidden("only the offices' reviewers review") }
        guard actor.personId != subject.teacherId else { throw .forbidden("nobody reviews their own recording") }
        guard actor.schoolId == nil || actor.schoolId != subject.schoolId else {
            throw .forbidden("nobody reviews a recording of their own school")
        }
        return level
    }

    static func describe(_ status: ReviewStatus?) -> String {
        guard let status else { return "not submitted" }
        return [status.state.rawValue, status.level?.rawValue].compactMap { $0 }.joined(separator: " at the ")
    }
}
