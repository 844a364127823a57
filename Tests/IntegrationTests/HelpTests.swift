// ctsh's help, print limits, completion candidates and startup file, through the built binary (`ctsh -e`, and
// `-i` with stdin piped); the README's binding reference checked against the help it is generated from.
// What a terminal shows is in ReplTests.
import Engine
import Foundation
import LuaShell
import XCTest

final class HelpTests: IntegrationCase {
    var ctsh: String { Env.root + "/.build/debug/ctsh" }

    /// `ctsh -e chunk` in the test's home, sessions in its folder; stdout, failing the test on a non-zero exit.
    func chunk(_ source: String, env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try run(["-e", source], env: ["CLOUDTASK_SESSIONS": sessions].merging(env) { $1 }, binary: ctsh, directory: home)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return r.out
    }

    // MARK: - help

    func testHelpListsEveryBindingWithOneLineAndExplainsOne() throws {
        let listing = try chunk("help()")
        for topic in HelpTopics.bindings {
            XCTAssertTrue(listing.contains("  " + topic.name.padding(toLength: 16, withPad: " ", startingAt: 0) + " " + topic.summary + "\n"),
                          "\(topic.name) missing:\n\(listing)")
        }
        let task = try chunk("help(task)")
        XCTAssertTrue(task.hasPrefix("task{command = CMD, jobs = LIST|FUNCTION|COROUTINE"), task)
        XCTAssertTrue(task.contains("\n  Example:\n    local t = task{command = \"gzip -9\""), task)
        XCTAssertTrue(task.contains("retries") && task.contains("host_key_policy"), "the fields come from the options table:\n\(task)")
        XCTAssertEqual(try chunk("help'task'"), task, "by name as by value")
        let run = try chunk("p = workers{'127.0.1.1'} help(p.run)")
        XCTAssertTrue(run.hasPrefix("pool:run(COMMAND)"), run)
        XCTAssertEqual(try chunk("p = workers{'127.0.1.1'} help'p:run'"), run, "a method by its receiver's name")
        XCTAssertEqual(try chunk("help'pool:run'"), run)
        XCTAssertTrue(try chunk("help(split)").contains("Also an option: help\"--split\"."))
        XCTAssertEqual(try chunk("help(undefined_name)"), "nil: no value (a name not defined?); help() lists the bindings, help\"NAME\" finds one by name\n")
        XCTAssertEqual(try chunk("help'nothing here'"), "no help for 'nothing here': help() lists the bindings\n")
        XCTAssertEqual(try chunk("return help"), "help: type help() for the bindings, help(NAME) for one\n",
                       "help without parentheses shows how to call it")
    }

    func testHelpOfAnOptionComesFromTheOptionsTable() throws {
        let split = try chunk("help'--split'")
        XCTAssertEqual(split, Options.describe("split")!.replacingOccurrences(of: "\n", with: "\n  ") + "\n")
        XCTAssertTrue(split.hasPrefix("--split=N\n  ctsh: field `split`, a number, in task{...}\n  environment: CLOUDTASK_SPLIT\n  workers used at once"), split)
        XCTAssertEqual(try chunk("help'option split'"), split)
        let identity = try chunk("help'identity'")
        XCTAssertTrue(identity.hasPrefix("--ssh-identity=FILE\n  ctsh: field `identity`, a string, in workers{...} and task{...}"), identity)
        XCTAssertEqual(try chunk("help'--nope'"), "no option 'nope' (cloudtask --help lists them)\n")
    }

