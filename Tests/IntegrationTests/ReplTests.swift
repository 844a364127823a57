// ctsh's REPL in a real terminal (tmux send-keys / capture-pane): editing, history, completion,
// multi-line input, Ctrl-C at the prompt, in running Lua code and in a running task, Ctrl-D.
import Foundation
import XCTest

final class ReplTests: IntegrationCase {
    var session = ""

    override func tearDownWithError() throws {
        if !session.isEmpty { shell("tmux kill-session -t \(session) 2>/dev/null") }
        try super.tearDownWithError()
    }

    func start() {
        session = unique()
        let ctsh = Env.root + "/.build/debug/ctsh"
        XCTAssertEqual(shell("tmux new-session -d -s \(session) -x 150 -y 50 'HOME=\(home) CLOUDTASK_SESSIONS=\(sessions) \(ctsh); echo EXIT=$?; sleep 60'"), 0)
        waitFor("ctsh> ")
    }

    func keys(_ keys: String...) { shell("tmux send-keys -t \(session) " + keys.joined(separator: " ")) }

    func type(_ text: String) {
        let quoted = "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
        shell("tmux send-keys -t \(session) -l \(quoted)")
    }

    /// The pane's text; wrapped rows joined unless `rows` (then as the terminal shows them).
    func screen(rows: Bool = false) -> String {
        output(["/usr/bin/tmux", "capture-pane", "-p"] + (rows ? [] : ["-J"]) + ["-S", "-200", "-t", session])
    }
    var screen: String { screen() }

    @discardableResult
    func waitFor(_ text: String, timeout: Double = 10, rows: Bool = false, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if screen(rows: rows).contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("screen never showed \(text.debugDescription):\n\(screen(rows: rows))", file: file, line: line)
        return false
    }

    func testExpressionsMultiLineCompletionCtrlCAndHistoryAcrossStarts() throws {
        start()
        type("1 + 1"); keys("Enter")
        waitFor("ctsh> 1 + 1\n2\n")
        type("function double(x)"); keys("Enter")
        waitFor(">> ")
        type("return x * 2 end"); keys("Enter")
        type("double(21)"); keys("Enter")
        waitFor("\n42\n")
        type("_ + 1"); keys("Enter")
        waitFor("\n43\n")
        // Editing: type, move left, insert.
        type("'ac'"); keys("Left", "Left"); type("b"); keys("Enter")
        waitFor("\n\"abc\"\n")
        // Completion of globals and of methods.
        type("dou"); keys("Tab")
        waitFor("ctsh> double")
        type("(1)"); keys("Enter")
        waitFor("\n2\n")
        type("p = workers{'127.0.1.1'}"); keys("Enter")
        waitFor("p = workers{'127.0.1.1'}\nctsh> ")  // typed ahead, the next line would race the prompt
        type("p:pi"); keys("Tab")
        waitFor("ctsh> p:ping")
        keys("C-u")
        // Ctrl-C at the prompt drops the line; in running code it interrupts that code.
        type("this is dropped"); keys("C-c")
        type("'still here'"); keys("Enter")
        waitFor("\n\"still here\"\n")
        type("while true do end"); keys("Enter")
        Thread.sleep(forTimeInterval: 0.5)
        keys("C-c")
        waitFor("interrupted")
        type("'alive'"); keys("Enter")
        waitFor("\n\"alive\"\n")
        XCTAssertFalse(screen.contains("near 'is'"), "a cancelled line is not evaluated: \(screen)")
        keys("C-d")
        waitFor("EXIT=0")
        shell("tmux kill-session -t \(session)")
        // History persists: the second shell recalls the first one's complete statements.
        start()
        keys("Up")
        waitFor("ctsh> 'alive'")
        keys("C-u")
        for _ in 0..<6 { keys("Up") }
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertFalse(screen.contains("ctsh> this is dropped"), "a cancelled line is not history")
        let history = file(home + "/.local/state/cloudtask/ctsh_history")
        XCTAssertTrue(history.contains("function\\040double(x)\\012return\\040x\\040*\\0402\\040end"), history)
    }

