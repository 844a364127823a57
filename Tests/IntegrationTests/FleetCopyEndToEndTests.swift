// Issue 13, fleet copy: ctsh's pool:put and pool:get, and cloudtask-put and cloudtask-get, through the real
// loopback sshd workers. The workers share this machine's filesystem and root's home, so a put of one REMOTE on
// four workers writes one tree (under a /tmp folder each test makes and removes); that each get lands its own
// worker's files is shown with workers logged in as different users, whose homes differ.
import Foundation
import XCTest

final class FleetCopyEndToEndTests: IntegrationCase {
    var ctsh: String { Env.root + "/.build/debug/ctsh" }
    var put: String { Env.root + "/.build/debug/cloudtask-put" }
    var get: String { Env.root + "/.build/debug/cloudtask-get" }
    /// The remote side: a /tmp folder of this test's (the workers' filesystem is this one).
    var remote = ""
    /// Folders made in the test users' homes, removed at the end.
    var homeFolders: [String] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        remote = "/tmp/ct-fleetcopy-" + unique()
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for folder in [remote] + homeFolders where !folder.isEmpty { try? FileManager.default.removeItem(atPath: folder) }
        try super.tearDownWithError()
    }

    // MARK: - Trees

    /// One entry of a tree: its kind and mode bits, its bytes for a file, and its mtime in seconds.
    struct Entry: Equatable, CustomStringConvertible {
        var folder: Bool
        var mode: UInt32
        var bytes: Data?
        var mtime: Int
        var description: String { "\(folder ? "d" : "f")\(String(mode, radix: 8)) \(bytes?.count ?? 0) B @\(mtime)" }
    }

    /// Everything under `path` by relative path ("" for `path` itself).
    func tree(_ path: String) -> [String: Entry] {
        var entries: [String: Entry] = [:]
        var names = [""]
        if let more = FileManager.default.enumerator(atPath: path)?.allObjects as? [String] { names += more }
        for name in names {
            let full = name.isEmpty ? path : path + "/" + name
            var info = stat()
            guard lstat(full, &info) == 0 else { continue }
            let folder = info.st_mode & S_IFMT == S_IFDIR
            entries[name] = Entry(folder: folder, mode: UInt32(info.st_mode & 0o7777),
                                  bytes: folder ? nil : FileManager.default.contents(atPath: full), mtime: info.st_mtim.tv_sec)
        }
        return entries
    }

    /// `copy` holds what `original` does, byte for byte, modes kept, and the files' mtimes (folders' too unless
    /// `folderTimes` is false: four workers writing one tree at once touch its folders after each other's copy).
    func assertSameTree(_ copy: String, _ original: String, folderTimes: Bool = true, file: StaticString = #filePath,
                        line: UInt = #line) {
        var want = tree(original)
        var got = tree(copy)
        XCTAssertFalse(want.isEmpty, "no tree at \(original)", file: file, line: line)
        if !folderTimes {
            for (name, entry) in want where entry.folder { want[name]?.mtime = 0; if got[name]?.folder == true { got[name]?.mtime = 0 } }
        }
        XCTAssertEqual(got.keys.sorted(), want.keys.sorted(), "\(copy) vs \(original)", file: file, line: line)
        for (name, entry) in want where got[name] != entry {
            XCTFail("\(copy)/\(name): \(got[name].map(\.description) ?? "missing"), expected \(entry)", file: file, line: line)
        }
    }

    /// A tree of 5 files (one of 300 kB of random bytes; names with spaces and an apostrophe), an empty folder,
    /// modes 0600 to 0755, and mtimes in 2001. Returns its path.
    func makeTree() throws -> String {
        let root = home + "/tree"
        for folder in ["sub dir/deep", "empty"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        let files: [(String, Data, Int)] = [
            ("big.bin", Data((0..<300_000).map { _ in UInt8.random(in: 0...255) }), 0o644),
            ("run.sh", Data("#!/bin/sh\necho hi\n".utf8), 0o755),
            ("sub dir/it's here.txt", Data("quoted name\n".utf8), 0o640),
            ("sub dir/deep/secret", Data("s3cret\n".utf8), 0o600),
            ("sub dir/deep/empty file", Data(), 0o644),
        ]
        for (index, (name, bytes, mode)) in files.enumerated() {
            let path = root + "/" + name
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: bytes), path)
            XCTAssertEqual(chmod(path, mode_t(mode)), 0, path)
            try setTime(path, 981_173_106 + index * 3600)
        }
        XCTAssertEqual(chmod(root + "/sub dir", 0o750), 0)
        for (index, folder) in ["sub dir/deep", "sub dir", "empty", ""].enumerated() {
            try setTime(root + (folder.isEmpty ? "" : "/" + folder), 981_000_000 + index * 60)
        }
        return root
    }

    func setTime(_ path: String, _ seconds: Int) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(seconds))],
                                              ofItemAtPath: path)
    }

    func script(_ source: String) throws -> Result {
        let path = home + "/script.lua"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        return try run([path], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
    }

    func pool(_ hosts: [String]) -> String {
        "workers{" + hosts.map { "\"\($0)\"" }.joined(separator: ", ")
            + ", identity = \"\(Env.key)\", known_hosts = \"\(Env.knownHosts)\", connect_timeout = 5}"
    }

    let four = ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4"]
    /// A copy's result line: files, bytes, seconds and how.
    let okLine = #"^[^ ]+: 5 files, 300\.0 kB in \d+\.\d s \((sftp|stream)\)"#

    // MARK: - ctsh

    func testPoolPutThenPoolGetOfAFolderTreeOnFourWorkers() throws {
        let local = try makeTree()
        let r = try script("""
        local pool = \(pool(four))
        local put = pool:put("\(local)", "\(remote)/tree")
        for _, host in ipairs(put.hosts) do
          local e = put[host]
          print("put", host, e.ok, e.files, e.bytes, e.via ~= nil, e.seconds >= 0, e.error)
        end
        print(put)
        local got = pool:get("\(remote)/tree", "\(home)/got")
        for _, host in ipairs(got.hosts) do
          local e = got[host]
          print("get", host, e.ok, e.files, e.bytes, e.path, e.error)
        end
        print(got)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        for host in four {
            XCTAssertTrue(r.out.contains("put\t\(host)\ttrue\t5\t300037\ttrue\ttrue\tnil\n"), r.out)
            XCTAssertTrue(r.out.contains("get\t\(host)\ttrue\t5\t300037\t\(home)/got/\(host)/tree\tnil\n"), r.out)
        }
        XCTAssertNotNil(r.out.range(of: #"-{15}\n127\.0\.1\.1,127\.0\.1\.2,127\.0\.1\.3,127\.0\.1\.4 \(4\)\n-{15}\n5 files, 300\.0 kB \((sftp|stream)\)\n"#,
                                    options: .regularExpression), "grouped as pool:run's: \(r.out)")
        assertSameTree(remote + "/tree", local, folderTimes: false)
        for host in four { assertSameTree(home + "/got/\(host)/tree", remote + "/tree") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: home + "/got").sorted(), four)
    }

    func testPoolGetLandsEachWorkersOwnFilesInItsFolder() throws {
        // Each login's home is its own: the same relative path is a different file on each worker.
        let users = ["root", "ct-sudo", "ct-sudopw", "ct-dash"]
        let hosts = zip(users, four).map { "\($0)@\($1)" }
        let name = "ct-fleetcopy-" + unique()
        homeFolders = users.map { ($0 == "root" ? "/root" : "/home/\($0)") + "/" + name }
        let r = try script("""
        local pool = \(pool(hosts))
        local made = pool:run("mkdir -p \(name)/in && id -un > \(name)/in/who && chmod 0604 \(name)/in/who")
        for _, host in ipairs(made.hosts) do assert(made[host].exit == 0, host .. ": " .. tostring(made[host].error)) end
        local got = pool:get("\(name)/in", "\(home)/got")
        for _, host in ipairs(got.hosts) do print(host, got[host].ok, got[host].path, got[host].error) end
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        for (user, host) in zip(users, hosts) {
            XCTAssertTrue(r.out.contains("\(host)\ttrue\t\(home)/got/\(host)/in\tnil\n"), r.out)
            XCTAssertEqual(file("\(home)/got/\(host)/in/who"), user + "\n", host)
            XCTAssertEqual(tree("\(home)/got/\(host)/in")["who"]?.mode, 0o604, host)
        }
    }

    func testPoolCopyErrorsTakeLuaShapes() throws {
        let r = try script("""
        local pool = \(pool(["127.0.1.1"]))
        local function try(f) print(pcall(f)) end
        try(function() local r = pool:put("\(home)/no such file", "x"); return r end)
        try(function() local r = pool:get("x", ""); return r end)
        try(function() local r = pool:put("a"); return r end)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, """
        false\t\(home)/script.lua:3: bad argument #1 to 'put' (\(home)/no such file: no such file or folder)
        false\t\(home)/script.lua:4: bad argument #2 to 'get' (empty path)
        false\t\(home)/script.lua:5: bad argument #2 to 'put' (string expected, got nil)

        """)
    }

    func testCtrlCStopsAFleetOperationAndTheShellGoesOn() throws {
        // The shared driver's Ctrl-C, through ctsh: the remote command is killed, the script goes on.
        let seconds = "37.\(Int.random(in: 100...999))"
        let path = home + "/script.lua"
        try """
        local r = \(pool(["127.0.1.1"])):run("sleep \(seconds)")
        print(r["127.0.1.1"].error)
        print("after")
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let started = Date()
        let r = try run([path], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh) { process in
            self.waitWhile(tries: 100, every: 0.1) { self.remoteProcesses("sleep \(seconds)").isEmpty }
            process.interrupt()
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "interrupted\nafter\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        waitWhile(tries: 50, every: 0.1) { !self.remoteProcesses("sleep \(seconds)").isEmpty }
        XCTAssertEqual(remoteProcesses("sleep \(seconds)"), [], "the remote command is killed")
    }

    // MARK: - cloudtask-put and cloudtask-get

    func testPutAndGetOnFourWorkersReportAnUnreachableOneAndGoOn() throws {
        let local = try makeTree()
        let workers = "--workers=\(four.joined(separator: " ")) 127.0.1.99"
        let options = [workers, "--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)", "--connect-timeout=5"]
        let p = try run(options + [local, remote + "/tree"], binary: put)
        XCTAssertEqual(p.status, 1, p.stderr)
        let lines = p.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5, p.out)
        for (line, host) in zip(lines, four) {
            XCTAssertTrue(line.hasPrefix(host + ": "), line)
            XCTAssertNotNil(line.range(of: okLine + "$", options: .regularExpression), line)
        }
        XCTAssertTrue(lines.last?.hasPrefix("127.0.1.99: error: ") == true, p.out)
        XCTAssertTrue(p.stderr.contains("cloudtask-put: 1 of 5 workers failed"), p.stderr)
        assertSameTree(remote + "/tree", local, folderTimes: false)

        let g = try run(options + [remote + "/tree", home + "/got"], binary: get)
        XCTAssertEqual(g.status, 1, g.stderr)
        let got = g.out.split(separator: "\n").map(String.init)
        for (line, host) in zip(got, four) {
            XCTAssertNotNil(line.range(of: okLine + #" -> \#(home)/got/\#(host)/tree$"#, options: .regularExpression), line)
            assertSameTree(home + "/got/\(host)/tree", remote + "/tree")
        }
        XCTAssertTrue(got.last?.hasPrefix("127.0.1.99: error: ") == true, g.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: home + "/got").sorted(), four,
                       "the unreachable worker leaves no folder")

        // All reachable: exit 0; one file into a folder given with a trailing slash keeps its name.
        let one = try run(["--workers=127.0.1.1 127.0.1.2"] + options.dropFirst() + [local + "/run.sh", remote + "/bin/"],
                          binary: put)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertNotNil(one.out.range(of: #"^127\.0\.1\.1: 1 file, 18 B in \d+\.\d s \((sftp|stream)\)\n127\.0\.1\.2: "#,
                                      options: .regularExpression), one.out)
        XCTAssertEqual(tree(remote + "/bin")["run.sh"], tree(local)["run.sh"])
    }

    func testPutAndGetThroughTheStreamFallback() throws {
        // The fallback for workers without an SFTP server, forced: the same trees, said to go by stream.
        let local = try makeTree()
        let options = ["--workers=\(four.joined(separator: " "))", "--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)"]
        let env = ["CLOUDTASK_COPY_VIA": "stream"]
        let p = try run(options + [local, remote + "/tree"], env: env, binary: put)
        XCTAssertEqual(p.status, 0, p.stderr)
        for (line, host) in zip(p.out.split(separator: "\n"), four) {
            XCTAssertNotNil(line.range(of: "^\(host): 5 files, 300\\.0 kB in \\d+\\.\\d s \\(stream\\)$", options: .regularExpression), p.out)
        }
        assertSameTree(remote + "/tree", local, folderTimes: false)
        let g = try run(options + [remote + "/tree", home + "/got"], env: env, binary: get)
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertEqual(g.out.components(separatedBy: "(stream) -> ").count, 5, g.out)
        for host in four { assertSameTree(home + "/got/\(host)/tree", remote + "/tree") }
    }

    func testGetTellsApartWorkersWhoseFolderNamesMeet() throws {
        try "same\n".write(toFile: remote + "/f", atomically: true, encoding: .utf8)
        let r = try run(["--workers=127.0.1.1 127.0.1.1 root@127.0.1.2", "--ssh-identity=\(Env.key)",
                         "--known-hosts=\(Env.knownHosts)", remote + "/f", home + "/got"], binary: get)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: home + "/got").sorted(),
                       ["127.0.1.1", "127.0.1.1_2", "root@127.0.1.2"])
        for folder in ["127.0.1.1", "127.0.1.1_2", "root@127.0.1.2"] { XCTAssertEqual(file("\(home)/got/\(folder)/f"), "same\n") }
    }

    func testProgressLineOnATerminalClearedBeforeTheResults() throws {
        // --connect-rate=1 spreads three workers' copies over two seconds: the line shows between them.
        try "x\n".write(toFile: home + "/f", atomically: true, encoding: .utf8)
        let options = ["--workers='127.0.1.1 127.0.1.2 127.0.1.3'", "--connect-rate=1", "--ssh-identity=\(Env.key)",
                       "--known-hosts=\(Env.knownHosts)"]
        let name = tmux("cd \(home) && \(put) \(options.joined(separator: " ")) f \(remote)/f; echo exit=\\$?; sleep 30")
        defer { shell("tmux kill-session -t \(name)") }
        var shown = ""
        waitWhile(tries: 100, every: 0.05) {
            shown = self.screen(name)
            return shown.range(of: #"put: [12]/3 workers done, \d+ B of 6 B \(\d+%\)"#, options: .regularExpression) == nil
        }
        XCTAssertNotNil(shown.range(of: #"put: [12]/3 workers done, "#, options: .regularExpression), shown)
        waitWhile(tries: 200, every: 0.05) { !self.screen(name).contains("exit=") }
        let end = screen(name)
        XCTAssertTrue(end.contains("exit=0"), end)
        XCTAssertFalse(end.contains("workers done"), "the line is cleared before the results: \(end)")
        XCTAssertNotNil(end.range(of: #"127\.0\.1\.3: 1 file, 2 B in \d+\.\d s \((sftp|stream)\)\n"#, options: .regularExpression), end)
        // Piped: no line, no escape sequences.
        let piped = try run(options.map { $0.replacingOccurrences(of: "'", with: "") } + [home + "/f", remote + "/g"], binary: put)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stderr, "")
    }

    func testCtrlCStopsCloudtaskGetAndReportsWhatWasDone() throws {
        try "x\n".write(toFile: remote + "/f", atomically: true, encoding: .utf8)
        // One connection a second to 20 workers: twenty seconds, unless Ctrl-C ends it.
        let workers = Array(repeating: "127.0.1.1", count: 20).joined(separator: " ")
        let started = Date()
        let r = try run(["--workers=\(workers)", "--connect-rate=1", "--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)",
                         remote + "/f", home + "/got"], binary: get) { process in
            self.waitWhile(tries: 100, every: 0.05) { !FileManager.default.fileExists(atPath: self.home + "/got/127.0.1.1_2/f") }
            process.interrupt()
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(r.status, 1, r.stderr)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 20, r.out)
        let done = lines.filter { !$0.hasSuffix(": error: interrupted") }
        XCTAssertGreaterThanOrEqual(done.count, 2, r.out)
        XCTAssertLessThan(done.count, 20, r.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: home + "/got").count, done.count,
                       "interrupted workers leave no folder: \(r.out)")
    }

    func testUsageErrorsExitTwoBeforeAnyConnection() throws {
        let options = ["--workers=127.0.1.1", "--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)"]
        let cases: [([String], String, String)] = [
            (options + ["only-one"], put, "cloudtask-put: usage: cloudtask-put [worker options] LOCAL REMOTE"),
            (options + [home + "/missing", "x"], put, "cloudtask-put: \(home)/missing: no such file or folder"),
            (options + ["--sudo", "a", "b"], put, "cloudtask-put: unknown option --sudo (see --help)"),
            (["a", "b"], get, "cloudtask-get: no workers: give --workers=LIST|FILE (or CLOUDTASK_WORKERS)"),
            (options + ["--port=0", "a", "b"], get, "cloudtask-get: --port=0: "),
        ]
        for (arguments, binary, message) in cases {
            let r = try run(arguments, binary: binary)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix(message), "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.out, "")
        }
        let help = try run(["--help"], binary: get)
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.out.hasPrefix("usage: cloudtask-get [worker options] REMOTE LOCALDIR\n"), help.out)
        XCTAssertTrue(help.out.contains("--jump=") && help.out.contains("--connect-rate=N"), help.out)
    }
}
