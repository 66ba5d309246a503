import Foundation

/// Where order changes fan out to open inboxes (Server-Sent Events): each change names the
/// order's schools and district, and each subscriber keeps those that concern its person.
public actor OrderHub {
    public struct Change: Sendable, Equatable, Codable {
        public var orderId: Int64
        public var districtId: Int64
        public var schoolId: Int64
        public var leadSchoolId: Int64?

        public init(orderId: Int64, districtId: Int64, schoolId: Int64, leadSchoolId: Int64?) {
            self.orderId = orderId
            self.districtId = districtId
            self.schoolId = schoolId
            self.leadSchoolId = leadSchoolId
        }
    }

    private var subscribers: [UUID: AsyncStream<Change>.Continuation] = [:]
    /// Bumped on every change: readers that cache (the county view) know when to recompute.
    public private(set) var revision = 0

    public init() {}

    public func subscribe() -> (id: UUID, changes: AsyncStream<Change>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Change>.makeStream(bufferingPolicy: .bufferingNewest(256))
        subscribers[id] = continuation
        return (id, stream)
    }

    public func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    public func publish(_ change: Change) {
        revision += 1
        for continuation in subscribers.values { continuation.yield(change) }
    }
}
