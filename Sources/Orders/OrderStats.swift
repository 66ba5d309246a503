import Catalog
import Foundation
import GRDB

/// The county view (平台评单, 平台监管): turnaround per district and lead school, overdue counts,
/// ratings per lead school and teacher, and demand by subject and grade — including what was
/// ordered and never delivered. Computed in one pass over the orders, and recomputed in the
/// background when an order changes or the day turns.
public actor OrderStats {
    public struct Group: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var orders: Int
        public var delivered: Int
        public var overdue: Int
        /// Hours from placing to delivery: the median and the 90th percentile (nearest rank).
        public var medianHours: Double?
        public var p90Hours: Double?
    }

    public struct Ratings: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var school: String?
        public var rated: Int
        public var fit: Double
        public var quality: Double
        public var timeliness: Double
    }

    public struct Demand: Codable, Sendable, Equatable {
        /// The volume's subject, or 专题 for free-text topics.
        public var subject: String
        public var grade: Int
        public var ordered: Int
        public var delivered: Int
        /// Cancelled, or still open: ordered and not (yet) delivered.
        public var notDelivered: Int
    }

    public struct Report: Codable, Sendable, Equatable {
        public var orders: Int
        public var open: Int
        public var overdue: Int
        public var delivered: Int
        public var rated: Int
        public var byDistrict: [Group]
        public var byLeadSchool: [Group]
        public var ratingsByLeadSchool: [Ratings]
        public var ratingsByTeacher: [Ratings]
        public var demand: [Demand]
    }

    let database: AppDatabase
    let hub: OrderHub
    private var cached: (revision: Int, day: String, report: Report)?
    private var refreshing = false

    public init(database: AppDatabase, hub: OrderHub) {
        self.database = database
        self.hub = hub
    }

    /// The report for admins. Only the first read computes while the reader waits; after an
    /// order changes (or the day turns, which moves the overdue line) readers get the last
    /// report at once while a new one is computed in the background — a county's years of orders
    /// take a few hundred milliseconds to go over, and the view is a survey, not a ledger.
    public func report(for person: Person, at now: Date = Date()) async throws -> Report {
        guard person.role == .admin else { throw OrderError.forbidden("the county view is for county admins") }
        let revision = await hub.revision
        let day = OrderDates.day(now)
        if let cached {
            if cached.revision != revision || cached.day != day { refresh(revision: revision, day: day) }
            return cached.report
        }
        let report = try await database.read { db in try Self.compute(today: day, db) }
        cached = (revision, day, report)
        return report
    }

    private func refresh(revision: Int, day: String) {
        guard !refreshing else { return }
        refreshing = true
        let database = database
        Task {
            let report = try? await database.read { db in try Self.compute(today: day, db) }
            self.refreshed(report, revision: revision, day: day)
        }
    }

    private func refreshed(_ report: Report?, revision: Int, day: String) {
        if let report { cached = (revision, day, report) }
        refreshing = false
    }

    struct Row_: Sendable {
        var districtId: Int64
        var leadSchoolId: Int64?
        var teacherId: Int64?
        var state: OrderState
        var hours: Double?
        var overdue: Bool
        var subject: String
        var grade: Int
        var fit: Int?
        var quality: Int?
        var timeliness: Int?
    }

    static func compute(today: String, _ db: Database) throws -> Report {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT o.districtId, o.leadSchoolId, o.responsibleTeacherId, o.state, o.grade, v.subject,
                    (julianday(o.deliveredAt) - julianday(o.placedAt)) * 24 AS hours,
                    (o.state NOT IN ('delivered', 'rated', 'cancelled') AND COALESCE(o.dueOn, o.neededBy) < ?) AS overdue,
                    o.ratingFit, o.ratingQuality, o.ratingTimeliness
                FROM resourceOrder o LEFT JOIN textbookVolume v ON v.id = o.volumeId
                """, arguments: [today]
        ).map {
            Row_(
                districtId: $0["districtId"], leadSchoolId: $0["leadSchoolId"], teacherId: $0["responsibleTeacherId"],
                state: OrderState(rawValue: $0["state"]) ?? .placed, hours: $0["hours"], overdue: $0["overdue"], subject: $0["subject"] ?? "专题",
                grade: $0["grade"], fit: $0["ratingFit"], quality: $0["ratingQuality"], timeliness: $0["ratingTimeliness"])
        }
        let districts = try names(db, "SELECT id, name FROM district")
        let schools = try names(db, "SELECT id, name FROM school")
        let teachers = try Dictionary(
            uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT p.id, p.displayName, s.name AS school FROM person p LEFT JOIN school s ON s.id = p.schoolId WHERE p.role = 'teacher'").map {
                ($0["id"] as Int64, ($0["displayName"] as String, $0["school"] as String?))
            })
        let delivered: (Row_) -> Bool = { $0.state == .delivered || $0.state == .rated }

        func groups(_ key: (Row_) -> Int64?, _ names: [Int64: String]) -> [Group] {
            Dictionary(grouping: rows.filter { key($0) != nil }, by: { key($0)! }).map { id, members in
                let hours = members.compactMap { delivered($0) ? $0.hours : nil }.sorted()
                return Group(
                    id: id, name: names[id] ?? "", orders: members.count, delivered: members.filter(delivered).count,
                    overdue: members.filter(\.overdue).count, medianHours: percentile(hours, 0.5), p90Hours: percentile(hours, 0.9))
            }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
        }

        func ratings(_ key: (Row_) -> Int64?, name: (Int64) -> (String, String?)) -> [Ratings] {
            Dictionary(grouping: rows.filter { key($0) != nil && $0.fit != nil }, by: { key($0)! }).map { id, members in
                let count = Double(members.count)
                let (label, school) = name(id)
                return Ratings(
                    id: id, name: label, school: school, rated: members.count,
                    fit: rounded(members.reduce(0) { $0 + Double($1.fit ?? 0) } / count),
                    quality: rounded(members.reduce(0) { $0 + Double($1.quality ?? 0) } / count),
                    timeliness: rounded(members.reduce(0) { $0 + Double($1.timeliness ?? 0) } / count))
            }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
        }

        let demand = Dictionary(grouping: rows, by: { "\($0.subject)\u{1}\($0.grade)" }).map { _, members in
            let done = members.filter(delivered).count
            return Demand(subject: members[0].subject, grade: members[0].grade, ordered: members.count, delivered: done, notDelivered: members.count - done)
        }.sorted { ($0.subject, $0.grade) < ($1.subject, $1.grade) }

        return Report(
            orders: rows.count, open: rows.filter { !$0.state.isClosed }.count, overdue: rows.filter(\.overdue).count,
            delivered: rows.filter(delivered).count, rated: rows.filter { $0.state == .rated }.count,
            byDistrict: groups({ $0.districtId }, districts), byLeadSchool: groups({ $0.leadSchoolId }, schools),
            ratingsByLeadSchool: ratings({ $0.leadSchoolId }, name: { (schools[$0] ?? "", nil) }),
            ratingsByTeacher: ratings({ $0.teacherId }, name: { teachers[$0] ?? ("", nil) }), demand: demand)
    }

    /// Nearest-rank percentile of sorted values (nil when there are none).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return rounded(sorted[max(0, min(sorted.count - 1, rank - 1))])
    }

    static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }

    static func names(_ db: Database, _ sql: String) throws -> [Int64: String] {
        try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: sql).map { ($0["id"] as Int64, $0["name"] as String) })
    }

    /// Every order as one CSV row, for Excel: UTF-8 with a byte-order mark, CRLF line ends.
    public func csv(for person: Person, at now: Date = Date()) async throws -> Data {
        guard person.role == .admin else { throw OrderError.forbidden("the county view is for county admins") }
        let today = OrderDates.day(now)
        let lines = try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT o.id, s.name AS school, d.name AS district, COALESCE(v.subject || ' ' || v.edition || ' ' || v.volume, o.topic) AS what,
                        o.grade, o.classes, o.format, o.neededBy, o.state, l.name AS lead, o.dueOn, o.placedAt, o.deliveredAt,
                        (julianday(o.deliveredAt) - julianday(o.placedAt)) * 24 AS hours,
                        (o.state NOT IN ('delivered', 'rated', 'cancelled') AND COALESCE(o.dueOn, o.neededBy) < ?) AS overdue,
                        o.ratingFit, o.ratingQuality, o.ratingTimeliness, o.ratingComment
                    FROM resourceOrder o JOIN school s ON s.id = o.schoolId JOIN district d ON d.id = o.districtId
                    LEFT JOIN school l ON l.id = o.leadSchoolId LEFT JOIN textbookVolume v ON v.id = o.volumeId
                    ORDER BY o.id
                    """, arguments: [today]
            ).map { row -> [String] in
                let hours: Double? = row["hours"]
                return [
                    String(row["id"] as Int64), row["school"], row["district"], row["what"] ?? "", String(row["grade"] as Int),
                    String(row["classes"] as Int), row["format"], row["neededBy"], row["state"], row["lead"] ?? "", row["dueOn"] ?? "",
                    (row["placedAt"] as Date).ISO8601Format(), (row["deliveredAt"] as Date?)?.ISO8601Format() ?? "",
                    hours.map { String(format: "%.1f", $0) } ?? "", (row["overdue"] as Bool) ? "是" : "",
                    (row["ratingFit"] as Int?).map(String.init) ?? "", (row["ratingQuality"] as Int?).map(String.init) ?? "",
                    (row["ratingTimeliness"] as Int?).map(String.init) ?? "", row["ratingComment"] ?? "",
                ]
            }
        }
        let header = ["编号", "学校", "学区", "教材或专题", "年级", "班数", "形式", "需要日期", "状态", "领衔校", "交付期限", "下单时间", "交付时间", "周转小时", "逾期", "适配度", "质量", "及时", "评价"]
        return Data(CSV.document([header] + lines).utf8)
    }
}
