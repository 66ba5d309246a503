import Hummingbird

/// The web pages' scripts and style sheet, embedded in the binary (no build step, nothing to
/// install beside it): the county server and a school mirror serve the same player.
public enum WebAssets {
    public static var appJS: Response { script(PackageResources.app_js) }
    public static var packsJS: Response { script(PackageResources.packs_js) }
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
