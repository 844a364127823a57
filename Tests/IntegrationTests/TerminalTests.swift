// cloudtask on a real terminal (tmux): the confirmation prompt, which never shows a secret.
import Foundation
import XCTest

final class TerminalTests: IntegrationCase {
    /// Starts `command` in a detached tmux session; returns its name.
    func tmux(_ command: String) -> String {
        let name = unique()
        XCTAssertEqual(shell("tmux new-session -d -s \(name) -x 160 -y 50 \"\(command)\""), 0)
        return name
    }

    func screen(_ name: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tmux")
        p.arguments = ["capture-pane", "-p", "-t", name]
        let pipe = Pipe()
        p.standardOutput = pipe
        try? p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }

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
            waitWhile(tries: 100, every: 0.05) { !FileManager.default.fileExists(atPath: done) }
            XCTAssertEqual(file(done).trimmingCharacters(in: .whitespacesAndNewlines), status, screen(name))
        }
        XCTAssertEqual(file(home + "/out").split(separator: "\n").sorted(), ["a", "b"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: sessions), ["1"], "the refused run created no session")
    }
}
