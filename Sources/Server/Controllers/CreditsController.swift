import Catalog
import Credentials
import Foundation
import HTTPTypes
import Hummingbird
import Review
import WebServing

/// Coverage of textbook volumes, 支教 credits and their certificates. Signed-in routes live under
/// `/api/v1`; what a verifier needs is public: `POST /api/v1/credentials/verify`, the revocation
/// list (`/credentials/status/revocation`), the county's keys (`/credentials/keys`), the
/// verification page (`/verify/{uuid}`) and the printable certificate (`/certificates/{uuid}`).
struct CreditsController {
    let credits: CreditStore
    let database: AppDatabase

    /// The largest credential text the verifier reads: a certificate is a few kilobytes.
    static let maxCredentialSize = 1 << 20

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("credits", use: list)
        routes.get("credits/:id", use: get)
        routes.get("credits/:id/credential", use: credential)
        routes.post("credits/:id/revoke", use: revoke)
        routes.get("coverage", use: coverage)
        routes.get("coverage/matrix", use: matrix)
        routes.post("credentials/verify", use: verify)
        routes.get("notifications", use: notifications)
        routes.post("notifications/:id/read", use: markRead)
        return routes
    }

    var publicEndpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("credentials/status/revocation", use: statusList)
        routes.get("credentials/keys", use: keys)
        routes.get("verify", use: { _, _ in Self.verifyPage(nil) })
        routes.get("verify/:uuid", use: verifyPage)
        routes.get("certificates/:uuid", use: certificate)
        return routes
    }

    struct Items<Item: Encodable & Sendable>: ResponseEncodable {
        var items: [Item]
    }

    struct RevokeRequest: Decodable {
        var reason: String
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Items<CreditStore.CreditView> {
        let person = try context.requirePerson()
        let teacher = try QueryValue.id(request.uri.queryParameters["teacher"], "teacher")
        return Items(items: try await refusals { try await credits.credits(teacherId: teacher, for: person) })
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> CreditStore.CreditView {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "credit")
        return try await refusals { try await credits.credit(id, for: person).0 }
    }

    /// The signed credential, exactly as issued: the file a teacher hands to a promotion committee.
    @Sendable func credential(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "credit")
        let (view, text) = try await refusals { try await credits.credit(id, for: person) }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/vc",
                .contentDisposition: #"attachment; filename="zhijiao-\#(CreditIssuer.uuid(of: view.credentialId)).json""#,
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> CreditStore.CreditView {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "credit")
        let body = try await request.decodeJSON(as: RevokeRequest.self, context: context)
        guard body.reason.unicodeScalars.count <= 2000 else { throw APIError.badRequest("reason is limited to 2000 characters") }
        return try await refusals { try await credits.revoke(id, reason: body.reason, by: person) }
    }

    @Sendable func coverage(_ request: Request, context: AppRequestContext) async throws -> Items<CreditStore.Coverage> {
        let person = try context.requirePerson()
        let teacher = try QueryValue.id(request.uri.queryParameters["teacher"], "teacher")
        let volume = try QueryValue.id(request.uri.queryParameters["volume"], "volume")
        return Items(items: try await refusals { try await credits.coverage(teacherId: teacher, volumeId: volume, for: person) })
    }

    @Sendable func matrix(_ request: Request, context: AppRequestContext) async throws -> CreditStore.Matrix {
        let person = try context.requirePerson()
        let district = try QueryValue.id(request.uri.queryParameters["district"], "district")
        return try await refusals { try await credits.matrix(districtId: district, for: person) }
    }

    struct Verification: ResponseEncodable {
        var verdict: CredentialCheck.Verdict
        var message: String
        var credentialId: String?
        var key: String?
        /// What the certificate says, for the verdicts where that is worth reading.
        var holder: String?
        var achievement: String?
        var description: String?
        var issuer: String?
        var validFrom: String?
    }

    /// Anyone may verify: no sign-in. The body is the credential, as JSON.
    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Verification {
        let data: Data
        do {
            data = Data(buffer: try await request.body.collect(upTo: Self.maxCredentialSize))
        } catch {
            throw APIError(
                .contentTooLarge, "too_large", "a credential is a few kilobytes; this body is over \(Self.maxCredentialSize >> 20) MB")
        }
        guard let document = try? JSONValue.parse(data), case .object = document else {
            throw APIError.badRequest("send the credential as the request body: a JSON object, as it was issued", code: "invalid_body")
        }
        if let problem = Self.shapeProblem(document) { throw APIError.badRequest(problem, code: "invalid_body") }
        return Self.verification(try await credits.verify(data), data)
    }

    /// What the API document requires of a credential before it is worth verifying: a `type`
    /// list and a Data Integrity proof with its four members (nil: the shape is right).
    static func shapeProblem(_ document: JSONValue) -> String? {
        guard case .array(let types) = document["type"] ?? .null, !types.isEmpty, types.allSatisfy({ $0.stringValue != nil }) else {
            return "type: a credential lists its types (e.g. [\"VerifiableCredential\", \"OpenBadgeCredential\"])"
        }
        guard let proof = document["proof"], case .object = proof else { return "proof: the credential carries no proof, so nothing says who issued it" }
        for member in ["type", "cryptosuite", "verificationMethod", "proofValue"] where proof[member]?.stringValue == nil {
            return "proof.\(member): a Data Integrity proof names it (a string)"
        }
        return nil
    }

    static func verification(_ check: CredentialCheck, _ data: Data) -> Verification {
        var result = Verification(verdict: check.verdict, message: check.message, credentialId: check.id, key: check.key)
        if check.verdict == .valid || check.verdict == .revoked, let document = try? JSONValue.parse(data) {
            result.holder = document["credentialSubject"]?["identifier"].flatMap {
                if case .array(let items) = $0 { return items.first?["identityHash"]?.stringValue }
                return nil
            }
            result.achievement = document["credentialSubject"]?["achievement"]?["name"]?.stringValue
            result.description = document["description"]?.stringValue
            result.issuer = document["issuer"]?["name"]?.stringValue
            result.validFrom = document["validFrom"]?.stringValue
        }
        return result
    }

    @Sendable func notifications(_ request: Request, context: AppRequestContext) async throws -> Items<Notice> {
        let person = try context.requirePerson()
        return Items(items: try await database.read { db in try Notices.list(for: person, db) })
    }

    @Sendable func markRead(_ request: Request, context: AppRequestContext) async throws -> Response {
        let person = try context.requirePerson()
        let id = try context.rowId(of: "notification")
        guard try await database.write({ db in try Notices.markRead(id, by: person, at: Date(), db) }) else {
            throw APIError.notFound("notification")
        }
        return Response(status: .noContent)
    }

    // MARK: - Public

    @Sendable func statusList(_ request: Request, context: AppRequestContext) async throws -> Response {
        let list = try await credits.statusList()
        return Response(
            status: .ok, headers: [.contentType: "application/vc", .cacheControl: "max-age=60"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JCS.canonical(list))))
    }

    @Sendable func keys(_ request: Request, context: AppRequestContext) async throws -> Response {
        struct Published: Encodable {
            var issuer: String
            var keys: [IssuerKeys.Key]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(Published(issuer: credits.issuer.name, keys: try credits.issuer.keys().publicKeys.keys))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    @Sendable func verifyPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let uuid = try context.parameters.require("uuid")
        guard uuid.count <= 64, let (view, text) = try await credits.credit(uuid: uuid) else {
            return Self.verifyPage(nil, missing: true)
        }
        let check = try await credits.verify(Data(text.utf8))
        return Self.verifyPage((view, check, Self.lessons(in: text)))
    }

    /// The public verification page: the stored certificate's verdict (when the address names
    /// one), and a form to check any certificate file or pasted text.
    static func verifyPage(_ found: (CreditStore.CreditView, CredentialCheck, [String])?, missing: Bool = false) -> Response {
        var body = #"<section class="panel"><h1>支教经历证书验证</h1>"#
        if let (view, check, lessons) = found {
            body += """
                <p class="verdict \(check.verdict.rawValue)" id="verdict">\(html(check.message))</p>
                <dl class="facts">
                <dt>持有人</dt><dd id="holder">\(html(view.teacher.name))</dd>
                <dt>学校</dt><dd>\(html(view.school.name))</dd>
                <dt>认定</dt><dd>\(html(CreditIssuer.achievementName))</dd>
                <dt>教材</dt><dd>\(html(view.volume.name))（\(view.lessons) 节新授课）</dd>
                <dt>签发日期</dt><dd>\(html(IssuerKeys.timestamp(view.issuedAt).prefix(10).description))</dd>
                <dt>证书编号</dt><dd><code>\(html(view.credentialId))</code></dd>
                </dl>
                <details><summary>课例（县、市两级审核）</summary><ol>\(lessons.map { "<li>\(html($0))</li>" }.joined())</ol></details>
                """
        } else if missing {
            body += #"<p class="verdict unknown" id="verdict">本系统没有这张证书的记录。请上传证书文件核对其签名。</p>"#
        }
        body += """
            </section>
            <form class="panel" id="verify-form">
              <h2>核对证书文件</h2>
              <p class="muted">上传或粘贴证书（JSON），核对签名、签发机构与撤销状态。</p>
              <label for="credential-file">证书文件</label><input type="file" id="credential-file" accept=".json,application/json,application/vc">
              <label for="credential-text">或粘贴内容</label><textarea id="credential-text" rows="6"></textarea>
              <p><button type="submit">验证</button></p>
              <p id="verify-result" class="verdict" hidden></p>
            </form>
            """
        return WebPage.response(
            title: "证书验证 · LessonLink", name: "verify", header: #"<header><strong>LessonLink</strong> 证书验证</header>"#, body: body,
            scripts: ["/assets/app.js", "/assets/review.js"], status: missing ? .notFound : .ok)
    }

    /// The printable certificate: A4, Chinese, the bureau's name, and a QR code to its public
    /// verification page.
    @Sendable func certificate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let uuid = try context.parameters.require("uuid")
        guard uuid.count <= 64, let (view, text) = try await credits.credit(uuid: uuid) else { return Self.verifyPage(nil, missing: true) }
        let url = credits.issuer.verificationURL(view.credentialId)
        let lessons = Self.lessons(in: text)
        let body = """
            <article class="certificate\(view.revokedAt == nil ? "" : " revoked")" id="certificate">
              <p class="issuer">\(html(credits.issuer.name))</p>
              <h1>支教经历证明</h1>
              <p class="statement">兹证明 <strong id="holder">\(html(view.teacher.name))</strong>（\(html(view.school.name))）录制《\(html(view.volume.name))》全部 \(view.lessons) 节新授课，经县级教研室和市级教研部门两级审核通过，认定为<strong>\(html(CreditIssuer.achievementName))</strong>。</p>
              <ol class="lessons">\(lessons.map { "<li>\(html($0))</li>" }.joined())</ol>
              \(view.revokedAt == nil ? "" : #"<p class="verdict revoked">此证书已撤销：\#(html(view.revokeReason ?? ""))</p>"#)
              <footer>
                <div>\(QRCode.svg(url) ?? "")<p class="url">\(html(url))</p></div>
                <div class="seal"><p>\(html(credits.issuer.name))</p><p>\(html(IssuerKeys.timestamp(view.issuedAt).prefix(10).description))</p>
                <p class="muted">证书编号 \(html(view.credentialId))</p><p class="muted">电子签名：eddsa-jcs-2022</p></div>
              </footer>
            </article>
            <p class="no-print"><a href="/verify/\(html(uuid))">在线验证</a> · 打印本页（A4）即得纸质证书</p>
            """
        return WebPage.response(
            title: "支教经历证明 · \(html(view.teacher.name))", name: "certificate", header: "", body: body, scripts: [])
    }

    /// The evidence lines of a stored credential: lesson, and who approved it when.
    static func lessons(in text: String) -> [String] {
        guard let document = try? JSONValue.parse(Data(text.utf8)), case .array(let evidence) = document["evidence"] ?? .null else { return [] }
        return evidence.compactMap { item in
            guard let name = item["name"]?.stringValue else { return nil }
            return name + (item["narrative"]?.stringValue.map { "（\($0)）" } ?? "")
        }
    }
}

extension CreditStore.CreditView: ResponseEncodable {}
extension CreditStore.Matrix: ResponseEncodable {}
