import GRDB

/// 学区: a lead school and its member schools.
public struct District: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var name: String

    public init(id: Int64? = nil, name: String) {
        self.id = id
        self.name = name
    }

    public static let databaseTableName = "district"
    public enum Columns {
        public static let name = Column(CodingKeys.name)
    }
    public static let schools = hasMany(School.self)
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A school: the district's lead school (with recording classrooms) or a member school.
public struct School: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public enum Kind: String, Codable, Sendable, DatabaseValueConvertible {
        case lead, member
    }

    public var id: Int64?
    public var districtId: Int64
    public var name: String
    public var kind: Kind
    /// The school's link to the county network, in Mb/s.
    public var uplinkMbps: Int

    public init(id: Int64? = nil, districtId: Int64, name: String, kind: Kind, uplinkMbps: Int = 1000) {
        self.id = id
        self.districtId = districtId
        self.name = name
        self.kind = kind
        self.uplinkMbps = uplinkMbps
    }

    public static let databaseTableName = "school"
    public enum Columns {
        public static let districtId = Column(CodingKeys.districtId)
        public static let name = Column(CodingKeys.name)
        public static let kind = Column(CodingKeys.kind)
    }
    public static let district = belongsTo(District.self)
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A classroom; recording classrooms (录播教室) are where lessons are captured.
public struct Classroom: Codable, Sendable, Equatable, Identifiable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var schoolId: Int64
    public var name: String
    public var isRecording: Bool
    /// The classroom's link, in Mb/s.
    public var linkMbps: Int

    public init(id: Int64? = nil, schoolId: Int64, name: String, isRecording: Bool = false, linkMbps: Int = 100) {
        self.id = id
        self.schoolId = schoolId
        self.name = name
        self.isRecording = isRecording
        self.linkMbps = linkMbps
    }

    public static let databaseTableName = "classroom"
    public enum Columns {
        public static let schoolId = Column(CodingKeys.schoolId)
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
