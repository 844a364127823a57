// Issue 10, part 3, "a full disk is a silent lie": the sessions folder on a small tmpfs fills mid-run. The run
// must stop with exit 1 and one line naming the file, print no result whose end record is not durable, and a
// resume after space is freed must finish the batch with every job ended exactly once.
import Foundation
import XCTest

final class DiskFullTests: IntegrationCase {
    private var mounted = false

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard getuid() == 0 else { throw HarnessError(message: "mounting a tmpfs needs root (scripts/test runs as root)") }
        try FileManager.default.createDirectory(atPath: sessions, withIntermediateDirectories: true)
        // Room for the journaled jobs and about half of their ends: the disk fills mid-run.
        guard shell("mount -t tmpfs -o size=600k,mode=700 tmpfs '\(sessions)'") == 0 else {
            throw HarnessError(message: "cannot mount a tmpfs on \(sessions)")
        }
        mounted = true
    }

    override func tearDownWithError() throws {
        if mounted { shell("umount -l '\(sessions)'"); mounted = false }
        try super.tearDownWithError()
    }

    /// For each job, its end records' exits (nil for an end without one) in the journal as it is now.
    private func ends(_ id: Int) -> [Int: [Int?]] {
        var ends: [Int: [Int?]] = [:]
        for line in sessionFile(id, "journal").split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let job = object["end"] as? Int else { continue }
            ends[job, default: []].append(object["exit"] as? Int)
        }
        return ends
    }

    func testFullDiskStopsTheBatchAndResumeFinishesIt() throws {
        let count = 2000
        let lines = (1...count).map { "echo job-\($0)" }
        let first = try cloudtask(["--slots=2"], lines: lines, timeout: 60)
        XCTAssertEqual(first.status, 1, "a run whose session files could not be written must fail: \(first.stderr.suffix(800))")
        let pattern = #"(?m)^cloudtask: \#(sessions)/1/(journal|jobs|log|workers/\d+|spool): No space left on device; the session is saved up to job (\d+); free space and run cloudtask --resume=1$"#
        let regex = try NSRegularExpression(pattern: pattern)
        let matches = regex.matches(in: first.stderr, range: NSRange(first.stderr.startIndex..., in: first.stderr))
        XCTAssertEqual(matches.count, 1, "one line naming the file and the error: \(first.stderr.suffix(800))")
        let savedUpTo = matches.first.flatMap { Range($0.range(at: 2), in: first.stderr) }.flatMap { Int(first.stderr[$0]) } ?? -1

        // Run 1's printed results against the journal as run 1 left it.
        let afterFirst = ends(1)
        let printed = first.out.split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(printed.count, 0, "the disk should fill mid-run, not before the first job")
        XCTAssertLessThan(printed.count, count, "the disk should fill mid-run: make the tmpfs smaller")
        XCTAssertEqual(Set(printed).count, printed.count, "a job's output printed twice")
        for line in printed {
            guard line.hasPrefix("job-"), let job = Int(line.dropFirst(4)) else { XCTFail("unexpected output line \(line)"); continue }
            XCTAssertEqual(afterFirst[job], [0], "job \(job) was printed without a durable end record")
        }
        XCTAssertGreaterThanOrEqual(savedUpTo, 0)
        for job in stride(from: 1, through: savedUpTo, by: 1) where afterFirst[job] != [0] {
            XCTFail("the line says saved up to job \(savedUpTo), but job \(job) has no durable end"); break
        }
        XCTAssertFalse(first.stderr.contains("\(count) OK"), "the summary claims every job")

        XCTAssertEqual(shell("mount -o remount,size=64m '\(sessions)'"), 0)
        let second = try run(base + ["--resume=1", "--force"], timeout: 60)
        XCTAssertEqual(second.status, 0, "resume after space is freed: \(second.stderr.suffix(800))")
        XCTAssertFalse(second.stderr.contains("corrupt"), second.stderr)

        let view = sessionFile(1, "jobs").split(separator: "\n")
        XCTAssertEqual(view.count, count)
        XCTAssertTrue(view.allSatisfy { $0.hasPrefix("EXIT=0\t") }, "every job ends as EXIT=0 in the jobs view")
        let final = ends(1)
        for job in 1...count where final[job] != [0] {
            XCTFail("job \(job): end records \(String(describing: final[job])), expected exactly one with exit 0"); break
        }
        let all = printed + second.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(all.count, count, "every job's output printed exactly once over both runs")
        XCTAssertEqual(Set(all).count, count)
    }
}
