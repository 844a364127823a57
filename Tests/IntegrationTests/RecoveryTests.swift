// Sessions that survive: SIGKILL and resume, interrupts, dying and frozen workers, --retry, --halt,
// corrupt journals and locks, through the built cloudtask and real sshd workers and signals.
import Foundation
import XCTest

final class RecoveryTests: IntegrationCase {
    let scratchWorker = 5   // destructive tests kill or freeze this one and bring it back

    override func tearDownWithError() throws {
        // Bring back any worker a test killed or froze.
        _ = shell("for p in $(pgrep -f 'cloudtask-test-workers/w\(scratchWorker)/'); do kill -CONT $p; done; \(Env.root)/scripts/test-workers up 5 >/dev/null")
        try super.tearDownWithError()
    }

    func journalEnds(_ id: Int = 1) -> Set<Int> {
        Set(sessionFile(id, "journal").split(separator: "\n").compactMap { line -> Int? in
            guard line.hasPrefix("{\"end\":") else { return nil }
            return Int(line.dropFirst(7).prefix { $0.isNumber })
        })
    }

    func testSIGKILLThenResumeReRunsNoFinishedJobAndLosesNone() throws {
        let ran = home + "/ran"
        let script = "sleep 0.3; echo $0 >> \(ran)"
        var finishedAtKill = Set<Int>()
        let first = try cloudtask(["--slots=2", "sh", "-c", script], lines: (1...24).map(String.init)) { process in
            self.waitWhile(tries: 200, every: 0.05) { self.journalEnds().count < 5 }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            finishedAtKill = self.journalEnds()
        }
        XCTAssertGreaterThanOrEqual(finishedAtKill.count, 5)
        XCTAssertLessThan(finishedAtKill.count, 24, "the kill should land mid-run")
        Thread.sleep(forTimeInterval: 0.5) // orphaned remote jobs die with their channels
        let resumed = try run(base + ["--resume=1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming \(24 - finishedAtKill.count) of 24 jobs"), resumed.stderr)
        let counts = file(ran).split(separator: "\n").reduce(into: [Int: Int]()) { $0[Int($1)!, default: 0] += 1 }
        for job in finishedAtKill { XCTAssertEqual(counts[job], 1, "finished job \(job) ran again") }
        XCTAssertEqual(Set(counts.keys), Set(1...24), "every job ran")
        let expected = (1...24).map { "EXIT=0\tsh -c 'sleep 0.3; echo $0 >> \(ran)' \($0)\n" }.joined()
        XCTAssertEqual(sessionFile(1, "jobs"), expected)
        XCTAssertTrue(try run(base + ["--resume=1"]).out.contains("session 1 finished"))
    }

