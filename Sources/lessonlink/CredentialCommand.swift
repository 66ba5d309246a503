import ArgumentParser
import Catalog
import Credentials
import Foundation
import GRDB
import Review
import Server

/// `lessonlink credential verify|keys|rotate-key`: certificates from the command line. `verify`
/// needs neither the server nor the network: the county's public keys (the server's key file, or
/// the list published at `/credentials/keys`) and, to learn of revocations, a saved status list.
struct CredentialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credential", abstract: "Verify 支教 certificates offline; list or rotate the county's signing keys.",
        subcommands: [Verify.self, Keys.self, RotateKey.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a certificate file: signature, the county's key, and (with --status-list) revocation. Exit 0 only when valid.")
        @Argument(help: "The certificate (JSON).") var file: String
        @Option(help: "The county's published keys (saved from /credentials/keys); default: this server's key file.")
        var keys: String?
        @Option(help: "A saved status list (from /credentials/status/revocation), to check revocation offline.")
        var statusList: String?
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let issuer = try await options.load().creditIssuer
            let trusted: Set<String>
            do {
                trusted = try keys.map { try IssuerKeys.decode(Data(contentsOf: URL(fileURLWithPath: $0))).trusted } ?? IssuerKeys.load(path: issuer.keyFile).trusted
            } catch {
                throw CommandFailure("cannot read the county's keys (\(keys ?? issuer.keyFile)): \(error)")
            }
            guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
            var list: JSONValue?
            if let statusList {
                guard let text = FileManager.default.contents(atPath: statusList), let parsed = try? JSONValue.parse(text) else {
                    throw CommandFailure("cannot read the status list \(statusList)")
                }
                list = parsed
            }
            var unchecked = list == nil
            let check = CredentialCheck.check(data, trusted: trusted, issuerName: issuer.name) { credential in
                guard let list, let index = CredentialCheck.statusIndex(of: credential) else { return nil }
                guard let revoked = CredentialCheck.revokedBit(index, in: list, trusted: trusted) else {
                    unchecked = true
                    return nil
                }
                return revoked ? "见签发机构的撤销列表" : nil
            }
            print("\(check.verdict.rawValue): \(check.message)")
            if let key = check.key { print("key: \(key)") }
            if check.verdict == .valid, unchecked {
                print("note: revocation not checked offline — pass --status-list with a saved /credentials/status/revocation")
            }
            if check.verdict != .valid { throw ExitCode(1) }
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the county's public keys (what verifiers trust), as JSON.")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let issuer = try await options.load().creditIssuer
            print(String(decoding: try issuer.keys().publicKeys.encoded(), as: UTF8.self))
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Retire the signing key and make a new one; certificates signed with older keys keep verifying.")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let issuer = try await options.load().creditIssuer
            var keys = try issuer.keys()
            keys.rotate()
            try keys.save(path: issuer.keyFile)
            print("new signing key: \(keys.keys.last!.id)")
            print("\(keys.keys.count - 1) retired key(s) stay trusted")
        }
    }
}

/// `lessonlink review-office list|add|assign`: the teaching-research offices and their reviewers.
struct ReviewOfficeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review-office", abstract: "List teaching-research offices, add one, or make a reviewer account one of its members.",
        subcommands: [List.self, Add.self, Assign.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Offices with their level and reviewers.")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let database = try await options.load().openDatabase()
            let rows = try await database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT o.name, o.level, o.scope, GROUP_CONCAT(p.username, ', ') AS reviewers FROM reviewOffice o
                        LEFT JOIN reviewOfficeMember m ON m.officeId = o.id LEFT JOIN person p ON p.id = m.personId
                        GROUP BY o.id ORDER BY o.level DESC, o.name
                        """
                ).map { [$0["name"] as String, $0["level"] as String, $0["scope"] as String, ($0["reviewers"] as String?) ?? "—"] }
            }
            print("level".padded(8) + "office".padded(20) + "scope".padded(14) + "reviewers")
            for row in rows { print(row[1].padded(8) + row[0].padded(20) + row[2].padded(14) + row[3]) }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an office (or change its level and scope).")
        @Argument(help: "The office's name, e.g. 青山县教研室.") var name: String
        @Option(help: "county or city.") var level: String
        @Option(help: "What it covers, in words.") var scope = ""
        @OptionGroup var options: ServerOptions

        func run() async throws {
            guard let level = ReviewLevel(rawValue: level) else { throw ValidationError("level must be county or city") }
            let database = try await options.load().openDatabase()
            try await database.write { db in
                try ReviewStore.seedOffice(name: name, level: level, scope: scope, reviewers: [], db)
                try db.execute(sql: "UPDATE reviewOffice SET level = ?, scope = ? WHERE name = ?", arguments: [level.rawValue, scope, name])
            }
            print("office \(name): \(level.rawValue)")
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a reviewer account a member of an office (a reviewer has one office).")
        @Argument(help: "The reviewer's username.") var username: String
        @Argument(help: "The office's name.") var office: String
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let database = try await options.load().openDatabase()
            try await database.write { db in
                guard let person = try Person.filter(Person.Columns.username == username).fetchOne(db) else {
                    throw CommandFailure("no user '\(username)'")
                }
                guard person.role == .reviewer else { throw CommandFailure("'\(username)' is a \(person.role.rawValue), not a reviewer") }
                guard let found = try ReviewOffice.filter(Column("name") == office).fetchOne(db) else {
                    throw CommandFailure("no office '\(office)' (add it with: lessonlink review-office add)")
                }
                try ReviewStore.seedOffice(name: found.name, level: found.level, scope: found.scope, reviewers: [username], db)
            }
            print("\(username) reviews for \(office)")
        }
    }
}
