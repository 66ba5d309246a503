import Foundation

/// This build's release: `lessonlink --version`, backups' manifests, and the record of which
/// release applied each database migration.
public enum Release {
    public static let version = "0.2.0"

    /// `20261126T020000Z`: sorts as time does, safe in file names.
    public static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    /// A migration name as a file-name part: `v10 live sources` → `v10-live-sources`.
    public static func slug(_ name: String) -> String {
        String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }
}

/// The database was written by a newer LessonLink: it has a migration this build does not know.
/// Opening it would risk writing rows the newer schema does not expect, so the build refuses.
public struct SchemaTooNew: Error, CustomStringConvertible {
    public var migration: String
    /// The release that applied it, when the database says.
    public var neededVersion: String?
    public var newestKnown: String

    public var description: String {
        let needed = neededVersion.map { "LessonLink \($0) or newer" } ?? "a newer LessonLink"
        return "the database has migration '\(migration)', which this LessonLink \(Release.version) does not know "
            + "(its newest is '\(newestKnown)'): run \(needed), or restore a backup taken before the upgrade"
    }
}
