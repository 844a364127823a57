// Tests for OutputFilter: progress-bar lines keep their last state, whatever the chunking.
import XCTest
@testable import Engine

final class OutputFilterTests: XCTestCase {
    /// Feeds `chunks` then finishes, returning everything written.
    private func run(_ chunks: [[UInt8]], maxLine: Int = 65536) -> [UInt8] {
        var filter = OutputFilter(maxLine: maxLine)
        var out: [UInt8] = []
        for chunk in chunks { out += filter.feed(chunk) }
        return out + filter.finish()
    }

    private func filtered(_ text: String, maxLine: Int = 65536) -> String {
        String(decoding: run([Array(text.utf8)], maxLine: maxLine), as: UTF8.self)
    }

    // MARK: - Whole input

    func testOverwrittenLineKeepsItsLastState() {
        XCTAssertEqual(filtered("10%\r20%\r30%\n"), "30%\n")
        XCTAssertEqual(filtered("start\n10%\r20%\r100%\ndone\n"), "start\n100%\ndone\n")
        XCTAssertEqual(filtered("\rx\n"), "x\n")
        XCTAssertEqual(filtered("long state\rshort\n"), "short\n")
    }

    func testCRLFIsANewline() {
        XCTAssertEqual(filtered("a\r\nb\r\n"), "a\nb\n")
        XCTAssertEqual(filtered("\r\n"), "\n")
        XCTAssertEqual(filtered("10%\r100%\r\n"), "100%\n")
    }

    func testLineEndingInCarriageReturnsIsKept() {
        // The original lost these: a line ending in \r is its own last state.
        XCTAssertEqual(filtered("abc\r\r\n"), "abc\n")
        XCTAssertEqual(filtered("abc\r"), "abc")
        XCTAssertEqual(filtered("abc\r\r\r"), "abc")
        XCTAssertEqual(filtered("a\nb\r"), "a\nb")
    }

    func testPartialLastLineIsFlushedAtFinish() {
        XCTAssertEqual(filtered("a\nrest"), "a\nrest")
        XCTAssertEqual(filtered("a\n10%\r20%"), "a\n20%")
        XCTAssertEqual(filtered(""), "")
    }

    func testBlankLinesAndPlainTextPassUnchanged() {
        let text = "one\n\ntwo  spaces\ttab\n\n\nend\n"
        XCTAssertEqual(filtered(text), text)
    }

    func testFeedReturnsOnlyCompleteLines() {
        var filter = OutputFilter()
        XCTAssertEqual(filter.feed(Array("abc".utf8)), [])
        XCTAssertEqual(filter.feed(Array("\r".utf8)), [])
        XCTAssertEqual(filter.feed(Array("\n".utf8)), Array("abc\n".utf8))
        XCTAssertEqual(filter.feed(Array("x\ny".utf8)), Array("x\n".utf8))
        XCTAssertEqual(filter.finish(), Array("y".utf8))
    }

    func testFinishResetsTheFilter() {
        var filter = OutputFilter()
        _ = filter.feed(Array("partial\r".utf8))
        XCTAssertEqual(filter.finish(), Array("partial".utf8))
        XCTAssertEqual(filter.finish(), [])
        XCTAssertEqual(filter.feed(Array("x\n".utf8)), Array("x\n".utf8))
    }

    func testNonUTF8BytesSurvive() {
        let input: [UInt8] = [0xff, 0xfe, 0x0d, 0x80, 0xc3, 0x0a, 0x00, 0xed, 0xa0, 0x0d, 0x0a]
        XCTAssertEqual(run([input]), [0x80, 0xc3, 0x0a, 0x00, 0xed, 0xa0, 0x0a])
    }

    // MARK: - Long lines

    func testLineLongerThanMaxLineIsFlushedAsIs() {
        XCTAssertEqual(filtered("abcdefghij\nk\n", maxLine: 4), "abcdefghij\nk\n")
        var filter = OutputFilter(maxLine: 4)
        XCTAssertEqual(filter.feed(Array("abcdefghij".utf8)), Array("abcdefgh".utf8))
        XCTAssertEqual(filter.finish(), Array("ij".utf8))
    }

    func testOverwrittenLongLineStaysWholeOnItsOwnLine() {
        XCTAssertEqual(filtered("abcdef\rxy\n", maxLine: 4), "abcdef\nxy\n")
        XCTAssertEqual(filtered("abcd\r\rxy\n", maxLine: 4), "abcd\nxy\n")
        XCTAssertEqual(filtered("abcdef\r\n", maxLine: 4), "abcdef\n")
        // Short progress states never reach maxLine, however many there are.
        XCTAssertEqual(filtered("1%\r2%\r3%\r4%\r5%\n", maxLine: 4), "5%\n")
    }

    func testMemoryStaysBoundedWithoutNewlines() {
        var filter = OutputFilter(maxLine: 1000)
        var written = 0
        for _ in 0..<100 { written += filter.feed([UInt8](repeating: 0x61, count: 999)).count }
        written += filter.finish().count
        XCTAssertEqual(written, 99_900)
    }

    // MARK: - Chunking never matters

    private let samples: [String] = [
        "10%\r20%\r30%\n",
        "a\r\nb\r\n\r\nc",
        "abc\r\r\ndef\r",
        "\r\r\n\n\rx\ry\r\n",
        "progress 1/3\rprogress 2/3\rprogress 3/3\r\ndone\npartial\rlast",
        "abcdefgh\rij\r\nklmnop\n",
    ]

    private func assertEverySplitMatches(_ input: [UInt8], maxLine: Int, file: StaticString = #filePath, line: UInt = #line) {
        let whole = run([input], maxLine: maxLine)
        let n = input.count
        for i in 0...n {
            let two = run([Array(input[..<i]), Array(input[i...])], maxLine: maxLine)
            XCTAssertEqual(two, whole, "split at \(i) of \(input)", file: file, line: line)
            for j in i...n {
                let three = run([Array(input[..<i]), Array(input[i..<j]), Array(input[j...])], maxLine: maxLine)
                XCTAssertEqual(three, whole, "split at \(i), \(j) of \(input)", file: file, line: line)
            }
        }
        XCTAssertEqual(run(input.map { [$0] }, maxLine: maxLine), whole, "byte by byte", file: file, line: line)
    }

    func testEverySplitIntoTwoAndThreeChunksGivesTheWholeResult() {
        for sample in samples {
            assertEverySplitMatches(Array(sample.utf8), maxLine: 65536)
        }
    }

    func testEverySplitWithASmallMaxLineGivesTheWholeResult() {
        for sample in samples {
            for maxLine in [1, 2, 3, 5] {
                assertEverySplitMatches(Array(sample.utf8), maxLine: maxLine)
            }
        }
    }

    func testEverySplitOfNonUTF8Input() {
        assertEverySplitMatches([0xff, 0x0d, 0xfe, 0x0d, 0x0a, 0x80, 0x0d, 0x0d, 0x0a, 0xc3], maxLine: 65536)
    }

    func testSplitBetweenCarriageReturnAndNewline() {
        XCTAssertEqual(run([Array("50%\r100%\r".utf8), Array("\nnext\n".utf8)]), Array("100%\nnext\n".utf8))
        XCTAssertEqual(run([Array("abc\r".utf8), Array("\n".utf8)]), Array("abc\n".utf8))
    }
}
