// --report hooks through the built cloudtask: mail to a real SMTP server on loopback (aiosmtpd),
// sh and lua hooks seeing the documented variables, and failing hooks that change nothing.
import Engine
import Foundation
import XCTest

final class HookTests: IntegrationCase {
    func testMailIsDeliveredWithSubjectRecipientsAndReport() throws {
        let maildir = home + "/maildir"
        let (server, port) = try startServer { ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\($0)", "-c", "aiosmtpd.handlers.Mailbox", maildir] }
        defer { server.terminate(); server.waitUntilExit() }
        let r = try cloudtask(["--report=mail: cloudtask@example.com ops+batch@example.com Jane Q-Doe <jane-doe@example.org>", "sh", "-c", "exit $(($0 == 2))"],
                              lines: ["1", "2", "3"], env: ["CLOUDTASK_SMTP_URL": "smtp://127.0.0.1:\(port)"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertFalse(r.stderr.contains("report mail"), r.stderr)
        var messages: [String] = []
        waitWhile(tries: 100, every: 0.05) {
            messages = ((try? FileManager.default.contentsOfDirectory(atPath: maildir + "/new")) ?? []).map { self.file(maildir + "/new/" + $0) }
            return messages.count < 2
        }
        XCTAssertEqual(messages.count, 2, "one mail per recipient")
        let joined = messages.joined(separator: "\n=====\n")
        XCTAssertTrue(joined.contains("Subject: [Cloudtask] session 1: 1/3 !OK (sh -c 'exit $(($0 == 2))')"), joined)
        XCTAssertTrue(joined.contains("From: cloudtask@example.com"), joined)
        XCTAssertTrue(joined.contains("X-RcptTo: ops+batch@example.com"), joined)
        XCTAssertTrue(joined.contains("X-RcptTo: jane-doe@example.org"), joined)
        XCTAssertTrue(joined.contains("To: Jane Q-Doe <jane-doe@example.org>"), joined)
        XCTAssertTrue(joined.contains("session 1"), "the body is the session report: \(joined)")
    }

    func testShAndLuaHooksSeeTheSessionAndFailuresChangeNothing() throws {
        let out = home + "/hook"
        let r = try cloudtask(["--split=1", "--timeout=1",
                               "--report=sh: echo \"$CLOUDTASK_SESSION_ID $CLOUDTASK_SESSION_TOTAL $CLOUDTASK_SESSION_OK $CLOUDTASK_SESSION_TIMEOUTS $CLOUDTASK_SESSION_EXIT $CLOUDTASK_SPLIT $CLOUDTASK_TIMEOUT $(pwd)\" > \(out).sh",
                               "--report=lua: local f = io.open('\(out).lua', 'w') f:write(session.id, ' ', session.total, ' ', session.jobs[2].status, ' ', session.jobs[2].input, ' ', session.config.split, ' ', session.jobs[1].output, session.workers[1].address, ' ', session.workers[1].jobs) f:close()",
                               "--report=sh: exit 7", "--report=lua: error('boom')",
                               "sh", "-c", "echo slept $0; sleep $0"], lines: ["0", "5"])
        XCTAssertEqual(r.status, 1, "a timed-out job, and failing hooks do not change that")
        XCTAssertEqual(file(out + ".sh"), "1 2 1 1 1 1 1 \(sessions)/1\n")
        XCTAssertEqual(file(out + ".lua"), "1 2 timeout 5 1 slept 0\n127.0.1.1 2")
        XCTAssertTrue(r.stderr.contains("cloudtask: report sh: 'exit 7' exited 7"), r.stderr)
        XCTAssertTrue(r.stderr.contains("cloudtask: report lua: report:1: boom"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").first, "EXIT=0\tsh -c 'echo slept $0; sleep $0' 0")
        let bad = try cloudtask(["--report=fax: 555", "true"], lines: ["x"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--report: 'fax: 555': unknown hook 'fax'"), bad.stderr)
    }

    func testHooksRunAfterAnAbortToo() throws {
        let out = home + "/aborted"
        let marker = unique()
        let r = try cloudtask(["--report=sh: echo $CLOUDTASK_SESSION_PENDING > \(out)", "sh", "-c", "sleep 30; : $0"], workers: "127.0.1.1",
                              lines: [marker]) { process in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).isEmpty }
            process.interrupt()
        }
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(file(out), "1\n")
    }

    func testAHookThatLeavesADaemonDoesNotHoldCloudtask() throws {
        let marker = unique()
        defer { shell("pkill -f \(marker)") }
        let started = Date()
        let r = try cloudtask(["--report=sh: sh -c 'sleep 30; : \(marker)' & echo hook started", "true"], lines: ["x"], timeout: 25)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("hook started"), r.out)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "cloudtask waited for the hook's background process")
    }
}
