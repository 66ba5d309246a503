import Catalog
import Foundation

/// After a session: every target classroom, present or absent, with what its players reported.
/// The host, the district's coordinator and county admins read it as JSON or CSV; so does
/// `lessonlink sessions attendance`.
public struct AttendanceReport: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var classroomId: Int64
        public var classroom: String
        public var schoolId: Int64
        public var school: String
        public var present: Bool
        public var joinedAt: Date?
        public var leftAt: Date?
        public var minutesWatched: Double
        public var stallCount: Int
        public var stallSeconds: Double
        public var tierSeconds: [String: Double]
        public var lastOffset: Double?
    }

    public var sessionId: Int64
    public var title: String
    public var startsAt: Date
    public var classrooms: [Entry]
    public var present: Int
    public var absent: Int

    public init(session: SyncSession, rows: [AttendanceRow]) {
        sessionId = session.id ?? 0
        title = session.title
        startsAt = session.startsAt
        classrooms = rows.map { row in
            let attended = row.attendance
            return Entry(
                classroomId: row.classroomId, classroom: row.classroom, schoolId: row.schoolId, school: row.school,
                present: attended != nil, joinedAt: attended?.joinedAt, leftAt: attended?.leftAt,
                minutesWatched: ((attended?.watchedSeconds ?? 0) / 6).rounded() / 10, stallCount: attended?.stallCount ?? 0,
                stallSeconds: attended?.stallSeconds ?? 0, tierSeconds: attended?.tierSeconds ?? [:], lastOffset: attended?.lastOffset)
        }
        present = classrooms.filter(\.present).count
        absent = classrooms.count - present
    }

    /// UTF-8 with a byte-order mark, CRLF lines (RFC 4180), so spreadsheet programs read the
    /// Chinese names as they are.
    public var csv: String {
        let time = ISO8601DateFormatter()
        let header = ["学校", "教室", "出勤", "加入时间", "离开时间", "观看分钟", "卡顿次数", "卡顿秒数", "各清晰度秒数"]
        let rows: [[String]] = classrooms.map { entry in
            let tiers: String = entry.tierSeconds.sorted { $0.key < $1.key }.map { "\($0.key)=\(Int($0.value.rounded()))" }.joined(separator: " ")
            let joined: String = entry.joinedAt.map(time.string) ?? ""
            let left: String = entry.leftAt.map(time.string) ?? ""
            return [
                entry.school, entry.classroom, entry.present ? "出席" : "缺席", joined, left, String(entry.minutesWatched), String(entry.stallCount),
                String(format: "%.1f", entry.stallSeconds), tiers,
            ]
        }
        return CSV.document([header] + rows)
    }
}
