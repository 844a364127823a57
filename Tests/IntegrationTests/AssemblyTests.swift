// Issue 9: one assembly path for every front end. The same rules hold in cloudtask, ctsh's task and resume,
// and task templates, through the built binaries: no workers given launches locally, a split above the
// workers given without a provider is the same one-line error, and a resume runs the same jobs.
import Foundation
import XCTest

final class AssemblyTests: IntegrationCase {
    var ctsh: String { Env.root + "/.build/debug/ctsh" }

    /// A task template in this test's home: `echo`, with the template's own settings.
    func template(_ fields: String = "") throws -> String {
        let path = home + "/echo-template"
        try "#!/usr/bin/env ctsh\nreturn {command = 'echo', \(fields)}\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The instances ledger's events of session `id` under `root`, as "ID EVENT".
    func ledger(_ id: Int = 1, root: String? = nil) -> [String] {
        file("\(root ?? sessions)/\(id)/instances").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).flatMap { "\($0["id"]!) \($0["event"]!)" }
        }
    }

    /// Every local worker of session 1 was launched, came up and was destroyed.
    func assertLaunchedAndDestroyedLocally(_ count: Int, _ context: String) {
        let events = ledger()
        let launched = events.filter { $0.hasSuffix(" launch") }.map { $0.split(separator: " ")[0] }
        XCTAssertEqual(launched.count, count, "\(context): \(events)")
        for id in launched {
            XCTAssertTrue(id.hasPrefix("local-1-"), "\(context): \(events)")
            XCTAssertTrue(events.contains("\(id) up") && events.contains("\(id) destroyed"), "\(context): \(events)")
        }
        XCTAssertEqual(remoteProcesses(sessions + "/"), [], "\(context): no local sshd left")
    }

    // MARK: - No workers given: the local provider launches them

    func testNoWorkersLaunchesLocallyInCloudtask() throws {
        let r = try run(["--sessions=\(sessions)", "echo"], stdin: Array("a\nb\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n")), ["a", "b"])
        assertLaunchedAndDestroyedLocally(1, "cloudtask")
    }

    func testNoWorkersLaunchesLocallyInACtshTask() throws {
        let r = try run(["-e", "local s = task{command = 'echo', jobs = {'a', 'b'}}:run() print(s.ok, s.total, s.exit)"],
                        env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.hasSuffix("2\t2\t0\n"), r.out + r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n").dropLast()), ["a", "b"], r.out)
        assertLaunchedAndDestroyedLocally(1, "ctsh task")
    }

    func testNoWorkersLaunchesLocallyInATemplate() throws {
        let r = try run([try template(), "--sessions=\(sessions)"], stdin: Array("a\nb\n".utf8), binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n")), ["a", "b"])
        assertLaunchedAndDestroyedLocally(1, "template")
    }

    // MARK: - A split above the workers given needs a provider, everywhere

    func testSplitAboveTheWorkersGivenIsTheSameErrorInEveryFrontEnd() throws {
        let message = "--split=3 exceeds the 1 workers given (--workers); launching more needs a provider"
        let cli = try run(base + ["--workers=127.0.1.1", "--split=3", "echo"], stdin: Array("a\n".utf8))
        XCTAssertEqual(cli.status, 2)
        XCTAssertEqual(cli.stderr, "cloudtask: \(message)\n")

        let task = try run(["-e", "task{command = 'echo', workers = {'127.0.1.1'}, split = 3, jobs = {'a'}}"],
                           env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(task.status, 1)
        XCTAssertTrue(task.stderr.contains("(command line):1: task: \(message)\n"), task.stderr)

        let template = try run([try template("workers = {'127.0.1.1'}"), "--split=3"], stdin: Array("a\n".utf8), binary: ctsh)
        XCTAssertEqual(template.status, 2)
        XCTAssertEqual(template.stderr, "echo-template: \(message)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions), "nothing started, no session made")

        // A saved session resumed with more split than its workers: the same rule, in both resumes.
        let halted = try run(base + ["--workers=127.0.1.1", "--halt=1", "false"], stdin: Array("a\nb\n".utf8))
        XCTAssertEqual(halted.status, 1, halted.stderr)
        let cliResume = try run(base + ["--resume=1", "--split=3"])
        XCTAssertEqual(cliResume.status, 2)
        XCTAssertTrue(cliResume.stderr.hasSuffix("cloudtask: \(message)\n"), cliResume.stderr)
        let luaResume = try run(["-e", "resume(1, {split = 3})"], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(luaResume.status, 1)
        XCTAssertTrue(luaResume.stderr.contains("(command line):1: resume: \(message)\n"), luaResume.stderr)
    }

    // MARK: - resume runs the same jobs from ctsh and from cloudtask

    /// Job numbers started by the last run of session `id` under `root`, in order.
    func startedInLastRun(root: String, id: Int = 1) -> [Int] {
        let lines = file("\(root)/\(id)/journal").split(separator: "\n")
        let lastRun = lines.lastIndex { $0.hasPrefix("{\"run\":") } ?? 0
        return lines[lastRun...].compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["start"] as? Int
        }
    }

    func testResumeAndRetryRunTheSameJobsFromCtshAndCloudtask() throws {
        // One worker, one slot, --halt=1: job 1 ends OK, job 2 fails and halts the run, jobs 3-5 stay pending.
        let first = try run(base + ["--workers=127.0.1.1", "--halt=1", "sh", "-c", "[ $0 != 2 ]"],
                            stdin: Array("1\n2\n3\n4\n5\n".utf8))
        XCTAssertEqual(first.status, 1, first.stderr)
        let copy = home + "/sessions-copy"
        XCTAssertEqual(shell("cp -a \(sessions) \(copy)"), 0)

        let cli = try run(base + ["--resume=1"])
        XCTAssertEqual(cli.status, 1, "job 2 still failed: \(cli.stderr)")
        let lua = try run(["-e", "local s = resume(1):run() print(s.ok, s.failed, s.pending)"],
                          env: ["CLOUDTASK_SESSIONS": copy], binary: ctsh)
        XCTAssertEqual(lua.status, 0, lua.stderr)
        XCTAssertEqual(lua.out, "4\t1\t0\n", lua.stderr)
        XCTAssertEqual(startedInLastRun(root: sessions), [3, 4, 5])
        XCTAssertEqual(startedInLastRun(root: copy), startedInLastRun(root: sessions))
        XCTAssertEqual(file(copy + "/1/jobs"), sessionFile(1, "jobs"))

        // --retry and resume(id, {retry = true}): only the failed job runs again, in both.
        let cliRetry = try run(base + ["--retry=1"])
        XCTAssertEqual(cliRetry.status, 1, cliRetry.stderr)
        let luaRetry = try run(["-e", "print(resume(1, {retry = true}):run().failed)"], env: ["CLOUDTASK_SESSIONS": copy], binary: ctsh)
        XCTAssertEqual(luaRetry.out, "1\n", luaRetry.stderr)
        XCTAssertEqual(startedInLastRun(root: sessions), [2])
        XCTAssertEqual(startedInLastRun(root: copy), [2])
        XCTAssertEqual(file(copy + "/1/jobs"), sessionFile(1, "jobs"))
    }
}
