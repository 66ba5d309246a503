@testable import Catalog
import Foundation
import GRDB
import Testing

/// A small county in an in-memory database with the real migrations.
struct CatalogFixture {
    let database: AppDatabase
    var teacher: Person
    var otherTeacher: Person
    var coordinator: Person
    var screen: Person
    var lessons: [String: Int64] = [:]
    var volumeId: Int64 = 0

    init() async throws {
        database = try AppDatabase.inMemory()
        (teacher, otherTeacher, coordinator, screen, lessons, volumeId) = try await database.write { db in
            var city = District(name: "城关学区")
            try city.insert(db)
            var river = District(name: "柳河学区")
            try river.insert(db)
            var lead = School(districtId: city.id!, name: "城关第一小学", kind: .lead)
            try lead.insert(db)
            var member = School(districtId: river.id!, name: "柳河村小学", kind: .member)
            try member.insert(db)
            var teacher = Person(username: "wang", displayName: "王丽", role: .teacher, passwordHash: "x")
            teacher.schoolId = lead.id
            teacher.districtId = city.id
            try teacher.insert(db)
            var otherTeacher = Person(username: "li", displayName: "李强", role: .teacher, passwordHash: "x")
            otherTeacher.schoolId = member.id
            otherTeacher.districtId = river.id
            try otherTeacher.insert(db)
            var coordinator = Person(username: "co", displayName: "协调员", role: .coordinator, passwordHash: "x")
            coordinator.districtId = city.id
            try coordinator.insert(db)
            var screen = Person(username: "screen", displayName: "教室", role: .classroom, passwordHash: "x")
            try screen.insert(db)
            var volume = TextbookVolume(subject: "语文", grade: 3, edition: "人教版", volume: "上册")
            try volume.insert(db)
            var lessons: [String: Int64] = [:]
            for (position, title) in ["秋天的雨", "去年的树", "司马光"].enumerated() {
                var lesson = TextbookLesson(volumeId: volume.id!, position: position + 1, unit: "第二单元", number: position + 6, title: title)
                try lesson.insert(db)
                lessons[title] = lesson.id
            }
            return (teacher, otherTeacher, coordinator, screen, lessons, volume.id!)
        }
    }

    @discardableResult
    func add(_ title: String, by person: Person, lesson: String? = nil, state: Recording.State = .ready, description: String = "", at date: Date = Date()) async throws -> Int64 {
        try await database.write { [lessons] db in
            var recording = Recording(
                title: title, description: description, teacherId: person.id!, schoolId: person.schoolId!,
                lessonId: lesson.flatMap { lessons[$0] }, state: state, createdAt: date)
            try RecordingStore.insert(&recording, db)
            return recording.id!
        }
    }

    func search(_ text: String?, as person: Person, _ adjust: (inout RecordingQuery) -> Void = { _ in }) async throws -> [String] {
        var query = RecordingQuery()
        query.text = text
        adjust(&query)
        return try await RecordingStore(database: database).list(query, viewer: Viewer(person)).items.map(\.title)
    }
}

@Suite("Chinese and English search text")
struct SearchTextTests {
    @Test("CJK runs index as characters and neighbouring pairs; Latin as words")
    func index() {
        #expect(SearchText.index("秋天的雨") == "秋 天 的 雨 秋天 天的 的雨")
        #expect(SearchText.index("Unit 1 My classroom") == "Unit 1 My classroom")
        #expect(SearchText.index("PEP英语 Unit1") == "PEP 英 语 英语 Unit1")
    }

    @Test("Queries become quoted FTS5 terms: nothing typed is read as syntax")
    func match() {
        #expect(SearchText.matchExpression("秋天") == "\"秋天\"")
        #expect(SearchText.matchExpression("雨") == "\"雨\"")
        #expect(SearchText.matchExpression("秋天的雨") == "\"秋天 天的 的雨\"")
        #expect(SearchText.matchExpression("frac") == "\"frac\"*")
        #expect(SearchText.matchExpression("\"秋天\" OR 1=1; DROP TABLE recording; --") == "\"秋天\" AND \"OR\"* AND \"1\"* AND \"1\"* AND \"DROP\"* AND \"TABLE\"* AND \"recording\"*")
        #expect(SearchText.matchExpression("*** () ^") == nil)
    }
}

