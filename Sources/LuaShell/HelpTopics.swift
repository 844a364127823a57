// What ctsh's help() says: one topic per binding and method (signature, one line, details, an example) and one
// line per function of Lua's standard library. The README's binding reference is generated from `reference`
// (HelpTests fails when they differ); the prelude's help (PreludeHelp.lua.swift) reads both tables.
import Engine

/// One binding or method as help() shows it.
public struct HelpTopic: Sendable {
    /// How help"NAME" finds it: `workers`, `pool:run`, `t:add`.
    public let name: String
    public let signature: String
    /// The line help() lists it with.
    public let summary: String
    public let details: String
    public let example: [String]
}

public enum HelpTopics {
    /// Fields of cloudtask's options taken in `scopes` (see Options.luaFields), as a sentence's list.
    static func fields(_ scopes: Set<String>) -> String {
        Options.luaFields.filter { scopes.contains($0.scope) }.map(\.field).joined(separator: ", ")
    }

    public static let bindings: [HelpTopic] = [
        HelpTopic(
            name: "workers", signature: "workers{ADDRESS, ..., file = FILE, launch = N, provider = NAME, FIELD = VALUE, ...} -> pool",
            summary: "a pool of workers: addresses, a workers file, or N launched by a provider",
            details: "Addresses are [N/][user@]host[:port], ranges (web[01-20]) and groups (@name); `file` reads one "
                + "address a line. Fields say how to reach the workers and what commands there run as: "
                + fields(["pool"]) + ". With `launch = N`, a provider (`local` by default, `ec2`, a FILE.lua) "
                + "launches N workers now, with its settings (" + fields(["launch"]) + "); pool:destroy() or "
                + "leaving ctsh destroys them. A task on the pool inherits every field it does not set; #pool "
                + "counts the hosts. help\"--NAME\" explains a field.",
            example: [#"local pool = workers{"127.0.1.1", "web[1-3]", user = "root", identity = "~/.ssh/id_ed25519"}"#,
                      #"local launched = workers{launch = 4, provider = "local"}"#]),
        HelpTopic(
            name: "pool:ping", signature: "pool:ping() -> {[host] = {ok, latency, error}}",
            summary: "checks that each worker answers, and how fast",
            details: "Runs a no-op command on every worker at once, as pool:run does; `latency` is in seconds.",
            example: [#"pool:ping()["127.0.1.1"].ok"#]),
        HelpTopic(
            name: "pool:run", signature: "pool:run(COMMAND) -> {[host] = {exit, output, stderr, seconds} or {error}}",
            summary: "runs one command on every worker at once",
            details: "The command runs under /bin/sh with the pool's fields (user, sudo, env, jump, connect_rate, "
                + "...) as a task's jobs would. The result prints grouped like clush -b: hosts with the same output "
                + "under one header; `hosts` lists them in order.",
            example: [#"pool:run("uname -r")"#, #"pool:run("df -h /")["127.0.1.1"].output"#]),
        HelpTopic(
            name: "pool:put", signature: "pool:put(FROM, TO) -> {[host] = {ok, files, bytes, seconds, via} or {ok = false, error}}",
            summary: "copies a local file or folder to every worker",
            details: "TO is the path on the workers; ending in \"/\" it is the folder FROM goes into. Modes and "
                + "modification times are kept; copies go over SFTP, else a tar stream (`via`). A missing FROM "
                + "is an error before anything connects.",
            example: [#"pool:put("site", "/srv/site")"#]),
        HelpTopic(
            name: "pool:get", signature: "pool:get(FROM, DIR) -> {[host] = {ok, files, bytes, seconds, via, path} or {ok = false, error}}",
            summary: "copies a file or folder from every worker into DIR/<worker>/",
            details: "Each worker's copy lands in a folder named after its address, made safe for a path.",
            example: [#"pool:get("/var/log/app", "logs")   -- logs/127.0.1.1/app, ..."#]),
        HelpTopic(
            name: "pool:add", signature: "pool:add(ADDRESS) -> pool",
            summary: "adds an address to the pool (a range or @group adds its hosts)",
            details: "The address is checked as workers{...} checks it.",
            example: [#"pool:add("web[4-5]")"#]),
        HelpTopic(
            name: "pool:remove", signature: "pool:remove(ADDRESS) -> boolean",
            summary: "removes an address (each host of a range or @group) from the pool",
            details: "Returns true when one was in the pool.",
            example: [#"pool:remove("web4")"#]),
        HelpTopic(
            name: "pool:destroy", signature: "pool:destroy() -> boolean",
            summary: "destroys the workers the pool launched (leaving ctsh does it too)",
            details: "Returns true when all are gone; a pool of given addresses has nothing to destroy.",
            example: ["launched:destroy()"]),
        HelpTopic(
            name: "task", signature: "task{command = CMD, jobs = LIST|FUNCTION|COROUTINE, workers = POOL, on_result = FUNCTION, FIELD = VALUE, ...} -> t",
            summary: "a batch: the command run once per job on the workers, as cloudtask runs it",
            details: "`jobs` is a list, a function returning the next input (nil ends it), a coroutine yielding "
                + "them, or io.lines(FILE); inputs are pulled 256 ahead of the workers. on_result(job) gets input, "
                + "command, status (ok|failed|timeout|lost), exit, signal, output (last KiB), worker, seconds, "
                + "attempt and final, and may add jobs. Every cloudtask option is a field, checked as cloudtask "
                + "checks it: " + fields(["pool", "launch", "task"]) + ". help\"--NAME\" explains one. With no "
                + "workers, the local provider launches them. Nothing runs before t:run() or t:start().",
            example: [#"local t = task{command = "gzip -9", jobs = {"a.log", "b.log"}, workers = pool, retries = 1}"#,
                      "t:run()"]),
        HelpTopic(
            name: "t:run", signature: "t:run() -> {session, total, ok, failed, timeouts, pending, lost, seconds, exit}",
            summary: "runs the task to its end and returns its summary",
            details: "Blocks, drawing a progress line; Ctrl-C aborts the task as abort(t) does (jobs stopped, "
                + "session saved, workers cleaned up) and the shell goes on.",
            example: ["local summary = t:run()", "print(summary.ok, summary.failed)"]),
        HelpTopic(
            name: "t:start", signature: "t:start() -> t",
            summary: "runs the task in the background while the prompt stays usable",
            details: "Results (and on_result) arrive while the prompt waits; what they print appears above it.",
            example: ["t:start()", "t:status()"]),
        HelpTopic(
            name: "t:wait", signature: "t:wait() -> summary",
            summary: "waits for a started task to end and returns its summary",
            details: "The same as t:run() on a task that t:start() started.",
            example: ["t:start(); ...; t:wait()"]),
        HelpTopic(
            name: "t:add", signature: "t:add(INPUT, ...) -> NUMBER, ...",
            summary: "adds jobs to a task, also while it runs (from on_result, say)",
            details: "Each job is journaled before it is dispatched; returns the new jobs' numbers. A finished "
                + "task takes no more: resume(t.session) does.",
            example: [#"t:add("c.log", "d.log")"#]),
        HelpTopic(
            name: "t:status", signature: "t:status() -> {session, running, done, queued, split, summary}",
            summary: "where a task stands",
            details: "`done` counts finished jobs, `queued` those waiting; `summary` is set once it is over.",
            example: ["t:status().done"]),
        HelpTopic(
            name: "split", signature: "split(t, N) -> N; split(t) -> N",
            summary: "changes (or reads) how many workers a task uses at once",
            details: "Works on a running task too; a task's first split is its field (task{split = N}).",
            example: ["split(t, 8)", "split(t)"]),
        HelpTopic(
            name: "abort", signature: "abort(t) -> summary",
            summary: "stops a task: jobs stopped, launched workers destroyed, session saved",
            details: "The jobs that did not finish stay pending; resume(t.session) runs them later.",
            example: ["abort(t)"]),
        HelpTopic(
            name: "resume", signature: "resume(ID, {retry = true, on_result = FUNCTION, FIELD = VALUE, ...}) -> t",
            summary: "a saved session (of ctsh or cloudtask) as a task, to continue",
            details: "The task runs the session's jobs that did not finish (with retry = true, also those that "
                + "failed), with the fields given over the session's own. Tab after resume( lists the ids.",
            example: ["resume(7, {retry = true, timeout = 60}):run()"]),
        HelpTopic(
            name: "sessions", signature: "sessions() -> {{id, jobs, ok, failed, pending, command}, ...}",
            summary: "the saved sessions with their counts",
            details: "Read from the sessions folder ($CLOUDTASK_SESSIONS, else ~/.cloudtask).",
            example: ["for _, s in ipairs(sessions()) do print(s.id, s.ok, s.command) end"]),
        HelpTopic(
            name: "help", signature: "help(); help(VALUE); help\"NAME\"; help\"--OPTION\"",
            summary: "this help: the bindings, one of them, a value, a Lua function, or an option",
            details: "By value (help(task), help(pool.run), help(string.format), help(t) on a task or a pool) or "
                + "by name (help\"pool:run\", help\"table.concat\"); help\"--split\" or help\"option split\" explains "
                + "cloudtask's option; help(string) lists a library.",
            example: ["help(task)", #"help"--timeout""#]),
        HelpTopic(
            name: "ctsh", signature: "ctsh.print_limit = N; ctsh.print_items = N; ctsh.print_depth = N",
            summary: "how the prompt prints results: lines, items per table, depth",
            details: "A result prints at most print_limit lines (default 100), print_items entries of each table "
                + "(default 30) and print_depth levels of nested tables (default 5); what is left out is counted, "
                + "as `... (99 970 more)`. 0 means no limit. print() itself is never cut.",
            example: ["ctsh.print_limit = 200"]),
        HelpTopic(
            name: "http.request", signature: "http.request{url = URL, method = \"GET\", headers = {...}, body = TEXT, timeout = 30} -> {status, headers, body}",
            summary: "an HTTP request (libcurl)",
            details: "The method is POST when a body is given, else GET; a failure to connect is a Lua error.",
            example: [#"http.request{url = "http://127.0.0.1:8080/health"}.status"#]),
    ]

    /// One line for each function of Lua's standard library (and the values people ask about), by name.
    public static let library: [String: String] = [
        // base
        "assert": "assert(v [, message]): raises message (default \"assertion failed!\") when v is false or nil, else returns its arguments",
        "collectgarbage": "collectgarbage([opt [, ...]]): runs or tunes the garbage collector (\"collect\", \"count\" in KiB, \"step\", \"incremental\", \"generational\")",
        "dofile": "dofile([filename]): runs a Lua file (stdin without one) and returns its results",
        "error": "error(message [, level]): raises an error; level 1 (default) adds the caller's position, 2 its caller's, 0 none",
        "getmetatable": "getmetatable(object): the object's metatable (its __metatable field when set), or nil",
        "ipairs": "ipairs(t): iterates t[1], t[2], ... up to the first nil: for i, v in ipairs(t) do ... end",
        "load": "load(chunk [, chunkname [, mode [, env]]]): compiles a string (or a function giving pieces) into a function; nil, message on error",
        "loadfile": "loadfile([filename [, mode [, env]]]): compiles a file (stdin without one) into a function; nil, message on error",
        "next": "next(t [, key]): the entry after key (the first without one), or nil at the end",
        "pairs": "pairs(t): iterates every key and value of t (its __pairs metamethod if any): for k, v in pairs(t) do ... end",
        "pcall": "pcall(f, ...): calls f in protected mode: true and its results, or false and the error",
        "print": "print(...): writes its arguments with tostring, separated by tabs, and a newline to stdout",
        "rawequal": "rawequal(a, b): whether a and b are the same, without the __eq metamethod",
        "rawget": "rawget(t, key): t[key] without the __index metamethod",
        "rawlen": "rawlen(v): the length of a table or string, without the __len metamethod",
        "rawset": "rawset(t, key, value): t[key] = value without the __newindex metamethod",
        "require": "require(modname): loads a module once (package.path, package.cpath) and returns it",
        "select": "select(n, ...): the arguments after the n-th (negative: from the end); select(\"#\", ...) counts them",
        "setmetatable": "setmetatable(t, mt): sets (nil: removes) t's metatable and returns t",
        "tonumber": "tonumber(v [, base]): v as a number (a string in base 2-36 with base), or nil",
        "tostring": "tostring(v): v as a string (its __tostring metamethod if any)",
        "type": "type(v): \"nil\", \"number\", \"string\", \"boolean\", \"table\", \"function\", \"thread\" or \"userdata\"",
        "xpcall": "xpcall(f, handler, ...): pcall with a message handler (debug.traceback, say) that sees the error first",
        "warn": "warn(message, ...): sends a warning to stderr once enabled by warn(\"@on\")",
        "_G": "_G: the table of global variables",
        "_VERSION": "_VERSION: the running Lua version, \"Lua 5.4\"",
        // string
        "string.byte": "string.byte(s [, i [, j]]): the byte values of s[i..j] (default the first)",
        "string.char": "string.char(...): the string of these byte values",
        "string.dump": "string.dump(f [, strip]): the binary chunk of Lua function f, for load",
        "string.find": "string.find(s, pattern [, init [, plain]]): start and end of the first match (and its captures), or nil",
        "string.format": "string.format(fmt, ...): printf-style formatting: %d %5.2f %s %q (a Lua literal) %x %c %%",
        "string.gmatch": "string.gmatch(s, pattern [, init]): an iterator over the matches (their captures): for w in s:gmatch(\"%a+\") do ... end",
        "string.gsub": "string.gsub(s, pattern, repl [, n]): s with (the first n) matches replaced by a string, table or function's result; and the count",
        "string.len": "string.len(s): the length of s in bytes (#s)",
        "string.lower": "string.lower(s): s in lower case",
        "string.match": "string.match(s, pattern [, init]): the captures of the first match (the whole match without captures), or nil",
        "string.pack": "string.pack(fmt, ...): the values packed into a binary string (\"<i4\", \"z\", ...)",
        "string.packsize": "string.packsize(fmt): the size of string.pack's result for fmt (no variable-length items)",
        "string.rep": "string.rep(s, n [, sep]): n copies of s, separated by sep",
        "string.reverse": "string.reverse(s): s backwards",
        "string.sub": "string.sub(s, i [, j]): s from i to j (default the end); negative counts from the end",
        "string.unpack": "string.unpack(fmt, s [, pos]): the values string.pack packed, and the position after them",
        "string.upper": "string.upper(s): s in upper case",
        // table
        "table.concat": "table.concat(t [, sep [, i [, j]]]): t[i] .. sep .. ... .. t[j], strings and numbers only",
        "table.insert": "table.insert(t, [pos,] value): inserts value at pos (default the end), shifting up",
        "table.move": "table.move(a1, f, e, t [, a2]): copies a1[f..e] to a2[t..] (a2 defaults to a1) and returns a2",
        "table.pack": "table.pack(...): a table of the arguments, with n = their count",
        "table.remove": "table.remove(t [, pos]): removes and returns t[pos] (default the last), shifting down",
        "table.sort": "table.sort(t [, less]): sorts t[1..#t] in place (not stable), by < or less(a, b)",
        "table.unpack": "table.unpack(t [, i [, j]]): t[i], ..., t[j] (default 1 to #t)",
        // math
        "math.abs": "math.abs(x): the absolute value of x",
        "math.acos": "math.acos(x): the arc cosine of x, in radians",
        "math.asin": "math.asin(x): the arc sine of x, in radians",
        "math.atan": "math.atan(y [, x]): the arc tangent of y/x in radians, in the right quadrant",
        "math.ceil": "math.ceil(x): the smallest integer not below x",
        "math.cos": "math.cos(x): the cosine of x (radians)",
        "math.deg": "math.deg(x): radians x in degrees",
        "math.exp": "math.exp(x): e to the power x",
        "math.floor": "math.floor(x): the largest integer not above x",
        "math.fmod": "math.fmod(x, y): the remainder of x / y rounded towards zero",
        "math.huge": "math.huge: a number larger than any other (inf)",
        "math.log": "math.log(x [, base]): the logarithm of x (natural without base)",
        "math.max": "math.max(x, ...): the largest argument",
        "math.maxinteger": "math.maxinteger: the largest integer",
        "math.min": "math.min(x, ...): the smallest argument",
        "math.mininteger": "math.mininteger: the smallest integer",
        "math.modf": "math.modf(x): the integral and fractional parts of x",
        "math.pi": "math.pi: the value of pi",
        "math.rad": "math.rad(x): degrees x in radians",
        "math.random": "math.random([m [, n]]): a float in [0, 1), or an integer in [1, m] or [m, n]",
        "math.randomseed": "math.randomseed([x [, y]]): seeds math.random (randomly without arguments)",
        "math.sin": "math.sin(x): the sine of x (radians)",
        "math.sqrt": "math.sqrt(x): the square root of x",
        "math.tan": "math.tan(x): the tangent of x (radians)",
        "math.tointeger": "math.tointeger(x): x as an integer when it is one, else nil",
        "math.type": "math.type(x): \"integer\", \"float\", or nil for a non-number",
        "math.ult": "math.ult(m, n): whether integer m is below n as unsigned integers",
        // math: Lua 5.2's, which Debian's Lua 5.4 keeps (LUA_COMPAT_MATHLIB)
        "math.cosh": "math.cosh(x): the hyperbolic cosine of x (deprecated: (math.exp(x) + math.exp(-x)) / 2)",
        "math.sinh": "math.sinh(x): the hyperbolic sine of x (deprecated)",
        "math.tanh": "math.tanh(x): the hyperbolic tangent of x (deprecated)",
        "math.frexp": "math.frexp(x): m and e with x = m * 2^e, 0.5 <= |m| < 1 (deprecated)",
        "math.ldexp": "math.ldexp(m, e): m * 2^e (deprecated)",
        "math.log10": "math.log10(x): the base-10 logarithm of x (deprecated: math.log(x, 10))",
        "math.pow": "math.pow(x, y): x^y (deprecated: the ^ operator)",
        // io
        "io.close": "io.close([file]): closes file (default the output file)",
        "io.flush": "io.flush(): writes out what the default output file buffers",
        "io.input": "io.input([file]): sets (by name or handle) or returns the default input file",
        "io.lines": "io.lines([filename, ...]): an iterator over a file's lines (stdin without a name), closing it at the end",
        "io.open": "io.open(filename [, mode]): a file handle (mode \"r\", \"w\", \"a\", \"r+\", ... with \"b\"), or nil, message",
        "io.output": "io.output([file]): sets (by name or handle) or returns the default output file",
        "io.popen": "io.popen(command [, mode]): runs command, returning a file to read its output (\"r\") or write its input (\"w\")",
        "io.read": "io.read(...): reads from the default input: \"l\" a line, \"n\" a number, \"a\" everything, or N bytes",
        "io.tmpfile": "io.tmpfile(): a temporary file opened for update, removed when the program ends",
        "io.type": "io.type(v): \"file\", \"closed file\", or nil for what is no file",
        "io.write": "io.write(...): writes strings and numbers to the default output",
        "io.stdin": "io.stdin: the standard input file",
        "io.stdout": "io.stdout: the standard output file",
        "io.stderr": "io.stderr: the standard error file",
        "file:close": "file:close(): closes the file (for a popen file: the command's exit, as os.execute)",
        "file:flush": "file:flush(): writes out what the file buffers",
        "file:lines": "file:lines(...): an iterator reading the file with these formats (default \"l\")",
        "file:read": "file:read(...): reads with these formats: \"l\" a line, \"L\" with its newline, \"n\", \"a\", or N bytes",
        "file:seek": "file:seek([whence [, offset]]): sets or gets the position (\"set\", \"cur\", \"end\")",
        "file:setvbuf": "file:setvbuf(mode [, size]): buffering: \"no\", \"full\" or \"line\"",
        "file:write": "file:write(...): writes strings and numbers; returns the file",
        // os
        "os.clock": "os.clock(): CPU time used by ctsh, in seconds",
        "os.date": "os.date([format [, time]]): a date as text (strftime format; \"!\" for UTC, \"*t\" for a table)",
        "os.difftime": "os.difftime(t2, t1): t2 - t1 in seconds",
        "os.execute": "os.execute([command]): runs command with /bin/sh -c: true or nil, \"exit\" or \"signal\", and the code (ctsh runs it without system(3))",
        "os.exit": "os.exit([code [, close]]): leaves ctsh with code (true: 0, false: 1)",
        "os.getenv": "os.getenv(name): the environment variable's value, or nil",
        "os.remove": "os.remove(filename): removes a file or an empty folder; nil, message on error",
        "os.rename": "os.rename(old, new): renames a file; nil, message on error",
        "os.setlocale": "os.setlocale([locale [, category]]): sets or queries the C locale",
        "os.time": "os.time([t]): the current time (or table t's) in seconds since the epoch",
        "os.tmpname": "os.tmpname(): a name for a temporary file",
        // utf8
        "utf8.char": "utf8.char(...): the UTF-8 text of these code points",
        "utf8.charpattern": "utf8.charpattern: the pattern matching one UTF-8 character",
        "utf8.codes": "utf8.codes(s): an iterator over positions and code points: for p, c in utf8.codes(s) do ... end",
        "utf8.codepoint": "utf8.codepoint(s [, i [, j]]): the code points of s[i..j]",
        "utf8.len": "utf8.len(s [, i [, j]]): the number of UTF-8 characters in s, or nil and the first bad byte's position",
        "utf8.offset": "utf8.offset(s, n [, i]): the byte position of the n-th character (from position i)",
        // coroutine
        "coroutine.close": "coroutine.close(co): closes a suspended or dead coroutine (its pending to-be-closed variables)",
        "coroutine.create": "coroutine.create(f): a new coroutine running f",
        "coroutine.isyieldable": "coroutine.isyieldable([co]): whether co (default the running one) can yield",
        "coroutine.resume": "coroutine.resume(co, ...): starts or continues co: true and what it yields or returns, or false, error",
        "coroutine.running": "coroutine.running(): the running coroutine, and whether it is the main one",
        "coroutine.status": "coroutine.status(co): \"running\", \"suspended\", \"normal\" or \"dead\"",
        "coroutine.wrap": "coroutine.wrap(f): a function that resumes a coroutine running f on each call (errors propagate)",
        "coroutine.yield": "coroutine.yield(...): suspends the running coroutine; resume returns these values",
        // debug
        "debug.debug": "debug.debug(): an interactive prompt for debugging (until \"cont\")",
        "debug.gethook": "debug.gethook([thread]): the current hook function, mask and count",
        "debug.getinfo": "debug.getinfo([thread,] f [, what]): a table about a function or stack level (source, currentline, name, ...)",
        "debug.getlocal": "debug.getlocal([thread,] f, local): the name and value of a local variable",
        "debug.getmetatable": "debug.getmetatable(v): v's metatable, ignoring __metatable",
        "debug.getregistry": "debug.getregistry(): the registry table",
        "debug.getupvalue": "debug.getupvalue(f, up): the name and value of f's up-th upvalue",
        "debug.getuservalue": "debug.getuservalue(u, n): the n-th user value of userdata u",
        "debug.sethook": "debug.sethook([thread,] hook, mask [, count]): calls hook on calls (\"c\"), returns (\"r\"), lines (\"l\") or every count instructions",
        "debug.setlocal": "debug.setlocal([thread,] level, local, value): sets a local variable",
        "debug.setmetatable": "debug.setmetatable(v, mt): sets v's metatable (any type); returns v",
        "debug.setupvalue": "debug.setupvalue(f, up, value): sets f's up-th upvalue",
        "debug.setuservalue": "debug.setuservalue(u, value, n): sets the n-th user value of userdata u",
        "debug.setcstacklimit": "debug.setcstacklimit(limit): deprecated in Lua 5.4; does nothing and returns 0",
        "debug.traceback": "debug.traceback([thread,] [message [, level]]): message with a traceback of the call stack",
        "debug.upvalueid": "debug.upvalueid(f, n): a unique id of f's n-th upvalue",
        "debug.upvaluejoin": "debug.upvaluejoin(f1, n1, f2, n2): makes f1's n1-th upvalue refer to f2's n2-th",
        // package
        "package.loadlib": "package.loadlib(libname, funcname): links a C library and returns its function funcname",
        "package.searchpath": "package.searchpath(name, path [, sep [, rep]]): the first file of path that name fits, or nil and the tried names",
        "package.path": "package.path: where require looks for Lua modules (from LUA_PATH)",
        "package.cpath": "package.cpath: where require looks for C modules (from LUA_CPATH)",
    ]

    /// The libraries help(LIBRARY) lists, in order (base is the global functions).
    public static let libraries = ["string", "table", "math", "io", "os", "utf8", "coroutine", "debug", "package"]

    /// The README's binding reference: one entry per topic, its signature, line and example (HelpTests checks the
    /// README holds exactly this between its `help:begin` and `help:end` markers).
    public static var reference: String {
        var lines: [String] = []
        for topic in bindings {
            lines.append("- `\(topic.signature)`: \(topic.summary). "
                         + topic.example.map { "`\($0)`" }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}
