import ArgumentParser
import Foundation
import Server

/// `lessonlink install`: LessonLink as a Debian service — binaries in `/usr/local/bin`, the
/// configuration in `/etc/lessonlink/`, data in `/var/lib/lessonlink/` owned by the `lessonlink`
/// system user, and systemd units for the server and for extra workers.
///
/// Run again to upgrade: the binaries are replaced (each by a rename, so a running server keeps
/// its open file), the units rewritten, and the configuration files an admin may have edited are
/// kept as they are. `--destdir` writes the same tree under another folder (packaging, tests)
/// without creating the user or touching systemd.
struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install", abstract: "Install LessonLink as a systemd service (run as root).",
        discussion: "Then: systemctl enable --now lessonlink; the first admin's password is in journalctl -u lessonlink.")

    @Option(help: "Write everything below this folder instead of / (packaging, tests).")
    var destdir = ""

    @Option(help: "Where the binaries go (<prefix>/bin).")
    var prefix = "/usr/local"

    @Option(help: "The folder with the shipped ladder, rubric and demo county to install.")
    var source = "config"

    static let configFolder = "/etc/lessonlink"
    static let dataFolder = "/var/lib/lessonlink"
    static let backupFolder = "/var/backups/lessonlink"
    static let unitFolder = "/etc/systemd/system"

    func run() throws {
        let staged = !destdir.isEmpty
        let binaries = "\(prefix)/bin"
        let fileManager = FileManager.default
        for folder in [binaries, Self.configFolder, Self.dataFolder, Self.unitFolder] {
            try fileManager.createDirectory(atPath: destdir + folder, withIntermediateDirectories: true)
        }

        let executable = URL(fileURLWithPath: ServerConfig.currentExecutable)
        for name in ["lessonlink", "lessonlink-mirror"] {
            let built = executable.deletingLastPathComponent().appendingPathComponent(name).path
            guard fileManager.fileExists(atPath: built) else {
                if name == "lessonlink" { throw CommandFailure("\(built) is missing") }
                print("skipped \(name): not built beside \(executable.path) (swift build -c release --product \(name))")
                continue
            }
            let target = "\(destdir)\(binaries)/\(name)"
            let temporary = "\(target).new-\(getpid())"
            try? fileManager.removeItem(atPath: temporary)
            try fileManager.copyItem(atPath: built, toPath: temporary)
            _ = chmod(temporary, 0o755)
            guard rename(temporary, target) == 0 else { throw CommandFailure("cannot replace \(target): \(String(cString: strerror(errno)))") }
            print("installed \(target)")
        }

        try keepOrWrite("\(destdir)\(Self.configFolder)/lessonlink.yaml", Self.serviceConfig)
        for name in ["ladder.yaml", "review-rubric.yaml", "demo-county.yaml"] {
            let shipped = "\(source)/\(name)"
            guard let text = try? String(contentsOfFile: shipped, encoding: .utf8) else {
                print("skipped \(name): no \(shipped) here (the built-in one is used)")
                continue
            }
            try keepOrWrite("\(destdir)\(Self.configFolder)/\(name)", text)
        }

        try write("\(destdir)\(Self.unitFolder)/lessonlink.service", Self.serverUnit(binaries: binaries))
        try write("\(destdir)\(Self.unitFolder)/lessonlink-worker@.service", Self.workerUnit(binaries: binaries))

        if staged {
            print("staged under \(destdir); no user made, systemd not told")
            return
        }
        if !run("/usr/bin/id", ["-u", "lessonlink"], quiet: true) {
            guard run("/usr/sbin/useradd", ["--system", "--home-dir", Self.dataFolder, "--no-create-home", "--shell", "/usr/sbin/nologin", "lessonlink"])
            else { throw CommandFailure("could not create the lessonlink user (run as root)") }
            print("created the system user lessonlink")
        }
        _ = run("/bin/chown", ["-R", "lessonlink:lessonlink", Self.dataFolder])
        _ = chmod(Self.dataFolder, 0o750)
        if fileManager.fileExists(atPath: "/run/systemd/system") {
            _ = run("/bin/systemctl", ["daemon-reload"])
            print("systemd reloaded: systemctl enable --now lessonlink")
        } else {
            print("systemd is not running here: start with sudo -u lessonlink \(binaries)/lessonlink serve")
        }
    }

    private func keepOrWrite(_ path: String, _ text: String) throws {
        if FileManager.default.fileExists(atPath: path) {
            print("kept \(path) (yours; the shipped one is in the repository's config/)")
            return
        }
        try write(path, text)
    }

    private func write(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(path)")
    }

    private func run(_ tool: String, _ arguments: [String], quiet: Bool = false) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        if quiet {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// The configuration of an installed server: every path absolute, listening on the LAN.
    static let serviceConfig = """
        # LessonLink, installed as a service. Every key of the repository's config/lessonlink.yaml
        # may be set here; relative paths are read from this folder.
        http:
          # The county's schools reach the server over the LAN.
          host: 0.0.0.0
          port: 8080
        storage:
          root: \(dataFolder)
          minFreePercent: 10
        transcode:
          ladder: ladder.yaml
        review:
          rubric: review-rubric.yaml
        credentials:
          issuerName: 县教育局
          # publicURL: https://lessonlink.example.gov.cn
        live:
          rtmpPort: 1935
          srtPorts: 9000-9019
        backup:
          # A second disk or a share mounted here (the unit may write there): a dead disk must not
          # take the county's lessons with it.
          # to: \(backupFolder)
          schedule: "02:00"
          keep:
            daily: 7
            weekly: 4

        """

    /// Shared by both units: who runs it, and what it may touch.
    static let sandbox = """
        User=lessonlink
        Group=lessonlink
        WorkingDirectory=\(dataFolder)
        Environment=LESSONLINK_CONFIG=\(configFolder)/lessonlink.yaml
        Restart=on-failure
        RestartSec=5
        # The server stops taking requests, ends live relays and transcode children, then exits;
        # what is left after TimeoutStopSec is killed (KillMode=mixed: the children too).
        KillSignal=SIGTERM
        KillMode=mixed
        TimeoutStopSec=30
        LimitNOFILE=65536
        NoNewPrivileges=yes
        PrivateTmp=yes
        PrivateDevices=yes
        ProtectSystem=strict
        ProtectHome=yes
        ReadWritePaths=\(dataFolder) -\(backupFolder)
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectControlGroups=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
        """

    static func serverUnit(binaries: String) -> String {
        """
        [Unit]
        Description=LessonLink: the county's recorded lessons (server and transcode worker)
        After=network-online.target
        Wants=network-online.target

        [Service]
        Type=simple
        ExecStart=\(binaries)/lessonlink serve
        \(sandbox)

        [Install]
        WantedBy=multi-user.target

        """
    }

    static func workerUnit(binaries: String) -> String {
        """
        [Unit]
        Description=LessonLink extra transcode worker %i
        After=lessonlink.service
        PartOf=lessonlink.service

        [Service]
        Type=simple
        ExecStart=\(binaries)/lessonlink worker --transcode-node %H-worker-%i
        Nice=10
        \(sandbox)

        [Install]
        WantedBy=multi-user.target

        """
    }
}
