// Machine-readable results through the built cloudtask: --joblog (read back by GNU parallel), --results,
// and --status from another process while a session runs.
import Foundation
import XCTest

final class ReportTests: IntegrationCase {
    func testJoblogIsGNUParallelsFormatAndItsResumeReadsIt() throws {
        let joblog = home + "/joblog"
        let r = try cloudtask(["--joblog=\(joblog)", "sh", "-c", "echo out $0; exit $(($0 == 2))"], lines: ["1", "2", "3", "4"])
        XCTAssertEqual(r.status, 1)
        let lines = file(joblog).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(lines.first, ["Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive", "Exitval", "Signal", "Command"])
        XCTAssertEqual(lines.count, 5)
        for fields in lines.dropFirst() {
            XCTAssertEqual(fields.count, 9, "\(fields)")
            let seq = Int(fields[0])!
            XCTAssertTrue(fields[1].hasPrefix("127.0.1."))
            XCTAssertGreaterThan(Double(fields[2])!, 1_700_000_000)
            XCTAssertGreaterThanOrEqual(Double(fields[3])!, 0)
            // Send and Receive are the bytes of files transferred and returned (--transfer, --return): none here.
            XCTAssertEqual(fields[4], "0")
            XCTAssertEqual(fields[5], "0")
            XCTAssertEqual(fields[6], seq == 2 ? "1" : "0")
            XCTAssertEqual(fields[7], "0")
            XCTAssertEqual(fields[8], "sh -c 'echo out $0; exit $(($0 == 2))' \(seq)")
        }
        // GNU parallel's --resume skips every Seq the joblog has; --resume-failed reruns only the failed one.
        let rerun = output(["/usr/bin/parallel", "--will-cite", "--joblog", joblog, "--resume-failed", "echo", "rerun", "{}"],
                           stdin: Array("1\n2\n3\n4\n".utf8))
        XCTAssertEqual(rerun, "rerun 2\n")
    }

    func testResultsFolderPerJobNumberNeverPerJobText() throws {
        let results = home + "/results"
        let r = try cloudtask(["--results=\(results)", "sh", "-c", "echo out; echo err >&2; exit 3; : $0"], workers: "127.0.1.1",
                              lines: ["../../etc/passwd", "'a\tb'"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: results).sorted(), ["1", "2"])
        XCTAssertEqual(file(results + "/1/stdout"), "out\n")
        XCTAssertEqual(file(results + "/1/stderr"), "err\n")
        XCTAssertEqual(file(results + "/1/exit"), "EXIT=3\n")
        XCTAssertEqual(file(results + "/1/input"), "../../etc/passwd\n")
        XCTAssertEqual(file(results + "/2/input"), "'a\tb'\n")
        XCTAssertEqual(file(results + "/1/worker"), "127.0.1.1\n")
        XCTAssertTrue(file(results + "/1/timing").hasPrefix("start "), file(results + "/1/timing"))
    }

    func testStatusFromAnotherProcessWhileTheSessionRuns() throws {
        var during: Result?
        _ = try cloudtask(["sh", "-c", "sleep $0"], workers: "127.0.1.1", lines: ["0", "3", "3"]) { process in
            // Job 1 ended and job 2 started (its start record journaled): one done, one running, one pending.
            self.waitWhile(tries: 100, every: 0.05) { !self.sessionFile(1, "journal").contains("\"start\":2") }
            during = try? self.run(["--sessions=\(self.sessions)", "--status=1"])
        }
        XCTAssertEqual(during?.status, 0)
        XCTAssertTrue(during?.out.hasPrefix("session 1: running (pid ") ?? false, during?.out ?? "")
        XCTAssertTrue(during?.out.contains("1/3 done: 1 OK, 0 failed, 0 timeouts, 0 lost, 1 running, 1 pending") ?? false, during?.out ?? "")
        let after = try run(["--sessions=\(sessions)", "--status=1"])
        XCTAssertTrue(after.out.hasPrefix("session 1: finished, 3/3 done: 3 OK"), after.out)
        XCTAssertEqual(try run(["--sessions=\(sessions)", "--status=5"]).status, 2)
    }

    func testLogalyzerOnARealSessionWritesOutputsByJobNumber() throws {
        _ = try cloudtask(["sh", "-c", "echo line $0; exit $(($0 == 2))"], lines: ["1", "2", "../../etc/passwd"])
        let out = home + "/analysis"
        let r = try run(["1", out], env: ["CLOUDTASK_SESSIONS": sessions], binary: Env.root + "/.build/debug/cloudtask-logalyzer")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.hasPrefix("session 1: 00:00:0"), r.out)
        XCTAssertTrue(r.out.contains("3 jobs - 0 pending, 2 failed, 1 completed"), r.out)
        XCTAssertTrue(r.out.contains("line 2"), "a failure shows its output: \(r.out)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/failures").sorted(), ["2", "3"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/succeeded"), ["1"])
        XCTAssertTrue(file(out + "/failures/3").contains("line ../../etc/passwd"))
        let missing = try run(["9"], env: ["CLOUDTASK_SESSIONS": sessions], binary: Env.root + "/.build/debug/cloudtask-logalyzer")
        XCTAssertEqual(missing.status, 2)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
    }
}
