import Credentials
import Foundation

/// Writes and signs the 支教 certificate: an Open Badges 3.0 `OpenBadgeCredential` (a W3C
/// Verifiable Credential 2.0) secured with an `eddsa-jcs-2022` Data Integrity proof. The issuer
/// is the county education bureau, named as configured and identified by the `did:key` of the key
/// that signs, so any verifier can check a certificate with nothing but the certificate.
public struct CreditIssuer: Sendable {
    /// The bureau's name on certificates and verdicts (青山县教育局).
    public var name: String
    /// An identifier of the bureau's own (e.g. its 统一社会信用代码), listed on the issuer profile.
    public var identifier: String?
    /// Where the server is reached from outside: status lists and the verification page live there.
    public var publicURL: String
    /// The key file (`storage/secrets/credential-keys.json`); read at each signing, so a rotated
    /// key signs from the next certificate on.
    public var keyFile: String

    public init(name: String, identifier: String?, publicURL: String, keyFile: String) {
        self.name = name
        self.identifier = identifier
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.keyFile = keyFile
    }

    public static let achievementName = "一学期支教经历（录播课程资源建设）"

    public var statusListURL: String { publicURL + "/credentials/status/revocation" }
    public func verificationURL(_ credentialId: String) -> String { publicURL + "/verify/" + Self.uuid(of: credentialId) }

    /// `urn:uuid:X` → `X`.
    public static func uuid(of credentialId: String) -> String {
        credentialId.hasPrefix("urn:uuid:") ? String(credentialId.dropFirst(9)) : credentialId
    }

    public func keys() throws -> IssuerKeys { try IssuerKeys.loadOrCreate(path: keyFile) }

    /// What the certificate states.
    public struct Grant: Sendable {
        public struct Lesson: Sendable {
            public var recordingId: Int64
            public var title: String
            public var countyReviewer: String
            public var countyApprovedAt: Date
            public var cityReviewer: String
            public var cityApprovedAt: Date
        }
        public var credentialId: String
        public var statusIndex: Int
        public var teacherName: String
        public var schoolName: String
        public var volumeTitle: String
        public var subject: String
        public var lessons: [Lesson]
        public var firstSubmittedAt: Date
        public var issuedAt: Date
    }

    /// The signed credential.
    public func credential(_ grant: Grant) throws -> JSONValue {
        let key = try keys().signingKey(from: keyFile)
        let did = DIDKey(key.publicKey).did
        let day = { (date: Date) in String(IssuerKeys.timestamp(date).prefix(10)) }
        var issuer: [(String, JSONValue)] = [("id", .string(did)), ("type", .array([.string("Profile")])), ("name", .string(name))]
        if let identifier, !identifier.isEmpty {
            issuer.append(
                ("otherIdentifier",
                 .array([.object([("type", .string("IdentifierEntry")), ("identifier", .string(identifier)), ("identifierType", .string("identifier"))])])))
        }
        let evidence: [JSONValue] = grant.lessons.map { lesson in
            .object([
                ("id", .string("\(publicURL)/recordings/\(lesson.recordingId)")),
                ("type", .array([.string("Evidence")])),
                ("name", .string(lesson.title)),
                ("narrative", .string(
                    "县级教研审核：\(lesson.countyReviewer)，\(day(lesson.countyApprovedAt))；市级教研审核：\(lesson.cityReviewer)，\(day(lesson.cityApprovedAt))")),
                ("genre", .string("录播课")),
            ])
        }
        let description = "\(grant.teacherName)（\(grant.schoolName)）录制《\(grant.volumeTitle)》全部 \(grant.lessons.count) 节新授课，均通过县、市两级教研部门审核，认定为一学期支教经历。"
        let document: JSONValue = .object([
            ("@context", .array([.string("https://www.w3.org/ns/credentials/v2"), .string("https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json")])),
            ("id", .string(grant.credentialId)),
            ("type", .array([.string("VerifiableCredential"), .string("OpenBadgeCredential")])),
            ("name", .string(Self.achievementName)),
            ("description", .string(description)),
            ("issuer", .object(issuer)),
            ("validFrom", .string(IssuerKeys.timestamp(grant.issuedAt))),
            ("credentialSubject", .object([
                ("type", .array([.string("AchievementSubject")])),
                ("identifier", .array([.object([
                    ("type", .string("IdentityObject")), ("identityHash", .string(grant.teacherName)),
                    ("identityType", .string("name")), ("hashed", .bool(false)),
                ])])),
                ("activityStartDate", .string(IssuerKeys.timestamp(grant.firstSubmittedAt))),
                ("activityEndDate", .string(IssuerKeys.timestamp(grant.issuedAt))),
                ("achievement", .object([
                    ("id", .string("\(publicURL)/achievements/rural-teaching-semester")),
                    ("type", .array([.string("Achievement")])),
                    ("name", .string(Self.achievementName)),
                    ("description", .string("录制一册教材的全部新授课，并通过县、市两级教研部门审核。")),
                    ("criteria", .object([("narrative", .string("《\(grant.volumeTitle)》的每一节新授课都有本人录制、经县级教研室和市级教研部门审核通过的课例。"))])),
                    ("fieldOfStudy", .string(grant.subject)),
                    ("tag", .array([.string(grant.volumeTitle), .string("支教经历")])),
                ])),
            ])),
            ("evidence", .array(evidence)),
            ("credentialStatus", .object([
                ("id", .string("\(statusListURL)#\(grant.statusIndex)")),
                ("type", .string("BitstringStatusListEntry")),
                ("statusPurpose", .string("revocation")),
                ("statusListIndex", .string(String(grant.statusIndex))),
                ("statusListCredential", .string(statusListURL)),
            ])),
        ])
        return try EddsaJCS2022.sign(document, key: key, created: IssuerKeys.timestamp(grant.issuedAt))
    }

    /// The county's revocation list as a signed `BitstringStatusListCredential`.
    public func statusListCredential(revoked: [Int], at now: Date) throws -> JSONValue {
        let key = try keys().signingKey(from: keyFile)
        var list = StatusList()
        for index in revoked where index < list.count { list[index] = true }
        let document: JSONValue = .object([
            ("@context", .array([.string("https://www.w3.org/ns/credentials/v2")])),
            ("id", .string(statusListURL)),
            ("type", .array([.string("VerifiableCredential"), .string("BitstringStatusListCredential")])),
            ("issuer", .string(DIDKey(key.publicKey).did)),
            ("validFrom", .string(IssuerKeys.timestamp(now))),
            ("credentialSubject", .object([
                ("id", .string(statusListURL + "#list")),
                ("type", .string("BitstringStatusList")),
                ("statusPurpose", .string("revocation")),
                ("encodedList", .string(list.encoded)),
            ])),
        ])
        return try EddsaJCS2022.sign(document, key: key, created: IssuerKeys.timestamp(now))
    }
}
