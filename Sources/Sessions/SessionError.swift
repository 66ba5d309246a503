/// Why a session request was refused, in words for the person who made it. The server maps each
/// case to one HTTP status (`forbidden` 403, `notFound` 404, `conflict`/`over`/`overlap` 409,
/// `invalid` 422).
public enum SessionError: Error, Equatable, Sendable {
    /// The session (or the thing named) does not exist for this person: other districts' sessions
    /// and sessions a classroom is not a target of are invisible, not forbidden.
    case notFound(String)
    /// Visible, but not theirs to do (a non-host's controls, a classroom scheduling).
    case forbidden(String)
    /// A field is wrong: its name and what it must be.
    case invalid(String, String)
    /// The request clashes with the session's state ("not started", "already started").
    case conflict(String)
    /// The session has ended or was cancelled.
    case over(SessionClock.State)
    /// The start time is out of the window a schedule accepts (the past, more than a year ahead).
    case startTime(String)
    /// The source recording cannot be played yet.
    case notReady(String)
    /// A target classroom already has a session then.
    case overlap(classroom: String, session: Int64, title: String)

    public var message: String {
        switch self {
        case .notFound(let what): "no such \(what)"
        case .forbidden(let why): why
        case .invalid(let field, let rule): "\(field): \(rule)"
        case .conflict(let why): why
        case .notReady(let why): why
        case .startTime(let why): "startsAt: \(why)"
        case .over(let state): state == .cancelled ? "the session was cancelled" : "the session has ended"
        case .overlap(let classroom, let session, let title):
            "\(classroom) already has session \(session) (\(title)) at that time"
        }
    }

    /// Stable, for programs.
    public var code: String {
        switch self {
        case .notFound: "not_found"
        case .forbidden: "forbidden"
        case .invalid: "bad_request"
        case .conflict: "conflict"
        case .notReady: "not_ready"
        case .startTime: "bad_start_time"
        case .over: "session_over"
        case .overlap: "overlap"
        }
    }
}
