// ctsh through the built binary: scripts against real sshd workers, chunks, errors in Lua's shapes.
import Foundation
import XCTest

final class ShellTests: IntegrationCase {
    var ctsh: String { Env.root + "/.build/debug/ctsh" }

    /// Lua source naming the test workers with the test key and known_hosts.
    func pool(_ hosts: [Int] = [1, 2]) -> String {
        "workers{" + hosts.map { "\"127.0.1.\($0)\"" }.joined(separator: ", ") + ", identity = \"\(Env.key)\", known_hosts = \"\(Env.knownHosts)\"}"
    }

    func script(_ source: String, arguments: [String] = []) throws -> Result {
        let path = home + "/script.lua"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        return try run([path] + arguments, env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
    }

    func testChunkPrintsResultsAndScriptGetsArg() throws {
        let r = try run(["-e", "return 1 + 2, 'x', {a = {1, 2}}"], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "3\t\"x\"\t{\n  a = {\n    [1] = 1,\n    [2] = 2\n  }\n}\n")
        let s = try script("print(arg[0]:match('script.lua$'), arg[1], arg[2], #arg, ...)", arguments: ["a b", "c"])
        XCTAssertEqual(s.out, "script.lua\ta b\tc\t2\ta b\tc\n", s.stderr)
    }

    func testInteractiveAfterAChunkAndPoolsFromAFile() throws {
        let hosts = home + "/hosts"
        try "# fleet\n127.0.1.1\n\n127.0.1.2 # second\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let r = try run(["-e", "p = workers{file = '\(hosts)'}", "-i"], stdin: Array("#p\np\n".utf8), binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "2\npool(2): 127.0.1.1 127.0.1.2\n\n")
    }

    func testOSExecuteKeepsLuaResultsWithoutSystem() throws {
        let r = try run(["-e", "print('before') print(os.execute('echo child; exit 3')) print(os.execute('kill -TERM $$')) print(os.execute())"],
                        binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "before\nchild\nnil\texit\t3\nnil\tsignal\t15\ntrue\n")
    }

    func testAddingToAFinishedTaskIsAnErrorNotALostJob() throws {
        let r = try script("""
        local t = task{command = "echo", workers = workers{"127.0.1.1", identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}, jobs = {"a"}}
        t:run()
        t:add("late")
        """)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("script.lua:3: the task has finished: resume(1) gives a task of the same session that takes more jobs"), r.stderr)
        XCTAssertEqual(sessionFile(1, "jobs"), "EXIT=0\techo a\n")
    }

    func testStdinThatIsNotATerminalIsTheScriptAsForLua() throws {
        let piped = try run([], stdin: Array("x = 20\nprint(x + 1)\nerror('bad')\nprint('not reached')\n".utf8), binary: ctsh)
        XCTAssertEqual(piped.status, 1, "a script stops at its first error")
        XCTAssertEqual(piped.out, "21\n")
        XCTAssertTrue(piped.stderr.hasPrefix("ctsh: stdin:3: bad"), piped.stderr)
        let dash = try run(["-", "a", "b"], stdin: Array("print(arg[0], ...)".utf8), binary: ctsh)
        XCTAssertEqual(dash.status, 0, dash.stderr)
        XCTAssertEqual(dash.out, "-\ta\tb\n")
    }

    func testErrorsShowFileAndLineAndSetTheExitStatus() throws {
        let runtime = try script("local function f()\n  error('boom')\nend\nf()\n")
        XCTAssertEqual(runtime.status, 1)
        XCTAssertTrue(runtime.stderr.hasPrefix("ctsh: "), runtime.stderr)
        let lines = runtime.stderr.split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(Array(lines.prefix(1)).map { $0.hasSuffix("script.lua:2: boom") }, [true], runtime.stderr)
        XCTAssertEqual(Array(lines.dropFirst()).map { $0.replacingOccurrences(of: home + "/", with: "") },
                       ["stack traceback:", "[C]: in function 'error'", "script.lua:2: in local 'f'", "script.lua:4: in main chunk"])
        let syntax = try script("x = = 1\n")
        XCTAssertEqual(syntax.status, 1)
        XCTAssertTrue(syntax.stderr.contains("script.lua:1:"), syntax.stderr)
        XCTAssertEqual(syntax.stderr.split(separator: "\n").count, 1, "a syntax error has no traceback: \(syntax.stderr)")
        XCTAssertEqual(try script("os.exit(3)").status, 3)
        let overflow = try run(["-e", "local function f() return f() + 1 end f()"], binary: ctsh)
        XCTAssertEqual(overflow.status, 1)
        XCTAssertTrue(overflow.stderr.contains("stack overflow"), overflow.stderr)
        let memory = try run(["-e", "t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1e5) .. i end"], env: ["CTSH_MEMORY_LIMIT": "64"], binary: ctsh)
        XCTAssertEqual(memory.status, 1)
        XCTAssertTrue(memory.stderr.contains("not enough memory"), memory.stderr)
    }