    func testEveryBindingMethodAndLibraryFunctionHasHelp() throws {
        // Fails when a binding, a method or a library function is added without a help line.
        let missing = try chunk("""
        local missing = {}
        local function check(name, value)
          local text = help.text(value)
          if text:find("^no help") or text:find("^a C function") or text:find("^a Lua function") then missing[#missing + 1] = name end
        end
        for name, value in pairs(_G) do
          if type(value) == "function" and not name:find("^__ct_") then check(name, value) end
        end
        for _, lib in ipairs{"string", "table", "math", "io", "os", "utf8", "coroutine", "debug", "package", "http"} do
          for name, value in pairs(_G[lib]) do if type(value) == "function" then check(lib .. "." .. name, value) end end
        end
        local p, t = workers{"127.0.1.1"}, task{command = "true", workers = {"127.0.1.1"}}
        for name, value in pairs(getmetatable(p)) do
          if type(value) == "function" and not name:find("^_") then check("pool:" .. name, value) end
        end
        for name, value in pairs(getmetatable(t)) do
          if type(value) == "function" and not name:find("^_") then check("t:" .. name, value) end
        end
        table.sort(missing)
        print(table.concat(missing, " "))
        """)
        XCTAssertEqual(missing, "\n", "without help: \(missing)")
    }

    func testHelpOfLuaFunctionsIsOneLine() throws {
        XCTAssertEqual(try chunk("help(string.format)"), "string.format(fmt, ...): printf-style formatting: %d %5.2f %s %q (a Lua literal) %x %c %%\n")
        XCTAssertEqual(try chunk("help(table.concat)"), HelpTopics.library["table.concat"]! + "\n")
        XCTAssertEqual(try chunk("help'print'"), HelpTopics.library["print"]! + "\n")
        XCTAssertTrue(try chunk("help(os.execute)").hasPrefix("os.execute([command]): runs command with /bin/sh -c"))
        let strings = try chunk("help(string)")
        XCTAssertTrue(strings.hasPrefix("string: Lua's string library\n"), strings)
        XCTAssertTrue(strings.contains("\n  " + HelpTopics.library["string.gsub"]! + "\n"), strings)
        XCTAssertEqual(try chunk("local function f() end help(f)"), "a Lua function defined at (command line):1\n")
    }

    func testHelpOfATaskAndAPoolValue() throws {
        let task = try chunk("t = task{command = 'true', workers = {'127.0.1.1'}} help(t)")
        XCTAssertTrue(task.hasPrefix("task(session 1, not started)\n  A task (task{...} or resume); t.session is its session id. Its methods:\n"), task)
        for method in ["t:run", "t:start", "t:wait", "t:add", "t:status"] { XCTAssertTrue(task.contains("\n  \(method) "), task) }
        let pool = try chunk("help(workers{'127.0.1.1', '127.0.1.2'})")
        XCTAssertTrue(pool.hasPrefix("pool(2): 127.0.1.1 127.0.1.2\n  A pool of workers"), pool)
        for method in ["pool:run", "pool:put", "pool:get", "pool:ping"] { XCTAssertTrue(pool.contains("\n  \(method) "), pool) }
    }

    func testReadmeBindingReferenceIsTheHelpsOwn() throws {
        let readme = file(Env.root + "/README.md")
        guard let begin = readme.range(of: "<!-- help:begin"), let end = readme.range(of: "<!-- help:end -->"),
              let afterMarker = readme[begin.upperBound...].range(of: "-->\n") else {
            return XCTFail("README.md has no help:begin/help:end markers")
        }
        let block = String(readme[afterMarker.upperBound..<end.lowerBound])
        XCTAssertEqual(block, HelpTopics.reference + "\n",
                       "README's binding reference drifted from HelpTopics.swift; paste this between the markers:\n\(HelpTopics.reference)")
    }

    // MARK: - Printing

