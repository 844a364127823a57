// The classic batch run through the built cloudtask and real sshd workers: output, quoting, session files.
import Foundation
import XCTest

class BatchTests: IntegrationCase {
    func testSeqEchoLeavesExactlyTheOutputsOnStdout() throws {
        let r = try cloudtask(["echo"], lines: ["1", "2", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["1", "2", "3"])
        XCTAssertTrue(r.stderr.contains(": exit 0 # echo 2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("0/3 !OK - 0 pending, 0 timeouts, 0 errors, 3 OK"), r.stderr)
    }

    func testOptionsStopAtTheCommandSoItsFlagsReachIt() throws {
        let r = try cloudtask(["--split=2", "sh", "-c", "echo got $0"], lines: ["a"])
        XCTAssertEqual(r.out, "got a\n", r.stderr)
    }

    func testOneArgumentWithSpacesIsShellTextAndNoCommandRunsTheLine() throws {
        var r = try cloudtask(["echo x | tr x y; echo"], lines: ["z"])
        XCTAssertEqual(r.out, "y\nz\n", r.stderr)
        r = try cloudtask([], lines: ["echo one; echo two"])
        XCTAssertEqual(r.out, "one\ntwo\n", r.stderr)
    }

    func testHostileJobLinesReachTheCommandAsLiteralWords() throws {
        let line = #"$HOME ; | `id` "a b" $(id) * 'it''s' \$x a#b '#c' # trailing comment"#
        let r = try cloudtask(["printf", "[%s]\\n"], lines: [line])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "[$HOME]\n[;]\n[|]\n[`id`]\n[a b]\n[$(id)]\n[*]\n[its]\n[$x]\n[a#b]\n[#c]\n")
    }

    func testNonUTF8JobBytesSurviveUnchanged() throws {
        let input: [UInt8] = [0x61, 0xff, 0xfe, 0x62, 10]
        let r = try run(base + ["--workers=127.0.1.1", "printf", "%s\\n"], stdin: input)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, input)
        XCTAssertTrue(sessionFile(1, "journal").contains("input64"))
    }

    func testDuplicatesAreDistinctJobsInOrder() throws {
        let r = try cloudtask(["--keep-order", "echo"], lines: ["same", "other", "same", "same"])
        XCTAssertEqual(r.out, "same\nother\nsame\nsame\n", r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs"), "EXIT=0\techo same\nEXIT=0\techo other\nEXIT=0\techo same\nEXIT=0\techo same\n")
    }

    func testKeepOrderPrintsInInputOrderDespiteCompletionOrder() throws {
        let r = try cloudtask(["--keep-order", "--slots=3", "sh", "-c", "sleep $0; echo $0"], workers: "127.0.1.1", lines: ["0.6", "0.3", "0"])
        XCTAssertEqual(r.out, "0.6\n0.3\n0\n", r.stderr)
        let order = r.stderr.split(separator: "\n").filter { $0.contains("exit 0") }.map { $0.split(separator: " ").last! }
        XCTAssertEqual(order, ["0", "0.3", "0.6"], "jobs should finish out of order for this test to mean anything")
    }

    func testTagPrefixesEachLineWithTheInput() throws {
        let r = try cloudtask(["--tag", "sh", "-c", "echo one; echo two; echo err >&2"], workers: "127.0.1.1", lines: ["x y"])
        XCTAssertEqual(r.out, "x y\tone\nx y\ttwo\n")
        XCTAssertTrue(r.stderr.contains("x y\terr\n"), r.stderr)
    }

    func testStdoutAndStderrStaySeparateAndGroupedPerJob() throws {
        let script = "for i in 1 2 3; do echo $0-out-$i; echo $0-err-$i >&2; sleep 0.05; done"
        let r = try cloudtask(["--slots=2", "sh", "-c", script], lines: ["a", "b", "c", "d"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 12)
        for start in stride(from: 0, to: 12, by: 3) {
            let job = lines[start].prefix(1)
            XCTAssertEqual(Array(lines[start..<start + 3]), ["\(job)-out-1", "\(job)-out-2", "\(job)-out-3"], "output interleaved: \(lines)")
        }
        XCTAssertFalse(r.out.contains("err"))
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.count == 7 && $0.contains("-err-") }.count, 12)
    }

    func testLineBufferStreamsLinesBeforeTheJobEnds() throws {
        let marker = home + "/released"
        let r = try cloudtask(["--line-buffer", "sh", "-c", "echo first; while [ ! -e \(marker) ]; do sleep 0.05; done; echo second"],
                              workers: "127.0.1.1", lines: ["x"]) { process in
            // The first line must arrive while the job still waits; only then release it.
            Thread.sleep(forTimeInterval: 1.5)
            FileManager.default.createFile(atPath: marker, contents: nil)
        }
        XCTAssertEqual(r.out, "first\nsecond\n", r.stderr)
    }

    func testAJobReadingStdinDoesNotHang() throws {
        let r = try cloudtask(["sh", "-c", "cat; read x; echo done $0"], workers: "127.0.1.1", lines: ["1"], timeout: 30)
        XCTAssertEqual(r.out, "done 1\n", r.stderr)
    }

    func testJobEnvironmentNamesJobSlotAndWorker() throws {
        let r = try cloudtask(["--slots=2", "--keep-order", "sh", "-c", "echo $CLOUDTASK_JOB $CLOUDTASK_SLOT $CLOUDTASK_WORKER"],
                              workers: "127.0.1.3", lines: ["a", "b"])
        XCTAssertEqual(r.out, "1 1 127.0.1.3\n2 2 127.0.1.3\n", r.stderr)
    }

    func testJobsRunUnderBinShWithTheirOwnProcessGroup() throws {
        let r = try cloudtask(["sh", "-c", "readlink /proc/$PPID/exe; ps -o pgid= -p $$; ps -o pgid= -p $PPID"], workers: "127.0.1.1", lines: ["x"])
        let lines = r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(lines.count, 3, r.out + r.stderr)
        XCTAssertTrue(lines[0].hasSuffix("sh"), r.out)
        XCTAssertEqual(lines[1], lines[2], "job and wrapper share one process group")
        XCTAssertNotEqual(lines[1], String(getpgrp()))
    }

    func testPtyMergesStderrIntoStdout() throws {
        let r = try cloudtask(["--pty", "sh", "-c", "echo out; echo err >&2; [ -t 1 ] && echo tty"], workers: "127.0.1.1", lines: ["x"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "out\nerr\ntty\n")
    }

    func testExitCodes() throws {
        let quote = try cloudtask(["echo"], lines: ["fine", "it's"])
        XCTAssertEqual(quote.status, 2)
        XCTAssertTrue(quote.stderr.contains("line 2: unterminated single quote"), quote.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions + "/1"), "nothing may run on bad input")
        XCTAssertEqual(try cloudtask(["true"], lines: ["1"]).status, 0)
        XCTAssertEqual(try cloudtask(["sh", "-c", "exit $0"], lines: ["0", "3"]).status, 1)
    }

    func testExitCode255IsAJobResultNotAnSSHFailure() throws {
        let r = try cloudtask(["sh", "-c", "exit 255"], workers: "127.0.1.1", lines: ["x"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: exit 255 #"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs"), "EXIT=255\tsh -c 'exit 255' x\n")
    }

    func testSessionFolderHoldsConfJournalJobsLogAndWorkerLogs() throws {
        let r = try cloudtask(["sh", "-c", "printf '10%%\\r50%%\\r100%%\\n'; exit $0"], lines: ["0", "1", "'a\tb\\c'"])
        XCTAssertEqual(r.status, 1)
        let dir = sessions + "/1"
        let conf = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/conf"))) as! [String: Any]
        XCTAssertEqual(conf["command"] as? [String], ["sh", "-c", "printf '10%%\\r50%%\\r100%%\\n'; exit $0"])
        // Tabs and backslashes in the job are escaped in the jobs file: \t and \\.
        let jobs = sessionFile(1, "jobs").split(separator: "\n").map(String.init)
        XCTAssertEqual(jobs.map { $0.prefix(7) }, ["EXIT=0\t", "EXIT=1\t", "EXIT=2\t"])
        XCTAssertTrue(jobs[2].hasSuffix(#" 'a\tb\\c'"#), jobs[2])
        XCTAssertTrue(jobs[0].contains(#"10%%\\r50%%"#), jobs[0])
        let journal = sessionFile(1, "journal").split(separator: "\n")
        XCTAssertEqual(journal.filter { $0.hasPrefix("{\"job\":") }.count, 3)
        XCTAssertEqual(journal.filter { $0.hasPrefix("{\"end\":") }.count, 3)
        XCTAssertTrue(sessionFile(1, "log").contains("3 OK") == false && sessionFile(1, "log").contains("2/3 !OK"))
        let workerLogs = (try FileManager.default.contentsOfDirectory(atPath: dir + "/workers")).map { file(dir + "/workers/" + $0) }.joined()
        XCTAssertTrue(workerLogs.contains("\n100%\n"), workerLogs)
        let outputLines = workerLogs.split(separator: "\n").filter { !$0.hasPrefix("# ") }
        XCTAssertFalse(outputLines.contains { $0.contains("50%") }, "progress bars keep only their last state: \(outputLines)")
        let mode = try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as! Int
        XCTAssertEqual(mode & 0o077, 0, "session folders are private")
    }

    func testDryRunPrintsJobsAndWorkersAndRunsNothing() throws {
        let r = try cloudtask(["--dry-run", "echo"], lines: ["a b", "$x"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "echo a b\necho '$x'\n")
        XCTAssertTrue(r.stderr.contains("127.0.1.1") && r.stderr.contains("127.0.1.2"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions))
    }

    func testANulByteOrAJobTooLongForSSHIsABadLineAndNothingRuns() throws {
        let nul = try run(base + ["--workers=127.0.1.1", "echo"], stdin: Array("a\nb\u{0}c\n".utf8))
        XCTAssertEqual(nul.status, 2, nul.stderr)
        XCTAssertTrue(nul.stderr.contains("line 2: the job holds a NUL byte"), nul.stderr)
        let long = try run(base + ["--workers=127.0.1.1", "echo"], stdin: Array(("a\n" + String(repeating: "x", count: 40_000) + "\n").utf8))
        XCTAssertEqual(long.status, 2, long.stderr)
        XCTAssertTrue(long.stderr.contains("line 2: the job is too long: 40007 bytes once quoted for the remote shell, at most 32000"), long.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions + "/1"), "nothing may run on bad input")
        // The largest job allowed does run.
        let largest = try run(base + ["--workers=127.0.1.1", "sh", "-c", "echo ${#0}"], stdin: Array((String(repeating: "y", count: 31_900) + "\n").utf8))
        XCTAssertEqual(largest.status, 0, largest.stderr)
        XCTAssertEqual(largest.out, "31900\n")
    }

    func testEmptyInputSaysNothingToDo() throws {
        let r = try cloudtask(["echo"], lines: ["# only a comment", ""])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no jobs, nothing to do"))
    }

    func testWorkersFromAFileWithCommentsAndBlankLines() throws {
        let list = home + "/workers.txt"
        try "# the fleet\n\n127.0.1.1\n127.0.1.2 # second\n\n".write(toFile: list, atomically: true, encoding: .utf8)
        let r = try cloudtask(["--keep-order", "echo"], workers: list, lines: ["1", "2", "3", "4"])
        XCTAssertEqual(r.out, "1\n2\n3\n4\n", r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.1:") && r.stderr.contains("127.0.1.2:"), r.stderr)
    }

    func testPerWorkerSlotsFromTheAddressOverrideSlots() throws {
        // 3 slots on the first worker, --slots=1 on the second: while every job sleeps, at most 3 + 1 run at once,
        // and the first worker's slots 1..3 all serve.
        let r = try cloudtask(["--slots=1", "sh", "-c", "sleep 0.4; echo $CLOUDTASK_WORKER $CLOUDTASK_SLOT"],
                              workers: "3/127.0.1.1 127.0.1.2", lines: (1...8).map(String.init))
        XCTAssertEqual(r.status, 0, r.stderr)
        let pairs = Set(r.out.split(separator: "\n").map(String.init))
        XCTAssertEqual(pairs, ["127.0.1.1 1", "127.0.1.1 2", "127.0.1.1 3", "127.0.1.2 1"], r.out)
        let listed = try run(base + ["--workers=2/127.0.1.1 127.0.1.2", "--dry-run", "echo"], stdin: Array("x\n".utf8))
        XCTAssertTrue(listed.stderr.contains("2/\(NSUserName())@127.0.1.1:22 \(NSUserName())@127.0.1.2:22"), listed.stderr)
    }
}
