import Foundation
import Testing

@testable import Orders

/// Every (state, action, relation) triple, checked against a table written out by hand: the
/// rules as the county wrote them, not as the code happens to compute them.
@Suite("Order lifecycle")
struct OrderLifecycleTests {
    typealias R = OrderActor.Relation

    /// action → (who may, from which states, to which state)
    static let rules: [OrderAction: (who: Set<R>, from: Set<OrderState>, to: OrderState)] = [
        .dispatch: ([.coordinator, .admin], [.placed, .declined], .dispatched),
        .fulfil: ([.coordinator, .admin], [.placed, .declined], .delivered),
        .accept: ([.leadSchool], [.dispatched], .accepted),
        .decline: ([.leadSchool], [.dispatched], .declined),
        .deliver: ([.responsible], [.accepted, .rework], .delivered),
        .rate: ([.orderingSchool], [.delivered], .rated),
        .rework: ([.orderingSchool], [.delivered], .rework),
        .cancel: ([.orderingSchool], [.placed, .dispatched, .declined], .cancelled),
    ]

    @Test("Every state × action × relation: allowed, 403 (not theirs to do), 409 (not now) or 404 (not their order)")
    func table() {
        var checked = 0
        for state in OrderState.allCases {
            for action in OrderAction.allCases {
                let rule = Self.rules[action]!
                for relation in R.allCases {
                    let result = Result { () throws(OrderError) in try OrderLifecycle.next(state, action, by: OrderActor([relation])) }
                    switch result {
                    case .success(let next):
                        #expect(rule.who.contains(relation) && rule.from.contains(state) && next == rule.to, "\(state) \(action) \(relation)")
                    case .failure(.forbidden):
                        #expect(!rule.who.contains(relation), "\(state) \(action) \(relation)")
                    case .failure(.conflict(_, let reported)):
                        #expect(rule.who.contains(relation) && !rule.from.contains(state) && reported == state, "\(state) \(action) \(relation)")
                    case .failure(let other):
                        Issue.record("\(state) \(action) \(relation): \(other)")
                    }
                    checked += 1
                }
                // Someone with no part in the order: it does not exist for them.
                #expect(throws: OrderError.notFound("order")) { try OrderLifecycle.next(state, action, by: OrderActor([])) }
            }
        }
        #expect(checked == OrderState.allCases.count * OrderAction.allCases.count * R.allCases.count)
    }

    @Test("A delivery goes back for rework once; the second time is refused")
    func reworkOnce() throws {
        let school = OrderActor([.orderingSchool])
        #expect(try OrderLifecycle.next(.delivered, .rework, by: school, reworkUsed: false) == .rework)
        #expect(throws: OrderError.self) { try OrderLifecycle.next(.delivered, .rework, by: school, reworkUsed: true) }
        #expect(try OrderLifecycle.next(.delivered, .rate, by: school, reworkUsed: true) == .rated)
    }

    @Test("A person with two parts (the ordering school's teacher who is also responsible) may do either's steps")
    func twoParts() throws {
        let both = OrderActor([.leadSchool, .responsible])
        #expect(try OrderLifecycle.next(.dispatched, .accept, by: both) == .accepted)
        #expect(try OrderLifecycle.next(.accepted, .deliver, by: both) == .delivered)
    }

    @Test("Overdue: past the deadline (the dispatch's due date, else the needed-by date) and not delivered")
    func overdue() {
        var order = ResourceOrder(
            schoolId: 1, districtId: 1, placedBy: 1, volumeId: 1, topic: nil, grade: 3, classes: 1, pupils: "", format: .lessons,
            neededBy: "2026-11-20", state: .placed, reworkUsed: false, placedAt: Date(), updatedAt: Date())
        #expect(order.isOverdue(today: "2026-11-21") && !order.isOverdue(today: "2026-11-20"))
        order.dueOn = "2026-11-25"
        order.state = .accepted
        #expect(!order.isOverdue(today: "2026-11-21") && order.isOverdue(today: "2026-11-26"))
        order.state = .delivered
        #expect(!order.isOverdue(today: "2026-12-30"))
    }

    @Test("Dates are real YYYY-MM-DD days; school days skip weekends")
    func dates() {
        #expect(OrderDates.isDate("2026-02-28") && !OrderDates.isDate("2026-02-29") && !OrderDates.isDate("2026-2-28"))
        #expect(!OrderDates.isDate("２０２６-02-28") && !OrderDates.isDate("2026-13-01"))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let friday = calendar.date(from: DateComponents(year: 2026, month: 11, day: 20, hour: 15))!
        let monday = calendar.date(from: DateComponents(year: 2026, month: 11, day: 23, hour: 16))!
        let wednesday = calendar.date(from: DateComponents(year: 2026, month: 11, day: 25, hour: 16))!
        #expect(OrderDates.schoolDays(from: friday, to: monday) == 1)
        #expect(OrderDates.schoolDays(from: friday, to: wednesday) == 3)
    }
}