    func testPrintingIsCappedInLinesItemsAndDepth() throws {
        let big = "local t = {} for i = 1, 100000 do t[i] = i end return t"
        let items = try chunk(big)
        XCTAssertTrue(items.hasSuffix("  [30] = 30,\n  ... (99 970 more)\n}\n"), String(items.suffix(200)))
        XCTAssertEqual(items.split(separator: "\n").count, 33)
        let lines = try chunk("ctsh.print_items = 0; ctsh.print_limit = 40 " + big)
        XCTAssertEqual(lines.split(separator: "\n", omittingEmptySubsequences: false).count - 1, 40, lines)
        XCTAssertTrue(lines.hasSuffix("  [38] = 38,\n... (cut at 40 lines: ctsh.print_limit)\n"), lines)
        let deep = try chunk("ctsh.print_depth = 2 return {a = {b = {c = {}}}}")
        XCTAssertEqual(deep, "{\n  a = {\n    b = {...} (1 entry)\n  }\n}\n")
        let shown = try chunk("local a = {name = 'x\\ny'} a.self = a return a, setmetatable({}, {__tostring = function() return 'mine' end})")
        XCTAssertTrue(shown.hasPrefix("{\n  name = \"x\\ny\",\n  self = <cycle: table: 0x"), shown)
        XCTAssertTrue(shown.hasSuffix(">\n}\tmine\n"), shown)
        XCTAssertEqual(try chunk("ctsh.print_limit = 3 return setmetatable({}, {__tostring = function() return '1\\n2\\n3\\n4\\n5' end})"),
                       "1\n2\n... (cut at 3 lines: ctsh.print_limit)\n", "a __tostring of many lines counts them")
    }

    // MARK: - Completion

