// Issue 11, item 8: --env exports local variables to every job, set inside the remote wrapper (no AcceptEnv);
// secrets travel on the channel's stdin, never in the exec request, the conf or a hook's environment.
import Foundation
import XCTest

final class EnvironmentTests: IntegrationCase {
    func testVariablesReachEveryJobExactly() throws {
        let hostile = "a b'c\"d $HOME `id` \\e\ttab"
        let r = try cloudtask(["--env=PLAIN", "--env=INLINE=x y", "sh", "-c", "printf '[%s][%s][%s]\\n' \"$PLAIN\" \"$INLINE\" $0"],
                              lines: ["1", "2"], env: ["PLAIN": hostile])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["[\(hostile)][x y][1]", "[\(hostile)][x y][2]"])
        XCTAssertTrue(sessionFile(1, "conf").contains("PLAIN"), "a plain --env is kept for resume")
        let unset = try cloudtask(["--env=NOT_SET_ANYWHERE", "true"], lines: ["1"])
        XCTAssertEqual(unset.status, 2)
        XCTAssertEqual(unset.stderr, "cloudtask: --env=NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set in the environment\n")
        let bad = try cloudtask(["--env=1BAD", "true"], lines: ["1"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--env=1BAD: expected NAME or NAME=VALUE"), bad.stderr)
    }

    func testSecretsStayOutOfTheProcessListTheConfAndHooks() throws {
        let secret = "s3cr3t-\(unique())\nsecond line \\ $x"
        let marker = unique()
        let hook = home + "/hook-env"
        let r = try cloudtask(["--env=API_TOKEN", "--report=sh: env > \(hook)", "sh", "-c",
                               "printf '%s' \"$API_TOKEN\" > \(home)/seen; sleep 2; : \(marker)"],
                              workers: "127.0.1.1", lines: ["1"], env: ["API_TOKEN": secret]) { _ in
            self.waitWhile(tries: 100, every: 0.05) { self.remoteProcesses(marker).isEmpty }
            XCTAssertFalse(self.remoteProcesses(marker).isEmpty, "the job runs")
            XCTAssertEqual(self.remoteProcesses("s3cr3t-"), [], "a secret never shows in a process list")
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(file(home + "/seen"), secret, "the job gets the exact value, newline and all")
        XCTAssertFalse(sessionFile(1, "conf").contains("s3cr3t"), sessionFile(1, "conf"))
        XCTAssertTrue(sessionFile(1, "conf").contains("API_TOKEN"))
        let options = file(hook).split(separator: "\n").filter { $0.hasPrefix("CLOUDTASK_") }
        XCTAssertTrue(options.contains { $0.hasPrefix("CLOUDTASK_ENV=") }, options.joined(separator: "\n"))
        XCTAssertFalse(options.contains { $0.contains("s3cr3t") }, "hooks see the options without secrets")
        XCTAssertFalse(sessionFile(1, "journal").contains("s3cr3t"))
        XCTAssertFalse(sessionFile(1, "log").contains("s3cr3t"))
    }

    func testResumeNeedsASecretAgainAndSaysSo() throws {
        // --halt=1 on a failing first job leaves the second pending.
        let first = try cloudtask(["--halt=1", "--slots=1", "--env=DB_PASSWORD", "sh", "-c", "[ $0 = 2 ] && [ \"$DB_PASSWORD\" = pw ]"],
                                  workers: "127.0.1.1", lines: ["1", "2"], env: ["DB_PASSWORD": "pw"])
        XCTAssertEqual(first.status, 1, first.stderr)
        let without = try run(base + ["--resume=1"])
        XCTAssertEqual(without.status, 2)
        XCTAssertTrue(without.stderr.contains("--env=DB_PASSWORD: DB_PASSWORD is not set in the environment "
                                              + "(a secret's value is never saved in the session: set it again to resume)"),
                      without.stderr)
        let with = try run(base + ["--resume=1"], env: ["DB_PASSWORD": "pw"])
        XCTAssertEqual(with.status, 1, "job 1 still failed; job 2 ran with the secret: \(with.stderr)")
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").map { $0.prefix(7) }, ["EXIT=1\t", "EXIT=0\t"])
    }

    func testACtshTaskTakesEnvAsAList() throws {
        let ctsh = Env.root + "/.build/debug/ctsh"
        let r = try run(["-e", """
            local t = task{command = "sh -c 'printf %s,%s \\"$A\\" \\"$B\\"'", jobs = {"x"}, env = {"A", "B=two"},
                           workers = {"127.0.1.1"}, identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
            print(t:run().ok)
            """], env: ["CLOUDTASK_SESSIONS": sessions, "A": "one"], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "one,two1\n", r.stderr)
    }
}