    func testInterruptThenResumeCompletesTheRestAndRemovesTheSessionKey() throws {
        let (agent, socket) = try startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let marker = unique()
        let authorized = Env.dir + "/w2/home/.ssh/authorized_keys"
        let options = ["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=127.0.1.2", "--slots=2"]
        let first = try run(options + ["sh", "-c", "sleep 30; : $0"], stdin: Array((1...4).map { "\(marker)\($0)\n" }.joined().utf8),
                            env: ["SSH_AUTH_SOCK": socket]) { process in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).count < 2 }
            XCTAssertTrue(self.file(authorized).contains("cloudtask-session-"))
            process.interrupt()
        }
        XCTAssertEqual(first.status, 1)
        XCTAssertFalse(file(authorized).contains("cloudtask-session-"), "the session key is removed on interrupt")
        waitWhile(tries: 40, every: 0.1) { !remoteProcesses(marker).isEmpty }
        XCTAssertEqual(remoteProcesses(marker), [])
        XCTAssertEqual(sessionFile(1, "jobs").components(separatedBy: "PENDING").count - 1, 4)
        // Resume with a quicker command is not allowed (the session's own runs), but a shorter timeout is.
        let resumed = try run(["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--ssh-identity=\(Env.key)", "--timeout=1", "--resume=1"])
        XCTAssertEqual(resumed.status, 1)
        XCTAssertEqual(sessionFile(1, "jobs").components(separatedBy: "TIMEOUT").count - 1, 4, "the resumed run used --timeout=1")
        XCTAssertFalse(file(authorized).contains("cloudtask-session-"))
    }

    func testKilledWorkerSSHDIsRetiredAndItsJobRunsElsewhere() throws {
        let marker = unique()
        let r = try cloudtask(["sh", "-c", "sleep 2; echo done $0"], workers: "127.0.1.\(scratchWorker) 127.0.1.1", lines: [marker + "a", marker + "b"]) { _ in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).count < 2 }
            // The listener and every session process of the worker.
            XCTAssertGreaterThan(self.killWorkerSessions(), 1)
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.\(scratchWorker): worker died"), r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["done \(marker)a", "done \(marker)b"])
        XCTAssertTrue(r.stderr.contains("127.0.1.1: exit 0 # sh -c 'sleep 2; echo done $0' \(marker)a") &&
                      r.stderr.contains("127.0.1.1: exit 0 # sh -c 'sleep 2; echo done $0' \(marker)b"), r.stderr)
        // The dead connection's runner killed what it started: nothing of the first attempt is left.
        waitWhile(tries: 50, every: 0.1) { !self.remoteProcesses(marker).isEmpty }
        XCTAssertEqual(remoteProcesses(marker), [], "jobs left running after their connection died")
    }

    func testFrozenWorkerIsDetectedWithinThePingWindowAndItsJobReRouted() throws {
        let marker = unique()
        var frozenAt = Date()
        let r = try cloudtask(["--ping-interval=1", "sh", "-c", "sleep 3; echo done $0"], workers: "127.0.1.\(scratchWorker) 127.0.1.1",
                              lines: [marker + "a", marker + "b"]) { _ in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).count < 2 }
            frozenAt = Date()
            XCTAssertGreaterThan(self.signalWorker(SIGSTOP), 0)
        }
        let log = sessionFile(1, "log")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(log.contains("127.0.1.\(scratchWorker): worker died: no answer"), log)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["done \(marker)a", "done \(marker)b"])
        // Detection: at most one interval of silence plus two unanswered, plus the 3 s job on the other worker.
        XCTAssertLessThan(Date().timeIntervalSince(frozenAt), 3 + 3 + 3, "frozen worker detected too late")
        XCTAssertGreaterThan(signalWorker(SIGCONT), 0)
        waitWhile(tries: 60, every: 0.1) { !remoteProcesses(marker + "a").isEmpty || !remoteProcesses(marker + "b").isEmpty }
    }

    func testRetryRunsOnlyJobsThatDidNotExitZeroAndChangesNothingBefore() throws {
        let flag = home + "/second-time"
        let script = "[ $0 -le 2 ] || [ -e \(flag) ]"
        let first = try cloudtask(["sh", "-c", script], lines: ["1", "2", "3", "4"])
        XCTAssertEqual(first.status, 1)
        let journal = sessionFile(1, "journal")
        XCTAssertEqual(try run(base + ["--retry=1", "--dry-run"]).status, 0)
        XCTAssertEqual(sessionFile(1, "journal"), journal, "--retry changes nothing before the run starts")
        FileManager.default.createFile(atPath: flag, contents: nil)
        let retried = try run(base + ["--retry=1"])
        XCTAssertEqual(retried.status, 0, retried.stderr)
        XCTAssertTrue(retried.stderr.contains("retrying 2 of 4 jobs"), retried.stderr)
        XCTAssertEqual(retried.stderr.components(separatedBy: ": exit 0 #").count - 1, 2, "only the failed jobs ran again")
        XCTAssertEqual(sessionFile(1, "jobs").components(separatedBy: "EXIT=0").count - 1, 4)
        let again = try run(base + ["--retry=1"])
        XCTAssertEqual(again.status, 0)
        XCTAssertTrue(again.out.contains("nothing to retry"), again.out)
    }

    func testHaltStopsDispatchingAfterNFailures() throws {
        let r = try cloudtask(["--halt=2", "sh", "-c", "exit 1"], workers: "127.0.1.1", lines: (1...10).map(String.init))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("halting after 2 failed jobs"), r.stderr)
        XCTAssertTrue(r.stderr.contains("2/10 !OK - 8 pending") == false && r.stderr.contains("10/10 !OK - 8 pending"), r.stderr)
        let percent = try cloudtask(["--halt=20%", "sh", "-c", "exit 1"], workers: "127.0.1.1", lines: (1...10).map(String.init))
        XCTAssertTrue(percent.stderr.contains("halting after 2 failed jobs (--halt=20%)"), percent.stderr)
    }

    func testBrokenSessionsAreOneLineErrors() throws {
        XCTAssertEqual(try cloudtask(["true"], workers: "127.0.1.1", lines: ["1", "2", "3"]).status, 0)
        let path = sessions + "/1/journal"
        let good = file(path)
        // A torn last line (power loss) is tolerated and reported.
        try (good + "{\"end\":2,\"ex").write(toFile: path, atomically: true, encoding: .utf8)
        let torn = try run(base + ["--resume=1"])
        XCTAssertEqual(torn.status, 0, torn.stderr)
        XCTAssertTrue(torn.stderr.contains("truncated"), torn.stderr)
        XCTAssertTrue(torn.out.contains("session 1 finished"))
        // A corrupt line in the middle is not.
        var lines = good.split(separator: "\n").map(String.init)
        lines[1] = "garbage"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let corrupt = try run(base + ["--resume=1"])
        XCTAssertEqual(corrupt.status, 2)
        XCTAssertTrue(corrupt.stderr.contains("journal: line 2 is not a journal record"), corrupt.stderr)
        XCTAssertEqual(corrupt.stderr.split(separator: "\n").count, 1, corrupt.stderr)
        let missing = try run(base + ["--resume=42"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.hasPrefix("cloudtask: no session 42 in "), missing.stderr)
        try "not json".write(toFile: sessions + "/1/conf", atomically: true, encoding: .utf8)
        let conf = try run(base + ["--retry=1"])
        XCTAssertEqual(conf.status, 2)
        XCTAssertTrue(conf.stderr.contains("conf is missing or corrupt"), conf.stderr)
        let both = try run(base + ["--resume=1", "--retry=1"])
        XCTAssertEqual(both.status, 2)
        XCTAssertTrue(both.stderr.contains("cannot be used together"))
    }

    func testASessionIsLockedByItsController() throws {
        let marker = unique()
        var second: Result?
        _ = try cloudtask(["sh", "-c", "sleep 2; : $0"], workers: "127.0.1.1", lines: [marker]) { process in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).isEmpty }
            second = try? self.run(self.base + ["--resume=1"])
            XCTAssertTrue(second?.stderr.contains("in use by another cloudtask (pid \(process.processIdentifier))") ?? false, second?.stderr ?? "")
        }
        XCTAssertEqual(second?.status, 2)
    }

    func testElapsedTimeAddsUpAcrossResumes() throws {
        _ = try cloudtask(["sh", "-c", "sleep 1.5; : $0"], workers: "127.0.1.1", lines: ["1", "2"]) { process in
            self.waitWhile(tries: 100, every: 0.05) { self.journalEnds().isEmpty }
            kill(process.processIdentifier, SIGKILL)
        }
        let resumed = try run(base + ["--resume=1"])
        let seconds = resumed.stderr.range(of: #"session 1 \((\d+) seconds\)"#, options: .regularExpression).map { resumed.stderr[$0] }
        XCTAssertNotNil(seconds, resumed.stderr)
        let value = Int(seconds!.split(separator: "(")[1].split(separator: " ")[0])!
        XCTAssertGreaterThanOrEqual(value, 3, "1.5 s before the kill and 1.5 s after: \(resumed.stderr)")
    }

    func testResumeRemovesASessionKeyLeftByAKilledRun() throws {
        let (agent, socket) = try startAgent()
        defer { agent.terminate(); agent.waitUntilExit() }
        let authorized = Env.dir + "/w3/home/.ssh/authorized_keys"
        let options = ["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=127.0.1.3"]
        _ = try run(options + ["sh", "-c", "sleep 1; : $0"], stdin: Array("a\nb\n".utf8), env: ["SSH_AUTH_SOCK": socket]) { process in
            self.waitWhile(tries: 100, every: 0.05) { self.journalEnds().isEmpty }
            kill(process.processIdentifier, SIGKILL)
        }
        XCTAssertTrue(file(authorized).contains("cloudtask-session-"), "the killed run left its key")
        let resumed = try run(options + ["--ssh-identity=\(Env.key)", "--resume=1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertFalse(file(authorized).contains("cloudtask-session-"), "the resumed run removes it")
    }

    func testSecondInterruptSkipsCleanupAndKeepsTheSavedState() throws {
        let marker = unique()
        let r = try cloudtask(["--post=sleep 20", "sh", "-c", "sleep 30; : $0"], workers: "127.0.1.1", lines: [marker]) { process in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).isEmpty }
            process.interrupt()
            self.waitWhile(tries: 100, every: 0.05) { !self.sessionFile(1, "log").contains("interrupted") }
            Thread.sleep(forTimeInterval: 0.3)
            process.interrupt()
        }
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(sessionFile(1, "jobs"), "PENDING\tsh -c 'sleep 30; : $0' \(marker)\n")
        XCTAssertTrue(sessionFile(1, "journal").contains("{\"abort\":1}"))
    }

    func testResumeTakesCommandLineOverridesButNotTheEnvironment() throws {
        _ = try cloudtask(["sh", "-c", "sleep 0.5; echo $0"], workers: "127.0.1.1", lines: ["1", "2"]) { process in
            self.waitWhile(tries: 100, every: 0.05) { self.journalEnds().isEmpty }
            kill(process.processIdentifier, SIGKILL)
        }
        let resumed = try run(base + ["--resume=1"], env: ["CLOUDTASK_TIMEOUT": "0.1", "CLOUDTASK_WORKERS": "127.0.1.99"])
        XCTAssertEqual(resumed.status, 0, "the environment must not override a saved session: \(resumed.stderr)")
        XCTAssertTrue(resumed.stderr.contains("127.0.1.1: exit 0"), resumed.stderr)
    }

    // MARK: - Helpers

    /// Sends `signal` to the scratch worker's sshd listener and all its descendants; returns how many.
    @discardableResult
    func signalWorker(_ signal: Int32) -> Int {
        let pidFile = Env.dir + "/w\(scratchWorker)/sshd.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let root = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return 0 }
        var all: [Int32] = []
        var frontier = [root]
        while let pid = frontier.popLast() {
            all.append(pid)
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            frontier += children.split(separator: " ").compactMap { Int32($0) }
        }
        for pid in all { kill(pid, signal) }
        return all.count
    }

    /// Kills the scratch worker's listener and session processes.
    func killWorkerSessions() -> Int { signalWorker(SIGKILL) }


    func testResumeFromAnotherFolderFindsRelativePathsGivenAtTheStart() throws {
        let start = home + "/start"
        try FileManager.default.createDirectory(atPath: start, withIntermediateDirectories: true)
        try "127.0.1.1\n".write(toFile: start + "/workers.txt", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Env.knownHosts, toPath: start + "/known")
        // Job 1 fails and halts the run, so 2 and 3 are left for the resume.
        let first = try run(["--ssh-identity=\(Env.key)", "--sessions=\(sessions)", "--workers=workers.txt", "--known-hosts=known",
                             "--joblog=joblog", "--results=results", "--halt=1", "sh", "-c", "exit $(($0 == 1))"],
                            stdin: Array("1\n2\n3\n".utf8), directory: start)
        XCTAssertEqual(first.status, 1, first.stderr)
        let resumed = try run(["--sessions=\(sessions)", "--resume=1"], directory: "/")
        XCTAssertEqual(resumed.status, 1, "job 1 still failed: " + resumed.stderr)
        XCTAssertEqual(file(start + "/joblog").split(separator: "\n").count, 4, "header and the three jobs, in the first run's folder")
        XCTAssertTrue(FileManager.default.fileExists(atPath: start + "/results/3/stdout"), resumed.stderr)
        XCTAssertEqual(sessionFile(1, "jobs"), "EXIT=1\tsh -c 'exit $(($0 == 1))' 1\nEXIT=0\tsh -c 'exit $(($0 == 1))' 2\nEXIT=0\tsh -c 'exit $(($0 == 1))' 3\n")
    }
}