    /// The candidates ctsh's completion gives for `line` (the word is its end after the last of LineEditor's
    /// word break characters).
    func candidates(_ line: String, env: [String: String] = [:]) throws -> String {
        let word = line.split(omittingEmptySubsequences: false, whereSeparator: { " \t\n\"\\'`@$><=;|&{(,".contains($0) }).last.map(String.init) ?? line
        let quoted = { (s: String) in "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
        return try chunk("local found, inside = __ct_complete(\(quoted(word)), \(quoted(line))) print(table.concat(found, ' '), inside)", env: env)
    }

    func testCompletionOfHostsOptionsSessionsAndFiles() throws {
        try "Host alpha beta\n  HostName 127.0.0.1\nHost *.example gamma\nhost=delta\nMatch all\n"
            .write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        try "|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 AAAA\nzeta,10.9.9.9 ssh-ed25519 AAAA\n[omega]:2222 ssh-rsa AAAA\n@revoked bad ssh-rsa AAAA\n"
            .write(toFile: home + "/.ssh/known_hosts", atomically: true, encoding: .utf8)
        _ = try chunk("task{command = 'true', workers = {'127.0.9.1', 'web[1-2]'}}")   // session 1, its workers in its conf
        XCTAssertEqual(try candidates("workers{\""), "10.9.9.9 127.0.9.1 alpha beta delta gamma omega:2222 web[1-2] zeta\ttrue\n",
                       "config hosts without patterns, unhashed known_hosts, saved sessions' workers")
        XCTAssertEqual(try candidates("p = workers{'alpha', 'ga"), "gamma\ttrue\n")
        XCTAssertEqual(try candidates("task{command = 'x', jump = 'ze"), "zeta\ttrue\n")
        XCTAssertEqual(try candidates("task{workers = {\"127"), "127.0.9.1\ttrue\n")
        XCTAssertEqual(try candidates("task{command = 'x', ret"), "retries return_dir returns\tfalse\n")
        XCTAssertEqual(try candidates("task{command = 'x',ret"), "retries return_dir returns\tfalse\n", "a comma ends a word")
        XCTAssertEqual(try candidates("workers{'a', ret"), "\tfalse\n", "a pool takes no task-only field, and no global starts so")
        XCTAssertEqual(try candidates("workers{'a', lau"), "launch\tfalse\n")
        XCTAssertEqual(try candidates("workers{'a', us"), "user\tfalse\n")
        XCTAssertEqual(try candidates("workers{'a', ssh_p"), "ssh_passphrase_file\tfalse\n")
        XCTAssertEqual(try candidates("resume(1, {ret"), "retries retry return_dir returns\tfalse\n")
        XCTAssertEqual(try candidates("resume("), "1\tfalse\n")
        XCTAssertEqual(try candidates("print("), "\tfalse\n", "session ids only after resume(")
        XCTAssertEqual(try candidates("string.fo"), "string.format\tfalse\n", "names as before")
        try FileManager.default.createDirectory(atPath: home + "/scripts", withIntermediateDirectories: true)
        try "".write(toFile: home + "/scripts/setup.lua", atomically: true, encoding: .utf8)
        try "".write(toFile: home + "/script.lua", atomically: true, encoding: .utf8)
        XCTAssertEqual(try candidates("dofile(\"scr"), "script.lua scripts/\ttrue\n")
        XCTAssertEqual(try candidates("dofile(\"scripts/"), "scripts/setup.lua\ttrue\n")
        XCTAssertEqual(try candidates("dofile(\"\(home)/scripts/se"), "\(home)/scripts/setup.lua\ttrue\n")
        XCTAssertEqual(try candidates("workers{'a', identity = '~/.ss"), "~/.ssh/\ttrue\n", "a field's string completes files")
        XCTAssertEqual(try candidates("x = 1 -- dofile(\"scr"), "\tfalse\n", "nothing in a comment")
    }

    // MARK: - Startup file

    func testStartupFileRunsBeforeThePromptAndItsErrorIsShown() throws {
        let folder = home + "/.config/cloudtask"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "greeting = 'from ctshrc'\n".write(toFile: folder + "/ctshrc.lua", atomically: true, encoding: .utf8)
        let shell = try run(["-i"], stdin: Array("print(greeting)\n".utf8), binary: ctsh)
        XCTAssertEqual(shell.out, "from ctshrc\n\n", shell.stderr)
        XCTAssertEqual(try chunk("print(greeting)"), "nil\n", "not for -e")
        try "print(greeting)\n".write(toFile: home + "/script.lua", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run([home + "/script.lua"], binary: ctsh).out, "nil\n", "not for scripts")
        XCTAssertEqual(try run(["-e", "print(greeting)", "-i"], stdin: Array("print(greeting)\n".utf8), binary: ctsh).out,
                       "nil\nfrom ctshrc\n\n", "with -i, after the chunk and before the prompt")
        // $XDG_CONFIG_HOME wins over ~/.config.
        try FileManager.default.createDirectory(atPath: home + "/xdg/cloudtask", withIntermediateDirectories: true)
        try "greeting = 'from xdg'\n".write(toFile: home + "/xdg/cloudtask/ctshrc.lua", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["-i"], stdin: Array("print(greeting)\n".utf8), env: ["XDG_CONFIG_HOME": home + "/xdg"], binary: ctsh).out,
                       "from xdg\n\n")
        // A broken one: the error with its file and line, and the shell still starts.
        try "greeting = 'set'\nlocal x = nil + 1\n".write(toFile: folder + "/ctshrc.lua", atomically: true, encoding: .utf8)
        let broken = try run(["-i"], stdin: Array("print('still', greeting)\n".utf8), binary: ctsh)
        XCTAssertEqual(broken.status, 0)
        XCTAssertTrue(broken.stderr.hasPrefix("ctsh: \(folder)/ctshrc.lua:2: attempt to perform arithmetic on a nil value"), broken.stderr)
        XCTAssertEqual(broken.out, "still\tset\n\n")
        try "x = = 1\n".write(toFile: folder + "/ctshrc.lua", atomically: true, encoding: .utf8)
        let syntax = try run(["-i"], stdin: Array("print('up')\n".utf8), binary: ctsh)
        XCTAssertTrue(syntax.stderr.hasPrefix("ctsh: \(folder)/ctshrc.lua:1: unexpected symbol near '='"), syntax.stderr)
        XCTAssertEqual(syntax.out, "up\n\n")
    }
}
