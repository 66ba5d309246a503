import Catalog
import Foundation
import GRDB
import Testing

@testable import Orders

/// The county view against a fixture computed by hand.
@Suite("Order statistics")
struct OrderStatsTests {
    @Test("Turnaround median and 90th percentile per district and lead school, overdue, ratings, demand")
    func handComputed() async throws {
        let database = try AppDatabase.inMemory(migrations: OrderSchema.migrations)
        let admin = try await database.write { db -> Person in
            var chengguan = District(name: "城关学区")
            try chengguan.insert(db)
            var liuhe = District(name: "柳河学区")
            try liuhe.insert(db)
            var leadA = School(districtId: chengguan.id!, name: "城关第一小学", kind: .lead)
            try leadA.insert(db)
            var leadB = School(districtId: liuhe.id!, name: "柳河中心小学", kind: .lead)
            try leadB.insert(db)
            var member = School(districtId: chengguan.id!, name: "桥头小学", kind: .member)
            try member.insert(db)
            var village = School(districtId: liuhe.id!, name: "柳河村小学", kind: .member)
            try village.insert(db)
            var teacher = Person(username: "t", displayName: "王丽老师", role: .teacher, schoolId: leadA.id, passwordHash: "")
            try teacher.insert(db)
            var admin = Person(username: "a", displayName: "管理员", role: .admin, passwordHash: "")
            try admin.insert(db)
            var english = TextbookVolume(subject: "英语", grade: 4, edition: "人教版（PEP）", volume: "上册")
            try english.insert(db)
            let start = Date(timeIntervalSince1970: 1_790_000_000)
            // (district, ordering school, lead, state, hours to delivery, ratings, volume)
            let rows: [(Int64, Int64, Int64?, OrderState, Double?, [Int]?, Bool)] = [
                (chengguan.id!, member.id!, leadA.id, .rated, 10, [5, 4, 3], true),
                (chengguan.id!, member.id!, leadA.id, .rated, 20, [3, 4, 5], true),
                (chengguan.id!, member.id!, leadA.id, .delivered, 40, nil, true),
                (chengguan.id!, member.id!, leadA.id, .dispatched, nil, nil, true),
                (liuhe.id!, village.id!, leadB.id, .delivered, 5, nil, false),
                (liuhe.id!, village.id!, nil, .cancelled, nil, nil, false),
            ]
            for (district, school, lead, state, hours, rating, isVolume) in rows {
                var order = ResourceOrder(
                    schoolId: school, districtId: district, placedBy: teacher.id!, volumeId: isVolume ? english.id : nil,
                    topic: isVolume ? nil : "剪纸", grade: isVolume ? 4 : 3, classes: 1, pupils: "", format: .lessons, neededBy: "2026-09-30",
                    state: state, reworkUsed: false, placedAt: start, updatedAt: start)
                order.leadSchoolId = lead
                order.dueOn = lead == nil ? nil : "2026-10-01"
                order.responsibleTeacherId = lead == leadA.id ? teacher.id : nil
                order.deliveredAt = hours.map { start.addingTimeInterval($0 * 3600) }
                if let rating {
                    (order.ratingFit, order.ratingQuality, order.ratingTimeliness) = (rating[0], rating[1], rating[2])
                }
                try order.insert(db)
            }
            return admin
        }
        let hub = OrderHub()
        let stats = OrderStats(database: database, hub: hub)
        let when = ISO8601DateFormatter().date(from: "2026-10-15T12:00:00Z")!
        let report = try await stats.report(for: admin, at: when)
        #expect((report.orders, report.open, report.overdue, report.delivered, report.rated) == (6, 1, 1, 4, 2))
        let districts = Dictionary(uniqueKeysWithValues: report.byDistrict.map { ($0.name, $0) })
        // 城关: deliveries after 10, 20, 40 hours → median (rank ⌈1.5⌉ = 2) 20, 90th (rank ⌈2.7⌉ = 3) 40.
        #expect(districts["城关学区"].map { [$0.orders, $0.delivered, $0.overdue] } == [4, 3, 1])
        #expect(districts["城关学区"]?.medianHours == 20 && districts["城关学区"]?.p90Hours == 40)
        #expect(districts["柳河学区"].map { [$0.orders, $0.delivered, $0.overdue] } == [2, 1, 0])
        #expect(districts["柳河学区"]?.medianHours == 5 && districts["柳河学区"]?.p90Hours == 5)
        #expect(report.byLeadSchool.map(\.name) == ["城关第一小学", "柳河中心小学"])
        // Lead school A: two ratings, (5+3)/2, (4+4)/2, (3+5)/2.
        let a = try #require(report.ratingsByLeadSchool.first)
        #expect(a.name == "城关第一小学" && a.rated == 2 && a.fit == 4 && a.quality == 4 && a.timeliness == 4)
        #expect(report.ratingsByTeacher.map(\.name) == ["王丽老师"] && report.ratingsByTeacher[0].school == "城关第一小学")
        #expect(report.demand.map { "\($0.subject)/\($0.grade) \($0.ordered) \($0.delivered) \($0.notDelivered)" } == ["专题/3 2 1 1", "英语/4 4 3 1"])
        // After a change, the last report comes at once and the new one follows from the background.
        try await database.write { db in
            try db.execute(sql: "INSERT INTO resourceOrder (schoolId, districtId, placedBy, topic, grade, classes, pupils, format, neededBy, state, placedAt, updatedAt) SELECT schoolId, districtId, placedBy, '竹编', 3, 1, '', 'lessons', neededBy, 'placed', placedAt, updatedAt FROM resourceOrder LIMIT 1")
        }
        await hub.publish(.init(orderId: 7, districtId: 1, schoolId: 1, leadSchoolId: nil))
        #expect(try await stats.report(for: admin, at: when).orders == 6)
        var fresh = 6
        for _ in 0..<100 where fresh == 6 {
            try await Task.sleep(for: .milliseconds(20))
            fresh = try await stats.report(for: admin, at: when).orders
        }
        #expect(fresh == 7)
        await #expect(throws: OrderError.self, "admins only") {
            try await stats.report(for: Person(username: "c", displayName: "c", role: .coordinator, passwordHash: ""))
        }
    }
}
