import Foundation

/// The names of the files a published ladder consists of, spelled once for the transcoder that
/// writes them, the server that serves them and the packs that carry them:
///
/// ```
/// master.m3u8  master-<tier>.m3u8 (derived)  poster.jpg
/// <tier>/index.m3u8  <tier>/iframes.m3u8  <tier>/init.mp4  <tier>/seg_00042.m4s
/// ```
public enum HLSNames {
    public static let master = "master.m3u8"
    public static let poster = "poster.jpg"
    public static let mediaPlaylist = "index.m3u8"
    public static let iFramePlaylist = "iframes.m3u8"
    public static let initSegment = "init.mp4"

    /// The `index`th media segment of a tier (from 0).
    public static func segment(_ index: Int) -> String { String(format: "seg_%05d.m4s", index) }

    /// Whether `name` is a segment name (`seg_` and 1 to 9 digits).
    public static func isSegment(_ name: String) -> Bool {
        guard name.hasPrefix("seg_"), name.hasSuffix(".m4s") else { return false }
        let number = name.dropFirst(4).dropLast(4)
        return (1...9).contains(number.count) && number.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The files inside a tier folder.
    public static func isTierFile(_ name: String) -> Bool {
        [mediaPlaylist, iFramePlaylist, initSegment].contains(name) || isSegment(name)
    }

    /// A tier's media playlist, relative to the version folder (`720p/index.m3u8`).
    public static func mediaPlaylist(tier: String) -> String { "\(tier)/\(mediaPlaylist)" }

    /// The tier a one-tier master name (`master-360p.m3u8`) asks for, or nil: what a player with
    /// native HLS, which picks variants itself, is given when someone chooses a tier by hand.
    public static func singleTier(of name: String) -> String? {
        guard name.hasPrefix("master-"), name.hasSuffix(".m3u8") else { return nil }
        let tier = String(name.dropFirst(7).dropLast(5))
        return isTierName(tier) ? tier : nil
    }

    /// Tier folder names as ladders name them (`1080p`, `audio-low`): letters, digits, `-`, `_`.
    public static func isTierName(_ name: String) -> Bool {
        (1...32).contains(name.count) && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_")
        }
    }

    /// The media type a published file is served with (and stored with, in an object store).
    public static func contentType(of path: String) -> String {
        switch path.split(separator: ".").last {
        case "m3u8": "application/vnd.apple.mpegurl"
        case "m4s": "video/iso.segment"
        case "mp4": "video/mp4"
        case "jpg": "image/jpeg"
        default: "application/octet-stream"
        }
    }
}
