/// Who is asking, for the queries that depend on it. Built by the server from the signed-in person.
public struct Viewer: Sendable, Equatable {
    public var personId: Int64
    public var role: Person.Role
    public var districtId: Int64?
    public var schoolId: Int64?

    public init(personId: Int64, role: Person.Role, districtId: Int64? = nil, schoolId: Int64? = nil) {
        self.personId = personId
        self.role = role
        self.districtId = districtId
        self.schoolId = schoolId
    }

    public init(_ person: Person) {
        self.init(personId: person.id ?? -1, role: person.role, districtId: person.districtId, schoolId: person.schoolId)
    }

    /// SQL (over `recording r` joined with `school s`) for the recordings this viewer may see:
    /// everyone sees published lessons — sharing them is the point — and work in progress is seen
    /// by its teacher, the district's coordinator and county admins.
    var visibility: (sql: String, arguments: [Int64]) {
        switch role {
        case .admin: ("1", [])
        case .coordinator: ("(r.state = 'ready' OR s.districtId = ?)", [districtId ?? -1])
        case .teacher: ("(r.state = 'ready' OR r.teacherId = ?)", [personId])
        case .classroom, .reviewer: ("r.state = 'ready'", [])
        }
    }

    /// Whether this viewer may change or delete a recording (visibility is checked first).
    public func mayEdit(teacherId: Int64, districtId recordingDistrict: Int64) -> Bool {
        switch role {
        case .admin: true
        case .coordinator: districtId == recordingDistrict
        case .teacher: personId == teacherId
        case .classroom, .reviewer: false
        }
    }
}
