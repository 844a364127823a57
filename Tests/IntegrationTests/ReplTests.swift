// ctsh's REPL in a real terminal (tmux send-keys / capture-pane): editing, history, completion,
// multi-line input, Ctrl-C at the prompt, in running Lua code and in a running task, Ctrl-D; help, print limits,
// file names completed in a string, the startup file.
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
        // XDG_CONFIG_HOME too, so that no ctshrc.lua but the test's own is read.
        XCTAssertEqual(shell("tmux new-session -d -s \(session) -x 150 -y 50 'HOME=\(home) XDG_CONFIG_HOME=\(home)/.config CLOUDTASK_SESSIONS=\(sessions) \(ctsh); echo EXIT=$?; sleep 60'"), 0)
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

    // MARK: - Help, print limits, completion in strings, ctshrc (issue 14)

    func testHelpAndHelpOfTaskOnATerminal() throws {
        start()
        type("help()"); keys("Enter")
        waitFor("ctsh> help()\nctsh bindings (help(NAME) or help\"NAME\" for one; help\"--OPTION\" for cloudtask's options):\n"
                + "  workers          a pool of workers: addresses, a workers file, or N launched by a provider\n")
        waitFor("\n  task             a batch: the command run once per job on the workers, as cloudtask runs it\n")
        waitFor("\n  resume           a saved session (of ctsh or cloudtask) as a task, to continue\n")
        keys("C-l")
        type("help(task)"); keys("Enter")
        waitFor("ctsh> help(task)\ntask{command = CMD, jobs = LIST|FUNCTION|COROUTINE, workers = POOL, on_result = FUNCTION, FIELD = VALUE, ...} -> t\n"
                + "  a batch: the command run once per job on the workers, as cloudtask runs it.\n")
        waitFor("  Example:\n    local t = task{command = \"gzip -9\", jobs = {\"a.log\", \"b.log\"}, workers = pool, retries = 1}\n    t:run()\nctsh> ")
        type("help"); keys("Enter")
        waitFor("ctsh> help\nhelp: type help() for the bindings, help(NAME) for one\n")
    }

    func testAHundredThousandElementTableIsPrintedWithinTheLimit() throws {
        start()
        // Each line typed once the prompt is back: typed early, it would show before the prompt, not after it.
        type("ctsh.print_limit = 20; ctsh.print_items = 0"); keys("Enter")
        waitFor("ctsh> ctsh.print_limit = 20; ctsh.print_items = 0\nctsh> ")
        type("big = {} for i = 1, 100000 do big[i] = i end"); keys("Enter")
        waitFor("big[i] = i end\nctsh> ")
        type("big"); keys("Enter")
        waitFor("... (cut at 20 lines: ctsh.print_limit)\nctsh> ")
        var rows = screen.components(separatedBy: "\n")
        rows = Array(rows.drop { $0 != "ctsh> big" }.dropFirst().prefix { !$0.hasPrefix("ctsh> ") })
        XCTAssertEqual(rows.count, 20, rows.joined(separator: "\n"))
        XCTAssertEqual(rows.first, "{")
        XCTAssertEqual(rows.dropLast().last, "  [18] = 18,")
        // The default items per table: the first 30 and the count of the rest.
        keys("C-l")
        type("ctsh.print_limit = 100; ctsh.print_items = 30"); keys("Enter")
        type("big"); keys("Enter")
        waitFor("  [30] = 30,\n  ... (99 970 more)\n}\nctsh> ")
    }

    func testFileNamesCompleteInsideAString() throws {
        try FileManager.default.createDirectory(atPath: home + "/scripts", withIntermediateDirectories: true)
        try "return 6 * 7\n".write(toFile: home + "/scripts/answer.lua", atomically: true, encoding: .utf8)
        start()
        type("dofile(\"\(home)/scr"); keys("Tab")
        waitFor("ctsh> dofile(\"\(home)/scripts/")
        keys("Tab")
        waitFor("ctsh> dofile(\"\(home)/scripts/answer.lua")
        type("\")"); keys("Enter")
        waitFor("\n42\nctsh> ")
        // In a workers{...} list, a string completes known hosts.
        try "Host buildbox\n  HostName 127.0.1.1\n".write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        type("workers{\"bui"); keys("Tab")
        waitFor("ctsh> workers{\"buildbox")
        type("\"}"); keys("Enter")
        waitFor("\npool(1): buildbox\n")
        // Inside task{...}, option names.
        type("task{command = 'true', keep_"); keys("Tab")
        waitFor("ctsh> task{command = 'true', keep_order")
    }

    func testTheStartupFileDefinesAFunctionUsedAtThePrompt() throws {
        try FileManager.default.createDirectory(atPath: home + "/.config/cloudtask", withIntermediateDirectories: true)
        try "function greet(name) return 'hello, ' .. name end\n"
            .write(toFile: home + "/.config/cloudtask/ctshrc.lua", atomically: true, encoding: .utf8)
        start()
        type("greet('ctsh')"); keys("Enter")
        waitFor("ctsh> greet('ctsh')\n\"hello, ctsh\"\n")
    }
}
