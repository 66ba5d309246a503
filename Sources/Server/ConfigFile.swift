import Foundation
import Yams

/// Where the configuration comes from, and the check of every setting before it is used.
///
/// swift-configuration falls back to a default when a value is missing *or* unreadable, so a
/// mistyped `htp.port` or `port: eighty` would otherwise start a server on 8080 without a word.
/// Every key LessonLink reads is listed here with its kind; the file, the environment and the
/// flags are checked against that list first, and a problem is said with the file, line and key.
public enum ConfigFile {
    /// What a setting holds, for the check and for resolving paths.
    enum Kind {
        case text, path, integer, number, boolean, portRange, timeOfDay

        var expected: String {
            switch self {
            case .text, .path: "a single value"
            case .integer: "a whole number"
            case .number: "a number"
            case .boolean: "true or false"
            case .portRange: "a port or a range of ports (9000-9019)"
            case .timeOfDay: "a time of day, HH:MM (02:00)"
            }
        }

        func accepts(_ text: String) -> Bool {
            switch self {
            case .text, .path: true
            case .integer: Int(text) != nil
            case .number: Double(text) != nil
            case .boolean: ["true", "false"].contains(text)
            case .portRange: ServerConfig.portRange(text) != nil
            case .timeOfDay: TimeOfDay(text) != nil
            }
        }
    }

    /// Every setting, by its dotted key.
    static let keys: [String: Kind] = [
        "http.host": .text, "http.port": .integer,
        "storage.root": .path, "storage.minFreePercent": .number, "database.path": .path,
        "storage.media": .text, "storage.s3.endpoint": .text, "storage.s3.bucket": .text, "storage.s3.region": .text,
        "storage.s3.accessKey": .text, "storage.s3.secretKey": .text, "storage.s3.pathStyle": .boolean,
        "storage.s3.publicEndpoint": .text, "storage.s3.links": .text, "storage.s3.partMegabytes": .integer,
        "transcode.ladder": .path, "transcode.worker": .boolean, "transcode.concurrency": .integer, "transcode.threads": .integer,
        "transcode.node": .text, "transcode.executable": .path, "transcode.nice": .integer, "transcode.leaseSeconds": .number,
        "transcode.retryDelaySeconds": .number, "transcode.maxAttempts": .integer, "transcode.pollSeconds": .number,
        "transcode.maxQueueWaitSeconds": .number,
        "review.rubric": .path,
        "uploads.maxSize": .integer, "uploads.expirySeconds": .number, "uploads.quota": .integer,
        "auth.tokenLifetimeSeconds": .number, "auth.bcryptCost": .integer, "auth.loginAttempts": .integer,
        "auth.loginWindowSeconds": .number,
        "maintenance.sweepSeconds": .number,
        "media.keepOldVersionsSeconds": .number, "media.cacheMegabytes": .integer,
        "playback.signingKey": .text, "playback.tokenLifetimeSeconds": .number,
        "packs.attachmentMaxMegabytes": .integer, "packs.keepOldVersionsSeconds": .number,
        "credentials.issuerName": .text, "credentials.issuerIdentifier": .text, "credentials.publicURL": .text,
        "credentials.keyFile": .path,
        "orders.acceptWithinSchoolDays": .integer, "orders.attachmentMaxMegabytes": .integer,
        "live.rtmpPort": .integer, "live.rtmpHost": .text, "live.srtPorts": .portRange, "live.srtLatencyMilliseconds": .integer,
        "live.publicHost": .text, "live.nice": .integer,
        "backup.to": .path, "backup.schedule": .timeOfDay, "backup.keep.daily": .integer, "backup.keep.weekly": .integer,
    ]

    /// The places looked at, in order, when neither `--config` nor `LESSONLINK_CONFIG` names a file.
    public static let searchPath = ["config/lessonlink.yaml", "/etc/lessonlink/lessonlink.yaml"]

