import ArgumentParser
import Catalog
import Foundation
import Server
import Sessions

/// `lessonlink sessions [list|attendance]`: synchronized sessions from the server's machine, with
/// a county admin's view (every district).
struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "List synchronized sessions (同步课堂) and their attendance.",
        subcommands: [List.self, Attendance.self], defaultSubcommand: List.self)

    /// The command line acts with an admin's view; nobody signs in on the server's own console.
    static let console = Person(id: 0, username: "console", displayName: "console", role: .admin, passwordHash: "")

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sessions: upcoming, running or past; for a classroom, school or district.")
        @Option(help: "upcoming, running or past.") var when: String?
        @Option(help: "Only sessions playing in this classroom (id).") var classroom: Int64?
        @Option(help: "Only sessions playing in this school (id).") var school: Int64?
        @Option(help: "Only this district's sessions (id).") var district: Int64?
        @OptionGroup var options: ServerOptions

        func run() async throws {
            var scope = SyncSessionStore.Scope(classroomId: classroom, schoolId: school, districtId: district)
            if let when {
                guard let value = SyncSessionStore.When(rawValue: when) else {
                    throw ValidationError("when must be one of \(SyncSessionStore.When.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                scope.when = value
            }
            let config = try await options.load()
            let store = SyncSessionStore(database: try config.openDatabase())
            let time = ISO8601DateFormatter()
            time.timeZone = .current
            print("id".padded(6) + "state".padded(11) + "starts".padded(27) + "classrooms".padded(12) + "title")
            for session in try await store.list(scope, for: SessionsCommand.console) {
                print(
                    "\(session.id)".padded(6) + session.state.rawValue.padded(11) + time.string(from: session.startsAt).padded(27)
                        + "\(session.targets.count)".padded(12) + session.title)
            }
        }
    }

    struct Attendance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A session's attendance report, as CSV (UTF-8 with a BOM) or JSON.")
        @Argument var session: Int64
        @Flag(help: "JSON instead of CSV.") var json = false
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let config = try await options.load()
            let store = SyncSessionStore(database: try config.openDatabase())
            let (found, rows): (SyncSession, [AttendanceRow])
            do {
                (found, rows) = try await store.attendance(session, for: SessionsCommand.console)
            } catch let error as SessionError {
                throw CommandFailure(error.message)
            }
            let report = AttendanceReport(session: found, rows: rows)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                FileHandle.standardOutput.write(Data(report.csv.utf8))
            }
        }
    }
}
