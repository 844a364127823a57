// SessionReport (cloudtask-logalyzer) on crafted session folders: conf, journal, workers/<n> and instances
// written by hand in a temp dir; and once on a session made by the engine itself (Session + Runner + FakeTransport).
import Foundation
import XCTest
@testable import Engine
@testable import SessionReading

final class ReportTests: XCTestCase {

    /// A session folder written by hand.
    final class Crafted {
        let root: String
        let path: String
        var journal: [String] = []

        init(id: Int = 7, config: TaskConfig = TaskConfig()) throws {
            root = NSTemporaryDirectory() + "ct-report-" + UUID().uuidString
            path = root + "/sessions/" + String(id)
            try FileManager.default.createDirectory(atPath: path + "/workers", withIntermediateDirectories: true)
            try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path + "/conf"))
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        /// Journals jobs 1... with these texts.
        func jobs(_ texts: [String]) {
            for (i, text) in texts.enumerated() {
                let object: [String: Any] = ["job": i + 1, "input": text, "text": text]
                let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                journal.append(String(decoding: data, as: UTF8.self))
            }
        }
        func run(_ at: Double) { journal.append("{\"run\":\(at)}") }
        func start(_ job: Int, _ worker: String, attempt: Int = 1) { journal.append("{\"start\":\(job),\"worker\":\"\(worker)\",\"attempt\":\(attempt)}") }
        func end(_ job: Int, seconds: Double, at: Double, _ result: String) {
            journal.append("{\"end\":\(job),\"seconds\":\(seconds),\"at\":\(at),\(result)}")
        }
        func record(_ line: String) { journal.append(line) }
        func stop(_ at: Double) { journal.append("{\"stop\":4242,\"at\":\(at)}") }

        func write(torn: String? = nil) throws {
            var text = journal.map { $0 + "\n" }.joined()
            if let torn { text += torn }
            try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/journal"))
        }

