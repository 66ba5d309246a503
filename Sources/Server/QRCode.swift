import CQREncode

/// A QR Code as inline SVG, drawn from libqrencode's modules: crisp at any print size, no image
/// file, and allowed by the pages' content security policy.
enum QRCode {
    /// The symbol for `text` (error correction level M, as printed matter uses), or nil if the
    /// text does not fit a QR Code.
    static func svg(_ text: String, size: Int = 160) -> String? {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let quiet = 4  // the quiet zone the standard asks for, in modules
        var path = ""
        for y in 0..<width {
            for x in 0..<width where code.pointee.data[y * width + x] & 1 == 1 {
                path += "M\(x + quiet) \(y + quiet)h1v1h-1z"
            }
        }
        let side = width + 2 * quiet
        return ##"<svg xmlns="http://www.w3.org/2000/svg" class="qr" width="\##(size)" height="\##(size)" viewBox="0 0 \##(side) \##(side)" shape-rendering="crispEdges" role="img" aria-label="二维码"><rect width="\##(side)" height="\##(side)" fill="#fff"/><path d="\##(path)" fill="#000"/></svg>"##
    }
}
