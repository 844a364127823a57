// Issue 13, per-job files through real sshd workers: --transfer, --return, --cleanup, --workdir; a SIGKILL and
// --resume mid-batch; a missing input, a missing result, a full disk on the worker; returns that would collide.
import Engine
import Foundation
import XCTest

final class TransferTests: IntegrationCase {
    /// Random files of 1-20 MB under `home/data`, names with spaces and apostrophes, one in a subfolder; returns
    /// their paths relative to `home/data`.
    private func makeFiles(_ count: Int, megabytes: ClosedRange<Int> = 1...20) throws -> [String] {
        let data = home + "/data"
        try FileManager.default.createDirectory(atPath: data + "/sub dir", withIntermediateDirectories: true)
        var names: [String] = []
        for i in 1...count {
            let name = i % 5 == 0 ? "sub dir/it's \(i).bin" : i % 2 == 0 ? "file \(i)'s.bin" : "plain-\(i).bin"
            let size = Int.random(in: megabytes) << 20
            XCTAssertEqual(shell("head -c \(size) /dev/urandom > '\(data)/\(name.replacingOccurrences(of: "'", with: "'\\''"))'"), 0)
            names.append(name)
        }
        return names
    }

    /// Every `NAME.gz` beside the originals decompresses to the original's bytes.
    private func assertReturned(_ names: [String], file: StaticString = #filePath, line: UInt = #line) {
        for name in names {
            let path = home + "/data/" + name
            XCTAssertTrue(FileManager.default.fileExists(atPath: path + ".gz"), "\(name).gz did not come back", file: file, line: line)
            let same = shell("gzip -dc \(quoted(path + ".gz")) | cmp -s - \(quoted(path))")
            XCTAssertEqual(same, 0, "\(name).gz does not decompress to \(name)", file: file, line: line)
        }
    }

    private func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    private func entries(_ path: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }

    /// The session folders in the workers' /tmp (loopback workers share this machine's).
    private var sessionFolders: Set<String> { Set(entries("/tmp").filter { $0.hasPrefix("cloudtask-\(ProcessInfo.processInfo.hostName)-") }) }