    func testCtrlCAbortsARunningTaskAndTheShellGoesOn() throws {
        start()
        let marker = unique()
        type("t = task{command = \"sh -c 'sleep 30; : $0'\", workers = workers{'127.0.1.1', identity = '\(Env.key)', known_hosts = '\(Env.knownHosts)'}, slots = 2, jobs = {'\(marker)1', '\(marker)2', '\(marker)3'}}")
        keys("Enter")
        type("s = t:run()"); keys("Enter")
        waitWhile(tries: 100, every: 0.1) { self.remoteProcesses(marker).count < 2 }
        keys("C-c")
        waitFor("interrupted, stopping jobs")
        type("s.pending .. '/' .. s.ok"); keys("Enter")
        waitFor("\n\"3/0\"\n")
        waitWhile(tries: 50, every: 0.1) { !self.remoteProcesses(marker).isEmpty }
        XCTAssertEqual(remoteProcesses(marker), [])
        XCTAssertEqual(sessionFile(1, "jobs").components(separatedBy: "PENDING").count - 1, 3)
        type("#sessions()"); keys("Enter")
        waitFor("\n1\n")
    }

    func testBackgroundTaskRunsWhileThePromptWaits() throws {
        start()
        type("n = 0; t = task{command = 'true', workers = workers{'127.0.1.1', identity = '\(Env.key)', known_hosts = '\(Env.knownHosts)'}, jobs = {'a', 'b', 'c'}, on_result = function() n = n + 1 end}:start()")
        keys("Enter")
        Thread.sleep(forTimeInterval: 2)  // the prompt waits; results arrive meanwhile
        type("n .. '/' .. tostring(t:status().running)"); keys("Enter")
        waitFor("\n\"3/false\"\n")
        type("t:wait().ok"); keys("Enter")
        waitFor("\n3\n")
        // Session ids complete after resume(.
        type("resume("); keys("Tab")
        waitFor("ctsh> resume(1")
    }

    func testBackgroundOutputLandsAboveThePromptAndTheTypedLineIsRedrawn() throws {
        start()
        type("t = task{command = 'sleep', workers = workers{'127.0.1.1', identity = '\(Env.key)', known_hosts = '\(Env.knownHosts)'}, jobs = {'0.5', '1'}, on_result = function(j) print('result-' .. j.input) end}:start()")
        keys("Enter")
        type("print('half-ty")
        waitFor("result-1\n")
        let lines = screen.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        XCTAssertEqual(lines.last, "ctsh> print('half-ty", screen)
        XCTAssertFalse(screen.contains("jobs/s"), "a background task draws no progress line:\n\(screen)")
        type("ped')"); keys("Enter")
        waitFor("ctsh> print('half-typed')\nhalf-typed\n")
    }

    func testUTF8IsTypedEditedAndKeptInHistory() throws {
        start()  // no LANG in tmux's environment here: ctsh picks a UTF-8 locale itself
        type("print('héllo wörld €😀')"); keys("Enter")
        waitFor("\nhéllo wörld €😀\n")
        type("print('aé')"); keys("Left", "Left", "Left"); type("X"); keys("Enter")
        waitFor("\naXé\n")
        keys("C-d")
        waitFor("EXIT=0")
        shell("tmux kill-session -t \(session)")
        start()
        keys("Up", "Up")
        waitFor("ctsh> print('héllo wörld €😀')")
    }

    func testAResizedTerminalWrapsTheLineAtItsNewWidth() throws {
        start()
        shell("tmux resize-window -t \(session) -x 40 -y 20")
        Thread.sleep(forTimeInterval: 0.3)
        let a = String(repeating: "a", count: 55)
        type("print('\(a)')")
        keys(Array(repeating: "Left", count: 30).joined(separator: " "))
        type("XY")
        // 40 columns: the prompt, print(' and 27 a's on the first row; the insertion starts the second.
        waitFor("ctsh> print('\(String(repeating: "a", count: 27))\nXY\(String(repeating: "a", count: 28))')\n", timeout: 5, rows: true)
        keys("Enter")
        waitFor(String(repeating: "a", count: 27) + "XY")
    }
}
