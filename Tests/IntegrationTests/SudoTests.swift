// --sudo (issue 11, item 4): logging in as a normal user, jobs, hooks and the overlay as root, through the test
// workers' users ct-sudo (NOPASSWD) and ct-sudopw (sudo asks; scripts/test-workers up makes both).
import Foundation
import XCTest

final class SudoTests: IntegrationCase {
    var passwordFile: String { Env.environment["CLOUDTASK_TEST_SUDO_PASSWORD_FILE"] ?? Env.dir + "/sudo-password" }
    var password: String { file(passwordFile).trimmingCharacters(in: .newlines) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard output(["/usr/bin/id", "-u", "ct-sudopw"]) != "" && !password.isEmpty else {
            throw HarnessError(message: "no sudo test users: run scripts/test-workers up 5")
        }
    }

    func testJobsPreAndPostRunAsRootAndTheOverlayWritesRootFiles() throws {
        let tag = unique()
        let overlay = home + "/overlay"
        try FileManager.default.createDirectory(atPath: overlay + "/etc/\(tag)", withIntermediateDirectories: true)
        try "from overlay\n".write(toFile: overlay + "/etc/\(tag)/file", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: "/etc/\(tag)") }
        // /etc is root's: only a root pre, post or overlay can write there.
        let r = try cloudtask(["--sudo", "--overlay=\(overlay)", "--pre=id -u > /etc/\(tag)/pre",
                               "--post=id -u > /etc/\(tag)/post", "sh", "-c", "id -u; : $0"],
                              workers: "ct-sudo@127.0.1.1", lines: ["a", "b"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "0\n0\n")
        XCTAssertEqual(file("/etc/\(tag)/pre"), "0\n")
        XCTAssertEqual(file("/etc/\(tag)/post"), "0\n")
        let owner = try FileManager.default.attributesOfItem(atPath: "/etc/\(tag)/file")[.ownerAccountID] as? Int
        XCTAssertEqual(owner, 0)
        XCTAssertEqual(file("/etc/\(tag)/file"), "from overlay\n")
    }

