// Issue 11, items 5 and 6: a stock sshd (MaxSessions 10, MaxStartups 10:30:100) with many slots and many
// workers; login shells other than bash (users from `scripts/test-workers users`); Dropbear as a worker.
import Engine
import Foundation
import XCTest

final class FleetTests: IntegrationCase {
    // MARK: - Stock sshd

    /// An sshd with Debian's defaults for every limit, listening on 127.0.0.1 and 127.0.3.1-15 (sshd takes at
    /// most 16 listen addresses); the test key is authorized for root. Returns it, its port and the workers.
    func startStockSSHD() throws -> (Subprocess, Int, [String]) {
        let dir = home + "/stock"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertEqual(shell("ssh-keygen -q -t ed25519 -N '' -f \(dir)/host"), 0)
        let (server, port) = try startServer { port in
            let listen = (["127.0.0.1"] + (1...15).map { "127.0.3.\($0)" }).map { "ListenAddress \($0):\(port)" }
            let config = listen + [
                "HostKey \(dir)/host", "PidFile \(dir)/sshd.pid", "AuthorizedKeysFile \(Env.key).pub",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
                "X11Forwarding yes", "PrintMotd no", "AcceptEnv LANG LC_*", "Subsystem sftp /usr/lib/openssh/sftp-server",
            ]
            try? (config.joined(separator: "\n") + "\n").write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
            return ["/usr/sbin/sshd", "-D", "-f", dir + "/sshd_config", "-E", dir + "/sshd.log"]
        }
        let workers = (["127.0.0.1"] + (1...15).map { "127.0.3.\($0)" }).map { "\($0):\(port)" }
        return (server, port, workers)
    }

    /// Options for a run against our own sshd: the test key, a known_hosts of this test's, accept-new.
    var own: [String] { ["--ssh-identity=\(Env.key)", "--known-hosts=\(home)/known_hosts", "--sessions=\(sessions)"] }

