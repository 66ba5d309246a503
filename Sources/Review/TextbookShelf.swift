import Catalog
import Foundation
import GRDB

/// Finding lessons by the book: edition → volume → unit → lesson, each lesson with its published
/// recordings and their review state, each volume with how many of its new-course lessons have an
/// approved recording. Coverage and credit count over this same tree.
public struct TextbookShelf: Sendable {
    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    public struct Edition: Codable, Sendable, Equatable {
        public struct Volume: Codable, Sendable, Equatable {
            public var id: Int64
            public var title: String
            public var subject: String
            public var grade: Int
            public var volume: String
            public var lessons: Int
            /// New-course lessons (review and practice lessons do not count).
            public var newCourseLessons: Int
            /// New-course lessons with at least one approved recording (by anyone).
            public var approvedLessons: Int
            public var recordings: Int
        }
        public var edition: String
        public var volumes: [Volume]
    }

    /// Every edition with its volumes, by subject and grade.
    public func editions() async throws -> [Edition] {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT v.*, COUNT(l.id) AS lessons, SUM(l.isNewCourse) AS newCourse,
                        SUM(l.isNewCourse AND EXISTS (
                            SELECT 1 FROM reviewSubmission s JOIN recording r ON r.id = s.recordingId
                            WHERE r.lessonId = l.id AND s.state = 'approved' AND r.deletedAt IS NULL)) AS approved,
                        (SELECT COUNT(*) FROM recording r JOIN textbookLesson x ON x.id = r.lessonId
                         WHERE x.volumeId = v.id AND r.state = 'ready' AND r.deletedAt IS NULL) AS recordings
                    FROM textbookVolume v LEFT JOIN textbookLesson l ON l.volumeId = v.id
                    GROUP BY v.id ORDER BY v.edition, v.subject, v.grade, v.volume
                    """)
            var editions: [Edition] = []
            for row in rows {
                let volume = try TextbookVolume(row: row)
                if editions.last?.edition != volume.edition { editions.append(Edition(edition: volume.edition, volumes: [])) }
                editions[editions.count - 1].volumes.append(
                    .init(
                        id: volume.id!, title: volume.title, subject: volume.subject, grade: volume.grade, volume: volume.volume,
                        lessons: row["lessons"], newCourseLessons: row["newCourse"] ?? 0, approvedLessons: row["approved"] ?? 0,
                        recordings: row["recordings"]))
            }
            return editions
        }
    }

    public struct VolumeTree: Codable, Sendable, Equatable {
        public struct Unit: Codable, Sendable, Equatable {
            public var unit: String
            public var lessons: [Lesson]
        }
        public struct Lesson: Codable, Sendable, Equatable {
            public var id: Int64
            public var number: Int
            public var title: String
            public var newCourse: Bool
            public var recordings: [Recording]
        }
        public struct Recording: Codable, Sendable, Equatable {
            public var id: Int64
            public var title: String
            public var teacher: CreditStore.Ref
            public var school: CreditStore.Ref
            public var duration: Double?
            public var mediaVersion: String?
            /// A signed poster link; the server sets it.
            public var posterUrl: String?
            /// The review state (`approved`, `inReview`, …), nil when never submitted.
            public var review: String?
            public var reviewLevel: ReviewLevel?
        }
        public var id: Int64
        public var title: String
        public var subject: String
        public var grade: Int
        public var edition: String
        public var volume: String
        public var newCourseLessons: Int
        public var approvedLessons: Int
        public var units: [Unit]
    }

    /// One volume's units and lessons with their published recordings, approved ones first.
    public func volume(_ id: Int64) async throws -> VolumeTree {
        try await database.read { db in
            guard let volume = try TextbookVolume.fetchOne(db, key: id) else { throw ReviewError.notFound("textbook volume") }
            let lessons = try TextbookLesson.filter(TextbookLesson.Columns.volumeId == id).order(TextbookLesson.Columns.position).fetchAll(db)
            let recordings = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.title, r.lessonId, r.mediaVersion, r.mediaInfo, r.teacherId, p.displayName, r.schoolId, s.name AS school,
                        sub.state AS review, sub.level AS reviewLevel
                    FROM recording r JOIN textbookLesson l ON l.id = r.lessonId JOIN person p ON p.id = r.teacherId
                    JOIN school s ON s.id = r.schoolId LEFT JOIN reviewSubmission sub ON sub.recordingId = r.id
                    WHERE l.volumeId = ? AND r.state = 'ready' AND r.deletedAt IS NULL
                    ORDER BY (sub.state = 'approved') DESC, r.createdAt DESC
                    """, arguments: [id])
            var byLesson: [Int64: [VolumeTree.Recording]] = [:]
            for row in recordings {
                let info = (row["mediaInfo"] as String?).flatMap { try? JSONDecoder().decode(SourceMedia.self, from: Data($0.utf8)) }
                byLesson[row["lessonId"], default: []].append(
                    .init(
                        id: row["id"], title: row["title"], teacher: .init(id: row["teacherId"], name: row["displayName"]),
                        school: .init(id: row["schoolId"], name: row["school"]), duration: info?.duration, mediaVersion: row["mediaVersion"],
                        posterUrl: nil, review: row["review"], reviewLevel: (row["reviewLevel"] as String?).flatMap(ReviewLevel.init(rawValue:))))
            }
            var units: [VolumeTree.Unit] = []
            for lesson in lessons {
                if units.last?.unit != lesson.unit { units.append(.init(unit: lesson.unit, lessons: [])) }
                units[units.count - 1].lessons.append(
                    .init(id: lesson.id!, number: lesson.number, title: lesson.title, newCourse: lesson.isNewCourse, recordings: byLesson[lesson.id!] ?? []))
            }
            let all = units.flatMap(\.lessons).filter(\.newCourse)
            return VolumeTree(
                id: id, title: volume.title, subject: volume.subject, grade: volume.grade, edition: volume.edition, volume: volume.volume,
                newCourseLessons: all.count, approvedLessons: all.filter { $0.recordings.contains { $0.review == "approved" } }.count, units: units)
        }
    }
}
