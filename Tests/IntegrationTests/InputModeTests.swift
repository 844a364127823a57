// Input modes (--lines, -0, --colsep) and replacement strings through the built cloudtask and ctsh and real sshd
// workers: hostile file names arrive as one literal word each, --dry-run shows the jobs expanded.
import Engine
import Foundation
import XCTest

final class InputModeTests: IntegrationCase {
    /// File names that word splitting, a careless quoting or an option parser would break.
    let names = ["two words.bin", "it's.bin", #"say "hi".bin"#, "$HOME and $(id).bin", #"back\slash.bin"#, "-n.bin",
                 "--help.bin", "plain.tar.gz", " lead.bin"]

    var ctsh: String { Env.root + "/.build/debug/ctsh" }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// `find . -type f -print0` run in a folder holding `names` (and one with a newline), sorted.
    private func findPrint0() throws -> [UInt8] {
        let folder = home + "/files"
        try FileManager.default.createDirectory(atPath: folder + "/sub dir", withIntermediateDirectories: true)
        for name in names + ["new\nline.bin"] { FileManager.default.createFile(atPath: folder + "/sub dir/" + name, contents: nil) }
        let found = try Subprocess.run(["/bin/sh", "-c", "find . -type f -print0 | sort -z"], directory: folder, output: .capture,
                                       timeout: 30)
        XCTAssertEqual(found.status, 0)
        return found.output
    }

    func testFindPrint0ReachesTheCommandAsOneWordEach() throws {
        let records = try findPrint0() + [0x2e, 0x2f, 0xff, 0xfe, 0x2e, 0x62, 0]  // and a name that is not UTF-8
        let r = try run(base + ["--workers=127.0.1.1 127.0.1.2", "--keep-order", "-0", "printf", "%s\\n", "{}"], stdin: records)
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = records.split(separator: 0, omittingEmptySubsequences: true).map { Array($0) + [10] }.joined()
        XCTAssertEqual(r.stdout, Array(expected))
        XCTAssertEqual(records.filter { $0 == 0 }.count, names.count + 2)
        XCTAssertTrue(sessionFile(1, "journal").contains(#"new\nline.bin"#), "the record keeps its newline")
    }

    func testLinesModeAndPathFormsOverHostileNames() throws {
        let lines = names.map { "d.ir/sub dir/" + $0 }
        let r = try cloudtask(["--keep-order", "--lines", "printf", "[%s|%s|%s|%s|%s]\\n", "{}", "{.}", "{/}", "{//}", "{/.}"],
                              lines: lines)
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = names.map { name -> String in
            let stem = name.hasSuffix(".tar.gz") ? "plain.tar" : String(name.dropLast(4))
            return "[d.ir/sub dir/\(name)|d.ir/sub dir/\(stem)|\(name)|d.ir/sub dir|\(stem)]\n"
        }.joined()
        XCTAssertEqual(r.out, expected)
    }

    func testNumberSlotAndQuotedConcatenation() throws {
        let r = try cloudtask(["--keep-order", "--slots=2", "--lines", "sh", "-c", "echo \"$0|$1|$2\"", "{#}", "s{%}", "x{}.gz"],
                              workers: "127.0.1.1", lines: ["a b", "it's", "c"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.out.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(rows.map { $0[0] }, ["1", "2", "3"])
        XCTAssertTrue(rows.allSatisfy { ["s1", "s2"].contains($0[1]) }, r.out)
        XCTAssertEqual(rows.map { $0[2] }, ["xa b.gz", "xit's.gz", "xc.gz"])
    }

    func testColumnsThroughTheWorkers() throws {
        let r = try cloudtask(["--keep-order", "--colsep=\\s*,\\s*", "printf", "%s:%s:%s\\n", "{2}", "{1}", "{3}"],
                              lines: ["a 'b , $c", "x,y,z"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "$c:a 'b:\ny:x:z\n")
    }

    func testDryRunShowsTheJobsExpanded() throws {
        let r = try cloudtask(["--dry-run", "--lines", "gzip", "-k", "x{}.gz", "{#}"], lines: ["a b", "it's"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "gzip -k x'a b'.gz 1\ngzip -k x'it'\\''s'.gz 2\n")
        let shell = try cloudtask(["--dry-run", "gzip -c {} > {.}.gz"], lines: ["f.txt"])
        XCTAssertEqual(shell.out, "gzip -c f.txt > f.gz\n", shell.stderr)
    }

    func testPathFormOnAMultiWordLineIsAUsageErrorAndNothingRuns() throws {
        let marker = home + "/ran"
        let r = try cloudtask(["sh", "-c", "touch \(marker)", "{.}"], lines: ["one.txt", "a b c"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("cloudtask: stdin: line 2: {.} needs one word, the line has 3; nothing was run"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessions + "/1"))
    }

    func testBadColsepIsAUsageErrorNamingTheOption() throws {
        let r = try cloudtask(["--colsep=(", "echo"], lines: ["a"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr, "cloudtask: --colsep=(: not a valid regular expression\n")
    }

    func testReplaceTokenKeepsALiteralBrace() throws {
        let r = try cloudtask(["-I", "@@", "printf", "%s %s\\n", "{}", "@@"], workers: "127.0.1.1", lines: ["a b"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "{} a\nb \n", "in word mode @@ alone stands for each of the words")
    }

    func testTemplateTakesTheModesAndReplacementsOnItsCommandLine() throws {
        let path = home + "/template"
        try """
        return {command = {"printf", "[%s|%s]\\\\n", "{/}"}, workers = {"127.0.1.1"}, identity = "\(Env.key)",
                known_hosts = "\(Env.knownHosts)", keep_order = true}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run([path, "--sessions=\(sessions)", "-0", "{#}"], stdin: bytes("d/it's\nx\0d/$y z\0"), binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "[it's\nx|1]\n[$y z|2]\n")
        let dry = try run([path, "--sessions=\(sessions)", "--dry-run", "--lines"], stdin: bytes("a/b c\n"), binary: ctsh)
        XCTAssertEqual(dry.out, "printf '[%s|%s]\\n' 'b c'\n", dry.stderr)
    }

    func testCtshTaskLinesAndGeneratedJobs() throws {
        let source = """
        local pool = workers{"127.0.1.1", identity = "\(Env.key)", known_hosts = "\(Env.knownHosts)"}
        local t = task{command = "printf '[%s|%s]\\\\n' {} {#}", lines = true, keep_order = true, workers = pool,
                       jobs = {"a 'b", " c "}}
        t:add("$HOME d")
        local s = t:run()
        print(s.ok, s.total)
        local ok, message = pcall(function()
            task{command = {"echo", "{.}"}, workers = pool, jobs = {"x y"}}:run()
        end)
        print(ok, message)
        """
        let path = home + "/script.lua"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run([path], env: ["CLOUDTASK_SESSIONS": sessions], binary: ctsh)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.hasPrefix("[a 'b|1]\n[ c |2]\n[$HOME d|3]\n3\t3\nfalse\t"), r.out)
        XCTAssertTrue(r.out.contains("bad job input x y: {.} needs one word, the line has 2"), r.out)
    }
}
