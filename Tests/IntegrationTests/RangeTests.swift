// Host ranges and groups (issue 11, item 7) through the built binaries: `--workers='127.0.1.[1-3]'`, @groups,
// --dry-run's list, a bad range's usage error, and a ctsh pool of a range.
import Foundation
import XCTest

final class RangeTests: IntegrationCase {
    /// A job that waits until three jobs have started, so each of the three workers (one slot each) runs one.
    private func barrierJob() throws -> [String] {
        let started = home + "/started"
        try FileManager.default.createDirectory(atPath: started, withIntermediateDirectories: true)
        return ["sh", "-c", "touch \(started)/$CLOUDTASK_WORKER; i=0; while [ $(ls \(started) | wc -l) -lt 3 ] && [ $i -lt 200 ];"
                + " do sleep 0.1; i=$((i+1)); done; echo $CLOUDTASK_WORKER; : $0"]
    }

    func testARangeRunsJobsOnEachOfItsWorkers() throws {
        let r = try cloudtask(["--split=3"] + barrierJob(), workers: "127.0.1.[1-3]", lines: ["a", "b", "c"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["127.0.1.1", "127.0.1.2", "127.0.1.3"], r.stderr)
    }

    func testAGroupFromXDGConfigHomeRunsOnItsWorkers() throws {
        let config = home + "/xdg"
        try FileManager.default.createDirectory(atPath: config + "/cloudtask", withIntermediateDirectories: true)
        try "one: 127.0.1.1\nthree: @one 127.0.1.[2,3]   # nested\n"
            .write(toFile: config + "/cloudtask/groups", atomically: true, encoding: .utf8)
        let r = try cloudtask(["--split=3"] + barrierJob(), workers: "@three", lines: ["a", "b", "c"],
                              env: ["XDG_CONFIG_HOME": config])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["127.0.1.1", "127.0.1.2", "127.0.1.3"], r.stderr)
    }

    func testDryRunListsEveryExpandedWorker() throws {
        let r = try run(base + ["--workers=127.0.1.[1-3]", "--dry-run", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "echo x\n")
        for n in 1...3 { XCTAssertTrue(r.stderr.contains("@127.0.1.\(n):22"), r.stderr) }
        XCTAssertEqual(r.stderr.components(separatedBy: "@127.0.1.").count - 1, 3, r.stderr)
    }

    func testABadRangeOrUnknownGroupIsAUsageErrorBeforeAnythingRuns() throws {
        let marker = home + "/ran"
        let bad = try cloudtask(["touch", marker], workers: "127.0.1.1,web[3-1]", lines: ["x"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr, "cloudtask: --workers: bad range 'web[3-1]': '3-1' goes down (write 1-3)\n")
        let unknown = try cloudtask(["touch", marker], workers: "@db", lines: ["x"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertEqual(unknown.stderr, "cloudtask: --workers: unknown group @db (no file ~/.config/cloudtask/groups)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "nothing ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions), "no session was made")
    }

    func testACtshPoolOfARangeReachesEachHost() throws {
        let ctsh = Env.root + "/.build/debug/ctsh"
        let script = home + "/pool.lua"
        try """
        local p = workers{"127.0.1.[1-2]", identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
        print(#p, tostring(p))
        local result = p:run("echo $SSH_CONNECTION | cut -d' ' -f3")
        print(result["127.0.1.1"].output .. result["127.0.1.2"].output)
        print(p:remove("127.0.1.[1-2]"), #p, p:add("127.0.1.[3,1]"), p:remove("nosuch"))
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try run([script], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "2\tpool(2): 127.0.1.1 127.0.1.2\n127.0.1.1\n127.0.1.2\n\n"
                       + "true\t0\tpool(2): 127.0.1.3 127.0.1.1\tfalse\n")
        let bad = try run(["-e", "workers{'web[1-'}"], binary: ctsh)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bad argument #1 to 'workers' (address 1: bad range 'web[1-': missing ']')"), bad.stderr)
    }
}