    func testGzipTwentyFilesBothWaysFromFindPrint0AndLs() throws {
        let names = try makeFiles(20)
        let remote = home + "/remote"
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
        let find = try Subprocess.run(["/bin/sh", "-c", "cd \(quoted(home + "/data")) && find . -name '*.bin' -print0"],
                                      output: .capture)
        let joblog = home + "/joblog"
        let first = try run(base + ["--workers=127.0.1.1 127.0.1.2", "--slots=2", "-0", "--transfer", "--return={}.gz",
                                    "--cleanup", "--workdir=\(remote)", "--joblog=\(joblog)", "gzip", "-k"],
                            stdin: find.output, timeout: 300, directory: home + "/data")
        XCTAssertEqual(first.status, 0, first.stderr.suffix(2000).description)
        assertReturned(names)
        XCTAssertEqual(entries(remote), [], "work folders left on the workers: \(entries(remote))")
        // The joblog's Send and Receive are the bytes that went there and came back.
        let rows = file(joblog).split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.count, 20)
        for row in rows {
            let command = String(row[8])
            // The command names the input where it lands in the work folder: ./a.bin is a.bin there.
            guard let name = names.first(where: { command == "gzip -k " + quoted($0) || command == "gzip -k " + $0 }) else {
                XCTFail("no input for joblog row \(row)"); continue
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: home + "/data/" + name)[.size] as? Int) ?? -1
            let gz = (try? FileManager.default.attributesOfItem(atPath: home + "/data/" + name + ".gz")[.size] as? Int) ?? -1
            XCTAssertEqual(Int(row[4]), size, "Send of \(name)")
            XCTAssertEqual(Int(row[5]), gz, "Receive of \(name)")
        }

        // The same from ls, one name per line, into the default work folder under the worker's /tmp.
        for name in names { try FileManager.default.removeItem(atPath: home + "/data/" + name + ".gz") }
        let ls = names.map { $0 + "\n" }.joined()
        let before = sessionFolders
        let second = try run(base + ["--workers=127.0.1.3 127.0.1.4", "--lines", "--transfer", "--return={}.gz", "--cleanup",
                                     "gzip", "-k"], stdin: Array(ls.utf8), timeout: 300, directory: home + "/data")
        XCTAssertEqual(second.status, 0, second.stderr.suffix(2000).description)
        assertReturned(names)
        XCTAssertEqual(sessionFolders.subtracting(before), [], "the session's work folder is left in the workers' /tmp")
    }

    func testSIGKILLMidBatchThenResumeLosesNothingAndLeavesNothing() throws {
        let names = try makeFiles(12, megabytes: 1...2)
        let remote = home + "/remote"
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
        let options = base + ["--workers=127.0.1.1 127.0.1.2", "--lines", "--transfer", "--return={}.gz", "--cleanup",
                              "--workdir=\(remote)"]
        let ended = { self.sessionFile(1, "journal").components(separatedBy: "{\"end\":").count - 1 }
        let first = try run(options + ["sh", "-c", "sleep 0.4; gzip -k \"$0\"", "{}"],
                            stdin: Array(names.map { $0 + "\n" }.joined().utf8), timeout: 120, directory: home + "/data") { process in
            self.waitWhile(tries: 300, every: 0.05) { ended() < 3 }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        XCTAssertLessThan(ended(), 12, "the kill should land mid-batch")
        Thread.sleep(forTimeInterval: 0.5)
        let resumed = try run(base + ["--resume=1"], timeout: 120, directory: home)
        XCTAssertEqual(resumed.status, 0, first.stderr + "\n---\n" + resumed.stderr)
        assertReturned(names)
        XCTAssertEqual(entries(remote), [], "the killed run's work folders are left: \(entries(remote))")
    }

    func testAMissingInputOrResultFailsThatJobByNameAndTheBatchGoesOn() throws {
        let names = try makeFiles(2, megabytes: 1...1)
        let result = try run(base + ["--workers=127.0.1.1", "--lines", "--transfer", "--return={}.gz", "--cleanup",
                                     "gzip", "-k"],
                             stdin: Array((names + ["no such.bin"]).map { $0 + "\n" }.joined().utf8), directory: home + "/data")
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("127.0.1.1: exit 255 # gzip -k 'no such.bin'"), result.stderr)
        XCTAssertTrue(result.stderr.contains("transfer") && result.stderr.contains("no such.bin") && result.stderr.contains("no such file"),
                      result.stderr)
        assertReturned(names)

        // The command succeeds but leaves no result: the job fails naming the file and the worker.
        let missing = try run(base + ["--workers=127.0.1.2", "--lines", "--return={}.out", "--workdir=\(home)/remote", "true"],
                              stdin: Array("x.txt\n".utf8), directory: home)
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("return x.txt.out: no such file on 127.0.1.2")
                      || missing.stderr.contains("return") && missing.stderr.contains("x.txt.out") && missing.stderr.contains("no such file"),
                      missing.stderr)
    }

    func testAFullDiskOnTheWorkerFailsTheJobWithTheWorkersMessage() throws {
        guard getuid() == 0 else { throw HarnessError(message: "mounting a tmpfs needs root (scripts/test runs as root)") }
        let small = home + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        XCTAssertEqual(shell("mount -t tmpfs -o size=1m tmpfs '\(small)'"), 0)
        defer { shell("umount -l '\(small)'") }
        _ = try makeFiles(1, megabytes: 3...3)
        let result = try run(base + ["--workers=127.0.1.1", "--lines", "--transfer", "--workdir=\(small)", "cat"],
                             stdin: Array("plain-1.bin\n".utf8), directory: home + "/data")
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.lowercased().contains("no space left on device"), result.stderr)
        XCTAssertTrue(result.stderr.contains("plain-1.bin"), result.stderr)
    }

    func testCtshTaskTransfersReturnsAndCleansUp() throws {
        let names = try makeFiles(3, megabytes: 1...1)
        let remote = home + "/remote"
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
        let source = """
        local pool = workers{"127.0.1.1", "127.0.1.2", identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
        local t = task{command = {"gzip", "-k"}, lines = true, transfer = true, returns = {"{}.gz"}, cleanup = true,
                       workdir = "\(remote)", workers = pool, jobs = {\(names.map { "\"\($0)\"" }.joined(separator: ", "))}}
        local s = t:run()
        print(s.ok, s.total)
        """
        try source.write(toFile: home + "/script.lua", atomically: true, encoding: .utf8)
        let r = try run([home + "/script.lua"], env: ["CLOUDTASK_SESSIONS": sessions], binary: Env.root + "/.build/debug/ctsh",
                        directory: home + "/data")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "3\t3\n", r.stderr)
        assertReturned(names)
        XCTAssertEqual(entries(remote), [], "work folders left on the workers")
    }

    func testATransferBatchOnDropbearWithoutSFTPGoesAsAStream() throws {
        let (server, port, _) = try startDropbear(withoutSFTP: true)
        defer { server.terminate(); server.waitUntilExit() }
        let names = try makeFiles(4, megabytes: 1...2)
        let before = sessionFolders
        let result = try run(["--ssh-identity=\(Env.key)", "--known-hosts=\(home)/known_hosts", "--sessions=\(sessions)",
                              "--workers=127.0.0.1:\(port)", "--slots=2", "--lines", "--transfer", "--return={}.gz", "--cleanup",
                              "gzip", "-k"], stdin: Array(names.map { $0 + "\n" }.joined().utf8), directory: home + "/data")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("127.0.0.1:\(port): no SFTP server: files go as a stream over exec channels"),
                      result.stderr)
        assertReturned(names)
        XCTAssertEqual(sessionFolders.subtracting(before), [], "the session's work folder is left on the worker")
    }

    func testReturnsThatWouldCollideAreRefusedBeforeAnythingRuns() throws {
        let marker = home + "/ran"
        let same = try run(base + ["--workers=127.0.1.1", "--lines", "--return=out.txt", "sh", "-c", "touch \(marker)"],
                           stdin: Array("a\nb\n".utf8), directory: home)
        XCTAssertEqual(same.status, 2, same.stderr)
        XCTAssertTrue(same.stderr.contains("--return=out.txt: every job would return the same file"), same.stderr)
        let clash = try run(base + ["--workers=127.0.1.1", "--lines", "--return={.}.gz", "sh", "-c", "touch \(marker)"],
                            stdin: Array("a.txt\na.csv\n".utf8), directory: home)
        XCTAssertEqual(clash.status, 2, clash.stderr)
        XCTAssertTrue(clash.stderr.contains("line 2: --return={.}.gz lands on \(home)/a.gz, as job 1's does"), clash.stderr)
        let words = try run(base + ["--workers=127.0.1.1", "--transfer", "sh", "-c", "touch \(marker)"],
                            stdin: Array("a.bin\ntwo words\n".utf8), directory: home)
        XCTAssertEqual(words.status, 2, words.stderr)
        XCTAssertTrue(words.stderr.contains("line 2: --transfer needs one file name, the line has 2 words"), words.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a job ran")
    }
}
