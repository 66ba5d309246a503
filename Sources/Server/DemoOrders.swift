import Catalog
import Foundation
import GRDB
import Orders

extension DemoCounty {
    /// A term of orders in every state (点单 → 派单 → 接单 → 交付 → 评单, and the declines, reworks and
    /// cancellations a real term has), spread over every district, so the county view is not empty
    /// on a fresh demo; `count` also seeds the orders benchmark. Nothing is added when orders exist.
    public func seedOrders(_ count: Int, into database: AppDatabase, passwordHash: String, now: Date = Date()) async throws -> Int {
        try await database.write { db in
            guard try ResourceOrder.fetchCount(db) == 0 else { return 0 }
            try Self.ensureTeachers(1, passwordHash: passwordHash, db)
            let schools = try School.fetchAll(db)
            let members = schools.filter { $0.kind == .member }
            let leads = Dictionary(grouping: schools.filter { $0.kind == .lead }, by: \.districtId)
            let teacher = try Dictionary(
                uniqueKeysWithValues: Person.filter(Person.Columns.username.like("t%-1")).fetchAll(db).map { ($0.schoolId!, $0.id!) })
            let coordinators = try Dictionary(
                Person.filter(Person.Columns.role == Person.Role.coordinator.rawValue).fetchAll(db).map { ($0.districtId ?? 0, $0.id!) },
                uniquingKeysWith: { first, _ in first })
            let admin = try Person.filter(Person.Columns.role == Person.Role.admin.rawValue).fetchOne(db)?.id
            let volumes = try TextbookVolume.fetchAll(db)
            let lessons = Dictionary(grouping: try TextbookLesson.filter(Column("isNewCourse") == true).fetchAll(db), by: \.volumeId)
            guard !members.isEmpty, !volumes.isEmpty else { return 0 }
            let topics = ["剪纸", "书法入门", "竹编", "合唱", "体育游戏", "科学小实验", "家乡的茶", "安全教育"]
            let notes = [
                "没有专职英语老师，学生没接触过自然拼读", "复式班，三、四年级同堂上课", "留守儿童多，家里没人辅导作业", "学生普通话基础弱，朗读需要示范",
                "音乐课一直由班主任兼任", "", "计算基础好，应用题理解有困难",
            ]
            var random = SplitMix(seed: 20_260_901)
            func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
            func hours(_ low: Double, _ high: Double) -> TimeInterval { (low + Double(random.next() % 1000) / 1000 * (high - low)) * 3600 }
            let term: TimeInterval = 120 * 86400
            var made = 0
            for index in 0..<count {
                let school = members[index % members.count]
                guard let placer = teacher[school.id!], let lead = leads[school.districtId]?.first,
                    let responsible = teacher[lead.id!]
                else { continue }
                let coordinator = coordinators[school.districtId] ?? admin ?? placer
                let placedAt = now.addingTimeInterval(-term * Double(random.next() % 1000) / 1000)
                let volume: TextbookVolume? = random.next() % 4 == 0 ? nil : pick(volumes)
                let neededBy = placedAt.addingTimeInterval(Double(14 + random.next() % 17) * 86400)
                var order = ResourceOrder(
                    schoolId: school.id!, districtId: school.districtId, placedBy: placer, volumeId: volume?.id,
                    topic: volume == nil ? pick(topics) : nil, grade: volume?.grade ?? Int(1 + random.next() % 6), classes: Int(1 + random.next() % 3),
                    pupils: pick(notes), format: pick(ResourceOrder.Format.allCases), neededBy: OrderDates.day(neededBy), state: .placed,
                    placedAt: placedAt, updatedAt: placedAt)
                // How far this order got: older orders mostly finished, recent ones still moving.
                let age = now.timeIntervalSince(placedAt) / term
                let roll = Int(random.next() % 100)
                let target: OrderState =
                    roll < 5 ? .cancelled
                    : age < 0.05 ? (roll < 60 ? .placed : .dispatched)
                    : age < 0.15 ? [.dispatched, .accepted, .delivered, .declined][roll % 4]
                    : roll < 70 ? .rated : roll < 85 ? .delivered : roll < 92 ? .accepted : roll < 96 ? .rework : .dispatched
                try order.insert(db)
                var events: [(String, OrderState?, OrderState, Int64, String, Date)] = [("place", nil, .placed, placer, "", placedAt)]
                var clock = placedAt
                func step(_ action: String, _ to: OrderState, _ person: Int64, _ reason: String = "", after: TimeInterval) {
                    clock = min(now, clock.addingTimeInterval(after))
                    events.append((action, order.state, to, person, reason, clock))
                    order.state = to
                }
                if let volume, let list = lessons[volume.id!], !list.isEmpty {
                    for lesson in Set((0..<(1 + random.next() % 3)).map { _ in pick(list).id! }) {
                        try db.execute(sql: "INSERT INTO resourceOrderLesson (orderId, lessonId) VALUES (?, ?)", arguments: [order.id, lesson])
                    }
                }
                if target == .cancelled {
                    step("cancel", .cancelled, placer, "已由本校老师解决", after: hours(2, 48))
                } else if target != .placed {
                    step("dispatch", .dispatched, coordinator, after: hours(1, 72))
                    order.leadSchoolId = lead.id
                    order.dispatchedAt = clock
                    order.dueOn = OrderDates.day(clock.addingTimeInterval(Double(7 + random.next() % 8) * 86400))
                    if target == .declined || random.next() % 10 == 0 {
                        step("decline", .declined, responsible, "录播教室本周排满", after: hours(4, 48))
                        if target != .declined { step("dispatch", .dispatched, coordinator, after: hours(2, 24)) }
                    }
                    if ![.dispatched, .declined].contains(target) {
                        step("accept", .accepted, responsible, after: hours(2, 72))
                        order.responsibleTeacherId = responsible
                        if target != .accepted {
                            step("deliver", .delivered, responsible, after: hours(24, 300))
                            order.deliveredAt = clock
                            if target == .rework || random.next() % 12 == 0 {
                                step("rework", .rework, placer, "希望增加练习单", after: hours(4, 48))
                                order.reworkUsed = true
                                order.deliveredAt = nil
                                if target != .rework {
                                    step("deliver", .delivered, responsible, after: hours(12, 96))
                                    order.deliveredAt = clock
                                }
                            }
                            if target == .rated {
                                step("rate", .rated, placer, after: hours(4, 96))
                                order.ratingFit = Int(3 + random.next() % 3)
                                order.ratingQuality = Int(3 + random.next() % 3)
                                order.ratingTimeliness = Int(2 + random.next() % 4)
                                order.ratingComment = pick(["很适合我们学校的学生", "练习单很实用", "视频清楚，讲解细", "来得稍晚了一些", ""])
                                order.ratedAt = clock
                            }
                        }
                    }
                }
                order.updatedAt = clock
                try order.update(db)
                for (action, from, to, person, reason, at) in events {
                    var event = OrderEvent(orderId: order.id!, action: action, fromState: from, toState: to, personId: person, reason: reason, at: at)
                    try event.insert(db)
                }
                made += 1
            }
            return made
        }
    }
}
