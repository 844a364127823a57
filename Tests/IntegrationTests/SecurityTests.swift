// Host keys, authentication (key file, agent with a temporary session key), ~/.ssh/config, setup steps,
// and option validation, through the built cloudtask and real sshd workers.
import Foundation
import XCTest

final class SecurityTests: IntegrationCase {
    func hostKey(_ worker: Int) -> String {
        file(Env.knownHosts).split(separator: "\n").first { $0.hasPrefix("127.0.1.\(worker) ") }.map(String.init) ?? ""
    }

    func testAcceptNewRecordsUnknownKeysInTheKnownHostsFile() throws {
        let known = home + "/.ssh/known_hosts"
        let r = try run(["--ssh-identity=\(Env.key)", "--sessions=\(sessions)", "--workers=127.0.1.1", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let recorded = file(known)
        XCTAssertTrue(recorded.hasPrefix("127.0.1.1 ssh-ed25519 "), recorded)
        XCTAssertEqual(recorded.trimmingCharacters(in: .newlines), hostKey(1))
    }

    func testMismatchedKeyIsRefusedWithFingerprintAndFix() throws {
        let known = home + "/known_hosts"
        // Worker 2's key filed under worker 1's address: a changed host key.
        try (hostKey(2).replacingOccurrences(of: "127.0.1.2 ", with: "127.0.1.1 ") + "\n").write(toFile: known, atomically: true, encoding: .utf8)
        for policy in ["accept-new", "strict"] {
            let r = try run(["--ssh-identity=\(Env.key)", "--known-hosts=\(known)", "--sessions=\(sessions)", "--host-key-policy=\(policy)",
                             "--workers=127.0.1.1", "echo"], stdin: Array("x\n".utf8))
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("127.0.1.1: unreachable: host key mismatch"), r.stderr)
            XCTAssertTrue(r.stderr.contains("SHA256:"), r.stderr)
            XCTAssertTrue(r.stderr.contains("ssh-keygen -R '127.0.1.1' -f \(known)"), r.stderr)
            XCTAssertFalse(r.stderr.contains("attempt 2"), "a refused key is not retried")
        }
        let off = try run(["--ssh-identity=\(Env.key)", "--known-hosts=\(known)", "--sessions=\(sessions)", "--host-key-policy=off",
                           "--workers=127.0.1.1", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(off.status, 0, off.stderr)
        XCTAssertTrue(off.stderr.contains("warning: host keys are not checked"), off.stderr)
    }

    func testStrictRefusesUnknownKeysAndWritesNothing() throws {
        let known = home + "/empty_known_hosts"
        FileManager.default.createFile(atPath: known, contents: nil)
        let r = try run(["--ssh-identity=\(Env.key)", "--known-hosts=\(known)", "--sessions=\(sessions)", "--host-key-policy=strict",
                         "--workers=127.0.1.1", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("unknown host key ssh-ed25519 SHA256:"), r.stderr)
        XCTAssertEqual(file(known), "")
    }

    func testWrongKeyFailsAuthenticationClearly() throws {
        let other = home + "/other_key"
        XCTAssertEqual(shell("ssh-keygen -q -t ed25519 -N '' -f \(other)"), 0)
        let r = try run(["--ssh-identity=\(other)", "--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=127.0.1.1", "echo"],
                        stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: unreachable: authentication as"), r.stderr)
    }

    func testAgentLoginAuthorizesATemporarySessionKeyAndRemovesIt() throws {
        let (agent, socket) = try startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let authorized = Env.dir + "/w3/home/.ssh/authorized_keys"
        let before = file(authorized)
        let seen = home + "/seen"
        let r = try run(["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=127.0.1.3", "sh", "-c",
                         "cat $HOME/.ssh/authorized_keys > \(seen); : $0"],
                        stdin: Array("x\n".utf8), env: ["SSH_AUTH_SOCK": socket])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(file(seen).contains("cloudtask-session-"), "the session key is authorized while jobs run: \(file(seen))")
        XCTAssertEqual(file(authorized), before, "only the session's line is removed at cleanup")
        XCTAssertTrue(FileManager.default.fileExists(atPath: sessions + "/1/id_ed25519"))
    }

    func testSSHConfigHostNameUserPortAndIdentityFile() throws {
        try """
        Host fleet-*
            User root
        Host fleet-two
            HostName 127.0.1.2
            IdentityFile \(Env.key)
        Host *
            Port 22
        """.write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        let r = try run(["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=fleet-two", "sh", "-c", "echo $CLOUDTASK_WORKER $(id -un)"],
                        stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "fleet-two root\n")
    }

    func testOverlayPreAndPostRunOnEachWorker() throws {
        let tag = unique()
        let overlay = home + "/overlay"
        try FileManager.default.createDirectory(atPath: overlay + "/tmp/\(tag)", withIntermediateDirectories: true)
        try "from overlay\n".write(toFile: overlay + "/tmp/\(tag)/file", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: "/tmp/\(tag)") }
        let r = try cloudtask(["--overlay=\(overlay)", "--pre=echo pre >> /tmp/\(tag)/log", "--post=echo post >> /tmp/\(tag)/log",
                               "sh", "-c", "cat /tmp/\(tag)/file; : $0"], workers: "127.0.1.1", lines: ["x"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "from overlay\n")
        XCTAssertEqual(file("/tmp/\(tag)/log"), "pre\npost\n")
    }

    func testFailingPreLeavesTheWorkerOutAndOthersRunTheJobs() throws {
        let r = try cloudtask(["--pre=case \"$SSH_CONNECTION\" in *' 127.0.1.1 22') echo no good; exit 1;; esac", "echo"], lines: ["1", "2", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: setup failed: pre command exited 1: no good"), r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["1", "2", "3"])
        XCTAssertFalse(r.stderr.contains("127.0.1.1: exit"), r.stderr)
    }

    func testBadOptionValuesAreOneLineErrorsWithExitTwo() throws {
        let cases: [([String], [String: String], String)] = [
            (["--split=-1"], [:], "--split=-1: expected a whole number 1 or more"),
            (["--timeout=abc"], [:], "--timeout=abc: expected seconds"),
            (["--retries", "x"], [:], "--retries=x: expected a whole number 0 or more"),
            (["--port=70000"], [:], "--port=70000: expected a port number"),
            (["--ssh-identity=/missing/key"], [:], "--ssh-identity=/missing/key: no such file"),
            (["--overlay=/missing/dir"], [:], "--overlay=/missing/dir: no such directory"),
            (["--host-key-policy=maybe"], [:], "--host-key-policy=maybe: expected one of accept-new, strict, off"),
            (["--frobnicate"], [:], "unknown option --frobnicate"),
            (["--split=3"], [:], "--split=3 exceeds the 2 workers given"),
            ([], ["CLOUDTASK_SPLIT": "four"], "CLOUDTASK_SPLIT=four: expected a whole number 1 or more"),
            ([], ["CLOUDTASK_TIMEOUT": "-5"], "CLOUDTASK_TIMEOUT=-5: expected seconds"),
            (["--resume=1", "--retry=1"], [:], "--resume and --retry cannot be used together"),
            (["--workers=127.0.1.1:99999"], [:], "bad port"),
            (["--workers="], [:], "--workers=: no worker addresses"),
            (["--user="], [:], "--user=: expected a name"),
            (["--joblog=/missing/dir/joblog"], [:], "--joblog=/missing/dir/joblog: no such directory /missing/dir"),
            (["--joblog=/tmp"], [:], "--joblog=/tmp: is a directory"),
            (["--results=/etc/hostname"], [:], "--results=/etc/hostname: not a directory"),
        ]
        for (arguments, env, message) in cases {
            let r = try run(base + ["--workers=127.0.1.1 127.0.1.2"] + arguments + ["echo"], stdin: Array("x\n".utf8), env: env)
            XCTAssertEqual(r.status, 2, "\(arguments) \(env): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("cloudtask: ") && r.stderr.contains(message), "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions), "nothing may start on a bad option")
    }

    func testEnvironmentValuesAreConvertedLikeTheCommandLine() throws {
        let r = try cloudtask(["sh", "-c", "echo $CLOUDTASK_SLOT"], workers: "127.0.1.1", lines: ["a", "b"],
                              env: ["CLOUDTASK_SLOTS": "2", "CLOUDTASK_KEEP_ORDER": "yes"])
        XCTAssertEqual(r.out, "1\n2\n", r.stderr)
        let conf = sessionFile(1, "conf")
        XCTAssertTrue(conf.contains("\"slots\" : 2"), conf)
    }

    func testHelpAndVersion() throws {
        let help = try run(["--help"])
        XCTAssertEqual(help.status, 0)
        for option in ["--workers", "--split", "--slots", "--timeout", "--retries", "--strikes", "--user", "--port", "--ssh-identity",
                       "--pre", "--post", "--overlay", "--sessions", "--force", "--dry-run", "--host-key-policy", "--known-hosts",
                       "--tag", "--keep-order", "--line-buffer", "--pty"] {
            XCTAssertTrue(help.out.contains(option), option)
        }
        XCTAssertTrue(try run(["--version"]).out.hasPrefix("cloudtask "))
    }

}
