// Tests for JobLine (input lines and shell words) and JobsFileText (the jobs file's escaping).
import XCTest
@testable import Engine

final class JobLineTests: XCTestCase {
    private func words(_ text: String, line: Int = 1) throws -> [String]? {
        try JobLine.words(Array(text.utf8), lineNumber: line).map { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    private func error(_ text: String, line: Int = 1) -> JobLineError? {
        do {
            _ = try JobLine.words(Array(text.utf8), lineNumber: line)
            return nil
        } catch {
            return error as? JobLineError
        }
    }

    // MARK: - Words

    func testPlainWordsSplitOnSpacesAndTabs() throws {
        XCTAssertEqual(try words("a b\tc"), ["a", "b", "c"])
        XCTAssertEqual(try words("  lead   and trail \t "), ["lead", "and", "trail"])
        XCTAssertEqual(try words("one"), ["one"])
    }

    func testBlankAndCommentOnlyLinesAreNil() throws {
        XCTAssertNil(try words(""))
        XCTAssertNil(try words("   \t  "))
        XCTAssertNil(try words("# a comment"))
        XCTAssertNil(try words("   #indented comment 'with unterminated quote"))
        XCTAssertNil(try words("#"))
    }

    func testHashStartsACommentOnlyAtTheStartOfAnUnquotedWord() throws {
        XCTAssertEqual(try words("a#b"), ["a#b"])
        XCTAssertEqual(try words("a #c"), ["a"])
        XCTAssertEqual(try words("a\t#c d 'e"), ["a"])
        XCTAssertEqual(try words("'#x'"), ["#x"])
        XCTAssertEqual(try words("\"#x\""), ["#x"])
        XCTAssertEqual(try words("\\#x"), ["#x"])
        XCTAssertEqual(try words("''#x"), ["#x"])
        XCTAssertEqual(try words("a# #b"), ["a#"])
    }

    func testSingleQuotesAreLiteral() throws {
        XCTAssertEqual(try words("'a b'"), ["a b"])
        XCTAssertEqual(try words(#"'$HOME \ " ` \n'"#), [#"$HOME \ " ` \n"#])
        XCTAssertEqual(try words("'a'b'c'"), ["abc"])
        XCTAssertEqual(try words("x'  'y"), ["x  y"])
    }

    func testDoubleQuotesEscapeOnlyDollarBackquoteQuoteBackslash() throws {
        XCTAssertEqual(try words(#""a b""#), ["a b"])
        XCTAssertEqual(try words(#""\$ \` \" \\""#), [#"$ ` " \"#])
        // Any other backslash is kept with the byte after it.
        XCTAssertEqual(try words(#""\n \a \'""#), [#"\n \a \'"#])
        XCTAssertEqual(try words(#""it's""#), ["it's"])
        XCTAssertEqual(try words(#""$HOME""#), ["$HOME"])
    }

    func testBackslashOutsideQuotesEscapesTheNextByte() throws {
        XCTAssertEqual(try words(#"a\ b"#), ["a b"])
        XCTAssertEqual(try words(#"\'"#), ["'"])
        XCTAssertEqual(try words(#"\""#), ["\""])
        XCTAssertEqual(try words(#"\\"#), ["\\"])
        XCTAssertEqual(try words(#"\n"#), ["n"])
        XCTAssertEqual(try words("a\\\tb"), ["a\tb"])
    }

    func testBackslashNewlineIsALineContinuation() throws {
        XCTAssertEqual(try words("a\\\nb"), ["ab"])
        XCTAssertEqual(try words("\"a\\\nb\""), ["ab"])
        XCTAssertEqual(try words("'a\\\nb'"), ["a\\\nb"])
    }

    func testNewlineInsideQuotesIsData() throws {
        XCTAssertEqual(try words("'a\nb' \"c\nd\""), ["a\nb", "c\nd"])
        XCTAssertEqual(try words("a\nb"), ["a", "b"])
    }

    func testEmptyQuotesMakeEmptyWords() throws {
        XCTAssertEqual(try words("''"), [""])
        XCTAssertEqual(try words(#""""#), [""])
        XCTAssertEqual(try words("a '' b \"\""), ["a", "", "b", ""])
    }

    func testShellOperatorsAndExpansionsAreOrdinaryBytes() throws {
        XCTAssertEqual(try words("a;b | c && $(id) `id` * > out"),
                       ["a;b", "|", "c", "&&", "$(id)", "`id`", "*", ">", "out"])
        XCTAssertEqual(try words("~ ${HOME} {a,b} !x"), ["~", "${HOME}", "{a,b}", "!x"])
    }

    func testUnterminatedQuotesThrowNamingTheLine() {
        XCTAssertEqual(error("echo 'abc", line: 7), JobLineError(line: 7, message: "unterminated single quote"))
        XCTAssertEqual(error("echo \"abc", line: 3), JobLineError(line: 3, message: "unterminated double quote"))
        XCTAssertEqual(error("echo \"abc\\\"", line: 2)?.message, "unterminated double quote")
        XCTAssertEqual(error("'", line: 1)?.message, "unterminated single quote")
        XCTAssertEqual(error("\"it's", line: 1)?.message, "unterminated double quote")
        XCTAssertEqual(error("a 'b' 'c", line: 9)?.line, 9)
    }

    func testTrailingLoneBackslashThrows() {
        XCTAssertEqual(error("echo a\\", line: 4), JobLineError(line: 4, message: "trailing backslash"))
        XCTAssertNil(error("echo a\\\\"))
    }

    func testErrorDescription() {
        XCTAssertEqual(JobLineError(line: 7, message: "unterminated single quote").description,
                       "line 7: unterminated single quote")
        XCTAssertEqual("\(JobLineError(line: 12, message: "trailing backslash"))", "line 12: trailing backslash")
    }

    func testNonUTF8BytesSurviveUnchanged() throws {
        let line: [UInt8] = [0xff, 0xfe, 0x20, 0x27, 0xc3, 0x28, 0x20, 0x80, 0x27, 0x20, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5c, 0xfe]
        // ff fe ␠ '  c3 ( ␠ 80 ' ␠ " ed a0 80 " \ fe
        let result = try XCTUnwrap(try JobLine.words(line, lineNumber: 1))
        XCTAssertEqual(result, [[0xff, 0xfe], [0xc3, 0x28, 0x20, 0x80], [0xed, 0xa0, 0x80, 0xfe]])
    }

    func testEveryByteOutsideTheSyntaxIsKept() throws {
        // Bytes 1...255 other than the few the splitter interprets form one word, unchanged.
        let special: Set<UInt8> = Array(" \t\n#\\'\"".utf8).reduce(into: []) { $0.insert($1) }
        let word = (1...255).map(UInt8.init).filter { !special.contains($0) }
        XCTAssertEqual(try JobLine.words(word, lineNumber: 1), [word])
        XCTAssertEqual(try JobLine.words(ShellQuote.quote(word), lineNumber: 1), [word])
    }

    func testQuotedWordsSplitBackToTheSameBytes() throws {
        // quote() output is shell text, so splitting it must give the word back: the two agree.
        let hostile: [[UInt8]] = [
            [], Array("it's".utf8), Array("a b\tc".utf8), Array("$(id)`x`;|&*?[]~#".utf8),
            Array("\\\"'".utf8), Array("line1\nline2".utf8), [0xff, 0xfe, 0x27, 0x80],
        ]
        for word in hostile {
            XCTAssertEqual(try JobLine.words(ShellQuote.quote(word), lineNumber: 1), [word], "\(word)")
        }
        let line = Array(hostile.map(ShellQuote.quote).joined(separator: [0x20]))
        XCTAssertEqual(try JobLine.words(line, lineNumber: 1), hostile)
    }

    // MARK: - Lines

    private func lines(_ text: String) -> [(Int, String)] {
        JobLine.lines(Array(text.utf8)).map { ($0.number, String(decoding: $0.bytes, as: UTF8.self)) }
    }

    func testLinesSplitOnNewlineAndNumberFromOne() {
        let result = lines("a\nb\n\nc\n")
        XCTAssertEqual(result.map(\.0), [1, 2, 3, 4])
        XCTAssertEqual(result.map(\.1), ["a", "b", "", "c"])
    }

    func testFinalLineWithoutNewlineCounts() {
        XCTAssertEqual(lines("a\nb").map(\.1), ["a", "b"])
        XCTAssertEqual(lines("only").map(\.1), ["only"])
    }

    func testEmptyInputHasNoLines() {
        XCTAssertTrue(JobLine.lines([]).isEmpty)
        XCTAssertEqual(lines("\n").map(\.1), [""])
    }

    func testOneTrailingCarriageReturnIsStripped() {
        XCTAssertEqual(lines("a\r\nb\r\nc\r").map(\.1), ["a", "b", "c"])
        XCTAssertEqual(lines("a\r\r\n").map(\.1), ["a\r"])
        XCTAssertEqual(lines("a\rb\n").map(\.1), ["a\rb"])
    }

    func testLinesKeepNonUTF8Bytes() {
        let input: [UInt8] = [0xff, 0x0a, 0xfe, 0x80, 0x0d, 0x0a, 0xc3]
        let result = JobLine.lines(input)
        XCTAssertEqual(result.map(\.number), [1, 2, 3])
        XCTAssertEqual(result.map(\.bytes), [[0xff], [0xfe, 0x80], [0xc3]])
    }

    func testLineNumbersReachErrors() {
        let input = Array("ok\n# comment\n\nbad 'quote\n".utf8)
        var failures: [JobLineError] = []
        var jobs: [[[UInt8]]] = []
        for line in JobLine.lines(input) {
            do {
                if let words = try JobLine.words(line.bytes, lineNumber: line.number) { jobs.append(words) }
            } catch let error as JobLineError {
                failures.append(error)
            } catch {
                XCTFail("unexpected \(error)")
            }
        }
        XCTAssertEqual(jobs, [[Array("ok".utf8)]])
        XCTAssertEqual(failures.map(\.description), ["line 4: unterminated single quote"])
    }

    // MARK: - Jobs file text

    func testJobsFileEscape() {
        func escape(_ text: String) -> String { String(decoding: JobsFileText.escape(Array(text.utf8)), as: UTF8.self) }
        XCTAssertEqual(escape("plain job"), "plain job")
        XCTAssertEqual(escape("a\tb"), #"a\tb"#)
        XCTAssertEqual(escape("a\nb"), #"a\nb"#)
        XCTAssertEqual(escape(#"a\b"#), #"a\\b"#)
        XCTAssertEqual(escape(#"\n"#), #"\\n"#)
        XCTAssertEqual(escape("\t\n\\"), #"\t\n\\"#)
        XCTAssertEqual(escape(""), "")
    }

    func testJobsFileEscapedTextHasNoTabOrNewline() {
        let job: [UInt8] = [0x09, 0x0a, 0x5c, 0xff, 0x0d, 0x00, 0x5c, 0x6e]
        let escaped = JobsFileText.escape(job)
        XCTAssertFalse(escaped.contains(0x09))
        XCTAssertFalse(escaped.contains(0x0a))
        XCTAssertEqual(escaped, Array(#"\t\n\\"#.utf8) + [0xff, 0x0d, 0x00] + Array(#"\\n"#.utf8))
    }

    func testJobsFileUnescapeReversesEscape() {
        let samples: [[UInt8]] = [
            [], Array("a\tb\nc\\d".utf8), Array(#"\\n\t\\\"#.utf8), [0xff, 0x5c, 0x5c, 0x6e, 0x09],
            Array((0...255).map(UInt8.init)),
        ]
        for sample in samples {
            XCTAssertEqual(JobsFileText.unescape(JobsFileText.escape(sample)), sample)
        }
        // Text not made by escape() is read as written.
        XCTAssertEqual(JobsFileText.unescape(Array(#"a\xb\"#.utf8)), Array(#"a\xb\"#.utf8))
    }
}