@Suite("Catalog")
struct CatalogTests {
    @Test("Search finds two-character words, single characters and English prefixes")
    func search() async throws {
        let county = try await CatalogFixture()
        try await county.add("秋天的雨 第一课时", by: county.teacher, lesson: "秋天的雨")
        try await county.add("司马光 公开课", by: county.teacher, lesson: "司马光")
        try await county.add("Unit 2 My schoolbag", by: county.otherTeacher, description: "fractions warm-up game")
        // Given a teacher searching the county's ready recordings, when they type…
        #expect(try await county.search("秋天", as: county.otherTeacher) == ["秋天的雨 第一课时"])
        #expect(try await county.search("雨", as: county.otherTeacher) == ["秋天的雨 第一课时"])
        #expect(try await county.search("秋雨", as: county.otherTeacher) == [], "not adjacent in the text")
        #expect(try await county.search("schoolb", as: county.teacher) == ["Unit 2 My schoolbag"])
        #expect(try await county.search("FRACTIONS", as: county.teacher) == ["Unit 2 My schoolbag"])
        // …the teacher's name, the school and the textbook are searchable too.
        #expect(try await county.search("王丽", as: county.otherTeacher).count == 2)
        #expect(try await county.search("城关", as: county.otherTeacher).count == 2)
        #expect(try await county.search("人教版 三年级", as: county.otherTeacher).count == 2)
        #expect(try await county.search("第二单元 司马光", as: county.otherTeacher) == ["司马光 公开课"])
    }

    @Test("SQL and FTS syntax in search text is just text")
    func hostileSearch() async throws {
        let county = try await CatalogFixture()
        try await county.add("秋天的雨", by: county.teacher)
        for text in ["' OR 1=1 --", "\"", "秋天\" OR \"", "NEAR(a b)", "title:秋天", "*", "a' ; DROP TABLE recording; --"] {
            _ = try await county.search(text, as: county.teacher)
        }
        #expect(try await county.search(nil, as: county.teacher) == ["秋天的雨"])
    }

    @Test("Work in progress is seen by its teacher and the district's coordinator, not by others")
    func visibility() async throws {
        let county = try await CatalogFixture()
        try await county.add("ready", by: county.teacher)
        try await county.add("still uploading", by: county.teacher, state: .uploading)
        try await county.add("other's draft", by: county.otherTeacher, state: .failed)
        #expect(Set(try await county.search(nil, as: county.teacher)) == ["ready", "still uploading"])
        #expect(Set(try await county.search(nil, as: county.otherTeacher)) == ["ready", "other's draft"])
        #expect(Set(try await county.search(nil, as: county.coordinator)) == ["ready", "still uploading"])
        #expect(try await county.search(nil, as: county.screen) == ["ready"])
    }

    @Test("Filters and cursor pages walk the whole catalog exactly once")
    func pages() async throws {
        let county = try await CatalogFixture()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<25 {
            try await county.add(String(format: "lesson %02d", index), by: index % 2 == 0 ? county.teacher : county.otherTeacher,
                           lesson: index % 5 == 0 ? "去年的树" : nil, at: start.addingTimeInterval(Double(index)))
        }
        let store = RecordingStore(database: county.database)
        var query = RecordingQuery()
        query.limit = 10
        var seen: [String] = []
        var pages = 0
        repeat {
            let page = try await store.list(query, viewer: Viewer(county.teacher))
            seen += page.items.map(\.title)
            query.cursor = page.nextCursor
            pages += 1
        } while query.cursor != nil
        #expect(pages == 3)
        #expect(seen == (0..<25).reversed().map { String(format: "lesson %02d", $0) })

        #expect(try await county.search(nil, as: county.teacher) { $0.schoolId = county.teacher.schoolId; $0.limit = 100 }.count == 13)
        #expect(try await county.search(nil, as: county.teacher) { $0.volumeId = county.volumeId }.count == 5)
        #expect(try await county.search(nil, as: county.teacher) { $0.subject = "语文"; $0.grade = 3 }.count == 5)
        #expect(try await county.search(nil, as: county.teacher) { $0.subject = "数学" }.isEmpty)
        #expect(try await county.search(nil, as: county.teacher) { $0.sort = .title; $0.limit = 2 } == ["lesson 00", "lesson 01"])
        var bad = RecordingQuery()
        bad.cursor = "not-a-cursor"
        await #expect(throws: CatalogError.invalidCursor) { try await store.list(bad, viewer: Viewer(county.teacher)) }
    }

