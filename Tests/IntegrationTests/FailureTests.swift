// Failures through the real parts: timeouts, retries, strikes, unreachable workers, channel caps,
// floods of output, interrupts.
import Foundation
import XCTest

final class FailureTests: IntegrationCase {
    func testTimeoutKillsTheWholeRemoteProcessGroup() throws {
        let marker = unique()
        // A child and a grandchild that would outlive a plain channel close.
        let r = try cloudtask(["--timeout=1", "sh", "-c", "sleep 1000 & (sleep 1001; echo) & sleep 999; : $0"], workers: "127.0.1.1", lines: [marker])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: timeout # sh -c"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").prefix(8), "TIMEOUT\t")
        var left: [String] = []
        for _ in 0..<40 {
            left = remoteProcesses(marker) + remoteProcesses("sleep 100[01]")
            if left.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(left, [], "processes left on the worker after the timeout")
    }

    func testRetriesRunAFailedJobAgainOnAnotherWorker() throws {
        let flag = home + "/failed-once"
        let script = "[ $0 = y ] && exit 0; if [ -e \(flag) ]; then echo ok on $CLOUDTASK_WORKER; else touch \(flag); echo first on $CLOUDTASK_WORKER >&2; exit 4; fi; : $0"
        let r = try cloudtask(["--retries=2", "sh", "-c", script], lines: ["x", "y"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("will retry (1 of 2)"), r.stderr)
        // Only the last attempt's output reaches stdout/stderr (as GNU parallel); every attempt is in the log.
        XCTAssertFalse(r.stderr.split(separator: "\n").contains { $0.hasPrefix("first on") }, r.stderr)
        let failedOn = r.stderr.range(of: #"127\.0\.1\.\d: exit 4"#, options: .regularExpression).map { String(r.stderr[$0].prefix(9)) }
        let second = r.out.range(of: #"ok on 127\.0\.1\.\d"#, options: .regularExpression).map { String(r.out[$0].suffix(9)) }
        XCTAssertNotNil(failedOn)
        XCTAssertNotNil(second)
        XCTAssertNotEqual(failedOn, second, "the retry should go to the other worker")
        XCTAssertTrue(sessionFile(1, "log").contains("will retry (1 of 2)"))
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").map { $0.prefix(7) }, ["EXIT=0\t", "EXIT=0\t"])
    }

    func testRetriesAreBoundedAndTheLastResultStays() throws {
        let r = try cloudtask(["--retries=1", "sh", "-c", "exit 3"], workers: "127.0.1.1", lines: ["a"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.components(separatedBy: ": exit 3 #").count - 1, 2, r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").prefix(7), "EXIT=3\t")
    }

    func testStrikesRetireAWorkerAndTheOthersFinish() throws {
        let r = try cloudtask(["--strikes=2", "--retries=3", "sh", "-c", ": $0; [ $CLOUDTASK_WORKER != 127.0.1.1 ]"],
                              lines: (1...8).map(String.init))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: terminating worker after 2 strikes"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").filter { $0.hasPrefix("EXIT=0") }.count, 8)
    }

    func testUnreachableWorkerIsLeftOutAndTheBatchGoesOn() throws {
        let r = try cloudtask(["echo"], workers: "127.0.1.1 127.0.1.99", lines: ["1", "2", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.99: unreachable:"), r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").sorted(), ["1", "2", "3"])
    }

    func testNoReachableWorkerLeavesJobsPendingAndSaysHowToResume() throws {
        let r = try cloudtask(["echo"], workers: "127.0.1.98", lines: ["1", "2"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("2/2 !OK - 2 pending"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--resume=1"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs"), "PENDING\techo 1\nPENDING\techo 2\n")
    }

    func testChannelCapIsHonouredWithoutFailingJobs() throws {
        // Worker 4 keeps OpenSSH's default MaxSessions 10.
        let r = try cloudtask(["--slots=14", "sh", "-c", "sleep 0.5; echo $0"], workers: "127.0.1.4", lines: (1...28).map(String.init))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.4: channel refused"), r.stderr)
        XCTAssertEqual(r.out.split(separator: "\n").count, 28)
        XCTAssertFalse(r.stderr.contains("strike"))
    }

    func testFiftyMegabytesOfOutputKeepControllerMemoryBounded() throws {
        // GNU time measures cloudtask's own peak RSS (RUSAGE_CHILDREN would include other servers the suite started).
        let peak = home + "/peak"
        let r = try run(["-o", peak, "-f", "%M", Env.binary] + base + ["--workers=127.0.1.1", "sh", "-c", "head -c 52428800 /dev/zero; : $0"],
                        stdin: Array("x\n".utf8), binary: "/usr/bin/time")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.count, 52_428_800)
        let kib = Int(file(peak).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "") ?? .max
        XCTAssertLessThan(kib, 100_000, "cloudtask's peak RSS in KiB")
    }

    func testStderrFloodWhileStdoutIsIdleDoesNotDeadlock() throws {
        let r = try cloudtask(["sh", "-c", "head -c 8000000 /dev/zero >&2; echo done $0"], workers: "127.0.1.1", lines: ["x"], timeout: 60)
        XCTAssertEqual(r.out, "done x\n")
        XCTAssertGreaterThan(r.stderr.utf8.count, 8_000_000)
    }

    func testInterruptStopsRemoteJobsAndSavesTheSession() throws {
        let marker = unique()
        let r = try cloudtask(["sh", "-c", "sleep 900; : $0"], lines: [marker + "a", marker + "b", marker + "c"]) { process in
            var tries = 0
            while self.remoteProcesses(marker).count < 2 && tries < 100 { Thread.sleep(forTimeInterval: 0.1); tries += 1 }
            process.interrupt()
        }
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs").split(separator: "\n").filter { $0.hasPrefix("PENDING") }.count, 3)
        var left: [String] = []
        for _ in 0..<40 {
            left = remoteProcesses(marker)
            if left.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(left, [], "jobs left running after an interrupt")
    }
}
