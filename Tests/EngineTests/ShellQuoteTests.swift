// Tests for ShellQuote: the quoting rules, how job text is built, and proof with a real /bin/sh that
// hostile words reach the command byte for byte.
import XCTest
@testable import Engine

final class ShellQuoteTests: XCTestCase {
    private func quote(_ text: String) -> String {
        String(decoding: ShellQuote.quote(Array(text.utf8)), as: UTF8.self)
    }

    private func text(_ command: [String], _ words: [String], raw: String = "") -> String {
        String(decoding: ShellQuote.jobText(command: command, words: words.map { Array($0.utf8) }, rawLine: Array(raw.utf8)),
               as: UTF8.self)
    }

    // MARK: - quote

    func testSafeWordsAreUnchanged() {
        for word in ["a", "abc", "ABC_123", "user@host", "50%", "a+b=c", "k:v,w", "./dir/file.txt", "-n", "--flag=x"] {
            XCTAssertEqual(quote(word), word)
        }
    }

    func testEmptyWordIsTwoQuotes() {
        XCTAssertEqual(quote(""), "''")
    }

    func testUnsafeWordsAreSingleQuoted() {
        XCTAssertEqual(quote("a b"), "'a b'")
        XCTAssertEqual(quote("$HOME"), "'$HOME'")
        XCTAssertEqual(quote("~"), "'~'")
        XCTAssertEqual(quote("*"), "'*'")
        XCTAssertEqual(quote("#"), "'#'")
        XCTAssertEqual(quote(#"\"#), #"'\'"#)
        XCTAssertEqual(quote("\""), #"'"'"#)
        XCTAssertEqual(quote("a\nb"), "'a\nb'")
        XCTAssertEqual(quote("é"), "'é'")
    }

    func testSingleQuoteBecomesCloseEscapeReopen() {
        XCTAssertEqual(quote("'"), #"''\'''"#)
        XCTAssertEqual(quote("it's"), #"'it'\''s'"#)
        XCTAssertEqual(quote("''"), #"''\'''\'''"#)
    }

    func testNonUTF8BytesAreQuotedUnchanged() {
        XCTAssertEqual(ShellQuote.quote([0xff, 0xfe]), [0x27, 0xff, 0xfe, 0x27])
        XCTAssertEqual(ShellQuote.quote([0x80, 0x27]), [0x27, 0x80, 0x27, 0x5c, 0x27, 0x27, 0x27])
    }

    // MARK: - jobText

    func testEmptyCommandRunsTheTrimmedRawLine() {
        XCTAssertEqual(text([], ["ls", "-l"], raw: "  \tls -l | wc -l  \t"), "ls -l | wc -l")
        XCTAssertEqual(text([], [], raw: "   "), "")
    }

    func testCommandElementsAreQuotedAndWordsAppended() {
        XCTAssertEqual(text(["echo"], ["a", "b c"]), "echo a 'b c'")
        XCTAssertEqual(text(["printf", "%s\\n"], ["x"]), #"printf '%s\n' x"#)
        XCTAssertEqual(text(["grep", "-c", "a b"], ["file"]), "grep -c 'a b' file")
        XCTAssertEqual(text(["echo"], []), "echo")
        XCTAssertEqual(text(["echo"], [""]), "echo ''")
    }

    func testOneElementWithShellSyntaxIsShellText() {
        XCTAssertEqual(text(["grep -c foo"], ["a b"]), "grep -c foo 'a b'")
        XCTAssertEqual(text(["cd /data && ./run"], ["x"]), "cd /data && ./run x")
        XCTAssertEqual(text(["$HOME/bin/run"], ["x"]), "$HOME/bin/run x")
        XCTAssertEqual(text(["echo\t"], ["$x"]), "echo\t '$x'")
        XCTAssertEqual(text(["sh -c"], []), "sh -c")
    }

    func testSeveralElementsAreNeverShellText() {
        XCTAssertEqual(text(["echo", "$HOME", "a b"], ["c"]), "echo '$HOME' 'a b' c")
    }

    // MARK: - A real /bin/sh

    /// Hostile words, each of which a careless quoting would let the shell interpret.
    private let hostileWords: [[UInt8]] = [
        Array("$HOME".utf8), Array(";".utf8), Array("|".utf8), Array("`id`".utf8), Array("$(id)".utf8),
        Array("*".utf8), Array("'".utf8), Array("\"".utf8), Array("\\".utf8), Array("a b  c".utf8),
        Array("tab\there".utf8), Array("line1\nline2".utf8), [], [0xff, 0xfe], Array("it's \"x\" \\n".utf8),
        Array("&& echo pwned".utf8), Array("> file".utf8), Array("~".utf8), Array("#not-comment".utf8),
        Array("${HOME:-x}".utf8), Array("-n".utf8), Array("%s %d".utf8), Array("[ab]".utf8), Array("?".utf8),
        Array("!!".utf8), Array("{a,b}".utf8), Array("a\rb".utf8), [0xc3, 0x28, 0x27, 0x80],
    ]

    /// Runs `/bin/sh -c script` in an empty-but-for-a-decoy folder and returns its stdout and status.
    /// A script that is not UTF-8 cannot be a Swift String argument, so it goes through a script file,
    /// which sh reads by the same grammar.
    private func runSh(_ script: [UInt8]) throws -> (out: [UInt8], status: Int32) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shellquote-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // A glob that expanded would print this name.
        try Data().write(to: folder.appendingPathComponent("GLOB-EXPANDED"))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        if let text = String(validating: script, as: UTF8.self) {
            process.arguments = ["-c", text]
        } else {
            let scriptFile = folder.appendingPathComponent("job.sh")
            try Data(script).write(to: scriptFile)
            process.arguments = [scriptFile.path]
        }
        process.currentDirectoryURL = folder
        process.environment = ["HOME": "/HOME-EXPANDED", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (Array(data), process.terminationStatus)
    }

    private let printfEachLine = ["printf", "%s\\n"]

    private func expectedLines(_ words: [[UInt8]]) -> [UInt8] {
        words.flatMap { $0 + [0x0a] }
    }

    func testHostileWordsReachTheCommandLiterally() throws {
        let script = ShellQuote.jobText(command: printfEachLine, words: hostileWords, rawLine: [])
        let result = try runSh(script)
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.out, expectedLines(hostileWords))
    }

    func testEachHostileWordAloneReachesTheCommandLiterally() throws {
        for word in hostileWords {
            let result = try runSh(ShellQuote.jobText(command: printfEachLine, words: [word], rawLine: []))
            XCTAssertEqual(result.out, word + [0x0a], "word \(word)")
        }
    }

    func testEveryByteButNulReachesTheCommand() throws {
        let everyByte = (1...255).map(UInt8.init)
        let words = [everyByte, everyByte.reversed(), Array(everyByte.prefix(127))]
        let result = try runSh(ShellQuote.jobText(command: printfEachLine, words: words, rawLine: []))
        XCTAssertEqual(result.out, expectedLines(words))
    }

    func testAJobLineReachesTheCommandAsItsWords() throws {
        // The whole path: input line -> shell words -> job text -> the remote shell's argv.
        let line: [UInt8] = Array(#"plain 'single $HOME' "double \"q\" \$ \\" back\ slash `id` $(id) ; | * "#.utf8)
            + [0xff, 0xfe] + Array(" 'new\nline' '' \"it's\" #comment".utf8)
        let words = try XCTUnwrap(try JobLine.words(line, lineNumber: 1))
        let expected: [[UInt8]] = [
            Array("plain".utf8), Array("single $HOME".utf8), Array(#"double "q" $ \"#.utf8), Array("back slash".utf8),
            Array("`id`".utf8), Array("$(id)".utf8), Array(";".utf8), Array("|".utf8), Array("*".utf8),
            [0xff, 0xfe], Array("new\nline".utf8), [], Array("it's".utf8),
        ]
        XCTAssertEqual(words, expected)
        let result = try runSh(ShellQuote.jobText(command: printfEachLine, words: words, rawLine: line))
        XCTAssertEqual(result.out, expectedLines(expected))
    }

    func testShellTextCommandRunsAsShell() throws {
        let words: [[UInt8]] = [Array("a b".utf8), Array("$HOME".utf8)]
        let result = try runSh(ShellQuote.jobText(command: ["printf '<%s>' x; printf '[%s]'"], words: words, rawLine: []))
        XCTAssertEqual(String(decoding: result.out, as: UTF8.self), "<x>[a b][$HOME]")
    }

    func testEmptyCommandRunsTheLineAsShell() throws {
        let line = Array("  printf '%s,' \"$HOME\" *  ".utf8)
        let words = try XCTUnwrap(try JobLine.words(line, lineNumber: 1))
        let result = try runSh(ShellQuote.jobText(command: [], words: words, rawLine: line))
        XCTAssertEqual(String(decoding: result.out, as: UTF8.self), "/HOME-EXPANDED,GLOB-EXPANDED,")
    }

    func testQuotedCommandElementsAreNotInterpreted() throws {
        let result = try runSh(ShellQuote.jobText(command: ["printf", "%s|", "$HOME", "*"], words: [Array("`id`".utf8)], rawLine: []))
        XCTAssertEqual(String(decoding: result.out, as: UTF8.self), "$HOME|*|`id`|")
    }
}

/// Issue 11 item 6: fish reads `\\` and `\'` inside single quotes as escapes; the exec request must not use them.
final class LoginShellQuoteTests: XCTestCase {
    func testBackslashesAndQuotesGoOutsideSingleQuotes() {
        let quote = { (s: String) in String(decoding: ShellQuote.quoteForLoginShell(Array(s.utf8)), as: UTF8.self) }
        XCTAssertEqual(quote("plain"), "plain")
        XCTAssertEqual(quote(""), "''")
        XCTAssertEqual(quote("a b"), "'a b'")
        XCTAssertEqual(quote(#"a\b"#), #"'a'\\'b'"#)
        XCTAssertEqual(quote("it's"), #"'it'\''s'"#)
        XCTAssertEqual(quote(#"\'"#), #"\\\'"#)
        XCTAssertEqual(quote(#"x\"#), #"'x'\\"#)
    }
}
