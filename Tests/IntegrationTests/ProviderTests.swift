// Launched workers through the built cloudtask: the local provider end to end, mixing given and launched
// workers, and no instance left after SIGKILL (destroy-workers or resume).
import Engine
import Foundation
import XCTest

final class ProviderTests: IntegrationCase {
    var destroyWorkers: String { Env.root + "/.build/debug/cloudtask-destroy-workers" }

    /// sshd processes of this test's sessions still running.
    func sessionSSHDs() -> [String] { remoteProcesses(sessions + "/") }

    func ledgerEvents(_ id: Int = 1) -> [String] {
        sessionFile(id, "instances").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).flatMap { "\($0["id"]!) \($0["event"]!)" }
        }
    }

    func testLocalProviderIsTheDefaultAndLeavesNothingBehind() throws {
        let r = try run(["--sessions=\(sessions)", "--split=3", "sh", "-c", "echo $0 on $CLOUDTASK_WORKER"], stdin: Array("1\n2\n3\n4\n5\n6\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").count, 6)
        XCTAssertEqual(r.stderr.components(separatedBy: ": launched worker local-1-").count - 1, 3, r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: ": destroyed worker local-1-").count - 1, 3, r.stderr)
        XCTAssertEqual(Set(ledgerEvents()), Set((1...3).flatMap { ["local-1-\($0) launch", "local-1-\($0) up", "local-1-\($0) destroyed"] }))
        XCTAssertEqual(sessionSSHDs(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/.ssh/known_hosts"), "launched keys are pinned in the session, not the user's file")
        XCTAssertEqual(sessionFile(1, "known_hosts").split(separator: "\n").count, 3)
    }

    func testGivenAndLaunchedWorkersMixAndOnlyLaunchedOnesAreDestroyed() throws {
        // Each job notes its worker and waits (at most 20 s) until a job has run on a second worker, so the
        // given worker cannot finish the batch alone while the launched one boots, however slow the machine.
        let seen = home + "/seen"
        let job = "echo $CLOUDTASK_WORKER >> \(seen); i=0; while [ $(sort -u \(seen) | wc -l) -lt 2 ] && [ $i -lt 200 ]; do "
            + "sleep 0.1; i=$((i+1)); done; echo $CLOUDTASK_WORKER"
        let r = try cloudtask(["--provider=local", "--split=2", "--slots=2", "sh", "-c", job], workers: "127.0.1.1",
                              lines: (1...8).map(String.init))
        XCTAssertEqual(r.status, 0, r.stderr)
        let workers = Set(r.out.split(separator: "\n").map(String.init))
        XCTAssertTrue(workers.contains("127.0.1.1"), r.out)
        XCTAssertEqual(workers.count, 2, r.out)
        XCTAssertEqual(r.stderr.components(separatedBy: "destroyed worker").count - 1, 1, r.stderr)
        XCTAssertEqual(try cloudtask(["true"], workers: "127.0.1.1", lines: ["still up"]).status, 0, "the given worker is not destroyed")
    }

    func testWithoutAProviderSplitBeyondTheWorkersStaysAnError() throws {
        let r = try cloudtask(["--split=3", "true"], lines: ["x"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--split=3 exceeds the 2 workers given"), r.stderr)
        let unknown = try cloudtask(["--provider=nimbus", "true"], lines: ["x"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("--provider=nimbus: unknown provider"), unknown.stderr)
    }

    func testSIGKILLThenDestroyWorkersLeavesNothingRunning() throws {
        _ = try run(["--sessions=\(sessions)", "--split=2", "sleep"], stdin: Array("30\n30\n30\n".utf8)) { process in
            self.waitWhile(tries: 200, every: 0.05) { self.ledgerEvents().filter { $0.hasSuffix(" up") }.count < 2 }
            Thread.sleep(forTimeInterval: 0.5)
            kill(process.processIdentifier, SIGKILL)
        }
        XCTAssertEqual(sessionSSHDs().count, 2, "the killed controller left its workers")
        let destroyed = try run(["--session", "1"], env: ["CLOUDTASK_SESSIONS": sessions], binary: destroyWorkers)
        XCTAssertEqual(destroyed.status, 0, destroyed.stderr)
        XCTAssertEqual(destroyed.out.components(separatedBy: "destroyed worker").count - 1, 2, destroyed.out)
        XCTAssertEqual(sessionSSHDs(), [])
        XCTAssertTrue(try run(["--session=1"], env: ["CLOUDTASK_SESSIONS": sessions], binary: destroyWorkers).out.contains("no live instances"))
        XCTAssertEqual(try run(["--session=9"], env: ["CLOUDTASK_SESSIONS": sessions], binary: destroyWorkers).status, 1)
    }

    func testALostLedgerStillLeavesNothingRunningThroughTheProvidersList() throws {
        // The default local provider (session 1) and the Lua example (session 2): SIGKILL, the ledger lost, then destroy-workers.
        for (id, provider) in [(1, "local"), (2, Env.root + "/examples/providers/local.lua")] {
            let named = id == 1 ? [] : ["--provider=\(provider)"]
            _ = try run(["--sessions=\(sessions)"] + named + ["--split=2", "sleep"], stdin: Array("30\n30\n".utf8)) { process in
                self.waitWhile(tries: 200, every: 0.05) { self.ledgerEvents(id).filter { $0.hasSuffix(" up") }.count < 2 }
                Thread.sleep(forTimeInterval: 0.3)
                kill(process.processIdentifier, SIGKILL)
            }
            XCTAssertEqual(sessionSSHDs().count, 2, "\(provider): the killed controller left its workers")
            try FileManager.default.removeItem(atPath: "\(sessions)/\(id)/instances")
            let destroyed = try run(["--session=\(id)", "--sessions=\(sessions)"], binary: destroyWorkers)
            XCTAssertEqual(destroyed.status, 0, destroyed.stderr)
            XCTAssertTrue(destroyed.out.contains("session \(id): 2 live instance(s) not in the ledger, found by the provider"), destroyed.out)
            XCTAssertEqual(sessionSSHDs(), [], "\(provider): \(destroyed.out)")
        }
    }

    func testSIGKILLThenResumeDestroysLeftoversAndFinishes() throws {
        _ = try run(["--sessions=\(sessions)", "--split=2", "sh", "-c", "sleep $0"], stdin: Array("0.1\n0.1\n5\n5\n0.2\n".utf8)) { process in
            self.waitWhile(tries: 200, every: 0.05) { !self.sessionFile(1, "journal").contains("\"end\":2") }
            kill(process.processIdentifier, SIGKILL)
        }
        let resumed = try run(["--sessions=\(sessions)", "--resume=1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("destroyed 2 workers left by an earlier run of session 1"), resumed.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").components(separatedBy: "EXIT=0").count - 1, 5)
        XCTAssertEqual(sessionSSHDs(), [])
    }

    func testLuaProviderExampleLaunchesRunsAndDestroys() throws {
        let provider = Env.root + "/examples/providers/local.lua"
        let r = try run(["--sessions=\(sessions)", "--provider=\(provider)", "--split=2", "sh", "-c", "echo $CLOUDTASK_WORKER"],
                        stdin: Array("1\n2\n3\n4\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n")).count, 2, r.out)
        XCTAssertEqual(r.stderr.components(separatedBy: "destroyed worker lua-").count - 1, 2, r.stderr)
        XCTAssertEqual(sessionSSHDs(), [])
        XCTAssertEqual(sessionFile(1, "known_hosts").split(separator: "\n").count, 2, "keys recorded on first contact, in the session")
        // A killed controller's Lua-launched workers are destroyed through the same script.
        _ = try run(["--sessions=\(sessions)", "--provider=\(provider)", "--split=2", "sleep"], stdin: Array("30\n30\n".utf8)) { process in
            self.waitWhile(tries: 200, every: 0.05) { self.ledgerEvents(2).filter { $0.hasSuffix(" up") }.count < 2 }
            Thread.sleep(forTimeInterval: 0.3)
            kill(process.processIdentifier, SIGKILL)
        }
        XCTAssertEqual(sessionSSHDs().count, 2)
        let destroyed = try run(["--session=2", "--sessions=\(sessions)"], binary: destroyWorkers)
        XCTAssertEqual(destroyed.status, 0, destroyed.stderr)
        XCTAssertEqual(sessionSSHDs(), [])
        let bad = try run(["--sessions=\(sessions)", "--provider=/nonexistent.lua", "true"], stdin: Array("x\n".utf8))
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--provider=/nonexistent.lua: no such file"), bad.stderr)
    }

    func testASlowLuaLaunchDoesNotHoldUpGivenWorkersAndAShortOneDoesNotHang() throws {
        // The script's launch takes 2 s, then launches through the example; the given worker runs jobs meanwhile.
        let slow = home + "/slow.lua"
        try """
        local example = dofile("\(Env.root)/examples/providers/local.lua")
        return {launch = function(count, ctx) os.execute("sleep 2") return example.launch(count, ctx) end, destroy = example.destroy}
        """.write(toFile: slow, atomically: true, encoding: .utf8)
        let r = try run(base + ["--workers=127.0.1.1", "--provider=\(slow)", "--split=2", "sh", "-c", "sleep 0.2; echo $0"],
                        stdin: Array((1...20).map { "\($0)\n" }.joined().utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n")).count, 20, r.out)
        let log = sessionFile(1, "log").split(separator: "\n").map(String.init)
        let firstLaunch = log.firstIndex { $0.contains("launched worker lua-") }
        let given = log.filter { $0.hasPrefix("127.0.1.1: exit 0") }.count
        XCTAssertNotNil(firstLaunch, r.stderr)
        XCTAssertGreaterThanOrEqual(log.prefix(firstLaunch ?? 0).filter { $0.hasPrefix("127.0.1.1: exit 0") }.count, 5,
                                    "the given worker ran jobs while the launch was under way (\(given) in all):\n\(log.joined(separator: "\n"))")
        XCTAssertEqual(sessionSSHDs(), [])
        // Ctrl-C while the slow launch is under way: the run waits for that launch only to destroy what it made.
        let started = Date()
        let aborted = try run(["--sessions=\(sessions)", "--provider=\(slow)", "--split=2", "sleep"], stdin: Array("30\n30\n".utf8)) { process in
            Thread.sleep(forTimeInterval: 0.7)
            process.interrupt()
        }
        XCTAssertEqual(aborted.status, 1, aborted.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, aborted.stderr)
        XCTAssertEqual(sessionSSHDs(), [], aborted.stderr)
        XCTAssertEqual(Ledger(events: ledgerEvents(2)).alive, [], "every instance the launch made is destroyed")
        XCTAssertTrue(aborted.stderr.contains("2 jobs pending"), aborted.stderr)
        // A launch that brings fewer instances than asked is said, and the run ends instead of waiting for them.
        let empty = home + "/empty.lua"
        try "return {launch = function() return {} end, destroy = function() return {} end}".write(toFile: empty, atomically: true, encoding: .utf8)
        let none = try run(["--sessions=\(sessions)", "--provider=\(empty)", "--split=2", "echo"], stdin: Array("a\nb\n".utf8), timeout: 30)
        XCTAssertEqual(none.status, 1, none.stderr)
        XCTAssertTrue(none.stderr.contains("lua:empty.lua: launch returned 0 of 2 instances"), none.stderr)
        XCTAssertTrue(none.stderr.contains("2 jobs pending (no worker left)"), none.stderr)
    }

    func testHTTPBindingForProviderScripts() throws {
        try "hello from the api\n".write(toFile: home + "/api.txt", atomically: true, encoding: .utf8)
        let (server, port) = try startServer { ["python3", "-m", "http.server", "--bind", "127.0.0.1", String($0), "--directory", self.home] }
        defer { server.terminate(); server.waitUntilExit() }
        let answer = try run(["-e", "local r = http.request{url = 'http://127.0.0.1:\(port)/api.txt'} return r.status, (r.body:gsub('%s+$', '')), r.headers['content-type']"],
                             binary: Env.root + "/.build/debug/ctsh")
        XCTAssertEqual(answer.out, "200\t\"hello from the api\"\t\"text/plain\"\n", answer.stderr)
    }

    func testADeadLaunchedWorkerIsDestroyedAndReplaced() throws {
        let marker = unique()
        let r = try run(["--sessions=\(sessions)", "--split=1", "sh", "-c", "sleep 2; echo done $0"], stdin: Array("\(marker)1\n\(marker)2\n".utf8)) { _ in
            self.waitWhile(tries: 200, every: 0.05) { self.remoteProcesses(marker).isEmpty }
            // Kill the launched worker's sshd and its sessions: the worker dies mid-job.
            let pid = self.file(self.sessions + "/1/local/1/sshd.pid").trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(self.shell("kill -9 \(pid) $(ps -o pid= --ppid \(pid)) $(for p in $(ps -o pid= --ppid \(pid)); do ps -o pid= --ppid $p; done)"), 0)
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("worker died"), r.stderr)
        XCTAssertTrue(r.stderr.contains("launched worker local-1-2"), "a replacement is launched: \(r.stderr)")
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["done \(marker)1", "done \(marker)2"])
        XCTAssertEqual(Ledger(events: ledgerEvents()).alive, [], "every launched worker is destroyed")
        XCTAssertEqual(sessionSSHDs(), [])
    }

    func testLaunchWorkersFileIsUsedByCloudtaskAndDestroyedByDestroyWorkers() throws {
        // The user's own key is authorized on the launched pool, so plain --workers=FILE logs in.
        try FileManager.default.copyItem(atPath: Env.key, toPath: home + "/.ssh/id_ed25519")
        try FileManager.default.copyItem(atPath: Env.key + ".pub", toPath: home + "/.ssh/id_ed25519.pub")
        let pool = home + "/pool"
        let launched = try run(["--sessions=\(sessions)", "2", pool], binary: Env.root + "/.build/debug/cloudtask-launch-workers")
        XCTAssertEqual(launched.status, 0, launched.stderr)
        let lines = file(pool).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        for line in lines { XCTAssertNotNil(line.range(of: #"^127\.0\.1\.\d+:\d+  # local:local-1-[12]$"#, options: .regularExpression), String(line)) }
        XCTAssertEqual(Set(lines.map { $0.suffix(9) }), ["local-1-1", "local-1-2"])
        let r = try run(["--sessions=\(sessions)", "--force", "--workers=\(pool)", "sh", "-c", "echo $CLOUDTASK_WORKER"], stdin: Array("1\n2\n3\n4\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Set(r.out.split(separator: "\n")).count, 2, r.out)
        XCTAssertFalse(r.stderr.contains("destroyed"), "cloudtask does not destroy workers it was given")
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/.ssh/known_hosts"), "the pool's keys are pinned in its session")
        XCTAssertEqual(sessionSSHDs().count, 2)
        let destroyed = try run(["--sessions=\(sessions)", pool], binary: destroyWorkers)
        XCTAssertEqual(destroyed.status, 0, destroyed.stderr)
        XCTAssertEqual(file(pool).trimmingCharacters(in: .whitespacesAndNewlines), "", "the file keeps only what remains")
        XCTAssertEqual(sessionSSHDs(), [])
        XCTAssertEqual(try run(["--sessions=\(sessions)", home + "/nothing"], binary: destroyWorkers).status, 1)
    }
}

/// Which instances a list of "id event" ledger lines leaves alive.
struct Ledger {
    let alive: [String]
    init(events: [String]) {
        var alive: [String] = []
        for event in events {
            let parts = event.split(separator: " ")
            if parts[1] == "launch" { alive.append(String(parts[0])) }
            if parts[1] == "destroyed" { alive.removeAll { $0 == parts[0] } }
        }
        self.alive = alive
    }
}
