import Foundation
import HLS
import Hummingbird
import Logging
import PackSync
import WebServing

/// `lessonlink-mirror serve --dir PATH` (or `lessonlink serve --mirror PATH`): a school's mirror served read-only on its LAN, so classrooms
/// play packs locally — with the same player — when the county link is down. No accounts: the
/// mirror holds only what was addressed to this school, and nothing can be changed through it.
public func buildMirrorApplication(root: String, host: String, port: Int, logger: Logger? = nil) -> some ApplicationProtocol {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    let site = MirrorSite(folder: MirrorFolder(root: root))
    router.get("healthz") { _, _ in Health(status: "ok") }
    router.get("", use: site.index)
    router.get("packs/:id", use: site.pack)
    router.get("api/v1/packs", use: site.list)
    router.get("files/:id/:version/**", use: site.file)
    router.head("files/:id/:version/**", use: site.file)
    router.get("assets/player.js") { _, _ in WebAssets.playerJS }
    router.get("assets/mirror.js") { _, _ in WebAssets.mirrorJS }
    router.get("assets/style.css") { _, _ in WebAssets.styleCSS }
    return Application(
        router: router, configuration: .init(address: .hostname(host, port: port), serverName: "LessonLink mirror"),
        logger: logger ?? Logger(label: "lessonlink-mirror"))
}

struct Health: ResponseEncodable {
    var status: String
}

struct MirrorSite: Sendable {
    let folder: MirrorFolder

    struct Listing: ResponseEncodable {
        var items: [PackManifest]
    }

    @Sendable func list(_ request: Request, context: BasicRequestContext) async throws -> Listing {
        Listing(items: folder.versions().map(\.manifest))
    }

    @Sendable func index(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let versions = folder.versions()
        let rows = versions.map { version in
            let manifest = version.manifest
            return """
                <li><a href="/packs/\(version.pack)">\(html(manifest.title))</a>
                <span class="muted">\(html(manifest.leadSchool)) · 第\(manifest.version)版 · \(manifest.items.count) 项</span></li>
                """
        }
        let body = versions.isEmpty
            ? #"<p class="muted">这个镜像里还没有资源包。运行 lessonlink mirror 同步。</p>"#
            : #"<ul class="results" id="packs">\#(rows.joined())</ul>"#
        return page("资源包", "<section class=\"panel\"><h1>本校资源包</h1>\(body)</section>")
    }

    @Sendable func pack(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(Int64.init), let version = folder.latest(pack: id) else {
            throw APIError.notFound("pack")
        }
        let manifest = version.manifest
        let base = "/files/\(id)/v\(version.number)/"
        let items = manifest.items.map { item -> String in
            let note = item.note.isEmpty ? "" : "<p class=\"note\">\(html(item.note))</p>"
            if item.kind == "recording" {
                let source = item.provenance.map { "来源：\(html($0.school)) \(html($0.teacher))《\(html($0.title))》" } ?? ""
                let clip = item.clip.map { " · 片段 \(Int($0.start)) – \(Int($0.end)) 秒" } ?? ""
                return """
                    <li class="item"><h2>\(item.position). \(html(item.title))</h2><p class="muted">\(source)\(clip)</p>\(note)
                    <video controls playsinline preload="metadata" data-master="\(base)\(pathURL(item.path))"></video></li>
                    """
            }
            return """
                <li class="item"><h2>\(item.position). \(html(item.title))</h2>\(note)
                <p><a download href="\(base)\(pathURL(item.path))">\(html(item.fileName ?? item.path))</a>
                <span class="muted">\(item.size.map { ByteCountFormatter.string(fromByteCount: $0, countStyle: .file) } ?? "")</span></p></li>
                """
        }
        let body = """
            <section class="panel" id="pack"><h1>\(html(manifest.title))</h1>
            <p class="muted">\(html(manifest.leadSchool)) · 第\(manifest.version)版 · 发布于 \(ISO8601DateFormatter().string(from: manifest.publishedAt).prefix(10))</p>
            <p>\(html(manifest.description))</p>
            \(manifest.notes.isEmpty ? "" : "<h2>教学建议</h2><p class=\"notes\">\(html(manifest.notes))</p>")
            <ol class="items">\(items.joined())</ol></section>
            """
        return page(manifest.title, body, scripts: ["/assets/player.js", "/assets/mirror.js"])
    }

    /// A file of a complete version; a one-tier master is derived for players choosing a tier.
    @Sendable func file(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(Int64.init), let version = context.parameters.get("version"),
            MediaFiles.isVersion(version)
        else { throw APIError.notFound("file") }
        let path = context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }.joined(separator: "/")
        guard PackManifest.isSafePath(path) else { throw APIError.notFound("file") }
        let directory = "\(folder.packDirectory(id))/\(version)"
        let full = "\(directory)/\(path)"
        if !FileManager.default.fileExists(atPath: full),
            let derived = FileResponder.singleTierMaster(
                named: (path as NSString).lastPathComponent,
                from: "\(directory)/\((path as NSString).deletingLastPathComponent)/\(HLSNames.master)")
        {
            return derived
        }
        return try await FileResponder().respond(
            full, to: request,
            .init(
                contentType: PackFiles.contentType(path), cacheControl: MediaFiles.cacheControl(path),
                compressible: MediaFiles.isPlaylist(path), chunkSize: 1 << 20))
    }

    func page(_ title: String, _ body: String, scripts: [String] = []) -> Response {
        WebPage.response(
            title: "\(html(title)) · LessonLink 校内镜像", name: "mirror",
            header: #"<header><a href="/"><strong>LessonLink</strong> 校内镜像</a></header>"#, body: body, scripts: scripts)
    }
}

/// A manifest path as a URL path (each component percent-encoded).
func pathURL(_ path: String) -> String {
    path.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#%;"))) ?? String($0) }
        .joined(separator: "/")
}
