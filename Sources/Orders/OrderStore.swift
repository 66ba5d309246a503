import Catalog
import Crypto
import Foundation
import GRDB

/// Every read and write of orders. Each step runs `OrderLifecycle` on the order's current row
/// inside one write transaction and appends its history row there, so a double submission finds
/// the order already moved on (409) and never writes a second row.
public struct OrderStore: Sendable {
    let database: AppDatabase
    /// Where attachments are kept: `<root>/<order>/<attachment>`.
    let attachmentsRoot: String
    /// Lead schools that have not accepted within this many school days (Monday–Friday) are
    /// reported to the coordinator.
    public let acceptWithinSchoolDays: Int
    /// Where changes fan out to open inboxes.
    public let hub: OrderHub

    public init(database: AppDatabase, attachmentsRoot: String, acceptWithinSchoolDays: Int = 3, hub: OrderHub = OrderHub()) {
        self.database = database
        self.attachmentsRoot = attachmentsRoot
        self.acceptWithinSchoolDays = acceptWithinSchoolDays
        self.hub = hub
    }

    // MARK: - Views

    public struct Rating: Codable, Sendable, Equatable {
        /// 适配度: how well it fits the school's pupils.
        public var fit: Int
        public var quality: Int
        public var timeliness: Int
        public var comment: String

        public init(fit: Int, quality: Int, timeliness: Int, comment: String) {
            self.fit = fit
            self.quality = quality
            self.timeliness = timeliness
            self.comment = comment
        }
    }

    public struct Delivery: Codable, Sendable, Equatable {
        public var packId: Int64?
        public var packVersion: Int?
        public var recordingId: Int64?
        public var title: String
        public var deliveredBy: NamedRef
        public var at: Date
    }