    func testSudoUserRunsJobsAsThatUser() throws {
        let r = try cloudtask(["--sudo", "--sudo-user=ct-sudopw", "id", "-n"], workers: "ct-sudo@127.0.1.1", lines: ["-u"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "ct-sudopw\n")
    }

    func testATimeoutUnderSudoKillsTheWholeRootGroup() throws {
        for (worker, password) in [("ct-sudo@127.0.1.1", false), ("ct-sudopw@127.0.1.2", true)] {
            for pty in [false, true] {
                let marker = unique()
                let options = ["--sudo", "--timeout=1"] + (password ? ["--sudo-password-file=\(passwordFile)"] : [])
                    + (pty ? ["--pty"] : [])
                let r = try cloudtask(options + ["sh", "-c", "sleep 1000 & (sleep 1001; echo) & sleep 999; : $0"],
                                      workers: worker, lines: [marker])
                XCTAssertEqual(r.status, 1, r.stderr)
                XCTAssertTrue(r.stderr.contains("\(worker): timeout # sh -c"), r.stderr)
                waitWhile(tries: 40, every: 0.1) { !remoteProcesses(marker).isEmpty }
                XCTAssertEqual(remoteProcesses(marker), [], "processes left on \(worker) (pty: \(pty)) after the timeout")
            }
        }
    }

    func testPtyUnderSudoUsePty() throws {
        // Debian's sudoers has `Defaults use_pty`: sudo relays a terminal of its own to ours.
        for (worker, extra) in [("ct-sudo@127.0.1.1", []), ("ct-sudopw@127.0.1.1", ["--sudo-password-file=\(passwordFile)"])] {
            let r = try cloudtask(["--sudo", "--pty"] + extra + ["sh", "-c", "id -u; [ -t 1 ] && echo tty; echo err >&2; : $0"],
                                  workers: worker, lines: ["x"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.out, "0\ntty\nerr\n", "merged, no carriage returns, no echoed password")
        }
    }

    func testAPasswordRunsJobsWithSecretsAfterIt() throws {
        let r = try cloudtask(["--sudo", "--sudo-password-file=\(passwordFile)", "--env=API_TOKEN=t0k en", "sh", "-c",
                               "echo \"$(id -u) $API_TOKEN $0\""],
                              workers: "ct-sudopw@127.0.1.1", lines: ["a", "b"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["0 t0k en a", "0 t0k en b"])
    }

    func testAWrongOrMissingPasswordLeavesTheWorkerOutAndTheBatchGoesOn() throws {
        let wrong = home + "/wrong"
        try "not-it\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        // ct-sudo's sudo asks nothing: the password line is consumed all the same, and its jobs run.
        for (extra, problem) in [(["--sudo-password-file=\(wrong)"], "incorrect password"), ([], "a password is required")] {
            let r = try cloudtask(["--sudo"] + extra + ["sh", "-c", "echo $(id -u) $0"],
                                  workers: "ct-sudopw@127.0.1.1 ct-sudo@127.0.1.2", lines: ["a", "b", "c"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("ct-sudopw@127.0.1.1: setup: sudo: \(problem)\n"), r.stderr)
            XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["0 a", "0 b", "0 c"])
        }
    }

    func testThePasswordIsInNoProcessListConfLogJournalOrHook() throws {
        let marker = unique()
        let hook = home + "/hook-env"
        for (n, viaFile) in [(1, true), (2, false)] {
            let options = ["--sudo", "--report=sh: env > \(hook)"] + (viaFile ? ["--sudo-password-file=\(passwordFile)"] : [])
            let r = try cloudtask(options + ["sh", "-c", "sleep 2; id -u; : \(marker)"],
                                  workers: "ct-sudopw@127.0.1.1", lines: ["1"],
                                  env: viaFile ? [:] : ["CLOUDTASK_SUDO_PASSWORD": password]) { _ in
                self.waitWhile(tries: 100, every: 0.05) { self.remoteProcesses(marker).isEmpty }
                XCTAssertFalse(self.remoteProcesses(marker).isEmpty, "the job runs")
                XCTAssertEqual(self.remoteProcesses(self.password), [], "the password never shows in a process list")
            }
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.out, "0\n")
            for name in ["conf", "journal", "log", "workers/1"] {
                XCTAssertFalse(sessionFile(n, name).contains(password), name)
            }
            XCTAssertTrue(file(hook).contains("CLOUDTASK_SESSION_ID="), "the hook ran")
            XCTAssertFalse(file(hook).contains(password), "a hook's environment has no sudo password")
            XCTAssertFalse(r.stderr.contains(password))
        }
    }

    func testSudoOptionsWithoutSudoAreAUsageError() throws {
        let r = try run(base + ["--workers=127.0.1.1", "--sudo-user=nobody", "true"], stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--sudo-user and --sudo-password-file need --sudo"), r.stderr)
    }


    // MARK: - ctsh pools (issue 11: every item in pools)

    /// Runs `source` in ctsh, with `pool(...)` a Lua function giving a pool of worker 1 with the test key.
    func ctsh(_ source: String, env: [String: String] = [:]) throws -> Result {
        let prelude = """
            local function pool(t)
              t[1] = t[1] or "127.0.1.1"; t.identity = "\(Env.key)"; t.known_hosts = "\(Env.knownHosts)"
              return workers(t)
            end
            """
        return try run(["-e", prelude + "\n" + source], env: ["CLOUDTASK_SESSIONS": sessions].merging(env) { $1 },
                       binary: Env.root + "/.build/debug/ctsh")
    }

    func testPoolRunUnderSudoIsRootWithOrWithoutAPassword() throws {
        let r = try ctsh("""
            print(pool{user = "ct-sudo", sudo = true}:run("id -u")["127.0.1.1"].output)
            print(pool{user = "ct-sudopw", sudo = true, sudo_password_file = "\(passwordFile)"}:run("id -u")["127.0.1.1"].output)
            print(pool{user = "ct-sudo", sudo = true, sudo_user = "ct-sudopw"}:run("id -un")["127.0.1.1"].output)
            print(pool{user = "ct-sudopw", sudo = true}:run("id -u")["127.0.1.1"].output)
            """, env: ["CLOUDTASK_SUDO_PASSWORD": password])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "0\n\n0\n\nct-sudopw\n\n0\n\n")
    }

    func testAWrongOrMissingSudoPasswordIsThatHostsErrorInTheResult() throws {
        let wrong = home + "/wrong"
        try "not-it\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let r = try ctsh("""
            local p = workers{"ct-sudopw@127.0.1.1", "ct-sudo@127.0.1.2", sudo = true, sudo_password_file = "\(wrong)",
                              identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
            local r = p:run("id -u")
            print(r["ct-sudopw@127.0.1.1"].error, r["ct-sudopw@127.0.1.1"].exit, r["ct-sudo@127.0.1.2"].output)
            print(pool{user = "ct-sudopw", sudo = true}:run("id -u")["127.0.1.1"].error)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "sudo: incorrect password\tnil\t0\n\nsudo: a password is required\n")
    }

    func testATaskOnASudoPoolRunsItsJobsAndHooksAsRoot() throws {
        let tag = unique()
        defer { try? FileManager.default.removeItem(atPath: "/etc/\(tag)") }
        let r = try ctsh("""
            local p = pool{user = "ct-sudopw", sudo = true, sudo_password_file = "\(passwordFile)"}
            task{command = {"sh", "-c", "id -u; : $0"}, workers = p, jobs = {"a", "b"},
                 pre = "id -u > /etc/\(tag)"}:run()
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "0\n0\n")
        XCTAssertEqual(file("/etc/\(tag)"), "0\n")
    }

    func testSudoOptionsWithoutSudoInAPoolAreABadOption() throws {
        let r = try ctsh("pool{sudo_user = 'x'}:run('true')")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("bad option to 'run': --sudo-user and --sudo-password-file need --sudo"), r.stderr)
    }
}
