// Issue 12: jobs through the runner on the worker (RemoteScript.agent, the default): output framing that a job
// cannot forge, floods, exit codes, the journal, and the channel-per-job path (--runner=exec) beside it.
import Foundation
import XCTest

final class AgentTests: IntegrationCase {
    /// Each job prints what looks like the runner's markers (\1, 32 hex digits, S or E and a status), NUL and
    /// other bytes, and no final newline: every byte reaches its own job's output, and every status is its own.
    func testForgedMarkersAndBinaryOutputStayWithTheirJob() throws {
        let forge = #"printf '\001%032dS\n\001%032dE0\n\001' 0 0; printf 'a\000b\377\001'; printf '\001%032dE0\n' 1 >&2; printf 'x%s' "$0"; exit $(($0 % 3))"#
        let r = try cloudtask(["--slots=2", "--keep-order", "sh", "-c", forge], workers: "127.0.1.1",
                              lines: (1...12).map(String.init))
        XCTAssertEqual(r.status, 1, r.stderr)
        let zeros = String(repeating: "0", count: 32)
        func chunk(_ n: Int) -> [UInt8] {
            [1] + Array("\(zeros)S\n".utf8) + [1] + Array("\(zeros)E0\n".utf8) + [1] + Array("a".utf8) + [0] + Array("b".utf8)
                + [0xFF, 1] + Array("x\(n)".utf8)
        }
        XCTAssertEqual(r.stdout, (1...12).flatMap(chunk))
        for n in 1...12 {
            let text = "sh -c '\(forge.replacingOccurrences(of: "'", with: "'\\''"))' \(n)"
            XCTAssertTrue(r.stderr.contains("127.0.1.1: exit \(n % 3) # \(text)"), "job \(n): \(r.stderr)")
        }
        XCTAssertEqual(r.stderr.components(separatedBy: "\u{1}" + String(repeating: "0", count: 31) + "1E0\n").count - 1, 12,
                       "each job's forged stderr marker is its output")
    }

    /// 50 MB on stderr while stdout stays silent, then one stdout line: nothing deadlocks, nothing is lost.
    /// After a failed job the runner skips the requests it holds; the controller sends `__ct_go` and them again
    /// as soon as the skips are read. A skip read on its own (not with the failure) once left them unsent until
    /// the next socket event, a liveness ping 30 s later.
    func testFailuresDoNotStallTheJobsQueuedBehindThem() throws {
        let started = Date()
        let r = try cloudtask(["--slots=2", "sh", "-c", "exit $(( $0 % 2 ))"], lines: (1...60).map(String.init))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").count, 60)
        XCTAssertEqual(r.stderr.components(separatedBy: ": exit 1 #").count - 1, 30, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "jobs behind a failure waited for a ping:\n\(r.stderr)")
    }

    func testFiftyMegabytesOnStderrWhileStdoutWaits() throws {
        let r = try cloudtask(["sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' e >&2; echo done $0"], workers: "127.0.1.1",
                              lines: ["x"], timeout: 120)
        XCTAssertEqual(r.status, 0, String(r.stderr.suffix(300)))
        XCTAssertEqual(r.out, "done x\n")
        // The flood has no newline: the job's status line follows it on the same line.
        let flood = r.stderr.utf8.split(separator: UInt8(ascii: "\n")).first { $0.count > 1000 } ?? []
        XCTAssertEqual(flood.prefix { $0 == UInt8(ascii: "e") }.count, 50_000_000, "the 50 MB arrive whole")
        XCTAssertTrue(String(decoding: flood.suffix(200), as: UTF8.self).hasSuffix("127.0.1.1: exit 0 # sh -c 'head -c 50000000 /dev/zero | tr '\\''\\0'\\'' e >&2; echo done $0' x"),
                      String(decoding: flood.suffix(200), as: UTF8.self))
    }

