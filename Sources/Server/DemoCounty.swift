import Catalog
import Foundation
import GRDB
import Review
import Yams

/// `config/demo-county.yaml`: a county shaped like a real one, for trying LessonLink out and for
/// benchmarks. Loading it twice changes nothing.
public struct DemoCounty: Decodable, Sendable {
    struct LeadSchool: Decodable {
        var name: String
        var recordingClassrooms: Int
    }

    struct DistrictEntry: Decodable {
        var name: String
        var lead: LeadSchool
        var members: [String]
    }

    struct Unit: Decodable {
        var unit: String
        /// New-course lessons (新授课), numbered through the volume as the book prints them.
        var lessons: [String]
        /// Review and practice lessons (语文园地, 整理和复习), unnumbered; they do not count
        /// toward the 支教 credit.
        var practice: [String]?
    }

    struct Textbook: Decodable {
        var edition: String
        var subject: String
        var grade: Int
        var volume: String
        var units: [Unit]
    }

    struct Account: Decodable {
        var username: String
        var displayName: String
        var role: Person.Role
        var district: String?
        var school: String?
        var classroom: String?
    }

    struct Office: Decodable {
        var name: String
        var level: ReviewLevel
        var scope: String
        var reviewers: [String]
    }

    var county: String
    var districts: [DistrictEntry]
    var memberClassrooms: Int
    var textbooks: [Textbook]
    var accounts: [Account]
    var reviewOffices: [Office]?

    public static let password = "demo-password"

    public static func load(path: String) throws -> DemoCounty {
        try YAMLDecoder().decode(DemoCounty.self, from: String(contentsOfFile: path, encoding: .utf8))
    }

    public struct Counts: Sendable, Equatable {
        public var districts, schools, recordingClassrooms, volumes, lessons, accounts: Int
    }

    /// Inserts what is missing; returns what the database then holds.
    public func seed(into database: AppDatabase, passwordHash: String) async throws -> Counts {
        try await database.write { db in
            for entry in districts {
                var district = try District.filter(District.Columns.name == entry.name).fetchOne(db) ?? District(name: entry.name)
                if district.id == nil { try district.insert(db) }
                var lead = try school(entry.lead.name, kind: .lead, district: district.id!, db)
                for number in 1...max(1, entry.lead.recordingClassrooms) {
                    try classroom("录播教室\(number)", recording: true, school: lead.id!, db)
                }
                lead.uplinkMbps = 1000
                for name in entry.members {
                    let member = try school(name, kind: .member, district: district.id!, db)
                    for number in 1...max(1, memberClassrooms) {
                        try classroom("教室\(number)", recording: false, school: member.id!, db)
                    }
                }
            }
            for book in textbooks {
                var volume =
                    try TextbookVolume.filter(
                        Column("subject") == book.subject && Column("grade") == book.grade && Column("edition") == book.edition
                            && Column("volume") == book.volume
                    ).fetchOne(db)
                    ?? TextbookVolume(subject: book.subject, grade: book.grade, edition: book.edition, volume: book.volume)
                if volume.id == nil {
                    try volume.insert(db)
                    var position = 0
                    var number = 0
                    for unit in book.units {
                        for title in unit.lessons {
                            position += 1
                            number += 1
                            var lesson = TextbookLesson(
                                volumeId: volume.id!, position: position, unit: unit.unit, number: number, title: title)
                            try lesson.insert(db)
                        }
                        for title in unit.practice ?? [] {
                            position += 1
                            var lesson = TextbookLesson(
                                volumeId: volume.id!, position: position, unit: unit.unit, number: 0, title: title, isNewCourse: false)
                            try lesson.insert(db)
                        }
                    }
                }
            }
            for account in accounts where try Person.filter(Person.Columns.username == account.username).fetchCount(db) == 0 {
                let school = try account.school.flatMap { try School.filter(School.Columns.name == $0).fetchOne(db) }
                let district = try account.district.flatMap { try District.filter(District.Columns.name == $0).fetchOne(db) }
                let room = try account.classroom.flatMap { name in
                    try Classroom.filter(Column("schoolId") == school?.id && Column("name") == name).fetchOne(db)
                }
                var person = Person(
                    username: account.username, displayName: account.displayName, role: account.role,
                    districtId: district?.id ?? school?.districtId, schoolId: school?.id, classroomId: room?.id,
                    passwordHash: passwordHash)
                try person.insert(db)
            }
            for office in reviewOffices ?? [] {
                try ReviewStore.seedOffice(name: office.name, level: office.level, scope: office.scope, reviewers: office.reviewers, db)
            }
            return Counts(
                districts: try District.fetchCount(db), schools: try School.fetchCount(db),
                recordingClassrooms: try Classroom.filter(Column("isRecording") == true).fetchCount(db),
                volumes: try TextbookVolume.fetchCount(db), lessons: try TextbookLesson.fetchCount(db),
                accounts: try Person.fetchCount(db))
        }
    }