    /// The configuration file to read: `--config`, then `LESSONLINK_CONFIG` (each must exist), then
    /// the first of `searchPath` that exists; nil when there is none (the built-in defaults).
    public static func locate(flag: String?, environment: [String: String]) throws(ConfigError) -> String? {
        if let flag {
            guard FileManager.default.fileExists(atPath: flag) else { throw ConfigError("--config: there is no file \(flag)") }
            return flag
        }
        if let named = environment["LESSONLINK_CONFIG"], !named.isEmpty {
            guard FileManager.default.fileExists(atPath: named) else {
                throw ConfigError("LESSONLINK_CONFIG: there is no file \(named)")
            }
            return named
        }
        return searchPath.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A key's flag: `live.rtmpPort` → `--live-rtmp-port`.
    static func flag(_ key: String) -> String { "--" + words(key).joined(separator: "-") }
    /// A key's environment variable: `live.rtmpPort` → `LIVE_RTMP_PORT`.
    static func variable(_ key: String) -> String { words(key).joined(separator: "_").uppercased() }

    private static func words(_ key: String) -> [String] {
        key.split(separator: ".").flatMap { component -> [String] in
            var words: [String] = [""]
            for character in component {
                if character.isUppercase, !words[words.count - 1].isEmpty { words.append("") }
                words[words.count - 1].append(character.lowercased())
            }
            return words
        }
    }

    /// The file's settings as dotted keys and their text, with each one's line, checked: unknown
    /// keys and values of the wrong kind are refused with the file, the line and the key.
    static func read(file: String) throws(ConfigError) -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError("\(file): cannot be read as UTF-8 text")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError("\(file): not valid YAML: \(error)")
        }
        guard let root else { return [:] }
        var values: [String: String] = [:]
        try flatten(root, prefix: "", file: file, into: &values)
        return values
    }

    private static func flatten(_ node: Node, prefix: String, file: String, into values: inout [String: String]) throws(ConfigError) {
        let line = node.mark.map { ":\($0.line)" } ?? ""
        if let mapping = node.mapping {
            for (key, value) in mapping {
                let name = key.string ?? ""
                let path = prefix.isEmpty ? name : "\(prefix).\(name)"
                let keyLine = key.mark.map { ":\($0.line)" } ?? line
                if keys[path] == nil, !keys.keys.contains(where: { $0.hasPrefix(path + ".") }) {
                    throw ConfigError("\(file)\(keyLine): \(path) is not a LessonLink setting\(suggestion(for: path, among: Array(keys.keys)))")
                }
                try flatten(value, prefix: path, file: file, into: &values)
            }
            return
        }
        guard let kind = keys[prefix] else {
            throw ConfigError("\(file)\(line): \(prefix) holds settings, not a value; see config/lessonlink.yaml for its keys")
        }
        guard let scalar = node.scalar else { throw ConfigError("\(file)\(line): \(prefix): expected \(kind.expected)") }
        // `~` or an empty value leaves the setting unset, as if the line were not there.
        if scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" { return }
        guard kind.accepts(scalar.string) else {
            throw ConfigError("\(file)\(line): \(prefix): expected \(kind.expected), found '\(scalar.string)'")
        }
        values[prefix] = scalar.string
    }

    /// Checks the flags (`--http-port 9090`) and the environment variables of known settings.
    static func check(arguments: [String], environment: [String: String]) throws(ConfigError) {
        let byFlag = Dictionary(uniqueKeysWithValues: keys.map { (flag($0.key), $0.value) })
        var index = 0
        while index < arguments.count {
            let token = arguments[index]
            index += 1
            guard token.hasPrefix("--") else { continue }
            let parts = token.split(separator: "=", maxSplits: 1).map(String.init)
            guard let kind = byFlag[parts[0]] else {
                throw ConfigError("\(parts[0]) is not an option or a LessonLink setting\(suggestion(for: parts[0], among: Array(byFlag.keys)))")
            }
            let value: String
            if parts.count == 2 {
                value = parts[1]
            } else if kind == .boolean, index >= arguments.count || arguments[index].hasPrefix("--") {
                continue
            } else {
                guard index < arguments.count else { throw ConfigError("\(parts[0]): give \(kind.expected)") }
                value = arguments[index]
                index += 1
            }
            guard kind.accepts(value) else { throw ConfigError("\(parts[0]): expected \(kind.expected), found '\(value)'") }
        }
        for (key, kind) in keys {
            let name = variable(key)
            if let value = environment[name], !kind.accepts(value) {
                throw ConfigError("\(name) (environment): expected \(kind.expected), found '\(value)'")
            }
        }
    }

    /// Whether a flag or an environment variable sets `key` (which then wins over the file).
    static func overridden(_ key: String, arguments: [String], environment: [String: String]) -> Bool {
        let flag = flag(key)
        return environment[variable(key)] != nil || arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
    }

    /// ", did you mean X?" for the nearest known name, when one is close.
    private static func suggestion(for name: String, among names: [String]) -> String {
        let scored = names.map { ($0, distance($0.lowercased(), name.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, name.count / 4) else { return "" }
        return " (did you mean \(best.0)?)"
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}

/// A time of day, `HH:MM`, local time (`backup.schedule`).
public struct TimeOfDay: Sendable, Equatable {
    public var hour: Int
    public var minute: Int

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...23).contains(hour), (0...59).contains(minute)
        else { return nil }
        self.hour = hour
        self.minute = minute
    }

    /// The next time this time of day comes after `date`, in `calendar`'s time zone.
    public func next(after date: Date, calendar: Calendar = .current) -> Date {
        calendar.nextDate(after: date, matching: DateComponents(hour: hour, minute: minute, second: 0), matchingPolicy: .nextTime)
            ?? date.addingTimeInterval(24 * 3600)
    }
}