    @Test("Search with filters pages through every match once, in each order")
    func searchPages() async throws {
        let county = try await CatalogFixture()
        for index in 0..<30 {
            try await county.add(String(format: "秋天的雨 %02d", index), by: index % 3 == 0 ? county.otherTeacher : county.teacher,
                           lesson: index % 2 == 0 ? "秋天的雨" : nil)
        }
        try await county.add("去年的树", by: county.teacher, lesson: "去年的树")
        let store = RecordingStore(database: county.database)
        let expected = (0..<30).filter { $0 % 2 == 0 && $0 % 3 != 0 }.map { String(format: "秋天的雨 %02d", $0) }
        for sort in RecordingQuery.Sort.allCases {
            var query = RecordingQuery()
            query.text = "秋天"
            query.teacherId = county.teacher.id
            query.subject = "语文"
            query.limit = 3
            query.sort = sort
            var seen: [String] = []
            repeat {
                let page = try await store.list(query, viewer: Viewer(county.screen))
                seen += page.items.map(\.title)
                query.cursor = page.nextCursor
            } while query.cursor != nil
            #expect(seen == (sort == .newest ? expected.reversed() : expected), "\(sort)")
        }
    }

    @Test("A state change made anywhere is filterable at once")
    func stateFacet() async throws {
        let county = try await CatalogFixture()
        let id = try await county.add("秋天的雨", by: county.teacher, state: .queued)
        #expect(try await county.search("秋天", as: county.teacher) { $0.state = .queued } == ["秋天的雨"])
        // A plain SQL update, as a worker would make, keeps the index in step.
        try await county.database.write { db in
            try db.execute(sql: "UPDATE recording SET state = 'ready' WHERE id = ?", arguments: [id])
        }
        #expect(try await county.search("秋天", as: county.teacher) { $0.state = .queued }.isEmpty)
        #expect(try await county.search(nil, as: county.screen) { $0.state = .ready } == ["秋天的雨"])
        #expect(try await county.search(nil, as: county.screen) { $0.schoolId = county.teacher.schoolId } == ["秋天的雨"])
        #expect(try await county.search(nil, as: county.screen) { $0.districtId = county.coordinator.districtId } == ["秋天的雨"])
    }

    @Test("The search-facets migration indexes recordings made before it")
    func facetsMigration() async throws {
        let queue = try DatabaseQueue()
        try AppDatabase.migrator.migrate(queue, upTo: "v1 catalog, accounts, uploads")
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO district(id, name) VALUES (1, '城关学区');
                INSERT INTO school(id, districtId, name, kind) VALUES (1, 1, '城关小学', 'lead');
                INSERT INTO person(id, username, displayName, passwordHash, role, schoolId, districtId, createdAt)
                    VALUES (1, 'wang', '王丽', 'x', 'teacher', 1, 1, '2026-01-01');
                INSERT INTO recording(id, title, teacherId, schoolId, state, createdAt, updatedAt)
                    VALUES (1, '秋天的雨', 1, 1, 'ready', '2026-01-01', '2026-01-01');
                """)
        }
        let database = try AppDatabase(queue)
        let viewer = Viewer(personId: 1, role: .teacher, schoolId: 1)
        var query = RecordingQuery()
        query.text = "秋天"
        query.schoolId = 1
        #expect(try await RecordingStore(database: database).list(query, viewer: viewer).items.map(\.id) == [1])
    }

    @Test("A deleted recording leaves listings and search at once")
    func softDelete() async throws {
        let county = try await CatalogFixture()
        let id = try await county.add("秋天的雨", by: county.teacher)
        try await county.database.write { db in try RecordingStore.softDelete(id, db) }
        #expect(try await county.search("秋天", as: county.teacher).isEmpty)
        #expect(try await county.search(nil, as: county.teacher).isEmpty)
        #expect(try await RecordingStore(database: county.database).summary(id, viewer: Viewer(county.teacher)) == nil)
        // The row stays until the sweep removes its files.
        #expect(try await county.database.read { db in try Recording.fetchOne(db, key: id)?.deletedAt } != nil)
    }

    @Test("Migrations give foreign keys teeth")
    func foreignKeys() async throws {
        let database = try AppDatabase.inMemory()
        await #expect(throws: DatabaseError.self) {
            try await database.write { db in
                var recording = Recording(title: "orphan", teacherId: 999, schoolId: 999)
                try recording.insert(db)
            }
        }
    }
}

@Suite("Random tokens")
struct RandomTokenTests {
    @Test("32 random bytes as base64url, never beginning with '-' (a command line would take it for an option)")
    func tokens() {
        let tokens = (0..<3000).map { _ in Data.randomToken() }
        #expect(tokens.allSatisfy { !$0.hasPrefix("-") && $0.count == 43 && Data(base64URL: $0)?.count == 32 })
        #expect(Set(tokens).count == tokens.count)
        // The other 63 first characters all occur: only "-" is redrawn.
        #expect(Set(tokens.map { $0.first! }).count == 63)
    }
}