    /// Adds `count` synthetic recordings spread over the county's schools, teachers and lessons
    /// (four teachers per school are created for them), for catalog benchmarks.
    public func seedRecordings(_ count: Int, into database: AppDatabase, passwordHash: String) async throws -> Int {
        let (teachers, lessons) = try await database.write { db -> ([Person], [TextbookLesson]) in
            try Self.ensureTeachers(4, passwordHash: passwordHash, db)
            return (try Person.filter(Person.Columns.role == Person.Role.teacher.rawValue).fetchAll(db), try TextbookLesson.fetchAll(db))
        }
        guard !teachers.isEmpty, !lessons.isEmpty else { return 0 }
        let start = Date(timeIntervalSince1970: 1_788_000_000)
        var generator = SplitMix(seed: 2026)
        var made = 0
        while made < count {
            let batch = min(5000, count - made)
            // The generator's state goes into each batch's transaction and comes back out.
            generator = try await database.write { [made, generator] db in
                var generator = generator
                for index in made..<(made + batch) {
                    let teacher = teachers[Int(generator.next() % UInt64(teachers.count))]
                    let lesson = lessons[Int(generator.next() % UInt64(lessons.count))]
                    let roll = generator.next() % 100
                    var recording = Recording(
                        title: "\(lesson.title) 第\(index % 3 + 1)课时", description: "\(teacher.displayName)执教的\(lesson.unit)课例，第\(index)号。",
                        teacherId: teacher.id!, schoolId: teacher.schoolId!, lessonId: lesson.id,
                        recordedOn: nil, state: roll < 90 ? .ready : roll < 95 ? .failed : .queued,
                        createdAt: start.addingTimeInterval(Double(index) * 60))
                    try RecordingStore.insert(&recording, db)
                }
                return generator
            }
            made += batch
        }
        return made
    }

    /// Makes `count` synthetic teachers (`t<school>-<n>`) in every school that lacks them.
    static func ensureTeachers(_ count: Int, passwordHash: String, _ db: Database) throws {
        for school in try School.fetchAll(db) {
            for number in 1...count {
                let username = "t\(school.id!)-\(number)"
                guard try Person.filter(Person.Columns.username == username).fetchCount(db) == 0 else { continue }
                var person = Person(
                    username: username, displayName: "\(Self.surnames[(Int(school.id!) * 4 + number) % Self.surnames.count])老师",
                    role: .teacher, districtId: school.districtId, schoolId: school.id, passwordHash: passwordHash)
                try person.insert(db)
            }
        }
    }

    static let surnames = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"]

    @discardableResult
    private func school(_ name: String, kind: School.Kind, district: Int64, _ db: Database) throws -> School {
        if let found = try School.filter(School.Columns.name == name).fetchOne(db) { return found }
        var school = School(districtId: district, name: name, kind: kind)
        try school.insert(db)
        return school
    }

    private func classroom(_ name: String, recording: Bool, school: Int64, _ db: Database) throws {
        guard try Classroom.filter(Column("schoolId") == school && Column("name") == name).fetchCount(db) == 0 else { return }
        var room = Classroom(schoolId: school, name: name, isRecording: recording)
        try room.insert(db)
    }
}

/// A small deterministic generator, so every benchmark run seeds the same catalog.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
