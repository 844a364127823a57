// Issue 11, item 6: a worker whose /bin/sh, kill, sleep and tar are Debian's busybox, and workers that lack a
// tool the wrapper needs. Each is a server in a mount namespace whose /usr/bin (so /bin too) is a farm of links
// to the real one: this machine is left as it was.
import Engine
import Foundation
import XCTest

final class BusyboxTests: IntegrationCase {
    enum Server { case sshd, dropbear }

    /// A server on loopback in a mount namespace where /usr/bin holds links to the real one, `busybox` names
    /// linked to busybox instead and `missing` names absent; root logs in with the test key and its HOME is
    /// `home/worker`. Returns the server (terminate it), the worker's address and that HOME.
    func startWorker(busybox: [String] = [], missing: [String] = [], server: Server = .sshd)
        throws -> (Subprocess, String, String) {
        guard getuid() == 0 else { throw HarnessError(message: "a mount namespace needs root") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/busybox") else {
            throw HarnessError(message: "busybox is not installed (scripts/deps installs it)")
        }
        if server == .dropbear && !FileManager.default.isExecutableFile(atPath: "/usr/sbin/dropbear") {
            throw HarnessError(message: "dropbear is not installed (apt-get install dropbear-bin; scripts/deps does)")
        }
        let fm = FileManager.default
        let real = home + "/realbin", farm = home + "/farm", worker = home + "/worker"
        for dir in [real, farm] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try fm.createDirectory(atPath: worker + "/.ssh", withIntermediateDirectories: true,
                               attributes: [.posixPermissions: 0o700])
        try fm.copyItem(atPath: Env.key + ".pub", toPath: worker + "/.ssh/authorized_keys")
        for name in Set(try fm.contentsOfDirectory(atPath: "/usr/bin") + busybox) where !missing.contains(name) {
            try fm.createSymbolicLink(atPath: farm + "/" + name,
                                      withDestinationPath: real + "/" + (busybox.contains(name) ? "busybox" : name))
        }
        let mounts = "mount --bind /usr/bin \(real) && mount --bind \(farm) /usr/bin"
        let command: (Int) -> String
        switch server {
        case .sshd:
            try? fm.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
            XCTAssertEqual(shell("ssh-keygen -q -t ed25519 -N '' -f \(home)/host"), 0)
            command = { port in
                let config = [
                    "ListenAddress 127.0.0.1:\(port)", "HostKey \(self.home)/host", "PidFile \(self.home)/sshd.pid",
                    "AuthorizedKeysFile \(worker)/.ssh/authorized_keys", "KbdInteractiveAuthentication no",
                    "PasswordAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
                    "PrintMotd no", "SetEnv HOME=\(worker)", "LogLevel ERROR",
                ]
                try? (config.joined(separator: "\n") + "\n").write(toFile: self.home + "/sshd_config", atomically: true,
                                                                    encoding: .utf8)
                return "exec /usr/sbin/sshd -D -f \(self.home)/sshd_config -E \(self.home)/sshd.log"
            }
        case .dropbear:
            // Dropbear reads the login user's home from passwd: /root, which is `worker` in the namespace.
            XCTAssertEqual(shell("dropbearkey -t ed25519 -f \(home)/host_ed25519 >/dev/null 2>&1"), 0)
            command = { port in
                "mount --bind \(worker) /root && exec /usr/sbin/dropbear -F -E -s -r \(self.home)/host_ed25519 "
                    + "-p 127.0.0.1:\(port) -P \(self.home)/dropbear.pid 2>>\(self.home)/dropbear.log"
            }
        }
        let (process, port) = try startServer { port in
            ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", "\(mounts) && \(command(port))"]
        }
        return (process, "127.0.0.1:\(port)", server == .dropbear ? "/root" : worker)
    }

    /// Options for a run against one of these workers: a known_hosts of this test's (accept-new), its sessions.
    var own: [String] { ["--known-hosts=\(home)/known_hosts", "--sessions=\(sessions)"] }
    var withKey: [String] { ["--ssh-identity=\(Env.key)"] + own }

    static let busybox = ["sh", "kill", "sleep", "tar"]

    // MARK: - A busybox worker

