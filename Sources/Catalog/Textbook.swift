import GRDB

/// 教材册: one volume of a textbook series, e.g. 人教版 语文 三年级 上册.
public struct TextbookVolume: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    /// 学科, e.g. 语文, 数学, 英语.
    public var subject: String
    /// 年级, 1–12.
    public var grade: Int
    /// 版本, e.g. 人教版.
    public var edition: String
    /// 册, e.g. 上册 or 下册.
    public var volume: String

    public init(id: Int64? = nil, subject: String, grade: Int, edition: String, volume: String) {
        self.id = id
        self.subject = subject
        self.grade = grade
        self.edition = edition
        self.volume = volume
    }

    /// The name teachers use: 人教版 语文 三年级 上册.
    public var title: String { "\(edition) \(subject) \(Self.gradeName(grade)) \(volume)" }

    public static func gradeName(_ grade: Int) -> String {
        let names = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]
        return (1...12).contains(grade) ? "\(names[grade - 1])年级" : "\(grade)年级"
    }

    public static let databaseTableName = "textbookVolume"
    public enum Columns {
        public static let subject = Column(CodingKeys.subject)
        public static let grade = Column(CodingKeys.grade)
    }
    public static let lessons = hasMany(TextbookLesson.self)
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One lesson (课) of a volume, in teaching order.
public struct TextbookLesson: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var volumeId: Int64
    /// Order within the volume, from 1.
    public var position: Int
    /// 单元, e.g. 第一单元.
    public var unit: String
    /// Lesson number as printed in the book (0: an unnumbered review or practice lesson).
    public var number: Int
    public var title: String
    /// New-course content (新授课) rather than review or practice.
    public var isNewCourse: Bool

    public init(
        id: Int64? = nil, volumeId: Int64, position: Int, unit: String, number: Int, title: String,
        isNewCourse: Bool = true
    ) {
        self.id = id
        self.volumeId = volumeId
        self.position = position
        self.unit = unit
        self.number = number
        self.title = title
        self.isNewCourse = isNewCourse
    }

    public static let databaseTableName = "textbookLesson"
    public enum Columns {
        public static let volumeId = Column(CodingKeys.volumeId)
        public static let position = Column(CodingKeys.position)
    }
    public static let volume = belongsTo(TextbookVolume.self)
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
