// The HTML report's parts without a session on disk: SessionPicture's folding of journal records (bars, then
// slices past the limit; what an attempt without an end becomes) and the escaping of job bytes.
import Foundation
import XCTest
@testable import Engine
@testable import SessionReading

final class HTMLReportUnitTests: XCTestCase {
    /// `count` attempts of 0.5 s, one after another on two workers, every tenth failed.
    func picture(attempts count: Int) -> SessionPicture {
        var picture = SessionPicture(t0: 0, t1: Double(count), rows: ["a", "b"])
        picture.add(.run(at: 0))
        for n in 1...count {
            let at = Double(n - 1) * 0.5
            picture.add(.start(job: n, worker: n % 2 == 0 ? "a" : "b", attempt: 1, at: at))
            picture.add(.end(job: n, state: n % 10 == 0 ? .exited(1) : .exited(0), seconds: 0.5, at: at + 0.5))
        }
        picture.finish()
        return picture
    }

    func testUpToTheLimitEveryAttemptIsABarAndPastItSlicesHoldThemAll() {
        let few = picture(attempts: SessionPicture.barLimit)
        XCTAssertFalse(few.grouped)
        XCTAssertEqual(few.bars.count, SessionPicture.barLimit)
        XCTAssertEqual(few.bars.filter { $0.outcome == .failed }.count, SessionPicture.barLimit / 10)

        let many = picture(attempts: SessionPicture.barLimit + 1)
        XCTAssertTrue(many.grouped)
        XCTAssertEqual(many.bars.count, 0, "past the limit no attempt is kept")
        XCTAssertEqual(many.attempts, SessionPicture.barLimit + 1)
        let ended = many.ended.map { $0.reduce(0) { $0 + Int($1) } }.reduce(0, +)
        XCTAssertEqual(ended, SessionPicture.barLimit + 1, "every attempt is counted in a slice")
        let busy = many.busy.map { $0.reduce(0) { $0 + Double($1) } }.reduce(0, +)
        XCTAssertEqual(busy, Double(SessionPicture.barLimit + 1) * 0.5, accuracy: 0.5)
        XCTAssertEqual(many.busy[0].count, many.slices * Outcome.allCases.count)
        XCTAssertLessThanOrEqual(many.slices * many.rows.count, SessionPicture.cellBudget)
    }

    func testAttemptsWithoutAnEndSayWhy() {
        var picture = SessionPicture(t0: 0, t1: 100, rows: [])
        picture.add(.run(at: 0))
        picture.add(.start(job: 1, worker: "w1", attempt: 1, at: 1))
        picture.add(.start(job: 2, worker: "w2", attempt: 1, at: 1))
        picture.add(.start(job: 3, worker: "w3", attempt: 1, at: 2))
        picture.add(.end(job: 3, state: .timeout, seconds: 3, at: 5))
        picture.add(.requeue(job: 1, refused: false))   // w1 died at the clock's time, 5
        picture.add(.start(job: 1, worker: "w3", attempt: 1, at: 6))
        picture.add(.end(job: 1, state: .exited(0), seconds: 1, at: 7))
        picture.add(.abort(job: 2))
        picture.add(.run(at: 50))                        // a resume: what ran before it without an end is unfinished
        picture.add(.start(job: 2, worker: "w2", attempt: 1, at: 51))
        picture.finish()                                 // the controller was killed: no stop record
        let outcomes = picture.bars.map { "\(picture.rows[Int($0.row)]) \($0.outcome.name) \($0.note)" }
        XCTAssertEqual(outcomes, ["w3 timeout none", "w1 lost died", "w3 ok none", "w2 unfinished aborted",
                                  "w2 unfinished noEnd"])
        XCTAssertEqual(picture.deaths[picture.rowID("w1")!], [5])
        XCTAssertEqual(picture.bars[1].start, 1)
        XCTAssertEqual(picture.bars[1].end, 5)
        XCTAssertEqual(picture.histogram.map { $0.reduce(0, +) }.reduce(0, +), 2, "only attempts that ended")
    }

    func testJobBytesAreTextOnThePage() {
        XCTAssertEqual(escape(bytes: Array("<script>alert('x')</script> & \"q\"".utf8)),
                       "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        XCTAssertEqual(escape(bytes: [0x61, 0xFF, 0xFE, 0x1B, 0x0A, 0x62]), "a\u{FFFD}\u{FFFD}\\x1b\\nb")
        XCTAssertEqual(escape(bytes: Array(repeating: 0x78, count: 300), limit: 10), "xxxxxxxxxx…")
    }

    func testDurationBinsAreQuarterDecades() {
        XCTAssertEqual(SessionPicture.bin(0), 0)
        XCTAssertEqual(SessionPicture.bin(0.0005), 0)
        XCTAssertEqual(SessionPicture.bin(0.001), 1)
        XCTAssertEqual(SessionPicture.bin(1), 13)
        XCTAssertEqual(SessionPicture.binStart(13), 1, accuracy: 1e-9)
        XCTAssertEqual(SessionPicture.bin(1e9), SessionPicture.bins - 1)
    }
}