    func testBusyboxWorkerRunsQuotedJobsOverlayPreAndPost() throws {
        let (server, address, worker) = try startWorker(busybox: Self.busybox)
        defer { server.terminate(); server.waitUntilExit() }
        try FileManager.default.createDirectory(atPath: home + "/overlay" + worker, withIntermediateDirectories: true)
        try "over\n".write(toFile: home + "/overlay" + worker + "/laid", atomically: true, encoding: .utf8)
        let line = #"printf '[%s]\n' 'a\b\\c' "d\"e'f" '$HOME' 'x'\''y' \\ "\$1""#
        let r = try run(withKey + ["--workers=\(address)", "--overlay=\(home)/overlay", "--pre=touch \"$HOME/pre-ran\"",
                                   "--post=touch \"$HOME/post-ran\""],
                        stdin: Array("\(line)\ncat \"$HOME/laid\"\nreadlink /bin/sh /bin/sleep /bin/tar\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("[a\\b\\\\c]\n[d\"e'f]\n[$HOME]\n[x'y]\n[\\]\n[$1]\n"), r.out)
        XCTAssertTrue(r.out.contains("over\n"), "busybox tar laid the overlay: \(r.out)")
        XCTAssertTrue(r.out.contains("\(home)/realbin/busybox\n\(home)/realbin/busybox\n\(home)/realbin/busybox\n"),
                      "the worker's sh, sleep and tar are busybox: \(r.out)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: worker + "/pre-ran"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: worker + "/post-ran"), r.stderr)
    }

    func testBusyboxWorkerTimeoutKillsTheJobsWholeGroup() throws {
        let (server, address, _) = try startWorker(busybox: Self.busybox)
        defer { server.terminate(); server.waitUntilExit() }
        let marker = "sleep 30.\(Int.random(in: 100...999))"
        let r = try run(withKey + ["--workers=\(address)", "--timeout=1"],
                        stdin: Array("\(marker) & \(marker); echo never\necho after\n".utf8))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("timeout # \(marker) &"), r.stderr)
        XCTAssertEqual(r.out, "after\n")
        waitWhile(tries: 50, every: 0.1) { !remoteProcesses(marker).isEmpty }
        XCTAssertEqual(remoteProcesses(marker), [], "the job and its background child are killed")
    }

    func testBusyboxWorkerSessionKeyIsAuthorizedAndRemoved() throws {
        let (server, address, worker) = try startWorker(busybox: Self.busybox)
        defer { server.terminate(); server.waitUntilExit() }
        let (agent, socket) = try startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let before = file(worker + "/.ssh/authorized_keys")
        let r = try run(own + ["--workers=\(address)", "--verbose", "sh", "-c",
                               "grep -c cloudtask-session \"$HOME/.ssh/authorized_keys\"; : $0"],
                        stdin: Array("1\n".utf8), env: ["SSH_AUTH_SOCK": socket])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "1\n", "the session key is authorized while the jobs run")
        XCTAssertTrue(r.stderr.contains("(ssh-agent)"), r.stderr)
        XCTAssertEqual(file(worker + "/.ssh/authorized_keys"), before, "only the session's line is removed")
    }

    // MARK: - Missing tools are named, with the worker

    func testMissingTarIsNamedForOverlay() throws {
        let (server, address, _) = try startWorker(busybox: ["sh", "kill", "sleep"], missing: ["tar"])
        defer { server.terminate(); server.waitUntilExit() }
        try FileManager.default.createDirectory(atPath: home + "/overlay/tmp", withIntermediateDirectories: true)
        let r = try run(withKey + ["--workers=\(address)", "--overlay=\(home)/overlay", "true"], stdin: Array("1\n".utf8))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(address): setup: overlay: tar is missing on the worker (needed for --overlay)"),
                      r.stderr)
    }

    func testMissingFlockOrGrepIsNamedForTheSessionKeyAndLeavesAuthorizedKeys() throws {
        for tool in ["flock", "grep"] {
            let (server, address, worker) = try startWorker(busybox: Self.busybox, missing: [tool])
            defer { server.terminate(); server.waitUntilExit() }
            let (agent, socket) = try startAgent()
            defer { agent.terminate(); agent.waitUntilExit() }
            let before = file(worker + "/.ssh/authorized_keys")
            let r = try run(own + ["--workers=\(address)", "true"], stdin: Array("1\n".utf8), env: ["SSH_AUTH_SOCK": socket])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("\(address): setup: authorize session key: \(tool) is missing on the worker "
                                            + "(needed for the session key of an ssh-agent login)"), r.stderr)
            XCTAssertEqual(file(worker + "/.ssh/authorized_keys"), before, tool)
            for made in ["farm", "worker", "host", "host.pub"] { try FileManager.default.removeItem(atPath: home + "/" + made) }
        }
    }

    func testMissingSudoIsNamed() throws {
        let (server, address, _) = try startWorker(busybox: Self.busybox, missing: ["sudo"])
        defer { server.terminate(); server.waitUntilExit() }
        let r = try run(withKey + ["--workers=\(address)", "--sudo", "true"], stdin: Array("1\n".utf8))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(address): setup: sudo: sudo is missing on the worker (needed for --sudo)"),
                      r.stderr)
    }

    func testMissingShIsNamedWithTheJob() throws {
        let (server, address, _) = try startWorker(missing: ["sh"])
        defer { server.terminate(); server.waitUntilExit() }
        let r = try run(withKey + ["--workers=\(address)", "true"], stdin: Array("1\n".utf8))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(address): /bin/sh is missing on the worker (needed to run any command)"),
                      r.stderr)
    }

    /// Dropbear does not give a command its own process group: without setsid the wrapper cannot kill a job alone.
    func testMissingSetsidIsNamedOnDropbear() throws {
        let (server, address, _) = try startWorker(busybox: Self.busybox, missing: ["setsid"], server: .dropbear)
        defer { server.terminate(); server.waitUntilExit() }
        let r = try run(withKey + ["--workers=\(address)", "true"], stdin: Array("1\n".utf8))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(address): setsid is missing on the worker (needed to kill a timed-out job's "
                                        + "process group where the server does not give each command its own, as Dropbear)"),
                      r.stderr)
    }
}

extension BusyboxTests {
    /// A worker without `cat`, which the runner needs: said once, and its jobs run one channel each, in order.
    func testWorkerWhereTheRunnerCannotStartFallsBackToAChannelPerJob() throws {
        let (server, address, _) = try startWorker(missing: ["cat"])
        defer { server.terminate(); server.waitUntilExit() }
        let r = try run(withKey + ["--workers=\(address)", "--slots=2", "sh", "-c", "echo $0; [ $0 != 3 ]"],
                        stdin: Array((1...6).map { "\($0)\n" }.joined().utf8))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["1", "2", "3", "4", "5", "6"])
        XCTAssertEqual(r.stderr.components(separatedBy: "\(address): the runner did not start (").count - 1, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("; jobs here use one channel each"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(address): exit 1 # sh -c 'echo $0; [ $0 != 3 ]' 3"), r.stderr)
    }
}
