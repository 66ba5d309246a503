import Foundation

/// Why an upload request cannot be served. `code` is stable for programs, `message` is for the
/// teacher; the server maps `reason` to an HTTP status (tus 1.0.0 fixes most of them).
public struct IngestError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// Malformed or missing request values (400).
        case invalid
        /// The caller's role or school does not allow it (403).
        case forbidden
        /// No such upload for this caller (404: existence must not leak).
        case notFound
        /// The upload expired (410).
        case gone
        /// The client's offset is not the server's (409).
        case conflict
        /// Over `Tus-Max-Size` or past `Upload-Length` (413).
        case tooLarge
        /// The chunk does not match `Upload-Checksum` (460).
        case checksumMismatch
        /// No room on the disk or within the quota (507).
        case insufficientStorage
        /// The disk refused a read or write for another reason (500).
        case storage
    }

    public var reason: Reason
    public var code: String
    public var message: String

    public init(_ reason: Reason, _ code: String, _ message: String) {
        self.reason = reason
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static let notFound = IngestError(.notFound, "not_found", "upload not found")
    static let expired = IngestError(.gone, "expired", "this upload expired; start a new one")
}
