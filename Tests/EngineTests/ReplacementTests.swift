// Tests for JobRecipe: input modes (words, --lines, -0, --colsep), GNU parallel's replacement strings, their
// quoting proven with a real /bin/sh, the literal expansion for file names, and the options that set them.
import XCTest
@testable import Engine

final class ReplacementTests: XCTestCase {
    private func recipe(_ command: [String], lines: Bool = false, null: Bool = false, colsep: String? = nil,
                        replace: String? = nil) throws -> JobRecipe {
        var config = TaskConfig()
        config.command = command
        config.lines = lines ? true : nil
        config.null = null ? true : nil
        config.colsep = colsep
        config.replace = replace
        return try JobRecipe(config)
    }

    private func text(_ recipe: JobRecipe, _ record: String, number: Int = 1) throws -> String? {
        try recipe.job(Array(record.utf8), lineNumber: 7, number: number).map { String(decoding: $0.text, as: UTF8.self) }
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: - Path forms (GNU parallel's definitions)

    func testPathFormsFollowGNUParallel() {
        let cases: [(String, PathForm, String)] = [
            ("foo.jpg", .noExtension, "foo"), ("subdir/foo.jpg", .noExtension, "subdir/foo"),
            ("sub.dir/foo.jpg", .noExtension, "sub.dir/foo"), ("sub.dir/bar", .noExtension, "sub.dir/bar"),
            ("a.tar.gz", .noExtension, "a.tar"),
            ("dir/sub/file.txt", .basename, "file.txt"), ("file.txt", .basename, "file.txt"), ("dir/", .basename, ""),
            ("dir/sub/file.txt", .dirname, "dir/sub"), ("file.txt", .dirname, "."), ("/file", .dirname, "/"),
            ("a//b", .dirname, "a"), ("a/b/", .dirname, "a"), ("/", .dirname, "/"),
            ("dir/sub.d/file.txt", .basenameNoExtension, "file"), ("sub.dir/bar", .basenameNoExtension, "bar"),
        ]
        for (word, form, expected) in cases {
            XCTAssertEqual(String(decoding: form.apply(bytes(word)), as: UTF8.self), expected, "\(word) {\(form.rawValue)}")
        }
    }

    func testOnlyKnownBracesAreTokens() {
        XCTAssertEqual(Piece.parse(bytes("a{}b{.}{/}{//}{/.}{#}{%}{12}{2.}{1/}{1//}{1/.}"), replace: nil), [
            .literal(bytes("a")), .token(.input(.whole)), .literal(bytes("b")), .token(.input(.noExtension)),
            .token(.input(.basename)), .token(.input(.dirname)), .token(.input(.basenameNoExtension)), .token(.number),
            .token(.slot), .token(.field(12, .whole)), .token(.field(2, .noExtension)), .token(.field(1, .basename)),
            .token(.field(1, .dirname)), .token(.field(1, .basenameNoExtension)),
        ])
        for literal in ["${HOME}", "{a,b}", "{0}", "{01}", "{ }", "{", "}", "{x}", "{.x}"] {
            XCTAssertEqual(Piece.parse(bytes(literal), replace: nil), [.literal(bytes(literal))], literal)
        }
        XCTAssertEqual(Piece.parse(bytes("{}@@{.}"), replace: bytes("@@")),
                       [.literal(bytes("{}")), .token(.input(.whole)), .literal(bytes("{.}"))])
    }

    // MARK: - Without replacement strings nothing changes

    func testACommandWithoutTokensAppendsTheWordsAsBefore() throws {
        let lines = [#"a "b c" 'd'"#, "  x\ty  ", "# comment", "", "$HOME ;"]
        for command in [["echo"], ["grep -c foo"], [], ["printf", "%s\\n"]] {
            let recipe = try recipe(command)
            for (n, line) in lines.enumerated() {
                XCTAssertEqual(try recipe.job(bytes(line), lineNumber: n + 1, number: 1)?.text,
                               try Batch.job(bytes(line), lineNumber: n + 1, number: 1, command: command)?.text)
                let words = try JobLine.words(bytes(line), lineNumber: 1)
                XCTAssertEqual(try recipe.job(bytes(line), lineNumber: 1, number: 1)?.text,
                               words.map { ShellQuote.jobText(command: command, words: $0, rawLine: bytes(line)) })
            }
        }
    }

    // MARK: - Replacement in the command

    func testBraceInAQuotedElementIsOneLiteralWord() throws {
        XCTAssertEqual(try text(recipe(["gzip", "x{}.gz"], lines: true), "a b"), "gzip x'a b'.gz")
        XCTAssertEqual(try text(recipe(["cp", "{}", "out/{/.}.txt"], lines: true), "in dir/it's.csv"),
                       #"cp 'in dir/it'\''s.csv' out/'it'\''s'.txt"#)
        // In word mode `{}` alone is each word; inside a word the words join into that one word.
        XCTAssertEqual(try text(recipe(["echo", "{}"]), "a 'b c'"), "echo a 'b c'")
        XCTAssertEqual(try text(recipe(["echo", "--x={}"]), "a 'b c'"), "echo --x='a b c'")
    }

    func testShellTextGetsQuotedValues() throws {
        XCTAssertEqual(try text(recipe(["gzip -c {} > {}.gz"], lines: true), "a b"), "gzip -c 'a b' > 'a b'.gz")
        XCTAssertEqual(try text(recipe(["echo {} | wc -c"]), "a 'b c'"), "echo a 'b c' | wc -c")
    }

    func testNumberSlotAndPositionals() throws {
        XCTAssertEqual(try text(recipe(["echo", "{#}", "{%}", "s{%}", "{2}", "{3}", "{1.}"]), "a.x b", number: 42),
                       #"echo 42 "$CLOUDTASK_SLOT" s"$CLOUDTASK_SLOT" b '' a"#)
        XCTAssertEqual(try text(recipe(["echo {%}-{#}"]), "x", number: 3), #"echo "$CLOUDTASK_SLOT"-3"#)
    }

    func testPathFormOnAMultiWordLineNamesTheLine() throws {
        let recipe = try recipe(["echo", "{.}"])
        XCTAssertThrowsError(try recipe.job(bytes("a b c"), lineNumber: 7, number: 1)) { error in
            XCTAssertEqual("\(error)", "line 7: {.} needs one word, the line has 3")
        }
        XCTAssertEqual(try text(recipe, "a.b"), "echo a")
        // A positional's path form is of that one word: fine on a multi-word line.
        XCTAssertEqual(try text(self.recipe(["echo", "{2/}"]), "a b/c"), "echo c")
    }

    func testReplaceTokenKeepsLiteralBraces() throws {
        let recipe = try recipe(["jq", "{} | .a", "@@", "{.}"], lines: true, replace: "@@")
        XCTAssertEqual(try text(recipe, "f.json"), "jq '{} | .a' f.json '{.}'")
        // With -I and no token in the command the input is appended, as without replacement strings.
        XCTAssertEqual(try text(self.recipe(["find", "-exec", "{}", "+"], replace: "@@"), "x"), "find -exec '{}' + x")
    }

    // MARK: - Input modes

    func testLinesAreOneLiteralWordUntrimmedAndEmptyOnesSkipped() throws {
        let recipe = try recipe(["printf", "%s"], lines: true)
        XCTAssertEqual(try text(recipe, #"  it's "a" #b \c  "#), #"printf %s '  it'\''s "a" #b \c  '"#)
        XCTAssertNil(try text(recipe, ""))
        XCTAssertEqual(try text(recipe, " "), "printf %s ' '")
        XCTAssertEqual(try recipe.job(bytes(" a "), lineNumber: 1, number: 1)?.input, bytes(" a "))
        // With no command the record is itself the job's shell text, as a word-mode line is.
        XCTAssertEqual(try text(self.recipe([], null: true), "echo a\necho b"), "echo a\necho b")
    }

    func testColumnsAreLiteralAndTheWholeLineIsOneWord() throws {
        let recipe = try recipe(["echo", "{2}", "{1}", "{}", "{4}"], colsep: "\t+")
        XCTAssertEqual(try text(recipe, "a 'b\t\tc$\td"), "echo 'c$' 'a '\\''b' 'a '\\''b\t\tc$\td' ''")
        XCTAssertEqual(recipe.fields(of: bytes("a 'b\t\tc$\td")), [bytes("a 'b"), bytes("c$"), bytes("d")])
        // Without replacement strings the columns are appended, each a word.
        XCTAssertEqual(try text(self.recipe(["echo"], colsep: ","), "a b,,c"), "echo 'a b' '' c")
        // A line that is not UTF-8 is cut byte for byte.
        let latin = try self.recipe(["echo"], colsep: ",")
        XCTAssertEqual(latin.fields(of: [0xff, 0x2c, 0x61, 0xe9]), [[0xff], [0x61, 0xe9]])
        XCTAssertEqual(try self.recipe(["echo"], colsep: "é").fields(of: bytes("aébéc")), [bytes("a"), bytes("b"), bytes("c")])
    }

    func testBadColsepAndConflictsAreUsageErrors() {
        XCTAssertThrowsError(try recipe(["echo"], colsep: "(")) { XCTAssertEqual("\($0)", "--colsep=(: not a valid regular expression") }
        XCTAssertThrowsError(try recipe(["echo"], lines: true, colsep: ",")) { XCTAssertTrue("\($0)".hasPrefix("--lines and --colsep")) }
        XCTAssertThrowsError(try recipe(["echo"], replace: "")) { XCTAssertTrue($0 is UsageError) }
    }

    func testFieldsComeBackFromTheStoredInput() throws {
        let words = try recipe(["echo"])
        let spec = try XCTUnwrap(try words.job(bytes(#"  a "b c"  "#), lineNumber: 1, number: 1))
        XCTAssertEqual(words.fields(of: spec.input), [bytes("a"), bytes("b c")])
        let lines = try recipe(["echo"], null: true)
        let record = bytes(" x\ny\r ")
        XCTAssertEqual(lines.fields(of: try XCTUnwrap(try lines.job(record, lineNumber: 1, number: 1)).input), [record])
    }

    // MARK: - Literal expansion (file names)

    func testExpandLiteralQuotesNothing() throws {
        let recipe = try recipe(["gzip"], lines: true)
        let name = [bytes("dir a/it's $x.tar.gz")]
        func expand(_ pattern: String) throws -> String {
            String(decoding: try recipe.expandLiteral(pattern, fields: name, number: 5, lineNumber: 2), as: UTF8.self)
        }
        XCTAssertEqual(try expand("{}.gz"), "dir a/it's $x.tar.gz.gz")
        XCTAssertEqual(try expand("out/{/.}.txt"), "out/it's $x.tar.txt")
        XCTAssertEqual(try expand("{//}/{#}-{1/}"), "dir a/5-it's $x.tar.gz")
        XCTAssertThrowsError(try expand("{%}.log")) { XCTAssertTrue($0 is UsageError, "\($0)") }
        let words = try self.recipe(["gzip"])
        XCTAssertThrowsError(try words.expandLiteral("{}.gz", fields: [bytes("a"), bytes("b")], number: 1, lineNumber: 9)) {
            XCTAssertEqual("\($0)", "line 9: {} needs one word, the line has 2")
        }
        let columns = try self.recipe(["x"], colsep: ",")
        XCTAssertEqual(try columns.expandLiteral("{}|{2}", input: bytes("a,b"), number: 1, lineNumber: 1), bytes("a,b|b"))
    }

    func testUsesReplacement() throws {
        let plain = try recipe(["gzip"])
        XCTAssertTrue(plain.usesReplacement("{}.gz"))
        XCTAssertTrue(plain.usesReplacement("x{#}"))
        XCTAssertFalse(plain.usesReplacement("fixed.gz"))
        XCTAssertFalse(plain.usesReplacement("${HOME}"))
        let custom = try recipe(["gzip"], replace: "@@")
        XCTAssertFalse(custom.usesReplacement("{}.gz"))
        XCTAssertTrue(custom.usesReplacement("@@.gz"))
    }

    // MARK: - Options

    func testShortAndLongOptionsAndTheEnvironment() throws {
        var (config, _) = try Options.parse(["-0", "-I", "@@", "--colsep=,", "echo", "-0"], environment: [:])
        XCTAssertEqual(config.null, true)
        XCTAssertEqual(config.replace, "@@")
        XCTAssertEqual(config.colsep, ",")
        XCTAssertEqual(config.command, ["echo", "-0"])
        (config, _) = try Options.parse(["-I@@", "--null", "--lines", "x"], environment: [:])
        XCTAssertEqual(config.replace, "@@")
        XCTAssertEqual(config.recordEnd, 0)
        XCTAssertEqual(config.lines, true)
        (config, _) = try Options.parse(["x"], environment: ["CLOUDTASK_LINES": "1", "CLOUDTASK_REPLACE": "%%"])
        XCTAssertEqual(config.lines, true)
        XCTAssertEqual(config.replace, "%%")
        XCTAssertThrowsError(try Options.parse(["--colsep=[", "x"], environment: [:])) {
            XCTAssertEqual("\($0)", "--colsep=[: not a valid regular expression")
        }
        XCTAssertThrowsError(try Options.parse(["-0x"], environment: [:])) { XCTAssertEqual("\($0)", "option -0 takes no value") }
        XCTAssertThrowsError(try Options.parse(["-I"], environment: [:])) { XCTAssertTrue("\($0)".contains("needs a value")) }
        XCTAssertTrue(Options.help(program: "cloudtask").contains("-0, --null"))
        let fields = try Options.apply(fields: [("lines", .flag(true)), ("colsep", .text(";")), ("replace", .text("@"))],
                                       to: TaskConfig())
        XCTAssertEqual([fields.lines, fields.colsep != nil, fields.replace != nil], [true, true, true])
    }

    func testConfWithoutTheNewFieldsStillDecodes() throws {
        let old = #"{"command":["echo"],"workers":[],"slots":1,"timeout":3600,"retries":0,"strikes":0,"hostKeyPolicy":"accept-new","tag":false,"keepOrder":false,"lineBuffer":false,"pty":false,"sudo":false}"#
        let config = try JSONDecoder().decode(TaskConfig.self, from: Data(old.utf8))
        XCTAssertNil(config.lines)
        XCTAssertEqual(config.recordEnd, 10)
    }

    // MARK: - The reader

    func testNullRecordsKeepNewlinesAndCarriageReturns() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        let input = JobInput(fd: fds[0], separator: 0)
        let data: [UInt8] = bytes("a\nb\r\n\0\0c\r") + [0] + bytes("last\r")
        XCTAssertEqual(data.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }, data.count)
        close(fds[1])
        input.waitForFirstRead(pause: 1)
        XCTAssertEqual(input.take(10).map(\.bytes), [bytes("a\nb\r\n"), [], bytes("c\r"), bytes("last\r")])
        close(fds[0])
    }

    func testNewlineRecordsStillDropOneCarriageReturn() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        let input = JobInput(fd: fds[0])
        let data = bytes("a b\r\nc\0d\r\r\n")
        XCTAssertEqual(data.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }, data.count)
        close(fds[1])
        input.waitForFirstRead(pause: 1)
        XCTAssertEqual(input.take(10).map(\.bytes), [bytes("a b"), bytes("c\0d\r")])
        close(fds[0])
    }

    // MARK: - A real /bin/sh

    /// Names that a careless quoting would split, expand or take as an option.
    private let hostile: [[UInt8]] = [
        Array("two words".utf8), Array("it's".utf8), Array(#"say "hi""#.utf8), Array("$HOME and $(id) `id`".utf8),
        Array(#"back\slash\"#.utf8), Array("new\nline".utf8), Array("-n".utf8), Array("--help".utf8), Array("*".utf8),
        [0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e], Array(" lead and trail ".utf8), Array("~user".utf8),
        Array("d.ir/sub dir/x.tar.gz".utf8),
    ]

    /// Runs `script` with /bin/sh (fed on stdin, so non-UTF-8 bytes survive) in an empty folder.
    private func sh(_ script: [UInt8]) throws -> [UInt8] {
        let folder = NSTemporaryDirectory() + "replacement-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        FileManager.default.createFile(atPath: folder + "/GLOB-EXPANDED", contents: nil)
        let result = try Subprocess.run(["/bin/sh"], environment: ["HOME": "/HOME-EXPANDED", "PATH": "/usr/bin:/bin",
                                                                    "CLOUDTASK_SLOT": "3"],
                                        directory: folder, input: .bytes(script), output: .capture, timeout: 30)
        XCTAssertEqual(result.status, 0, result.errorText)
        return result.output
    }

    func testHostileNamesReachTheCommandAsOneLiteralWord() throws {
        let recipe = try recipe(["printf", "[%s]\\n", "{}", "x{}.gz", "{/}", "{.}", "{//}", "{%}{#}"], null: true)
        for name in hostile {
            let spec = try XCTUnwrap(try recipe.job(name, lineNumber: 1, number: 9))
            var expected: [UInt8] = []
            for word in [name, bytes("x") + name + bytes(".gz"), PathForm.basename(name), PathForm.withoutExtension(name),
                         PathForm.dirname(name), bytes("39")] {
                expected += bytes("[") + word + bytes("]\n")
            }
            XCTAssertEqual(try sh(spec.text), expected, String(decoding: spec.text, as: UTF8.self))
        }
    }

    func testHostileNamesInShellTextAndColumns() throws {
        let text = try recipe(["printf '[%s]\\n' {} pre{}post {1} | cat"], lines: true)
        for name in hostile where !name.contains(10) {
            let spec = try XCTUnwrap(try text.job(name, lineNumber: 1, number: 1))
            XCTAssertEqual(try sh(spec.text), bytes("[") + name + bytes("]\n[pre") + name + bytes("post]\n[") + name + bytes("]\n"),
                           String(decoding: spec.text, as: UTF8.self))
        }
        let columns = try recipe(["printf", "[%s]\\n", "{2}", "{1}"], colsep: "\t")
        let record = hostile[3] + [9] + hostile[9]
        XCTAssertEqual(try sh(try XCTUnwrap(try columns.job(record, lineNumber: 1, number: 1)).text),
                       bytes("[") + hostile[9] + bytes("]\n[") + hostile[3] + bytes("]\n"))
    }
}