    public struct Attachment: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var contentType: String
        public var size: Int64
        public var sha256: String
    }

    public struct Step: Codable, Sendable, Equatable {
        public var action: String
        public var from: OrderState?
        public var to: OrderState
        public var person: NamedRef
        public var reason: String
        public var at: Date
    }

    public struct View: Codable, Sendable, Equatable {
        public var id: Int64
        public var state: OrderState
        /// Past its deadline and not delivered: shown first.
        public var overdue: Bool
        /// Whether the asking person has a step to take on it now.
        public var needsMe: Bool
        public var school: NamedRef
        public var districtId: Int64
        public var placedBy: NamedRef
        public var volume: NamedRef?
        public var lessons: [NamedRef]
        public var topic: String?
        public var subject: String?
        public var grade: Int
        public var classes: Int
        public var pupils: String
        public var format: ResourceOrder.Format
        public var neededBy: String
        public var leadSchool: NamedRef?
        public var dueOn: String?
        public var responsibleTeacher: NamedRef?
        public var reworkUsed: Bool
        public var rating: Rating?
        public var placedAt: Date
        public var dispatchedAt: Date?
        public var deliveredAt: Date?
        public var ratedAt: Date?
        public var updatedAt: Date
        /// In a single order's answer only.
        public var deliveries: [Delivery]?
        public var attachments: [Attachment]?
        public var history: [Step]?
    }

    // MARK: - Placing

    public struct NewOrder: Sendable, Equatable {
        public var volumeId: Int64?
        public var lessonIds: [Int64]
        public var topic: String?
        public var grade: Int
        public var classes: Int
        public var pupils: String
        public var format: ResourceOrder.Format
        public var neededBy: String

        public init(
            volumeId: Int64?, lessonIds: [Int64], topic: String?, grade: Int, classes: Int, pupils: String, format: ResourceOrder.Format,
            neededBy: String
        ) {
            self.volumeId = volumeId
            self.lessonIds = lessonIds
            self.topic = topic
            self.grade = grade
            self.classes = classes
            self.pupils = pupils
            self.format = format
            self.neededBy = neededBy
        }
    }

    /// 点单: a teacher of a member school orders for their school.
    public func place(_ new: NewOrder, by person: Person, at now: Date = Date()) async throws -> View {
        guard person.role == .teacher, let schoolId = person.schoolId else {
            throw OrderError.forbidden("orders are placed by a member school's teachers")
        }
        guard OrderDates.isDate(new.neededBy) else { throw OrderError.invalid("neededBy: a date, YYYY-MM-DD") }
        guard new.neededBy >= OrderDates.day(now) else {
            throw OrderError.conflict("neededBy \(new.neededBy) is in the past", state: .placed)
        }
        let topic = new.topic?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (new.volumeId == nil) != (topic == nil || topic!.isEmpty) else {
            throw OrderError.invalid("say what is ordered: a textbook volume (volumeId, lessonIds) or a topic, one of the two")
        }
        let view = try await database.write { db -> View in
            guard let school = try School.fetchOne(db, key: schoolId), school.kind == .member else {
                throw OrderError.forbidden("orders are placed by a member school's teachers; a lead school delivers them")
            }
            if let volumeId = new.volumeId {
                guard try TextbookVolume.exists(db, key: volumeId) else { throw OrderError.notFound("textbook volume \(volumeId)") }
                for lessonId in new.lessonIds {
                    guard try Int64.fetchOne(db, sql: "SELECT volumeId FROM textbookLesson WHERE id = ?", arguments: [lessonId]) == volumeId else {
                        throw OrderError.notFound("lesson \(lessonId) in textbook volume \(volumeId)")
                    }
                }
            }
            var order = ResourceOrder(
                schoolId: schoolId, districtId: school.districtId, placedBy: person.id!, volumeId: new.volumeId,
                topic: new.volumeId == nil ? topic : nil, grade: new.grade, classes: new.classes, pupils: new.pupils, format: new.format,
                neededBy: new.neededBy, state: .placed, reworkUsed: false, placedAt: now, updatedAt: now)
            try order.insert(db)
            for lessonId in Set(new.lessonIds) {
                try db.execute(sql: "INSERT INTO resourceOrderLesson (orderId, lessonId) VALUES (?, ?)", arguments: [order.id, lessonId])
            }
            var event = OrderEvent(orderId: order.id!, action: "place", fromState: nil, toState: .placed, personId: person.id!, reason: "", at: now)
            try event.insert(db)
            try Notices.send(
                kind: "order.placed", text: "\(school.name) 点单：\(try Self.what(order, db))", link: "/orders/\(order.id!)",
                people: try Self.coordinators(order.districtId, db), at: now, db)
            return try Self.view(order, for: person, detail: true, at: now, db)
        }
        await hub.publish(.init(orderId: view.id, districtId: view.districtId, schoolId: view.school.id, leadSchoolId: nil))
        return view
    }

    // MARK: - Reading

    /// Whose part of the orders a listing shows.
    public enum Role: String, Sendable, CaseIterable {
        /// Orders my school placed.
        case school
        /// Orders dispatched to my (lead) school.
        case lead
        /// My district's orders (coordinators).
        case coordinator
        /// Every order (admins).
        case admin
    }

    public struct Filter: Sendable, Equatable {
        public var role: Role?
        public var state: OrderState?
        public var overdue: Bool?
        /// Only orders the person has a step to take on now.
        public var todo: Bool
        public var limit: Int

        public init(role: Role? = nil, state: OrderState? = nil, overdue: Bool? = nil, todo: Bool = false, limit: Int = 100) {
            self.role = role
            self.state = state
            self.overdue = overdue
            self.todo = todo
            self.limit = limit
        }
    }

    /// The person's inbox: overdue orders first (by deadline), then the other open ones (by
    /// deadline), then closed ones, newest first.
    public func list(_ filter: Filter, for person: Person, at now: Date = Date()) async throws -> [View] {
        try await database.read { db in
            let today = OrderDates.day(now)
            var (sql, arguments) = try Self.scope(filter.role, for: person)
            if let state = filter.state {
                sql += " AND o.state = ?"
                arguments.append(state.rawValue)
            }
            if filter.todo {
                let (condition, values) = Self.awaiting(person)
                sql += " AND \(condition)"
                arguments += values
            }
            let open = "o.state IN ('placed', 'dispatched', 'accepted', 'declined', 'rework')"
            var runs: [(String, [any DatabaseValueConvertible])] = []
            if filter.overdue != false { runs.append(("\(open) AND o.deadline < ? ORDER BY o.deadline, o.id", [today])) }
            if filter.overdue != true {
                runs.append(("\(open) AND o.deadline >= ? ORDER BY o.deadline, o.id", [today]))
                runs.append(("NOT \(open) ORDER BY o.id DESC", []))
            }
            var orders: [ResourceOrder] = []
            for (condition, values) in runs where orders.count < filter.limit {
                orders += try ResourceOrder.fetchAll(
                    db, sql: "\(sql) AND \(condition) LIMIT ?", arguments: StatementArguments(arguments + values + [filter.limit - orders.count]))
            }
            return try Self.views(orders, for: person, at: now, db)
        }
    }

    /// How many orders wait for a step of this person's (the header's count); refused, like the
    /// inbox, for someone orders are not for.
    public func todoCount(for person: Person) async throws -> Int {
        let (scope, scopeArguments) = try Self.scope(nil, for: person)
        let (condition, values) = Self.awaiting(person)
        let arguments = StatementArguments((scopeArguments + values).map(\.databaseValue))
        return try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(scope) AND \(condition))", arguments: arguments) ?? 0
        }
    }

    /// SQL over `resourceOrder o`: the orders waiting for one of `OrderLifecycle.awaited` steps
    /// that is this person's to take — the same rules as the lifecycle's, as a query, so a
    /// county's years of orders are counted by the index rather than one by one.
    static func awaiting(_ person: Person) -> (String, [any DatabaseValueConvertible]) {
        switch person.role {
        case .admin: ("o.state IN ('placed', 'declined')", [])
        case .coordinator: ("(o.state IN ('placed', 'declined') AND o.districtId = ?)", [person.districtId ?? -1])
        case .teacher:
            (
                """
                ((o.state = 'delivered' AND o.schoolId = ?) OR (o.state = 'dispatched' AND o.leadSchoolId = ?)
                OR (o.state IN ('accepted', 'rework') AND o.responsibleTeacherId = ?))
                """, [person.schoolId ?? -1, person.schoolId ?? -1, person.id ?? -1]
            )
        default: ("0", [])
        }
    }

    /// SQL over `resourceOrder o` for the orders a listing role shows this person.
    static func scope(_ role: Role?, for person: Person) throws -> (String, [any DatabaseValueConvertible]) {
        let base = "SELECT o.* FROM resourceOrder o WHERE "
        switch (role, person.role) {
        case (nil, .admin), (.admin, .admin): return (base + "1", [])
        case (nil, .coordinator), (.coordinator, .coordinator): return (base + "o.districtId = ?", [person.districtId ?? -1])
        case (nil, .teacher): return (base + "(o.schoolId = ? OR o.leadSchoolId = ?)", [person.schoolId ?? -1, person.schoolId ?? -1])
        case (.school, .teacher): return (base + "o.schoolId = ?", [person.schoolId ?? -1])
        case (.lead, .teacher): return (base + "o.leadSchoolId = ?", [person.schoolId ?? -1])
        case (nil, _): throw OrderError.forbidden("orders are for schools' teachers, coordinators and admins")
        case (let role?, _): throw OrderError.forbidden("the \(role.rawValue) inbox is not yours (you are a \(person.role.rawValue))")
        }
    }

    /// One order with its lessons, deliveries, attachments and whole history.
    public func order(_ id: Int64, for person: Person, at now: Date = Date()) async throws -> View {
        try await database.read { db in
            let order = try Self.visible(id, for: person, db)
            return try Self.view(order, for: person, detail: true, at: now, db)
        }
    }

    /// The order, if this person has any part in it (else 404: its existence is not shown).
    static func visible(_ id: Int64, for person: Person, _ db: Database) throws -> ResourceOrder {
        guard let order = try ResourceOrder.fetchOne(db, key: id), actor(person, order).seesOrder else { throw OrderError.notFound("order") }
        return order
    }

    /// How the person stands to the order.
    public static func actor(_ person: Person, _ order: ResourceOrder) -> OrderActor {
        var relations = Set<OrderActor.Relation>()
        switch person.role {
        case .admin: relations.insert(.admin)
        case .coordinator where person.districtId == order.districtId: relations.insert(.coordinator)
        case .teacher:
            if person.schoolId == order.schoolId { relations.insert(.orderingSchool) }
            if let lead = order.leadSchoolId, person.schoolId == lead { relations.insert(.leadSchool) }
            if let responsible = order.responsibleTeacherId, person.id == responsible { relations.insert(.responsible) }
        default: break
        }
        return OrderActor(relations)
    }

    // MARK: - Steps

    /// 派单: to a lead school (the district's own; an admin may choose any), due on a date.
    public func dispatch(_ id: Int64, to leadSchoolId: Int64, dueOn: String, by person: Person, at now: Date = Date()) async throws -> View {
        guard OrderDates.isDate(dueOn) else { throw OrderError.invalid("dueOn: a date, YYYY-MM-DD") }
        return try await step(id, .dispatch, by: person, reason: "", at: now) { order, db in
            guard dueOn >= OrderDates.day(now) else { throw OrderError.conflict("dueOn \(dueOn) is in the past", state: order.state) }
            guard let lead = try School.fetchOne(db, key: leadSchoolId), lead.kind == .lead else {
                throw OrderError.notFound("lead school \(leadSchoolId)")
            }
            if person.role != .admin, lead.districtId != order.districtId {
                throw OrderError.forbidden("a coordinator dispatches to the district's own lead school; a county admin may dispatch across districts")
            }
            order.leadSchoolId = leadSchoolId
            order.dueOn = dueOn
            order.dispatchedAt = now
            order.responsibleTeacherId = nil
            order.reminderSentAt = nil
            return Notice(kind: "order.dispatched", text: "派单：\(try Self.what(order, db))，请于 \(dueOn) 前交付", schools: [leadSchoolId])
        }
    }

    /// 接单: the lead school accepts and names the teacher responsible.
    public func accept(_ id: Int64, responsibleTeacherId: Int64, by person: Person, at now: Date = Date()) async throws -> View {
        try await step(id, .accept, by: person, reason: "", at: now) { order, db in
            guard let teacher = try Person.fetchOne(db, key: responsibleTeacherId), teacher.role == .teacher,
                teacher.schoolId == order.leadSchoolId
            else { throw OrderError.notFound("teacher \(responsibleTeacherId) of the lead school") }
            order.responsibleTeacherId = responsibleTeacherId
            return Notice(
                kind: "order.accepted", text: "已接单：\(try Self.what(order, db))（负责教师 \(teacher.displayName)）", schools: [order.schoolId])
        }
    }

    /// The lead school declines, with the reason: back to the coordinator.
    public func decline(_ id: Int64, reason: String, by person: Person, at now: Date = Date()) async throws -> View {
        let reason = try Self.required(reason, "reason")
        return try await step(id, .decline, by: person, reason: reason, at: now) { order, db in
            Notice(kind: "order.declined", text: "领衔校未接单：\(try Self.what(order, db))。原因：\(reason)", people: try Self.coordinators(order.districtId, db))
        }
    }

    /// What a delivery links: published pack versions and ready recordings.
    public struct Items: Sendable, Equatable {
        public var packVersions: [(packId: Int64, version: Int)]
        public var recordingIds: [Int64]

        public init(packVersions: [(packId: Int64, version: Int)], recordingIds: [Int64]) {
            self.packVersions = packVersions
            self.recordingIds = recordingIds
        }

        public static func == (a: Items, b: Items) -> Bool {
            a.packVersions.map { "\($0.packId)/\($0.version)" } == b.packVersions.map { "\($0.packId)/\($0.version)" } && a.recordingIds == b.recordingIds
        }
        var isEmpty: Bool { packVersions.isEmpty && recordingIds.isEmpty }
    }

    /// The responsible teacher delivers: the lead school's published pack versions and ready
    /// recordings. A pack delivered to the ordering school also targets it, so its mirror gets it.
    public func deliver(_ id: Int64, _ items: Items, note: String = "", by person: Person, at now: Date = Date()) async throws -> View {
        guard !items.isEmpty else { throw OrderError.invalid("deliver at least one pack version or recording") }
        return try await step(id, .deliver, by: person, reason: note, at: now) { order, db in
            try Self.link(items, to: &order, ownedBy: order.leadSchoolId, by: person, at: now, db)
            return Notice(kind: "order.delivered", text: "已交付：\(try Self.what(order, db))，请确认并评价", schools: [order.schoolId])
        }
    }

    /// The coordinator fulfils an order at once from what the catalog already has.
    public func fulfil(_ id: Int64, _ items: Items, by person: Person, at now: Date = Date()) async throws -> View {
        guard !items.isEmpty else { throw OrderError.invalid("fulfil with at least one pack version or recording") }
        return try await step(id, .fulfil, by: person, reason: "", at: now) { order, db in
            try Self.link(items, to: &order, ownedBy: nil, by: person, at: now, db)
            return Notice(kind: "order.delivered", text: "学区已从资源库直接交付：\(try Self.what(order, db))，请确认并评价", schools: [order.schoolId])
        }
    }

    /// 评单: the ordering school rates fit, quality and timeliness (1–5) with a comment.
    public func rate(_ id: Int64, _ rating: Rating, by person: Person, at now: Date = Date()) async throws -> View {
        for (name, value) in [("fit", rating.fit), ("quality", rating.quality), ("timeliness", rating.timeliness)] where !(1...5).contains(value) {
            throw OrderError.invalid("\(name): a rating is 1 to 5, not \(value)")
        }
        return try await step(id, .rate, by: person, reason: rating.comment, at: now) { order, db in
            order.ratingFit = rating.fit
            order.ratingQuality = rating.quality
            order.ratingTimeliness = rating.timeliness
            order.ratingComment = rating.comment
            order.ratedAt = now
            return Notice(
                kind: "order.rated", text: "评单：\(try Self.what(order, db)) 适配度 \(rating.fit)，质量 \(rating.quality)，及时 \(rating.timeliness)",
                people: order.responsibleTeacherId.map { [$0] } ?? [], schools: order.leadSchoolId.map { [$0] } ?? [])
        }
    }

    /// The school sends the delivery back once, with the reason.
    public func rework(_ id: Int64, reason: String, by person: Person, at now: Date = Date()) async throws -> View {
        let reason = try Self.required(reason, "reason")
        return try await step(id, .rework, by: person, reason: reason, at: now) { order, db in
            order.reworkUsed = true
            order.deliveredAt = nil
            return Notice(
                kind: "order.rework", text: "退回修改：\(try Self.what(order, db))。原因：\(reason)",
                people: order.responsibleTeacherId.map { [$0] } ?? [])
        }
    }

    /// The school cancels before the lead school accepts.
    public func cancel(_ id: Int64, reason: String, by person: Person, at now: Date = Date()) async throws -> View {
        try await step(id, .cancel, by: person, reason: reason.trimmingCharacters(in: .whitespacesAndNewlines), at: now) { order, db in
            Notice(kind: "order.cancelled", text: "已取消：\(try Self.what(order, db))", people: try Self.coordinators(order.districtId, db))
        }
    }

    /// Who a step notifies, and what it says.
    struct Notice {
        var kind: String
        var text: String
        var people: [Int64] = []
        var schools: [Int64] = []
    }

    private func step(
        _ id: Int64, _ action: OrderAction, by person: Person, reason: String, at now: Date,
        _ apply: @escaping @Sendable (inout ResourceOrder, Database) throws -> Notice
    ) async throws -> View {
        let view = try await database.write { db -> View in
            var order = try Self.visible(id, for: person, db)
            let from = order.state
            order.state = try OrderLifecycle.next(order.state, action, by: Self.actor(person, order), reworkUsed: order.reworkUsed)
            let notice = try apply(&order, db)
            if order.state == .delivered { order.deliveredAt = now }
            order.updatedAt = now
            try order.update(db)
            var event = OrderEvent(orderId: id, action: action.rawValue, fromState: from, toState: order.state, personId: person.id!, reason: reason, at: now)
            try event.insert(db)
            try Notices.send(kind: notice.kind, text: notice.text, link: "/orders/\(id)", people: notice.people, schools: notice.schools, at: now, db)
            return try Self.view(order, for: person, detail: true, at: now, db)
        }
        await hub.publish(.init(orderId: view.id, districtId: view.districtId, schoolId: view.school.id, leadSchoolId: view.leadSchool?.id))
        return view
    }

    static func link(_ items: Items, to order: inout ResourceOrder, ownedBy leadSchoolId: Int64?, by person: Person, at now: Date, _ db: Database) throws {
        for (packId, number) in items.packVersions {
            guard let pack = try ResourcePack.fetchOne(db, key: packId), pack.deletedAt == nil,
                let version = try PackVersion.filter(Column("packId") == packId && Column("number") == number).fetchOne(db)
            else { throw OrderError.notFound("pack \(packId) version \(number)") }
            guard version.state == .published, version.sweptAt == nil else {
                throw OrderError.conflict("pack \(packId) version \(number) is a draft: publish it first, then deliver the published version", state: order.state)
            }
            if let leadSchoolId, pack.leadSchoolId != leadSchoolId {
                throw OrderError.forbidden("pack \(packId) is another school's; deliver your own school's packs")
            }
            try db.execute(
                sql: "INSERT INTO resourceOrderDelivery (orderId, packVersionId, deliveredBy, at) VALUES (?, ?, ?, ?)",
                arguments: [order.id, version.id, person.id, now])
            // The ordering school becomes a target of this version and of the pack's draft, so
            // its mirror receives the pack now and its next versions later.
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO packTarget (versionId, schoolId, grades)
                    SELECT id, ?, ? FROM packVersion WHERE packId = ? AND (id = ? OR state = 'draft')
                    """, arguments: [order.schoolId, String(order.grade), packId, version.id])
        }
        for recordingId in items.recordingIds {
            guard let recording = try Recording.fetchOne(db, key: recordingId), recording.deletedAt == nil else {
                throw OrderError.notFound("recording \(recordingId)")
            }
            guard recording.state == .ready else {
                throw OrderError.conflict("recording \(recordingId) is not ready (it is \(recording.state.rawValue))", state: order.state)
            }
            if let leadSchoolId, recording.schoolId != leadSchoolId {
                throw OrderError.forbidden("recording \(recordingId) is another school's; deliver your own school's recordings")
            }
            try db.execute(
                sql: "INSERT INTO resourceOrderDelivery (orderId, recordingId, deliveredBy, at) VALUES (?, ?, ?, ?)",
                arguments: [order.id, recordingId, person.id, now])
        }
    }

    // MARK: - Attachments

    /// Adds a file the ordering school sends along (the bytes are kept under the storage root).
    public func attach(_ id: Int64, name: String, contentType: String, data: Data, by person: Person, at now: Date = Date()) async throws
        -> Attachment
    {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, !name.contains("/"), name.unicodeScalars.count <= 200 else {
            throw OrderError.invalid("name: a file name of 1 to 200 characters, without '/'")
        }
        let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        return try await database.write { db in
            let order = try Self.visible(id, for: person, db)
            guard Self.actor(person, order).relations.contains(.orderingSchool) else {
                throw OrderError.forbidden("only the school that ordered it attaches files")
            }
            guard !order.state.isClosed else { throw OrderError.conflict("attachments are added before delivery", state: order.state) }
            var attachment = OrderAttachment(
                orderId: id, name: name, contentType: contentType, size: Int64(data.count), sha256: sha, addedBy: person.id!, at: now)
            try attachment.insert(db)
            let folder = "\(attachmentsRoot)/\(id)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // Written inside the transaction: if the disk refuses, the row is rolled back too.
            try data.write(to: URL(fileURLWithPath: "\(folder)/\(attachment.id!)"), options: .atomic)
            return Attachment(id: attachment.id!, name: name, contentType: contentType, size: attachment.size, sha256: sha)
        }
    }

    /// An attachment's record and file path, for those who see the order.
    public func attachment(_ id: Int64, _ attachmentId: Int64, for person: Person) async throws -> (Attachment, path: String) {
        try await database.read { db in
            _ = try Self.visible(id, for: person, db)
            guard let row = try OrderAttachment.filter(Column("id") == attachmentId && Column("orderId") == id).fetchOne(db) else {
                throw OrderError.notFound("attachment")
            }
            return (
                Attachment(id: attachmentId, name: row.name, contentType: row.contentType, size: row.size, sha256: row.sha256),
                "\(attachmentsRoot)/\(id)/\(attachmentId)"
            )
        }
    }

    // MARK: - Reminders

    /// Tells the coordinator about orders a lead school has not accepted within the configured
    /// school days of dispatch (once per dispatch). Returns how many were reported.
    @discardableResult
    public func remindUnaccepted(at now: Date = Date()) async throws -> Int {
        let limit = acceptWithinSchoolDays
        return try await database.write { db in
            let waiting = try ResourceOrder.filter(Column("state") == OrderState.dispatched.rawValue && Column("reminderSentAt") == nil).fetchAll(db)
            var sent = 0
            for var order in waiting where OrderDates.schoolDays(from: order.dispatchedAt ?? now, to: now) >= limit {
                let lead = try order.leadSchoolId.flatMap { try School.fetchOne(db, key: $0) }
                try Notices.send(
                    kind: "order.unaccepted", text: "\(lead?.name ?? "领衔校") 已 \(limit) 个工作日未接单：\(try Self.what(order, db))",
                    link: "/orders/\(order.id!)", people: try Self.coordinators(order.districtId, db), at: now, db)
                order.reminderSentAt = now
                try order.update(db)
                sent += 1
            }
            return sent
        }
    }

    // MARK: - Suggestions

    public struct Suggestions: Codable, Sendable, Equatable {
        public struct Recording: Codable, Sendable, Equatable {
            public var id: Int64
            public var title: String
            public var teacher: NamedRef
            public var school: NamedRef
            public var lessonId: Int64?
        }
        public struct Pack: Codable, Sendable, Equatable {
            public var id: Int64
            public var version: Int
            public var title: String
            public var leadSchool: NamedRef
        }
        public var recordings: [Recording]
        public var packs: [Pack]
    }

    /// What the catalog already has for an order: ready recordings of the lessons asked (or found
    /// by the topic through the catalog's search) and published packs holding them.
    public func suggestions(_ id: Int64, for person: Person) async throws -> Suggestions {
        let (order, lessons) = try await database.read { db in
            let order = try Self.visible(id, for: person, db)
            guard !Self.actor(person, order).relations.isDisjoint(with: [.coordinator, .admin, .leadSchool]) else {
                throw OrderError.forbidden("suggestions are for the coordinator and the lead school")
            }
            return (order, try Int64.fetchAll(db, sql: "SELECT lessonId FROM resourceOrderLesson WHERE orderId = ?", arguments: [id]))
        }
        var recordings: [Int64] = []
        if order.volumeId == nil, let topic = order.topic {
            // A free-text topic: what the catalog's own search finds for it.
            var query = RecordingQuery()
            query.text = topic
            query.state = .ready
            query.limit = 50
            recordings = try await RecordingStore(database: database).list(query, viewer: Viewer(person)).items.map(\.id)
        }
        return try await database.read { [recordings] db in
            var recordings = recordings
            if !lessons.isEmpty {
                recordings = try Int64.fetchAll(
                    db,
                    sql: "SELECT id FROM recording WHERE lessonId IN (\(lessons.map { _ in "?" }.joined(separator: ","))) AND state = 'ready' AND deletedAt IS NULL ORDER BY id DESC LIMIT 50",
                    arguments: StatementArguments(lessons))
            } else if let volumeId = order.volumeId {
                recordings = try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT r.id FROM recording r JOIN textbookLesson l ON l.id = r.lessonId
                        WHERE l.volumeId = ? AND r.state = 'ready' AND r.deletedAt IS NULL ORDER BY r.id DESC LIMIT 50
                        """, arguments: [volumeId])
            }
            let found = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.title, r.lessonId, p.id AS teacherId, p.displayName, s.id AS schoolId, s.name AS school
                    FROM recording r JOIN person p ON p.id = r.teacherId JOIN school s ON s.id = r.schoolId
                    WHERE r.id IN (\(recordings.map { _ in "?" }.joined(separator: ",")))
                    """, arguments: StatementArguments(recordings)
            ).map {
                Suggestions.Recording(
                    id: $0["id"], title: $0["title"], teacher: NamedRef(id: $0["teacherId"], name: $0["displayName"]),
                    school: NamedRef(id: $0["schoolId"], name: $0["school"]), lessonId: $0["lessonId"])
            }
            let packs = recordings.isEmpty ? [] : try Row.fetchAll(
                db,
                sql: """
                    SELECT v.packId, MAX(v.number) AS number, s.id AS schoolId, s.name AS school,
                        (SELECT title FROM packVersion WHERE packId = v.packId AND number = MAX(v.number)) AS title
                    FROM packVersion v JOIN packItem i ON i.versionId = v.id JOIN resourcePack p ON p.id = v.packId
                    JOIN school s ON s.id = p.leadSchoolId
                    WHERE v.state = 'published' AND v.sweptAt IS NULL AND p.deletedAt IS NULL
                    AND i.recordingId IN (\(recordings.map { _ in "?" }.joined(separator: ",")))
                    GROUP BY v.packId ORDER BY v.packId DESC LIMIT 20
                    """, arguments: StatementArguments(recordings)
            ).map {
                Suggestions.Pack(id: $0["packId"], version: $0["number"], title: $0["title"] ?? "", leadSchool: NamedRef(id: $0["schoolId"], name: $0["school"]))
            }
            return Suggestions(recordings: found, packs: packs)
        }
    }

    // MARK: - Helpers

    static func required(_ text: String, _ name: String) throws -> String {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw OrderError.invalid("\(name): say why") }
        return text
    }

    static func coordinators(_ districtId: Int64, _ db: Database) throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM person WHERE role = 'coordinator' AND districtId = ?", arguments: [districtId])
    }

    /// What was ordered, in a few words: 人教版 英语 四年级 上册 (2 课) or the topic.
    static func what(_ order: ResourceOrder, _ db: Database) throws -> String {
        if let volumeId = order.volumeId, let volume = try TextbookVolume.fetchOne(db, key: volumeId) {
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM resourceOrderLesson WHERE orderId = ?", arguments: [order.id]) ?? 0
            return volume.title + (count > 0 ? "（\(count) 课）" : "")
        }
        return order.topic ?? ""
    }

    static func view(_ order: ResourceOrder, for person: Person, detail: Bool, at now: Date, _ db: Database) throws -> View {
        try views([order], for: person, detail: detail, at: now, db)[0]
    }

    /// Views of many orders with one query per kind of name, not one per order.
    static func views(_ orders: [ResourceOrder], for person: Person, detail: Bool = false, at now: Date, _ db: Database) throws -> [View] {
        guard !orders.isEmpty else { return [] }
        let today = OrderDates.day(now)
        func names(_ sql: String, _ ids: Set<Int64>) throws -> [Int64: String] {
            guard !ids.isEmpty else { return [:] }
            return try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(db, sql: sql + " WHERE id IN (\(ids.map(String.init).joined(separator: ",")))").map {
                    ($0["id"] as Int64, $0["name"] as String)
                })
        }
        let schools = try names("SELECT id, name FROM school", Set(orders.map(\.schoolId) + orders.compactMap(\.leadSchoolId)))
        let people = try names(
            "SELECT id, displayName AS name FROM person", Set(orders.map(\.placedBy) + orders.compactMap(\.responsibleTeacherId)))
        let volumeRows = try TextbookVolume.filter(keys: Set(orders.compactMap(\.volumeId))).fetchAll(db)
        let volumes = Dictionary(uniqueKeysWithValues: volumeRows.map { ($0.id!, $0) })
        let ids = orders.map { String($0.id!) }.joined(separator: ",")
        var lessons: [Int64: [NamedRef]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT ol.orderId, l.id, l.number, l.title FROM resourceOrderLesson ol JOIN textbookLesson l ON l.id = ol.lessonId
                WHERE ol.orderId IN (\(ids)) ORDER BY l.position
                """)
        {
            let number: Int = row["number"]
            lessons[row["orderId"], default: []].append(NamedRef(id: row["id"], name: (number > 0 ? "第\(number)课 " : "") + (row["title"] as String)))
        }
        return try orders.map { order in
            let actor = actor(person, order)
            let needsMe = OrderLifecycle.awaited.contains { (try? OrderLifecycle.next(order.state, $0, by: actor, reworkUsed: order.reworkUsed)) != nil }
            let volume = order.volumeId.flatMap { volumes[$0] }
            var view = View(
                id: order.id!, state: order.state, overdue: order.isOverdue(today: today), needsMe: needsMe,
                school: NamedRef(id: order.schoolId, name: schools[order.schoolId] ?? ""), districtId: order.districtId,
                placedBy: NamedRef(id: order.placedBy, name: people[order.placedBy] ?? ""),
                volume: volume.map { NamedRef(id: $0.id!, name: $0.title) }, lessons: lessons[order.id!] ?? [], topic: order.topic,
                subject: volume?.subject, grade: order.grade, classes: order.classes, pupils: order.pupils, format: order.format,
                neededBy: order.neededBy, leadSchool: order.leadSchoolId.map { NamedRef(id: $0, name: schools[$0] ?? "") }, dueOn: order.dueOn,
                responsibleTeacher: order.responsibleTeacherId.map { NamedRef(id: $0, name: people[$0] ?? "") }, reworkUsed: order.reworkUsed,
                rating: order.ratingFit.map {
                    Rating(fit: $0, quality: order.ratingQuality ?? 0, timeliness: order.ratingTimeliness ?? 0, comment: order.ratingComment ?? "")
                },
                placedAt: order.placedAt, dispatchedAt: order.dispatchedAt, deliveredAt: order.deliveredAt, ratedAt: order.ratedAt,
                updatedAt: order.updatedAt)
            if detail {
                view.deliveries = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT d.*, v.packId, v.number, v.title AS packTitle, r.title AS recordingTitle, p.displayName
                        FROM resourceOrderDelivery d JOIN person p ON p.id = d.deliveredBy
                        LEFT JOIN packVersion v ON v.id = d.packVersionId LEFT JOIN recording r ON r.id = d.recordingId
                        WHERE d.orderId = ? ORDER BY d.id
                        """, arguments: [order.id]
                ).map {
                    Delivery(
                        packId: $0["packId"], packVersion: $0["number"], recordingId: $0["recordingId"],
                        title: $0["packTitle"] ?? $0["recordingTitle"] ?? "", deliveredBy: NamedRef(id: $0["deliveredBy"], name: $0["displayName"]),
                        at: $0["at"])
                }
                view.attachments = try OrderAttachment.filter(Column("orderId") == order.id).order(Column("id")).fetchAll(db).map {
                    Attachment(id: $0.id!, name: $0.name, contentType: $0.contentType, size: $0.size, sha256: $0.sha256)
                }
                view.history = try Row.fetchAll(
                    db,
                    sql: "SELECT e.*, p.displayName FROM resourceOrderEvent e JOIN person p ON p.id = e.personId WHERE e.orderId = ? ORDER BY e.id",
                    arguments: [order.id]
                ).map {
                    Step(
                        action: $0["action"], from: ($0["fromState"] as String?).flatMap(OrderState.init(rawValue:)),
                        to: OrderState(rawValue: $0["toState"])!, person: NamedRef(id: $0["personId"], name: $0["displayName"]), reason: $0["reason"],
                        at: $0["at"])
                }
            }
            return view
        }
    }
}