    func testStockSSHDSixteenSlotsOnOneWorkerLoseNoJob() throws {
        let (server, _, workers) = try startStockSSHD()
        defer { server.terminate(); server.waitUntilExit() }
        let lines = (1...40).map(String.init)
        let r = try run(own + ["--workers=\(workers[0])", "--slots=16", "sh", "-c", "sleep 0.5; echo $0"],
                        stdin: Array(lines.map { $0 + "\n" }.joined().utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").map(String.init).sorted(), lines.sorted())
        XCTAssertTrue(r.stderr.contains("channel refused"), "MaxSessions 10 should cap the slots: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("40 OK"), r.stderr)
    }

    func testStockSSHDSixteenWorkersOnOneServerLoseNoJob() throws {
        let (server, _, workers) = try startStockSSHD()
        defer { server.terminate(); server.waitUntilExit() }
        let lines = (1...64).map(String.init)
        for rate in ["0", "20"] {  // no pacing (MaxStartups drops are retried), and the default
            let r = try run(own + ["--workers=\(workers.joined(separator: " "))", "--slots=2", "--connect-rate=\(rate)",
                                   "sh", "-c", "sleep 0.2; echo $0"],
                            stdin: Array(lines.map { $0 + "\n" }.joined().utf8))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.out.split(separator: "\n").map(String.init).sorted(), lines.sorted(), "rate \(rate)")
            XCTAssertFalse(r.stderr.contains("unreachable"), r.stderr)
        }
    }

    func testDroppedConnectionsAreRetriedWithBackoff() throws {
        let (server, port, _) = try startStockSSHD()
        defer { server.terminate(); server.waitUntilExit() }
        // 60 connections that never log in put sshd well past MaxStartups 10: most new ones are dropped.
        let holders = (0..<60).compactMap { _ in try? Subprocess(["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.3.1/\(port); sleep 6"]) }
        defer { for holder in holders { holder.terminate(); holder.waitUntilExit() } }
        Thread.sleep(forTimeInterval: 0.5)
        let r = try run(own + ["--workers=127.0.3.2:\(port)", "echo"], stdin: Array("1\n2\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "1\n2\n")
        if r.stderr.contains("closed the connection") {
            XCTAssertTrue(r.stderr.contains("the server closed the connection before login (sshd's MaxStartups?) (attempt 1 of 8)"), r.stderr)
        }
    }

    func testTooFewDescriptorsForTheWorkersIsWarned() throws {
        let workers = Array(repeating: "127.0.1.1", count: 60).joined(separator: " ")
        let jobs = Array((1...60).map { "\($0)\n" }.joined().utf8)
        // A hard limit of 100 cannot be raised: 60 workers need about 152.
        let r = try run(["-c", #"ulimit -n 100 && exec "$0" "$@""#, Env.binary] + base + ["--workers=\(workers)", "--dry-run", "echo"],
                        stdin: jobs, binary: "/bin/sh")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: 60 workers need about 152 file descriptors and the limit is 100"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--split=34"), r.stderr)
        // A soft limit is raised to the hard one: no warning.
        let raised = try run(["-c", #"ulimit -Sn 100 && exec "$0" "$@""#, Env.binary] + base + ["--workers=\(workers)", "--dry-run", "echo"],
                             stdin: jobs, binary: "/bin/sh")
        XCTAssertFalse(raised.stderr.contains("file descriptors"), raised.stderr)
    }

    // MARK: - Login shells

    static let shellUsers = ["ct-dash", "ct-zsh", "ct-fish", "ct-busybox"]

    /// The shell test users, made as `scripts/test-workers up` makes them (idempotent).
    func shellUsers() throws -> [String] {
        guard getuid() == 0 else { throw HarnessError(message: "making the shell test users needs root") }
        XCTAssertEqual(shell("\(Env.root)/scripts/test-workers users >/dev/null"), 0)
        let present = Self.shellUsers.filter { shell("id \($0) >/dev/null 2>&1") == 0 }
        guard present.count == Self.shellUsers.count else {
            throw HarnessError(message: "missing shell test users \(Set(Self.shellUsers).subtracting(present)) (scripts/deps installs zsh fish busybox)")
        }
        return present
    }

    func testQuotesBackslashesAndDollarsReachTheJobOnEveryLoginShell() throws {
        let line = #"printf '[%s]\n' 'a\b\\c' "d\"e'f" '$HOME' 'x'\''y' \\ "\$1""#
        let expected = "[a\\b\\\\c]\n[d\"e'f]\n[$HOME]\n[x'y]\n[\\]\n[$1]\n"
        for user in try shellUsers() {
            let r = try cloudtask([], workers: "\(user)@127.0.1.1", lines: [line])
            XCTAssertEqual(r.status, 0, "\(user): \(r.stderr)")
            XCTAssertEqual(r.out, expected, user)
        }
    }

    func testTimeoutKillsTheJobOnEveryLoginShell() throws {
        for user in try shellUsers() {
            let marker = "4\(Int.random(in: 1000...9999)).5"
            let r = try cloudtask(["--timeout=1"], workers: "\(user)@127.0.1.1", lines: ["sleep \(marker)"])
            XCTAssertEqual(r.status, 1, "\(user): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("timeout # sleep \(marker)"), "\(user): \(r.stderr)")
            waitWhile(tries: 50, every: 0.1) { !remoteProcesses("sleep \(marker)").isEmpty }
            XCTAssertEqual(remoteProcesses("sleep \(marker)"), [], "\(user): job left running")
        }
    }

    func testMissingToolIsNamedWithTheWorker() throws {
        let r = try cloudtask(["--pre=no-such-tool-\(unique()) --version"], workers: "127.0.1.1", lines: ["x"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: setup failed: pre command exited 127"), r.stderr)
        XCTAssertTrue(r.stderr.contains("not found"), r.stderr)
    }

    // MARK: - Dropbear

    /// The login-shell tests over Dropbear, which runs a command with the user's shell as OpenSSH does, but in
    /// its connection's process group (the wrapper re-runs itself under setsid).
    func testQuotesAndTimeoutsOnEveryLoginShellOverDropbear() throws {
        let users = try shellUsers()
        let (server, port, _) = try startDropbear(users: users)
        defer { server.terminate(); server.waitUntilExit() }
        let line = #"printf '[%s]\n' 'a\b\\c' "d\"e'f" '$HOME' 'x'\''y' \\ "\$1""#
        let expected = "[a\\b\\\\c]\n[d\"e'f]\n[$HOME]\n[x'y]\n[\\]\n[$1]\n"
        for user in users {
            let marker = "4\(Int.random(in: 1000...9999)).5"
            let r = try run(own + ["--workers=\(user)@127.0.0.1:\(port)", "--timeout=1"],
                            stdin: Array("\(line)\nsleep \(marker)\necho after\n".utf8))
            XCTAssertEqual(r.status, 1, "\(user): \(r.stderr)")
            XCTAssertEqual(r.out, expected + "after\n", user)
            XCTAssertTrue(r.stderr.contains("timeout # sleep \(marker)"), "\(user): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("2 OK"), "\(user): \(r.stderr)")
            waitWhile(tries: 50, every: 0.1) { !remoteProcesses("sleep \(marker)").isEmpty }
            XCTAssertEqual(remoteProcesses("sleep \(marker)"), [], "\(user): job left running")
        }
    }

    func testDropbearRunsJobsOverlayPreAndPost() throws {
        let (server, port, root) = try startDropbear()
        defer { server.terminate(); server.waitUntilExit() }
        try FileManager.default.createDirectory(atPath: home + "/overlay/root", withIntermediateDirectories: true)
        try "over\n".write(toFile: home + "/overlay/root/laid", atomically: true, encoding: .utf8)
        // /root inside dropbear's namespace is `root` here; the overlay, pre and post write there.
        let line = #"printf '[%s]\n' 'a\b' "q'\"" '$x'"#
        let r = try run(own + ["--workers=127.0.0.1:\(port)", "--overlay=\(home)/overlay", "--pre=touch /root/pre-ran",
                               "--post=touch /root/post-ran"],
                        stdin: Array("\(line)\ncat /root/laid\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("[a\\b]\n[q'\"]\n[$x]\n"), r.out)
        XCTAssertTrue(r.out.contains("over\n"), r.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/pre-ran"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/post-ran"), r.stderr)
    }

    /// Dropbear 2022.83 runs a command in the process group of its connection process (no setsid): the wrapper
    /// must not kill that group, or the worker dies with the job and its post never runs.
    func testDropbearTimeoutKillsTheJobAndKeepsTheWorker() throws {
        let (server, port, root) = try startDropbear()
        defer { server.terminate(); server.waitUntilExit() }
        let r = try run(own + ["--workers=127.0.0.1:\(port)", "--timeout=1", "--post=touch /root/post-ran"],
                        stdin: Array("sleep 49.5\necho after\n".utf8))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("timeout # sleep 49.5"), r.stderr)
        XCTAssertEqual(r.out, "after\n")
        XCTAssertFalse(r.stderr.contains("worker died"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/post-ran"), r.stderr)
        waitWhile(tries: 50, every: 0.1) { !remoteProcesses("sleep 49.5").isEmpty }
        XCTAssertEqual(remoteProcesses("sleep 49.5"), [], "the job is killed")
    }

    func testDropbearSessionKeyIsAuthorizedAndRemoved() throws {
        let (server, port, root) = try startDropbear()
        defer { server.terminate(); server.waitUntilExit() }
        let (agent, socket) = try startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let r = try run(["--known-hosts=\(home)/known_hosts", "--sessions=\(sessions)", "--workers=127.0.0.1:\(port)",
                         "--verbose", "sh", "-c", "grep -c cloudtask-session ~/.ssh/authorized_keys; : $0"],
                        stdin: Array("1\n".utf8), env: ["SSH_AUTH_SOCK": socket])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "1\n", "the session key is authorized while the jobs run")
        XCTAssertTrue(r.stderr.contains("(ssh-agent)"), r.stderr)
        XCTAssertFalse(file(root + "/.ssh/authorized_keys").contains("cloudtask-session"), "the session key is removed")
    }
}
