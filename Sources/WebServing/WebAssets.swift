import Hummingbird

/// The web pages' scripts and style sheet, embedded in the binary (no build step, nothing to
/// install beside it): the county server and a school mirror serve the same player.
public enum WebAssets {
    public static var appJS: Response { script(PackageResources.app_js) }
    public static var packsJS: Response { script(PackageResources.packs_js) }
    public static var sessionsJS: Response { script(PackageResources.sessions_js) }
    public static var reviewJS: Response { script(PackageResources.review_js) }
    public static var ordersJS: Response { script(PackageResources.orders_js) }
    public static var playerJS: Response { script(PackageResources.player_js) }
    public static var mirrorJS: Response { script(PackageResources.mirror_js) }
    public static var styleCSS: Response { asset(PackageResources.style_css, type: "text/css; charset=utf-8") }

    static func script(_ bytes: [UInt8]) -> Response { asset(bytes, type: "text/javascript; charset=utf-8") }

    /// An asset as a response; `no-cache` so a new release's scripts are picked up at once.
    public static func asset(_ bytes: [UInt8], type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// A server-rendered page shell: the scripts and style sheet above, one header, the page's body.
/// Both servers' pages share it, and with it the content security policy (nothing but this
/// origin's scripts, styles and media; no framing).
public enum WebPage {
    public static let contentSecurityPolicy =
        "default-src 'self'; style-src 'self'; script-src 'self'; media-src 'self' blob:; frame-ancestors 'none'"

    /// - Parameters:
    ///   - title: the document title, already escaped.
    ///   - name: `data-page` on the body, which the page's script dispatches on.
    ///   - header: the `<header>` element.
    ///   - scripts: script URLs, loaded deferred in this order.
    public static func response(
        title: String, name: String, header: String, body: String, scripts: [String], status: HTTPResponse.Status = .ok
    ) -> Response {
        let html = """
            <!doctype html>
            <html lang="zh-CN">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title)</title>
            <link rel="stylesheet" href="/assets/style.css">
            \(scripts.map { #"<script src="\#($0)" defer></script>"# }.joined())
            </head>
            <body data-page="\(name)">
            \(header)
            <main>
            \(body)
            </main>
            </body>
            </html>
            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentSecurityPolicy: contentSecurityPolicy,
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// Text for HTML: escapes the five characters that could open markup.
public func html(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}
