// cloudtask on a real terminal (tmux): the confirmation prompt, which never shows a secret. The passphrase prompt
// is in RSAKeyTests, which owns the test keys.
import Foundation
import XCTest

extension IntegrationCase {
    /// Starts `command` in a detached tmux session; returns its name.
    func tmux(_ command: String) -> String {
        let name = unique()
        XCTAssertEqual(shell("tmux new-session -d -s \(name) -x 160 -y 50 \"\(command)\""), 0)
        return name
    }

    func screen(_ name: String) -> String {
        output(["/usr/bin/tmux", "capture-pane", "-p", "-t", name])
    }
}

final class TerminalTests: IntegrationCase {
    func testConfirmationPromptOnATerminal() throws {
        let done = home + "/done"
        let command = "cd \(home) && printf 'a\\nb\\n' | \(Env.binary) \(base.joined(separator: " ")) --workers=127.0.1.1 echo > \(home)/out; echo exit=\\$? > \(done); sleep 30"
        for (answer, status) in [("no", "exit=1"), ("yes", "exit=0")] {
            try? FileManager.default.removeItem(atPath: done)
            let name = tmux(command)
            defer { shell("tmux kill-session -t \(name)") }
            waitWhile(tries: 100, every: 0.05) { !self.screen(name).contains("Is this really what you want? [yes/no]") }
            let shown = screen(name)
            XCTAssertTrue(shown.contains("About to launch 2 jobs on 1 of 1 workers"), shown)
            XCTAssertTrue(shown.contains("split") && shown.contains("127.0.1.1"), shown)
            shell("tmux send-keys -t \(name) \(answer) Enter")
            waitWhile(tries: 300, every: 0.05) { !FileManager.default.fileExists(atPath: done) }
            XCTAssertEqual(file(done).trimmingCharacters(in: .whitespacesAndNewlines), status, screen(name))
        }
        XCTAssertEqual(file(home + "/out").split(separator: "\n").sorted(), ["a", "b"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: sessions), ["1"], "the refused run created no session")
    }

    func testProgressLineOnATerminalAndNotWhenPiped() throws {
        let command = "cd \(home) && seq 12 | \(Env.binary) \(base.joined(separator: " ")) --force --workers=127.0.1.1 sh -c 'sleep 0.3' >/dev/null; sleep 30"
        let name = tmux(command)
        defer { shell("tmux kill-session -t \(name)") }
        var shown = ""
        waitWhile(tries: 100, every: 0.05) {
            shown = self.screen(name)
            return shown.range(of: #"\[\d+/12\] 0 failed, 1 running, [0-9.]+ jobs/s, ETA [0-9?:]+, 1 workers up"#, options: .regularExpression) == nil
        }
        XCTAssertNotNil(shown.range(of: #"\[\d+/12\] 0 failed, 1 running"#, options: .regularExpression), shown)
        waitWhile(tries: 200, every: 0.05) { !self.screen(name).contains("0/12 !OK") }
        XCTAssertFalse(screen(name).contains("[12/12]"), "the progress line is cleared at the end: \(screen(name))")
        // Piped: plain lines only.
        let piped = try cloudtask(["sh", "-c", "sleep 0.3; : $0"], workers: "127.0.1.1", lines: ["1", "2", "3"])
        XCTAssertFalse(piped.stderr.contains("\u{1B}[K") || piped.stderr.contains("jobs/s"), piped.stderr)
        let quiet = try cloudtask(["--quiet", "true"], workers: "127.0.1.1", lines: ["1"])
        XCTAssertEqual(quiet.stderr.split(separator: "\n").count, 1, quiet.stderr)
        XCTAssertTrue(quiet.stderr.contains("0/1 !OK"), quiet.stderr)
        XCTAssertTrue(sessionFile(3, "log").contains("127.0.1.1: exit 0 # true 1"), "quiet lines still reach the session log")
    }
}
