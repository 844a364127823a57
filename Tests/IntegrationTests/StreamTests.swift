// Issue 10: input streams. Jobs start as their lines arrive, the batch waits while its input is open, and
// reading stops in a defined way on --halt, Ctrl-C or a bad line. Through the built cloudtask and real sshd.
import Foundation
import XCTest

final class StreamTests: IntegrationCase {
    /// Runs `script` with bash, whose process substitution feeds cloudtask's stdin without bash waiting for it:
    /// `feed` is the shell text producing the lines. Returns the result and the seconds it took.
    func streamed(_ feed: String, _ arguments: [String], marker: String) throws -> (Result, Double) {
        let options = (base + ["--workers=127.0.1.1 127.0.1.2"] + arguments).map(shellQuoted).joined(separator: " ")
        let script = "exec 3< <(\(feed)); exec \(shellQuoted(Env.binary)) \(options) <&3"
        let began = Date()
        let r = try run(["-c", script], binary: "/bin/bash")
        precondition(marker.hasPrefix("sleep ") && marker.contains("."), "a unique sleep to end, nothing else")
        defer { _ = shell("pkill -f '^\(marker)$' || true") }
        return (r, Date().timeIntervalSince(began))
    }

    func shellQuoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Journal records of session 1 as objects.
    func journal(_ id: Int = 1) -> [[String: Any]] {
        sessionFile(id, "journal").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func testAJobStartsWhenItsLineArrivesNotWhenTheInputEnds() throws {
        let stamps = home + "/stamps"
        let marker = "sleep 4.\(Int.random(in: 100...999))"
        // Line a, then four seconds of nothing, then b: a's job must have run long before b was even written.
        let (r, _) = try streamed("date +%s.%N > \(stamps).fed; echo a; \(marker); echo b",
                                  ["sh", "-c", "date +%s.%N > \(stamps).$0"], marker: marker)
        XCTAssertEqual(r.status, 0, r.stderr)
        let fed = Double(file(stamps + ".fed").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let ranA = Double(file(stamps + ".a").trimmingCharacters(in: .whitespacesAndNewlines)) ?? .infinity
        let ranB = Double(file(stamps + ".b").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertLessThan(ranA - fed, 2, "job a ran \(ranA - fed) s after its line was fed; b comes 4 s after it")
        XCTAssertGreaterThan(ranB - fed, 3.5, "job b cannot run before its line")
        XCTAssertTrue(sessionFile(1, "jobs").hasPrefix("EXIT=0\tsh -c 'date +%s.%N > "), sessionFile(1, "jobs"))
        let stopped = journal().compactMap { $0["input_stopped"] as? Int }
        XCTAssertEqual(stopped, [2], "input read to its end, after line 2")
        XCTAssertEqual(journal().last { $0["input_stopped"] != nil }?["eof"] as? Bool, true)
    }

    func testHaltStopsReadingAnOpenInputAfterAShortQuietAndSaysWhere() throws {
        let marker = "sleep 60.\(Int.random(in: 100...999))"
        // The input stays open (like tail -f); the first job fails and --halt=1 stops the batch.
        let (r, seconds) = try streamed("seq 5; \(marker)", ["--halt=1", "--slots=1", "sh", "-c", "exit 1"], marker: marker)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertLessThan(seconds, 30, "an open input does not hold a halted run: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("stopped reading input after line 5, before its end"), r.stderr)
        let records = journal()
        XCTAssertEqual(records.filter { $0["job"] != nil }.count, 5, "every line that arrived is journaled")
        XCTAssertEqual(records.last { $0["input_stopped"] != nil }?["eof"] as? Bool, false)
        let status = try run(base + ["--status=1"])
        XCTAssertTrue(status.out.contains("input read up to line 5, not to its end"), status.out)
        let resumed = try run(base + ["--resume=1", "--halt=100%"])
        XCTAssertTrue(resumed.stderr.contains("its input was read up to line 5, not to its end"), resumed.stderr)
    }

    func testHaltJournalsWhatKeepsArrivingThenStopsAtTheEnd() throws {
        let lines = (1...3000).map(String.init)
        let r = try cloudtask(["--halt=1", "--slots=1", "sh", "-c", "exit 1"], lines: lines)
        XCTAssertEqual(r.status, 1, r.stderr)
        let records = journal()
        XCTAssertEqual(records.filter { $0["job"] != nil }.count, 3000, "all lines are journaled as pending")
        XCTAssertEqual(records.last { $0["input_stopped"] != nil }?["input_stopped"] as? Int, 3000)
        XCTAssertEqual(records.last { $0["input_stopped"] != nil }?["eof"] as? Bool, true)
        XCTAssertTrue(r.stderr.contains("jobs pending (halted)"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").count, 3000)
    }

    func testABadLineAfterJobsStartedStopsTheBatchAndKeepsWhatRan() throws {
        let marker = "sleep 1.\(Int.random(in: 100...999))"
        let (r, _) = try streamed("echo a; echo b; \(marker); echo \"it's\"; echo c", ["echo"], marker: marker)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("cloudtask: stdin: line 3: unterminated single quote; no more jobs are started"), r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n")), ["a", "b"])
        XCTAssertEqual(sessionFile(1, "jobs"), "EXIT=0\techo a\nEXIT=0\techo b\n")
        XCTAssertEqual(journal().last { $0["input_stopped"] != nil }?["input_stopped"] as? Int, 2)
        let resumed = try run(base + ["--resume=1"])
        XCTAssertEqual(resumed.out, "session 1 finished\n", resumed.stderr)
    }

    func testATemplateStreamsItsStdinToo() throws {
        let template = home + "/stamp-template"
        let stamps = home + "/stamps"
        try """
        return {command = {"sh", "-c", "date +%s.%N > \(stamps).$0"}, workers = {"127.0.1.1"},
                identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
        """.write(toFile: template, atomically: true, encoding: .utf8)
        let marker = "sleep 3.\(Int.random(in: 100...999))"
        let ctsh = Env.root + "/.build/debug/ctsh"
        let script = "exec 3< <(date +%s.%N > \(stamps).fed; echo a; \(marker); echo b); "
            + "exec \(shellQuoted(ctsh)) \(shellQuoted(template)) --sessions=\(shellQuoted(sessions)) <&3"
        let r = try run(["-c", script], binary: "/bin/bash")
        _ = shell("pkill -f '^\(marker)$' || true")
        XCTAssertEqual(r.status, 0, r.stderr)
        let fed = Double(file(stamps + ".fed").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let ranA = Double(file(stamps + ".a").trimmingCharacters(in: .whitespacesAndNewlines)) ?? .infinity
        XCTAssertLessThan(ranA - fed, 2, "the template's job a ran \(ranA - fed) s after its line; b comes 3 s after it")
        XCTAssertTrue(FileManager.default.fileExists(atPath: stamps + ".b"))
    }

    func testABadLineInTheFirstReadRunsNothing() throws {
        let r = try cloudtask(["echo"], lines: ["a", "it's", "b"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr, "cloudtask: stdin: line 2: unterminated single quote; nothing was run\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions))
    }
}