        /// Appends to workers/<n>.
        func log(_ n: Int, _ text: String) throws {
            try appendBytes(n, Array(text.utf8))
        }
        func appendBytes(_ n: Int, _ bytes: [UInt8]) throws {
            let file = path + "/workers/" + String(n)
            if !FileManager.default.fileExists(atPath: file) { _ = FileManager.default.createFile(atPath: file, contents: nil) }
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: file))
            handle.seekToEndOfFile()
            handle.write(Data(bytes))
            try handle.close()
        }
        /// One job's block as the runner logs it.
        func block(_ n: Int, worker: String, job: Int, text: String, output: String, state: String = "exit 0",
                   stamp: String = "2024-05-01 10:00:00") throws {
            let first = String(("x # " + text).split(separator: "\n")[0]).dropFirst(4)
            try log(n, "# \(stamp) [\(worker)] job \(job): \(text)\n\(output)# \(stamp) [\(worker)] \(state) # \(first)\n")
        }

        func ledger(_ lines: [String]) throws {
            try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path + "/instances"))
        }

        func report() throws -> SessionReport { try SessionReport.load(path: path) }
    }

    static func lines(_ range: ClosedRange<Int>, _ prefix: String) -> String {
        range.map { "\(prefix) line \($0)\n" }.joined()
    }

    // MARK: - Failures, timeouts, pending

    func testFailuresAreGroupedByWorkerWithTheirLastFiveLines() throws {
        var config = TaskConfig()
        config.command = ["./crunch"]
        let s = try Crafted(config: config)
        s.jobs(["./crunch a", "./crunch b", "./crunch c", "./crunch d", "./crunch e"])
        s.run(1000)
        s.start(1, "w1"); s.start(3, "w2")
        s.end(1, seconds: 2, at: 1002, "\"exit\":0")
        s.start(2, "w1")
        s.end(3, seconds: 4, at: 1004, "\"exit\":2")
        s.start(4, "w2")
        s.end(2, seconds: 5, at: 1007, "\"exit\":1")
        s.end(4, seconds: 3, at: 1007.5, "\"signal\":\"KILL\"")
        s.start(5, "w1")
        s.end(5, seconds: 2.5, at: 1010, "\"exit\":1")
        s.stop(1010)
        try s.write()
        try s.block(1, worker: "w1", job: 1, text: "./crunch a", output: "fine\n")
        try s.block(1, worker: "w1", job: 2, text: "./crunch b", output: Self.lines(1...7, "b"), state: "exit 1")
        try s.block(1, worker: "w1", job: 5, text: "./crunch e", output: "e only\n", state: "exit 1")
        try s.block(2, worker: "w2", job: 3, text: "./crunch c", output: Self.lines(1...2, "c"), state: "exit 2")
        try s.block(2, worker: "w2", job: 4, text: "./crunch d", output: "killed\n", state: "signal KILL")

        let text = try s.report().text()
        XCTAssertTrue(text.hasPrefix("session 7: 00:00:10 elapsed, 5 jobs - 0 pending, 4 failed, 1 completed\n===="), text)
        XCTAssertTrue(text.contains("4 failed - errors: 3, signals: 1\n" + String(repeating: "=", count: 32) + "\n\nErrors\n------\n\n"), text)
        for total in ["OK               1", "exit 1           2", "exit 2           1", "signal KILL      1", "timeouts         0", "pending          0"] {
            XCTAssertTrue(text.contains("    " + total + "\n"), "missing \(total) in\n\(text)")
        }
        // Grouped: w1's two failures together, then w2's.
        let w1 = try XCTUnwrap(text.range(of: "w1: 2 jobs\n"))
        let w2 = try XCTUnwrap(text.range(of: "w2: 2 jobs\n"))
        XCTAssertLessThan(w1.lowerBound, w2.lowerBound)
        let jobB = try XCTUnwrap(text.range(of: "    job 2 (exit 1, 5.0s): ./crunch b\n        [last 5 of 7 lines]\n        b line 3\n        b line 4\n        b line 5\n        b line 6\n        b line 7\n"), text)
        let jobE = try XCTUnwrap(text.range(of: "    job 5 (exit 1, 2.5s): ./crunch e\n        e only\n"))
        XCTAssertTrue(w1.lowerBound < jobB.lowerBound && jobB.lowerBound < w2.lowerBound && jobE.lowerBound < w2.lowerBound)
        XCTAssertFalse(text.contains("b line 2"))
        XCTAssertTrue(text.contains("    job 3 (exit 2, 4.0s): ./crunch c\n        c line 1\n        c line 2\n"), text)
        XCTAssertTrue(text.contains("    job 4 (signal KILL, 3.0s): ./crunch d\n        killed\n"), text)
        XCTAssertFalse(text.contains("fine"), "a succeeded job's output is not in the report")
        // Workers: jobs, work time, lifetime (first start to last end).
        XCTAssertTrue(text.contains("w1      3     1   2       9.5s       10.0s     95%"), text)
        XCTAssertTrue(text.contains("w2      2     0   2       7.0s       7.5s      93%"), text)
        XCTAssertFalse(text.contains("Cost"))
    }

    func testTimeoutsAndPendingJobsOfACrashedSession() throws {
        var config = TaskConfig()
        config.timeout = 30
        let s = try Crafted(config: config)
        s.jobs(["sleep 1", "sleep 99", "sleep 2", "sleep 3", "sleep 4"])
        s.run(5000)
        s.start(1, "w1"); s.start(2, "w2")
        s.end(1, seconds: 1, at: 5001, "\"exit\":0")
        s.start(3, "w1")
        s.end(2, seconds: 30, at: 5030, "\"timeout\":true")
        s.start(4, "w2")
        s.end(4, seconds: 1, at: 5031, "\"exit\":3")
        s.record("{\"retry\":4}")
        // The controller dies here: job 3 still running, job 4 queued for a retry, job 5 never started.
        try s.write(torn: "{\"start\":4,\"wor")
        try s.block(1, worker: "w1", job: 1, text: "sleep 1", output: "")
        try s.block(2, worker: "w2", job: 2, text: "sleep 99", output: Self.lines(1...3, "z"), state: "timeout")
        try s.block(2, worker: "w2", job: 4, text: "sleep 3", output: "oops\n", state: "exit 3")

        let report = try s.report()
        let text = report.text()
        XCTAssertTrue(text.hasPrefix("session 7: 00:00:31 elapsed, 5 jobs - 3 pending, 1 failed, 1 completed\n"), text)
        XCTAssertTrue(text.contains("the last run has no stop record: its controller crashed or was killed"), text)
        XCTAssertTrue(text.contains("Note: ") && text.contains("is truncated"), text)
        XCTAssertTrue(text.contains("1 failed - timeouts: 1\n======================\n\nTimeouts (after 30.0s)\n----------------------\n\nw2: 1 job\n\n    job 2 (timeout, 30.0s): sleep 99\n        z line 1\n        z line 2\n        z line 3\n"), text)
        XCTAssertTrue(text.contains("3 pending\n=========\n\n"
                                    + "    job 3: sleep 2  (was running on w1 when the controller stopped)\n"
                                    + "    job 4: sleep 3  (last attempt: exit 3 on w2)\n"
                                    + "    job 5: sleep 4\n"), text)
        XCTAssertTrue(text.contains("    timeouts         1\n"), text)
        XCTAssertTrue(text.contains("    pending          3 (1 of them running when last recorded)\n"), text)
        XCTAssertFalse(text.contains("Errors\n"), "the only failure is a timeout\n\(text)")

        // Outputs: finished jobs only.
        let out = s.root + "/out"
        try report.writeOutputs(to: out)
        XCTAssertEqual(try Self.files(under: out), ["failures/2", "succeeded/1"])
        XCTAssertEqual(try String(contentsOfFile: out + "/failures/2", encoding: .utf8), "sleep 99\n" + Self.lines(1...3, "z"))
        XCTAssertEqual(try String(contentsOfFile: out + "/succeeded/1", encoding: .utf8), "sleep 1\n")
    }

    // MARK: - Resumes

    func testResumedSessionsSumElapsedAndUseTheLastAttempt() throws {
        let s = try Crafted(id: 12)
        s.jobs(["job-a", "job-b", "job-c"])
        // Run 1: 3661 s. job-a fails on w1, job-b succeeds, job-c is aborted.
        s.run(100_000)
        s.start(1, "w1"); s.start(2, "w2"); s.start(3, "w2")
        s.end(1, seconds: 10, at: 100_010, "\"exit\":1")
        s.end(2, seconds: 3600, at: 103_601, "\"exit\":0")
        s.record("{\"abort\":3}")
        s.stop(103_661)
        // Run 2 (--retry): 3661 s. job-a is reset and now succeeds on w2 (worker 1 of this run); job-c fails.
        s.record("{\"reset\":1}")
        s.record("{\"reset\":3}")
        s.run(200_000)
        s.start(1, "w2", attempt: 1); s.start(3, "w1")
        s.end(1, seconds: 20, at: 200_020, "\"exit\":0")
        s.end(3, seconds: 30, at: 200_030, "\"exit\":5")
        s.stop(203_661)
        // Run 3 (--retry of job-c): crashes at once, job-c running.
        s.record("{\"reset\":3}")
        s.run(300_000)
        s.start(3, "w1")
        try s.write()
        try s.block(1, worker: "w1", job: 1, text: "job-a", output: "first attempt\n", state: "exit 1", stamp: "2024-05-01 10:00:10")
        try s.block(2, worker: "w2", job: 2, text: "job-b", output: "b done\n", stamp: "2024-05-01 11:00:01")
        try s.block(1, worker: "w2", job: 1, text: "job-a", output: "second attempt\n", stamp: "2024-05-02 10:00:20")
        try s.block(2, worker: "w1", job: 3, text: "job-c", output: "c failed\n", state: "exit 5", stamp: "2024-05-02 10:00:30")

        let report = try s.report()
        XCTAssertEqual(report.runs.count, 3)
        let text = report.text()
        XCTAssertTrue(text.hasPrefix("session 12: 02:02:02 elapsed, 3 jobs - 1 pending, 0 failed, 2 completed\n"), text)
        XCTAssertTrue(text.contains("Runs: 3 (resumed 2 times); the last run has no stop record"), text)
        XCTAssertTrue(text.contains("    run 1: ") && text.contains(", 01:01:01, interrupted (1 job aborted)\n"), text)
        XCTAssertTrue(text.contains("    job 3: job-c  (was running on w1 when the controller stopped)\n"), text)
        // job-c's last attempt (run 3) is still open: no interruption; run 1's abort is in the runs.
        let jobC = try XCTUnwrap(try report.jobs([3]).first)
        XCTAssertEqual(jobC.last?.worker, "w1")
        XCTAssertNil(jobC.last?.interruption)
        XCTAssertEqual(jobC.lastEnd?.state, .exited(5))
        // w2's lifetime: 3600 s in run 1 plus 20 s in run 2 (not the days between the runs).
        XCTAssertTrue(text.contains("w2      2     2   0       1h00m20s   1h00m20s  100%"), text)

        let out = s.root + "/out"
        try report.writeOutputs(to: out)
        XCTAssertEqual(try Self.files(under: out), ["succeeded/1", "succeeded/2"])
        XCTAssertEqual(try String(contentsOfFile: out + "/succeeded/1", encoding: .utf8), "job-a\nsecond attempt\n")
    }

    func testTheElapsedClockKeepsEveryDigit() {
        XCTAssertEqual(SessionReport.clock(7322), "02:02:02")
        XCTAssertEqual(SessionReport.clock(0), "00:00:00")
        XCTAssertEqual(SessionReport.clock(100 * 3600 + 59), "100:00:59")
        XCTAssertEqual(SessionReport.clock(1_234_567), "342:56:07")
    }

    // MARK: - Hostile job texts

    func testHostileJobTextsNeverBecomePaths() throws {
        let s = try Crafted()
        let hostile = ["../../etc/passwd", "echo a\nrm -rf /tmp/x", "/absolute/path", "$(touch pwned)", "..", ""]
        s.jobs(hostile)
        s.run(1)
        for i in 1...6 { s.start(i, "w1") }
        s.end(1, seconds: 1, at: 2, "\"exit\":1")
        s.end(2, seconds: 1, at: 2, "\"exit\":0")
        s.end(3, seconds: 1, at: 2, "\"exit\":0")
        s.end(4, seconds: 1, at: 2, "\"exit\":4")
        s.end(5, seconds: 1, at: 2, "\"exit\":0")
        s.end(6, seconds: 1, at: 2, "\"exit\":0")
        s.stop(3)
        try s.write()
        try s.block(1, worker: "w1", job: 1, text: hostile[0], output: "root:x:0:0\n", state: "exit 1")
        try s.block(1, worker: "w1", job: 2, text: hostile[1], output: "a\n")
        try s.block(1, worker: "w1", job: 3, text: hostile[2], output: "abs\n")
        try s.block(1, worker: "w1", job: 4, text: hostile[3], output: "\u{1b}[31mred\n", state: "exit 4")
        try s.block(1, worker: "w1", job: 5, text: hostile[4], output: "dots\n")
        try s.block(1, worker: "w1", job: 6, text: hostile[5], output: "empty\n")

        let report = try s.report()
        let text = report.text()
        XCTAssertTrue(text.contains("    job 1 (exit 1, 1.0s): ../../etc/passwd\n        root:x:0:0\n"), text)
        XCTAssertTrue(text.contains("    job 4 (exit 4, 1.0s): $(touch pwned)\n        \\x1b[31mred\n"), "escapes are shown, not sent\n\(text)")

        // A symlink planted where an output goes, pointing outside: replaced, never written through.
        let out = s.root + "/deep/out"
        let outside = s.root + "/outside"
        try FileManager.default.createDirectory(atPath: out + "/failures", withIntermediateDirectories: true)
        try Data("keep\n".utf8).write(to: URL(fileURLWithPath: outside))
        XCTAssertEqual(symlink(outside, out + "/failures/1"), 0)
        // A stale file in the other folder (the job's state changed since) goes away.
        try FileManager.default.createDirectory(atPath: out + "/succeeded", withIntermediateDirectories: true)
        try Data("stale\n".utf8).write(to: URL(fileURLWithPath: out + "/succeeded/1"))

        let before = try Self.files(under: s.root).filter { !$0.hasPrefix("deep/out/") }
        try report.writeOutputs(to: out)
        let after = try Self.files(under: s.root).filter { !$0.hasPrefix("deep/out/") }
        XCTAssertEqual(before, after, "nothing is created outside OUTPUT_DIR")
        XCTAssertEqual(try Self.files(under: out), ["failures/1", "failures/4", "succeeded/2", "succeeded/3", "succeeded/5", "succeeded/6"])
        XCTAssertEqual(try String(contentsOfFile: outside, encoding: .utf8), "keep\n")
        var info = stat()
        XCTAssertEqual(lstat(out + "/failures/1", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG)
        XCTAssertEqual(try String(contentsOfFile: out + "/failures/1", encoding: .utf8), "../../etc/passwd\nroot:x:0:0\n")
        XCTAssertEqual(try String(contentsOfFile: out + "/succeeded/2", encoding: .utf8), "echo a\nrm -rf /tmp/x\na\n")
        XCTAssertEqual(try String(contentsOfFile: out + "/succeeded/6", encoding: .utf8), "\nempty\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.root + "/etc"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "pwned"))

        // OUTPUT_DIR/failures being a symlink is refused.
        let out2 = s.root + "/out2"
        try FileManager.default.createDirectory(atPath: out2, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(s.root + "/deep", out2 + "/failures"), 0)
        XCTAssertThrowsError(try report.writeOutputs(to: out2)) { error in
            XCTAssertTrue("\(error)".contains("not a directory"), "\(error)")
        }
    }

    // MARK: - Worker logs

    func testWorkerLogOddities() throws {
        let s = try Crafted()
        s.jobs(["printf partial", "two\nlines", "cat big", "torn", "never logged"])
        s.run(10)
        for i in 1...5 { s.start(i, "w1") }
        s.end(1, seconds: 1, at: 11, "\"exit\":1")
        s.end(2, seconds: 1, at: 11, "\"exit\":1")
        s.end(3, seconds: 1, at: 11, "\"exit\":1")
        s.end(4, seconds: 1, at: 11, "\"exit\":1")
        s.end(5, seconds: 1, at: 11, "\"exit\":1")
        s.stop(12)
        try s.write()
        // Output without a final newline: the end line follows on the same line.
        try s.block(1, worker: "w1", job: 1, text: "printf partial", output: "partial", state: "exit 1")
        // A multi-line job text, and output that looks like status lines.
        try s.block(1, worker: "w1", job: 2, text: "two\nlines", output: "# 2024-05-01 10:00:00 [w1] exit 0 # two\n# not a header\n", state: "exit 1")
        // Non-UTF-8 output kept byte for byte.
        try s.log(1, "# 2024-05-01 10:00:00 [w1] job 3: cat big\n")
        try s.appendBytes(1, [0xFF, 0xFE, 65, 10])
        try s.log(1, "# 2024-05-01 10:00:00 [w1] exit 1 # cat big\n")
        // The controller died while logging job 4: no end line.
        try s.log(1, "# 2024-05-01 10:00:00 [w1] job 4: torn\nhalf of it")

        let report = try s.report()
        let byNumber = Dictionary(uniqueKeysWithValues: try report.jobs(1...5).map { ($0.number, $0) })
        XCTAssertEqual(report.output(of: byNumber[1]!), Array("partial".utf8))
        XCTAssertEqual(report.output(of: byNumber[2]!), Array("# 2024-05-01 10:00:00 [w1] exit 0 # two\n# not a header\n".utf8))
        XCTAssertEqual(report.output(of: byNumber[3]!), [0xFF, 0xFE, 65, 10])
        XCTAssertEqual(report.output(of: byNumber[4]!), Array("half of it".utf8))
        XCTAssertNil(byNumber[5]!.output)
        let text = report.text()
        XCTAssertTrue(text.contains("    job 2 (exit 1, 1.0s): two\\nlines\n"), text)
        XCTAssertTrue(text.contains("    job 3 (exit 1, 1.0s): cat big\n        \u{FFFD}\u{FFFD}A\n"), text)
        XCTAssertTrue(text.contains("    job 4 (exit 1, 1.0s): torn\n        (the worker log is cut short in this job's output)\n        half of it\n"), text)
        XCTAssertTrue(text.contains("    job 5 (exit 1, 1.0s): never logged\n        (no output logged)\n"), text)

        let out = s.root + "/out"
        try report.writeOutputs(to: out)
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: out + "/failures/3"))), Array("cat big\n".utf8) + [0xFF, 0xFE, 65, 10])
    }

    // MARK: - Launched workers

    func testLaunchedInstancesHoursCostAndNotDestroyed() throws {
        var config = TaskConfig()
        config.provider = "ec2"
        config.instanceType = "t3.micro"
        config.slots = 2
        let s = try Crafted(config: config)
        s.jobs(["j1", "j2", "j3", "j4"])
        s.run(1005)
        s.start(1, "10.0.0.1:22"); s.start(2, "10.0.0.1:22"); s.start(3, "10.0.0.2:22")
        s.end(1, seconds: 900, at: 1910, "\"exit\":0")
        s.end(2, seconds: 900, at: 1920, "\"exit\":0")
        s.start(4, "10.0.0.1:22")
        s.end(4, seconds: 900, at: 2810, "\"exit\":0")
        s.end(3, seconds: 2600, at: 3700, "\"exit\":0")
        s.stop(3700)
        try s.write()
        try s.ledger([
            #"{"at":1000,"event":"launch","host":"10.0.0.1","id":"i-aaa","port":22,"provider":"ec2","user":"admin"}"#,
            #"{"at":1000,"event":"launch","host":"10.0.0.2","id":"i-bbb","port":22,"provider":"ec2","user":"admin"}"#,
            #"{"at":1010,"event":"up","host":"10.0.0.1","id":"i-aaa","port":22,"provider":"ec2","user":"admin"}"#,
            #"{"at":1020,"event":"up","host":"10.0.0.2","id":"i-bbb","port":22,"provider":"ec2","user":"admin"}"#,
            #"{"at":2800,"event":"destroyed","host":"10.0.0.1","id":"i-aaa","port":22,"provider":"ec2","user":"admin"}"#,
        ])
        let report = try s.report()
        let text = report.text()
        // i-aaa: 1800 s, 2700 s of work on 2 slots: 75%; $0.0104/h for 1800 s = $0.0052.
        XCTAssertTrue(text.contains("10.0.0.1:22 (i-aaa)  3     3   0       45m00s     30m00s    75%         $0.0052\n"), text)
        // i-bbb: never destroyed, counted up to the last known time (3700): 2700 s = $0.0078.
        XCTAssertTrue(text.contains("10.0.0.2:22 (i-bbb)  1     1   0       43m20s     45m00s    48%         $0.0078  NOT DESTROYED!\n"), text)
        XCTAssertFalse(text.contains("(i-aaa)  3     3   0       45m00s     30m00s    75%         $0.0052  NOT"))
        XCTAssertTrue(text.contains("Instances: 2 launched, 1.25 instance hours (01:15:00), efficiency 59% (work time / (lifetime x 2 slots))"), text)
        XCTAssertTrue(text.contains("Cost: $0.0130 (t3.micro at $0.0104/hour; billed per second, 60 s minimum)"), text)
        XCTAssertTrue(text.contains("WARNING: 1 instance was NOT DESTROYED! (still billed?): cloudtask-destroy-workers --session 7"), text)

        // Per second, from a configurable table.
        let priced = report.text(priceTable: ["t3.micro": 3.6])
        XCTAssertTrue(priced.contains("(i-aaa)  3     3   0       45m00s     30m00s    75%         $1.80\n"), priced)
        XCTAssertTrue(priced.contains("Cost: $4.50 (t3.micro at $3.60/hour"), priced)
        let unknown = report.text(priceTable: [:])
        XCTAssertTrue(unknown.contains("Cost unknown for t3.micro"), unknown)
        XCTAssertFalse(unknown.contains("Cost: "), unknown)
    }

    func testLocalInstancesCostNothingAndStaticWorkersShowNoCost() throws {
        var config = TaskConfig()
        config.provider = "local"
        let s = try Crafted(config: config)
        s.jobs(["a", "b"])
        s.run(50)
        s.start(1, "127.0.1.10:40000"); s.start(2, "static-host")
        s.end(1, seconds: 5, at: 56, "\"exit\":0")
        s.end(2, seconds: 5, at: 57, "\"exit\":0")
        s.stop(60)
        try s.write()
        try s.ledger([
            #"{"at":50,"event":"launch","host":"127.0.1.10","id":"local-7-1","port":40000,"provider":"local","user":"me"}"#,
            #"{"at":51,"event":"up","host":"127.0.1.10","id":"local-7-1","port":40000,"provider":"local","user":"me"}"#,
            #"{"at":59,"event":"destroyed","host":"127.0.1.10","id":"local-7-1","port":40000,"provider":"local","user":"me"}"#,
        ])
        let text = try s.report().text()
        XCTAssertTrue(text.contains("    static-host                   1     1   0       5.0s       5.0s      100%\n"), text)
        XCTAssertTrue(text.contains("    127.0.1.10:40000 (local-7-1)  1     1   0       5.0s       9.0s      56%         $0.0000\n"), text)
        XCTAssertTrue(text.contains("Cost: $0.0000 (local at $0.0000/hour"), text)
        XCTAssertFalse(text.contains("NOT DESTROYED"), text)
    }

    // MARK: - Bad sessions

    func testMissingOrCorruptSessionsAreOneLineUsageErrors() throws {
        func message(_ path: String) -> String? {
            do { _ = try SessionReport.load(path: path); return nil } catch let error as UsageError { return error.message } catch { return "other: \(error)" }
        }
        let s = try Crafted()
        XCTAssertEqual(message(s.root + "/nope"), s.root + "/nope: no such session folder")
        XCTAssertEqual(message(s.path), s.path + ": no journal (not a cloudtask session, or unreadable)")
        s.jobs(["a"])
        s.run(1)
        s.record("garbage")
        s.stop(2)
        try s.write()
        XCTAssertEqual(message(s.path), s.path + "/journal: line 3 is not a journal record; the session is corrupt")
        s.journal.remove(at: 2)
        try s.write()
        XCTAssertNil(message(s.path))
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: s.path + "/conf"))
        XCTAssertEqual(message(s.path), s.path + "/conf is corrupt (not JSON): not a readable cloudtask session")
        // A conf with keys missing (older version) still gives a report.
        try Data(#"{"command":["./x"],"slots":3}"#.utf8).write(to: URL(fileURLWithPath: s.path + "/conf"))
        XCTAssertEqual(try s.report().config.slots, 3)
        try FileManager.default.removeItem(atPath: s.path + "/conf")
        XCTAssertEqual(message(s.path), s.path + "/conf is missing: not a cloudtask session")
        for text in [message(s.root + "/nope"), message(s.path)] { XCTAssertFalse(text!.contains("\n")) }
    }

    // MARK: - A session made by the engine

    func testASessionRunAndRetriedByTheEngine() throws {
        let root = NSTemporaryDirectory() + "ct-report-engine-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        var config = TaskConfig()
        config.quiet = true
        config.retries = 1
        config.slots = 2
        let specs = (1...40).map { JobSpec(number: $0, input: Array("in\($0)".utf8), text: Array("task \($0)".utf8)) }
        let endpoints = (1...3).map { Endpoint(label: "w\($0)", host: "10.0.0.\($0)", port: 22, user: "u", identityFiles: []) }
        var summaries: [RunSummary] = []
        try Self.quietly {
            let session = try Session.create(root: root, config: config)
            let transport = FakeTransport(seed: 42, outcomes: .perAttempt, failPercent: 60, chaos: .init(signal: 0.05, refuse: 0.05, channelFail: 0.05, disconnect: 0.02))
            summaries.append(Runner(config: config, jobs: specs, endpoints: endpoints, split: 3, transport: transport, session: session).run())
            session.unlock()
            // --retry: the failed jobs again.
            let (again, saved, replay) = try Session.open(root: root, id: session.id)
            let jobs = replay.jobs.map { job -> SavedJob in
                var job = job
                if job.state != .exited(0) { job.state = .pending }
                return job
            }
            let transport2 = FakeTransport(seed: 43, outcomes: .perAttempt, failPercent: 60, chaos: .init(signal: 0.05, refuse: 0.05, channelFail: 0.05, disconnect: 0.02))
            summaries.append(Runner(config: saved, saved: jobs, fresh: false, endpoints: endpoints, split: 3, transport: transport2,
                                    session: again, reset: true).run())
            again.unlock()
        }
        let summary = try XCTUnwrap(summaries.last)
        let report = try SessionReport.load(path: root + "/1")
        XCTAssertEqual(report.runs.count, 2)
        XCTAssertTrue(report.runs.allSatisfy(\.stopped))
        let text = report.text()
        XCTAssertTrue(text.hasPrefix("session 1: "), text)
        XCTAssertTrue(text.contains(" elapsed, 40 jobs - \(summary.pending) pending, \(summary.failed + summary.timeouts) failed, \(summary.ok) completed\n"), text)
        for job in try report.jobs(1...report.index.count) where job.state.finished && job.state != .lost {
            let logged = try XCTUnwrap(job.output, "job \(job.number) has its output")
            XCTAssertFalse(logged.earlier, "job \(job.number): the last attempt's output")
            XCTAssertEqual(logged.state, job.state.logText, "job \(job.number)")
            XCTAssertEqual(logged.label, job.lastEnd?.worker)
            let output = String(decoding: report.output(of: job), as: UTF8.self)
            XCTAssertFalse(output.contains("] job "), "job \(job.number)'s output holds no other block:\n\(output)")
        }
        let out = root + "/out"
        try report.writeOutputs(to: out)
        let files = try Self.files(under: out)
        XCTAssertEqual(files.filter { $0.hasPrefix("succeeded/") }.count, summary.ok)
        XCTAssertEqual(files.filter { $0.hasPrefix("failures/") }.count, summary.failed + summary.timeouts)
        for file in files {
            let number = Int(file.split(separator: "/")[1])!
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
            XCTAssertTrue(data.starts(with: Data("task \(number)\n".utf8)), file)
        }
    }

    // MARK: - Issue 10: memory that does not grow with the batch

    /// Issue 10: 200k jobs, most never started, 720 failed on 3 workers, 80 timed out: the report counts them
    /// all and lists only the first few of each kind, saying how many more there are.
    func testIssue10AHugeJournalGivesABoundedReportWithExactCounts() throws {
        var config = TaskConfig()
        config.timeout = 5
        let s = try Crafted(config: config)
        let total = 200_000
        var journal: [UInt8] = []
        journal.reserveCapacity(total * 40)
        for n in 1...total { journal += Array(#"{"job":\#(n),"input":"\#(n)","text":"sh -c x \#(n)"}"#.utf8) + [10] }
        journal += Array(#"{"run":1000}"#.utf8) + [10]
        var failed = 0, timedOut = 0, ok = 0
        for n in stride(from: 1, through: 100_000, by: 100) {   // 1000 jobs ran: 720 exit 1, 80 timeouts, 200 OK
            let worker = "w\(n % 3 + 1)"
            journal += Array(#"{"start":\#(n),"worker":"\#(worker)","attempt":1,"at":1000}"#.utf8) + [10]
            let result: String
            switch n / 100 % 25 {
            case 0..<17, 18: result = #""exit":1"#; failed += 1
            case 17, 19: result = #""timeout":true"#; timedOut += 1
            default: result = #""exit":0"#; ok += 1
            }
            journal += Array(#"{"end":\#(n),"seconds":1.5,"at":1002,\#(result)}"#.utf8) + [10]
            try s.block(n % 3 + 1, worker: worker, job: n, text: "sh -c x \(n)", output: Self.lines(1...8, "out \(n)"),
                        state: result.contains("timeout") ? "timeout" : result.contains(":1") ? "exit 1" : "exit 0")
        }
        journal += Array(#"{"stop":1,"at":1010}"#.utf8) + [10]
        try Data(journal).write(to: URL(fileURLWithPath: s.path + "/journal"))

        let report = try s.report()
        let pending = total - failed - timedOut - ok
        XCTAssertEqual(report.counts.pending, pending)
        XCTAssertEqual(report.counts.failed, failed)
        let text = report.text()
        XCTAssertTrue(text.hasPrefix("session 7: 00:00:10 elapsed, \(total) jobs - \(pending) pending, \(failed + timedOut) failed, \(ok) completed\n"), String(text.prefix(300)))
        XCTAssertTrue(text.contains("    exit 1           \(failed)\n    timeouts         \(timedOut)\n"), text)
        XCTAssertLessThan(text.utf8.count, 100_000, "the report stays readable")
        XCTAssertLessThan(text.components(separatedBy: "\n").count, 1_500)
        // Errors: 50 listed, with their last 5 lines; every worker's count is the full one.
        XCTAssertTrue(text.contains("(the first 50 of \(failed) are listed; every job's output: cloudtask-logalyzer 7 OUTPUT_DIR)\n"), text)
        XCTAssertEqual(text.components(separatedBy: "(exit 1, 1.5s)").count - 1, 50)
        XCTAssertEqual(text.components(separatedBy: "[last 5 of 8 lines]").count - 1, 50 + 50)
        let byWorker = (1...3).map { w in stride(from: 1, through: 100_000, by: 100).filter { $0 % 3 + 1 == w && [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18].contains($0 / 100 % 25) }.count }
        for w in 1...3 { XCTAssertTrue(text.contains("w\(w): \(byWorker[w - 1]) jobs\n"), "w\(w) \(byWorker[w - 1])\n\(text)") }
        XCTAssertTrue(text.contains("    ... and "), text)
        XCTAssertTrue(text.contains("(the first 50 of \(timedOut) are listed"), text)
        // Pending: 100 listed, then how many more.
        XCTAssertTrue(text.contains("\(pending) pending\n" + String(repeating: "=", count: "\(pending) pending".count) + "\n\n    job 2: sh -c x 2\n"), text)
        XCTAssertTrue(text.contains("    ... and \(pending - 100) more (the first 100 are listed)\n"), text)
        XCTAssertEqual(text.components(separatedBy: "\n    job ").count - 1, 50 + 50 + 100)
        // Outputs: every finished job, streamed.
        let out = s.root + "/out"
        try report.writeOutputs(to: out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/failures").count, failed + timedOut)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/succeeded").count, ok)
        XCTAssertEqual(try String(contentsOfFile: out + "/failures/1", encoding: .utf8), "sh -c x 1\n" + Self.lines(1...8, "out 1"))
    }

    // MARK: - Helpers

    /// Every file and symlink under `root`, relative, sorted.
    static func files(under root: String) throws -> [String] {
        var result: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let item = enumerator?.nextObject() as? String {
            var info = stat()
            guard lstat(root + "/" + item, &info) == 0 else { continue }
            if info.st_mode & S_IFMT != S_IFDIR { result.append(item) }
        }
        return result.sorted()
    }

    /// Runs `body` with fds 1 and 2 on /dev/null (the runner's status lines and job output).
    static func quietly(_ body: () throws -> Void) throws {
        fflush(nil)
        let saved = (dup(1), dup(2))
        let null = open("/dev/null", O_WRONLY)
        dup2(null, 1); dup2(null, 2); close(null)
        defer {
            fflush(nil)
            dup2(saved.0, 1); dup2(saved.1, 2); close(saved.0); close(saved.1)
        }
        try body()
    }
}
