// Subprocess against real programs: statuses, pipes, timeouts, and above all that a daemon the child
// leaves behind does not hang the caller (Foundation's Process does hang: it waits for every holder of a
// socket it gives the child, which is how a tmux server once hung a whole CI run).
import Engine
import Foundation
import XCTest

final class SubprocessTests: XCTestCase {
    func testExitCodesAndSignalsBecomeStatuses() throws {
        XCTAssertEqual(try Subprocess.run(["/bin/sh", "-c", "exit 0"]).status, 0)
        XCTAssertEqual(try Subprocess.run(["/bin/sh", "-c", "exit 7"]).status, 7)
        XCTAssertEqual(try Subprocess.run(["/bin/sh", "-c", "kill -TERM $$"]).status, 128 + SIGTERM)
        XCTAssertEqual(try Subprocess.run(["true"]).status, 0, "a bare name is looked up in PATH")
    }

    func testStdinIsFedAndStdoutAndStderrAreKeptApart() throws {
        let input = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }  // more than a pipe holds
        let r = try Subprocess.run(["/bin/sh", "-c", "cat; echo oops >&2"], input: .bytes(input), output: .capture, error: .capture)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.output, input)
        XCTAssertEqual(r.errorText, "oops\n")
        XCTAssertFalse(r.timedOut)
    }

    func testAChildThatStopsReadingItsInputDoesNotKillTheCaller() throws {
        let r = try Subprocess.run(["/bin/sh", "-c", "head -c 10 >/dev/null"], input: .bytes(Array(repeating: 65, count: 4_000_000)))
        XCTAssertEqual(r.status, 0)
    }

    func testADaemonLeftBehindDoesNotHangTheCaller() throws {
        let marker = "subprocess-daemon-\(UUID().uuidString.prefix(8))"
        defer { _ = try? Subprocess.run(["pkill", "-f", marker]) }
        let started = Date()
        // The background sleep keeps stdout, stderr and every inherited descriptor open for 30 s.
        let r = try Subprocess.run(["/bin/sh", "-c", "echo before; sh -c 'sleep 30; : \(marker)' & echo after"],
                                   output: .capture, error: .capture)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.outputText, "before\nafter\n")
    }

    func testTimeoutKillsTheChildAndSaysSo() throws {
        let started = Date()
        let r = try Subprocess.run(["/bin/sleep", "30"], timeout: 0.3)
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.status, 128 + SIGKILL)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    func testANewSessionIsSignalledAsAGroup() throws {
        let marker = "subprocess-group-\(UUID().uuidString.prefix(8))"
        let child = try Subprocess(["/bin/sh", "-c", "sh -c 'sleep 30; : \(marker)' & wait"], newSession: true)
        var tries = 0
        while (try Subprocess.run(["pgrep", "-f", marker])).status != 0 && tries < 100 { Thread.sleep(forTimeInterval: 0.05); tries += 1 }
        child.terminate()
        XCTAssertEqual(child.wait(timeout: 10).status, 128 + SIGTERM)
        tries = 0
        while (try Subprocess.run(["pgrep", "-f", marker])).status == 0 && tries < 100 { Thread.sleep(forTimeInterval: 0.05); tries += 1 }
        XCTAssertNotEqual(try Subprocess.run(["pgrep", "-f", marker]).status, 0, "the grandchild outlived its group's signal")
    }

    func testDirectoryEnvironmentAndNoInheritedDescriptors() throws {
        let folder = NSTemporaryDirectory() + "sub process \(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let held = open("/dev/null", O_RDONLY)  // not close-on-exec: must still not reach the child
        defer { close(held) }
        let r = try Subprocess.run(["/bin/sh", "-c", "pwd; echo \"$GREETING\"; ls /proc/self/fd"], environment: ["GREETING": "hi there"],
                                   directory: folder, output: .capture)
        let lines = r.outputText.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, folder)
        XCTAssertEqual(lines.dropFirst().first, "hi there")
        // ls itself opens one descriptor for /proc/self/fd.
        XCTAssertEqual(lines.dropFirst(2).compactMap { Int($0) }.filter { $0 > 3 }, [], r.outputText)
    }

    func testAMissingProgramIsAnErrorNamingIt() {
        XCTAssertThrowsError(try Subprocess.run(["/nonexistent/program"])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/program"), "\(error)")
        }
    }
}
