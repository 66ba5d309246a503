/// Where an order stands: 点单 (`placed`) → 派单 (`dispatched`) → 接单 (`accepted`) → 交付
/// (`delivered`) → 评单 (`rated`), with `declined` (back to the coordinator to dispatch again),
/// `rework` (the school sent the delivery back, once) and `cancelled` (by the school, before
/// acceptance).
public enum OrderState: String, Sendable, Codable, CaseIterable {
    case placed, dispatched, accepted, delivered, rated, declined, rework, cancelled

    /// No further step: overdue no longer applies.
    public var isClosed: Bool { self == .delivered || self == .rated || self == .cancelled }
}

/// What someone does to an order.
public enum OrderAction: String, Sendable, Codable, CaseIterable {
    case dispatch, fulfil, accept, decline, deliver, rate, rework, cancel
}

/// How a person stands to one order: the rules only ask this, never the person's name.
public struct OrderActor: Sendable, Equatable {
    public enum Relation: Sendable, Hashable, CaseIterable {
        /// A teacher of the school that placed the order.
        case orderingSchool
        /// The coordinator of the order's district.
        case coordinator
        /// A county admin.
        case admin
        /// A teacher of the lead school the order is dispatched to.
        case leadSchool
        /// The teacher the lead school named responsible.
        case responsible
    }

    public var relations: Set<Relation>

    public init(_ relations: Set<Relation>) { self.relations = relations }

    /// Whether the order is any of this person's business (else: 404, its existence not shown).
    public var seesOrder: Bool { !relations.isEmpty }
}

/// Why a step is refused.
public enum OrderError: Error, Equatable, Sendable {
    /// Inside the order's circle but not allowed (403).
    case forbidden(String)
    /// Not possible in this state (409); says the state.
    case conflict(String, state: OrderState)
    /// Not this person's business, or no such thing (404).
    case notFound(String)
    /// The request's content is wrong (400).
    case invalid(String)

    public var message: String {
        switch self {
        case .forbidden(let why), .invalid(let why): why
        case .conflict(let why, let state): "\(why) (the order is \(state.rawValue))"
        case .notFound(let what): "no such \(what)"
        }
    }
}

/// The order's rules as one pure function: state × action × how the person stands to the order
/// (and whether the one rework was used) → the next state, or why not. The store applies it in
/// the transaction that records the step, so a rule lives in exactly one place.
public enum OrderLifecycle {
    /// Who may take each action, whatever the state.
    static let allowed: [OrderAction: Set<OrderActor.Relation>] = [
        .dispatch: [.coordinator, .admin],
        .fulfil: [.coordinator, .admin],
        .accept: [.leadSchool],
        .decline: [.leadSchool],
        .deliver: [.responsible],
        .rate: [.orderingSchool],
        .rework: [.orderingSchool],
        .cancel: [.orderingSchool],
    ]

    /// The states each action starts from.
    static let from: [OrderAction: Set<OrderState>] = [
        .dispatch: [.placed, .declined],
        .fulfil: [.placed, .declined],
        .accept: [.dispatched],
        .decline: [.dispatched],
        .deliver: [.accepted, .rework],
        .rate: [.delivered],
        .rework: [.delivered],
        .cancel: [.placed, .dispatched, .declined],
    ]

    /// The steps an order waits for (cancelling and sending back are choices, not work owed):
    /// an inbox's "to do" is the orders where one of these is the person's to take.
    public static let awaited: [OrderAction] = [.dispatch, .accept, .deliver, .rate]

    public static func next(_ state: OrderState, _ action: OrderAction, by actor: OrderActor, reworkUsed: Bool = false)
        throws(OrderError) -> OrderState
    {
        guard actor.seesOrder else { throw .notFound("order") }
        guard !actor.relations.isDisjoint(with: allowed[action]!) else {
            throw .forbidden(refusal(action))
        }
        guard from[action]!.contains(state) else {
            throw .conflict("an order cannot be \(past(action)) now", state: state)
        }
        if action == .rework, reworkUsed { throw .conflict("a delivery is sent back for rework only once", state: state) }
        switch action {
        case .dispatch: return .dispatched
        case .fulfil, .deliver: return .delivered
        case .accept: return .accepted
        case .decline: return .declined
        case .rate: return .rated
        case .rework: return .rework
        case .cancel: return .cancelled
        }
    }

    static func refusal(_ action: OrderAction) -> String {
        switch action {
        case .dispatch, .fulfil: "only the district's coordinator (or a county admin) dispatches an order"
        case .accept, .decline: "only the lead school it was dispatched to accepts or declines it"
        case .deliver: "only the teacher the lead school named responsible delivers it"
        case .rate, .rework: "only the school that ordered it rates the delivery or sends it back"
        case .cancel: "only the school that ordered it cancels it"
        }
    }

    static func past(_ action: OrderAction) -> String {
        switch action {
        case .dispatch: "dispatched"
        case .fulfil: "fulfilled from the catalog"
        case .accept: "accepted"
        case .decline: "declined"
        case .deliver: "delivered"
        case .rate: "rated"
        case .rework: "sent back for rework"
        case .cancel: "cancelled"
        }
    }
}