    /// A job killed by a signal: /bin/sh reports it as 128+n, as a job that ran `exit 143` would (the runner is
    /// pure sh and cannot tell them apart); EXIT=143 in the jobs file, as with a channel per job.
    func testJobKilledByASignalEndsWith128PlusTheSignal() throws {
        for runner in ["agent", "exec"] {
            try? FileManager.default.removeItem(atPath: sessions)
            let r = try cloudtask(["--runner=\(runner)", "sh", "-c", "kill -TERM $$; : $0"], workers: "127.0.1.1", lines: ["x"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("127.0.1.1: exit 143 # sh -c 'kill -TERM $$; : $0' x"), "\(runner): \(r.stderr)")
            XCTAssertEqual(sessionFile(1, "jobs"), "EXIT=143\tsh -c 'kill -TERM $$; : $0' x\n", runner)
        }
    }

    /// The journal says a job started only once the worker started it: a job queued behind a long one has no
    /// start record while that one runs.
    func testQueuedJobIsJournaledWhenItStarts() throws {
        let marker = unique()
        let r = try cloudtask(["sh", "-c", "sleep $0; : \(marker)"], workers: "127.0.1.1", lines: ["2", "0"]) { _ in
            self.waitWhile(tries: 100, every: 0.05) { self.remoteProcesses(marker).isEmpty }
            Thread.sleep(forTimeInterval: 0.5)
            let journal = self.sessionFile(1, "journal")
            XCTAssertTrue(journal.contains("{\"start\":1,"), journal)
            XCTAssertFalse(journal.contains("{\"start\":2,"), "job 2 waits on the worker, not started: \(journal)")
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        let journal = sessionFile(1, "journal")
        let end1 = try XCTUnwrap(journal.range(of: "{\"end\":1,")), start2 = try XCTUnwrap(journal.range(of: "{\"start\":2,"))
        XCTAssertLessThan(end1.lowerBound, start2.lowerBound, journal)
    }

    /// After a failed job the next one queued on its slot waits for the controller: with --halt=1 it never runs.
    func testHaltStopsTheJobQueuedBehindTheFailure() throws {
        let ran = home + "/ran"
        let r = try cloudtask(["--halt=1", "sh", "-c", "echo $0 >> \(ran); [ $0 != 1 ]"], workers: "127.0.1.1", lines: ["1", "2", "3"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(file(ran), "1\n", "jobs 2 and 3 stay pending: \(r.stderr)")
        XCTAssertEqual(sessionFile(1, "jobs").components(separatedBy: "PENDING").count - 1, 2, sessionFile(1, "jobs"))
        XCTAssertFalse(sessionFile(1, "journal").contains("{\"start\":2,"), sessionFile(1, "journal"))
    }

    /// The runner per slot serves many jobs: a run of 200 jobs on 2 slots opens a handful of channels, and the
    /// jobs still get their own CLOUDTASK_JOB and slot.
    func testOneRunnerPerSlotServesEveryJobWithItsOwnVariables() throws {
        let r = try cloudtask(["--slots=2", "sh", "-c", "echo $0 $CLOUDTASK_JOB $CLOUDTASK_SLOT $CLOUDTASK_WORKER"],
                              workers: "127.0.1.1", lines: (1...200).map(String.init))
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines.count, 200)
        for fields in lines {
            XCTAssertEqual(fields.count, 4, "\(fields)")
            XCTAssertEqual(fields[0], fields[1], "CLOUDTASK_JOB is the job's: \(fields)")
            XCTAssertTrue(["1", "2"].contains(fields[2]), "\(fields)")
            XCTAssertEqual(fields[3], "127.0.1.1")
        }
    }
}

/// The batch tests again through one channel per job (--runner=exec), the path --pty and workers without a
/// runner take. XCTest on Linux finds only the methods a class declares, so each is named here (a test below
/// checks that none of BatchTests' is missing).
final class ExecRunnerBatchTests: BatchTests {
    override var base: [String] { super.base + ["--runner=exec"] }

    func testExecSeqEchoLeavesExactlyTheOutputsOnStdout() throws { try testSeqEchoLeavesExactlyTheOutputsOnStdout() }
    func testExecOptionsStopAtTheCommandSoItsFlagsReachIt() throws { try testOptionsStopAtTheCommandSoItsFlagsReachIt() }
    func testExecOneArgumentWithSpacesIsShellTextAndNoCommandRunsTheLine() throws { try testOneArgumentWithSpacesIsShellTextAndNoCommandRunsTheLine() }
    func testExecHostileJobLinesReachTheCommandAsLiteralWords() throws { try testHostileJobLinesReachTheCommandAsLiteralWords() }
    func testExecNonUTF8JobBytesSurviveUnchanged() throws { try testNonUTF8JobBytesSurviveUnchanged() }
    func testExecDuplicatesAreDistinctJobsInOrder() throws { try testDuplicatesAreDistinctJobsInOrder() }
    func testExecKeepOrderPrintsInInputOrderDespiteCompletionOrder() throws { try testKeepOrderPrintsInInputOrderDespiteCompletionOrder() }
    func testExecTagPrefixesEachLineWithTheInput() throws { try testTagPrefixesEachLineWithTheInput() }
    func testExecStdoutAndStderrStaySeparateAndGroupedPerJob() throws { try testStdoutAndStderrStaySeparateAndGroupedPerJob() }
    func testExecLineBufferStreamsLinesBeforeTheJobEnds() throws { try testLineBufferStreamsLinesBeforeTheJobEnds() }
    func testExecAJobReadingStdinDoesNotHang() throws { try testAJobReadingStdinDoesNotHang() }
    func testExecJobEnvironmentNamesJobSlotAndWorker() throws { try testJobEnvironmentNamesJobSlotAndWorker() }
    func testExecJobsRunUnderBinShWithTheirOwnProcessGroup() throws { try testJobsRunUnderBinShWithTheirOwnProcessGroup() }
    func testExecPtyMergesStderrIntoStdout() throws { try testPtyMergesStderrIntoStdout() }
    func testExecExitCodes() throws { try testExitCodes() }
    func testExecExitCode255IsAJobResultNotAnSSHFailure() throws { try testExitCode255IsAJobResultNotAnSSHFailure() }
    func testExecSessionFolderHoldsConfJournalJobsLogAndWorkerLogs() throws { try testSessionFolderHoldsConfJournalJobsLogAndWorkerLogs() }
    func testExecDryRunPrintsJobsAndWorkersAndRunsNothing() throws { try testDryRunPrintsJobsAndWorkersAndRunsNothing() }
    func testExecANulByteOrAJobTooLongForSSHIsABadLineAndNothingRuns() throws { try testANulByteOrAJobTooLongForSSHIsABadLineAndNothingRuns() }
    func testExecEmptyInputSaysNothingToDo() throws { try testEmptyInputSaysNothingToDo() }
    func testExecWorkersFromAFileWithCommentsAndBlankLines() throws { try testWorkersFromAFileWithCommentsAndBlankLines() }
    func testExecPerWorkerSlotsFromTheAddressOverrideSlots() throws { try testPerWorkerSlotsFromTheAddressOverrideSlots() }

    func testEveryBatchTestRunsHereToo() throws {
        let source = try String(contentsOfFile: Env.root + "/Tests/IntegrationTests/BatchTests.swift", encoding: .utf8)
        let names = source.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard words.count >= 2, words[0] == "func", words[1].hasPrefix("test") else { return nil }
            return String(words[1].prefix { $0 != "(" })
        }
        XCTAssertFalse(names.isEmpty)
        let own = try String(contentsOfFile: #filePath, encoding: .utf8)
        for name in names {
            XCTAssertTrue(own.contains("func testExec\(name.dropFirst(4))() throws { try \(name)() }"), "\(name) has no --runner=exec twin")
        }
    }
}