    func testBindingsRejectBadArgumentsInLuaShapes() throws {
        let cases = [
            ("task()", "bad argument #1 to 'task' (table expected, got nil)"),
            ("task{command = 'echo', frobs = 1}", "bad argument #1 to 'task' (unknown field 'frobs')"),
            ("task{command = 'echo', jobs = 5}", "bad argument #1 to 'task' (field 'jobs': table, function or coroutine expected, got number)"),
            ("task{command = 'echo', jobs = {}, workers = {'127.0.1.1'}, split = -1}", "bad option to 'task': --split=-1: expected a whole number 1 or more"),
            ("workers(5)", "bad argument #1 to 'workers' (table expected, got number)"),
            ("workers{'h', port = 'x'}", "bad argument #1 to 'workers' (field 'port': number expected, got string)"),
            ("workers{'h'}:run(5)", "bad argument #1 to 'run' (string expected, got number)"),
            ("split('t')", "bad argument #1 to 'split' (task expected, got string)"),
            ("abort()", "bad argument #1 to 'abort' (task expected, got nil)"),
            ("resume('x')", "bad argument #1 to 'resume' (number expected, got string)"),
            ("resume(99)", "no session 99 in"),
            ("workers{'127.0.1.1:99999'}", "bad argument #1 to 'workers' (address 1: bad port '99999')"),
            ("workers{'h'}:add('[::1')", "bad argument #1 to 'add' (missing ']' in '[::1')"),
            ("x = ", "unexpected symbol near <eof>"),
            ("split(task{command = 'echo', workers = {'127.0.1.1'}, jobs = {}}, 0)", "bad argument #2 to 'split' (split must be 1 or more)"),
            ("task{command = 'echo', workers = workers{}, jobs = {'a'}}", "task: no workers (give workers = {...}, a pool, or a provider)"),
        ]
        for (chunk, message) in cases {
            let r = try run(["-e", chunk], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
            XCTAssertEqual(r.status, 1, chunk)
            XCTAssertTrue(r.stderr.contains(message), "\(chunk): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("(command line):1:") || message.hasPrefix("no session"), "\(chunk) should name where: \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("prelude"), "ctsh's own frames are not the user's: \(r.stderr)")
        }
    }

    func testPoolRunGroupsIdenticalOutputAndPingReportsLatency() throws {
        let r = try script("""
        local pool = \(pool([1, 2, 99]))
        print(#pool)
        local result = pool:run("echo same; echo $SSH_CONNECTION | cut -d' ' -f3 >&2")
        print(result["127.0.1.1"].exit, result["127.0.1.1"].output, result["127.0.1.2"].stderr)
        print(result)
        local ping = pool:ping()
        print(ping["127.0.1.1"].ok, ping["127.0.1.1"].latency < 1, ping["127.0.1.99"].ok, ping["127.0.1.99"].error ~= nil)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.hasPrefix("3\n0\tsame\n\t127.0.1.2\n"), r.out)
        XCTAssertTrue(r.out.contains("127.0.1.1 (1)\n---------------\nsame\n127.0.1.1"), r.out)
        XCTAssertTrue(r.out.contains("127.0.1.99 (1)\n---------------\nerror: "), r.out)
        XCTAssertTrue(r.out.hasSuffix("true\ttrue\tfalse\ttrue\n"), r.out)
    }

    func testTaskWithAGeneratorCallbacksThatAddJobsAndASummary() throws {
        let r = try script("""
        local seen = {}
        local t
        t = task{command = "sh -c 'echo out $0; exit $(($0 % 4 == 0))'", workers = \(pool()), split = 2,
          jobs = coroutine.create(function() for i = 1, 6 do coroutine.yield(i) end end),
          on_result = function(job)
            seen[#seen + 1] = job.input .. "=" .. job.status
            if job.status == "failed" and job.input == "4" then t:add("100") end
            if job.input == "100" then assert(job.output == "out 100\\n", job.output) end
          end}
        local s = t:run()
        table.sort(seen)
        print(table.concat(seen, " "))
        print(s.total, s.ok, s.failed, s.exit, s.session == t.session)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("100=failed 1=ok 2=ok 3=ok 4=failed 5=ok 6=ok\n7\t5\t2\t1\ttrue\n"), r.out)
        // The same session files as the CLI: the generated and added jobs are in the journal and the jobs view.
        let jobs = sessionFile(1, "jobs").split(separator: "\n")
        XCTAssertEqual(jobs.count, 7)
        XCTAssertEqual(jobs.last, "EXIT=1\tsh -c 'echo out $0; exit $(($0 % 4 == 0))' 100")
    }

    func testJobsFromIoLinesAndAList() throws {
        let file = home + "/inputs"
        try "a\nb c\n# comment\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try script("""
        local out = {}
        local s = task{command = "printf '[%s]'", workers = \(pool([1])), jobs = io.lines("\(file)"),
                       on_result = function(job) out[#out + 1] = job.output end}:run()
        table.sort(out)
        print("")
        print(table.concat(out, " "), s.total)
        print(task{command = "true", workers = \(pool([1])), jobs = {"x", "y", "x"}}:run().ok)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("\n[a] [b][c]\t2\n3\n"), r.out)
    }

    func testSplitChangesARunningTaskAndAbortThenResumeFinishesIt() throws {
        let marker = unique()
        let r = try script("""
        local t = task{command = "sh -c 'sleep 0.3; : $0'", workers = \(pool()), split = 2, jobs = {"\(marker)1", "\(marker)2", "\(marker)3", "\(marker)4"}}
        t:start()
        print("split", split(t), split(t, 1), t:status().split)
        local s = t:wait()
        print("done", s.ok)
        local u = task{command = "sh -c 'sleep 30; : $0'", workers = \(pool([1])), jobs = {"\(marker)a", "\(marker)b"}}
        u:start()
        for _ = 1, 40 do u:_step(0.05) end
        local a = abort(u)
        print("aborted", a.pending, a.ok)
        local v = resume(u.session, {timeout = 1})
        local b = v:run()
        print("resumed", b.timeouts, b.pending)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("split\t2\t1\t1\n"), r.out)
        XCTAssertTrue(r.out.contains("done\t4\n"), r.out)
        XCTAssertTrue(r.out.contains("aborted\t2\t0\n"), r.out)
        XCTAssertTrue(r.out.contains("resumed\t2\t0\n"), r.out)
        waitWhile(tries: 50, every: 0.1) { !self.remoteProcesses(marker).isEmpty }
        XCTAssertEqual(remoteProcesses(marker), [])
    }

    func testTaskTemplateTakesCloudtaskOptionsAndJobsFromStdin() throws {
        let template = Env.root + "/examples/checksum"
        let options = ["--workers=127.0.1.1 127.0.1.2", "--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)"]
        let r = try run([template] + options, stdin: Array("/etc/hostname\n/nonexistent\n".utf8), binary: ctsh)
        XCTAssertEqual(r.status, 1, "one job fails, as cloudtask would exit: \(r.stderr)")
        XCTAssertTrue(r.out.hasPrefix("/etc/hostname\t"), r.out)
        XCTAssertTrue(r.stderr.contains("/nonexistent\tsha256sum: /nonexistent: No such file or directory"), r.stderr)
        // The template's values are the session's, command-line options override them, words extend the command.
        let conf = sessionFile(1, "conf")
        XCTAssertTrue(conf.contains("\"timeout\" : 600") && conf.contains("\"retries\" : 1"), conf)
        let over = try run([template] + options + ["--retries=0", "--tag", "-b"], stdin: Array("/etc/hostname\n".utf8), binary: ctsh)
        XCTAssertEqual(over.status, 0, over.stderr)
        XCTAssertTrue(sessionFile(2, "conf").contains("\"retries\" : 0"))
        XCTAssertTrue(sessionFile(2, "jobs").hasPrefix("EXIT=0\tsha256sum -b /etc/hostname"), sessionFile(2, "jobs"))
        let bad = try run([template, "--split=x"], stdin: Array("a\n".utf8), binary: ctsh)
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr, "checksum: --split=x: expected a whole number 1 or more\n")
        let quote = try run([template] + options, stdin: Array("it's\n".utf8), binary: ctsh)
        XCTAssertEqual(quote.status, 2)
        XCTAssertTrue(quote.stderr.contains("line 1: unterminated single quote"), quote.stderr)
    }

    func testExampleScriptGeneratesJobsAndReactsToFailures() throws {
        let r = try run([Env.root + "/examples/sweep.lua", "127.0.1.1", "127.0.1.2"],
                        env: ["CLOUDTASK_SSH_IDENTITY": Env.key, "CLOUDTASK_KNOWN_HOSTS": Env.knownHosts, "CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(r.status, 1, "4 points fail: \(r.stderr)")
        XCTAssertTrue(r.out.contains("\n6\t36\n") && r.out.contains("\n107\t11449\n"), r.out)
        XCTAssertTrue(r.out.hasSuffix("session 1: 30 ok, 4 failed\n"), r.out)
    }

    func testLaunchedPoolsRunTasksAndAreDestroyedAtExit() throws {
        let r = try script("""
        local p = workers{launch = 2}
        print(#p, p.launched)
        local s = task{command = "echo", workers = p, jobs = {"a", "b", "c"}}:run()
        print(s.ok)
        local q = workers{launch = 1, provider = "local"}
        print(q:destroy(), #q)
        local l = workers{launch = 1, provider = "\(Env.root)/examples/providers/local.lua"}
        print(l:run("echo from lua")[l.hosts[1]].output)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.hasPrefix("2\t1\n"), r.out)
        XCTAssertTrue(r.out.contains("\n3\ntrue\t0\nfrom lua\n"), r.out)
        XCTAssertEqual(remoteProcesses(sessions + "/"), [], "the shell destroys the pools it launched when it exits")
        let live = (try FileManager.default.contentsOfDirectory(atPath: sessions)).filter { file(sessions + "/\($0)/instances").contains("launch") }
        XCTAssertEqual(live.count, 3, "each launched pool has a session with a ledger")
        let bad = try script("workers{launch = 1, provider = 'nosuch'}")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bad option to 'workers': --provider=nosuch: unknown provider (known: local, ec2, or a FILE.lua)"), bad.stderr)
    }

    func testTasksLaunchWorkersWithAProvider() throws {
        let r = try script("""
        local s = task{command = "echo", jobs = {"a", "b", "c"}, provider = "local", split = 2}:run()
        print(s.ok, s.session)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.hasSuffix("3\t1\n"), r.out)
        XCTAssertEqual(r.stderr.components(separatedBy: "destroyed worker local-1-").count - 1, 2, r.stderr)
        XCTAssertEqual(remoteProcesses(sessions + "/"), [])
    }


    // MARK: - Pool options (issue 11: every item in pools)

    func testPoolEnvReachesPoolRunAndItsTasks() throws {
        let r = try run(["-e", """
            local p = workers{"127.0.1.1", env = {"A", "B=x", "API_TOKEN"}, identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
            io.write(p:run("echo $A $B $API_TOKEN")["127.0.1.1"].output); io.stdout:flush()
            task{command = {"sh", "-c", "echo $0 $A $B $API_TOKEN"}, workers = p, jobs = {"job"}}:run()
            io.write(workers{"127.0.1.1", env = "A", identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}:run("echo $A")["127.0.1.1"].output)
            print(pcall(function() return workers{"127.0.1.1", env = "UNSET_HERE"}:run("true") end))
            """], env: ["CLOUDTASK_SESSIONS": sessions, "A": "from shell", "API_TOKEN": "t0k"], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "from shell x t0k\njob from shell x t0k\nfrom shell\n"
                       + "false\tbad option to 'run': --env=UNSET_HERE: UNSET_HERE is not set in the environment\n")
        XCTAssertFalse(file(sessions + "/1/conf").contains("t0k"), "a secret's value is never saved")
    }

    func testSSHConfigMatchAndConnectTimeoutReachPools() throws {
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        try """
        Match originalhost pool-* user root
            HostName 127.0.1.2
            IdentityFile \(Env.key)
        """.write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        let r = try run(["-e", """
            local r = workers{"pool-a", user = "root", known_hosts = "\(Env.knownHosts)"}:run("echo $SSH_CONNECTION | cut -d' ' -f3")
            io.write(r["pool-a"].output)
            """], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "127.0.1.2\n")
    }

    func testPoolConnectTimeoutAgainstAServerThatNeverSpeaks() throws {
        let (server, port) = try startServer { port in
            ["/usr/bin/python3", "-c",
             "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',\(port)))\ns.listen(64)\ntime.sleep(120)"]
        }
        defer { server.terminate(); server.waitUntilExit() }
        let started = Date()
        let r = try run(["-e", """
            local e = workers{"127.0.0.1:\(port)", connect_timeout = 1, connect_rate = 5}:run("true")["127.0.0.1:\(port)"]
            print(e.error, e.exit)
            """], env: ["CLOUDTASK_SESSIONS": sessions], timeout: 60, binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "connection timed out after 1 seconds\tnil\n")
        // The runner's three attempts of 1 s, 1 s and 2 s apart: well under the default 30 s of one attempt.
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
    }
}
