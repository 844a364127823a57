// Issue 10, part 3: session files on a full disk. A failed journal append is cut back to the last whole
// record; a failed rewrite of `jobs` keeps the old one; a spool whose spill fails keeps its output; every
// write error carries the file's path. Uses a small tmpfs of its own (root) and /dev/full.
import Foundation
import XCTest
@testable import Engine

final class DiskFaultTests: XCTestCase {
    private var root = ""
    private var mounted = false

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw SetupFailure(message: "mounting a tmpfs needs root (scripts/test runs as root)") }
        root = NSTemporaryDirectory() + "ct-disk-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        guard mount("tmpfs", root, "tmpfs", 0, "size=256k") == 0 else {
            throw SetupFailure(message: "cannot mount a tmpfs on \(root): \(String(cString: strerror(errno)))")
        }
        mounted = true
    }

    override func tearDownWithError() throws {
        if mounted { umount2(root, Int32(MNT_DETACH)); mounted = false }
        if !root.isEmpty { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Fills the tmpfs with `root/filler` until a write fails, then frees `leaving` bytes of it (so the next big
    /// write lands in part, then fails); returns the filler's path (remove it to free the space).
    private func fill(leaving: off_t = 0) throws -> String {
        let path = root + "/filler"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw FileError("cannot open", path) }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 120, count: 512)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        let size = lseek(fd, 0, SEEK_END)
        guard ftruncate(fd, max(0, size - leaving)) == 0 else { throw FileError("cannot truncate", path) }
        return path
    }

    private func newSession() throws -> Session {
        try Session.create(root: root + "/sessions", config: TaskConfig())
    }

    private func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    // MARK: - Journal

    func testFailedAppendIsCutBackToTheLastWholeRecord() throws {
        let session = try newSession()
        let journalPath = session.path + "/journal"
        session.record(.job(JobSpec(number: 1, input: Array("a".utf8), text: Array("echo a".utf8))))
        session.record(.run(at: 1))
        XCTAssertTrue(session.syncJournal())
        let whole = bytes(journalPath)

        let filler = try fill(leaving: 8192)
        // Far more than the 8 KiB left: the append is written in part, then fails with ENOSPC.
        for _ in 0..<2000 { session.record(.end(job: 1, state: .exited(0), seconds: 1, at: 2)) }
        XCTAssertFalse(session.syncJournal())
        XCTAssertTrue(session.journalFailed)
        XCTAssertEqual(session.fault?.path, journalPath)
        XCTAssertEqual(session.fault?.code, ENOSPC)
        XCTAssertTrue(bytes(journalPath) == whole, "the torn append is cut back to the last whole record: \(bytes(journalPath).count) bytes, expected \(whole.count)")

        // Space comes back: nothing more is appended in this process, so no good record can follow a torn one.
        try FileManager.default.removeItem(atPath: filler)
        session.record(.end(job: 1, state: .exited(0), seconds: 1, at: 3))
        XCTAssertFalse(session.syncJournal())
        XCTAssertTrue(bytes(journalPath) == whole, "nothing appended after a failed append")
        session.unlock()

        let (_, _, replay) = try Session.open(root: root + "/sessions", id: session.id)
        XCTAssertEqual(replay.jobs.map(\.state), [.pending], "the job whose end was not durable runs again")
    }

    // MARK: - The jobs view

    func testFailedRewriteKeepsTheOldJobsFile() throws {
        let session = try newSession()
        let jobsPath = session.path + "/jobs"
        session.writeJobs([(.exited(0), Array("echo a".utf8))])
        XCTAssertNil(session.fault)
        let old = bytes(jobsPath)
        XCTAssertEqual(String(decoding: old, as: UTF8.self), "EXIT=0\techo a\n")

        let filler = try fill(leaving: 8192)
        session.writeJobs(Array(repeating: (JobState.pending, Array(String(repeating: "x", count: 1000).utf8)), count: 200))
        XCTAssertEqual(session.fault?.path, jobsPath)
        XCTAssertEqual(session.fault?.code, ENOSPC)
        XCTAssertTrue(bytes(jobsPath) == old, "a short file never replaces jobs: \(bytes(jobsPath).count) bytes")
        XCTAssertFalse(FileManager.default.fileExists(atPath: jobsPath + ".tmp"), "the temp file is removed")
        try FileManager.default.removeItem(atPath: filler)
        session.unlock()
    }

    // MARK: - Logs and spools

    func testLogWriteFailureIsNotedOnceAndTheLogLeftAlone() throws {
        let session = try newSession()
        let filler = try fill(leaving: 4096)
        session.appendLog(String(repeating: "status line\n", count: 2000))
        XCTAssertEqual(session.fault?.path, session.path + "/log")
        let afterFailure = bytes(session.path + "/log")
        try FileManager.default.removeItem(atPath: filler)
        session.appendLog("later\n")
        XCTAssertTrue(bytes(session.path + "/log") == afterFailure, "a failed log takes no more lines")
        XCTAssertFalse(session.journalFailed, "a log failure leaves the journal usable")
        session.unlock()
    }

    func testSpoolKeepsItsOutputWhenTheSpillFails() throws {
        let directory = root + "/spools"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let filler = try fill(leaving: 200 << 10)  // the spill starts, then fails part-way
        defer { try? FileManager.default.removeItem(atPath: filler) }
        var failures: [FileError] = []
        let spool = Spool(directory: directory) { failures.append($0) }
        var expected: [UInt8] = []
        for i in 0..<40 {
            let chunk = [UInt8](repeating: UInt8(65 + i % 26), count: 64 << 10)
            spool.append(chunk)
            expected += chunk
        }
        XCTAssertEqual(failures.count, 1, "the failed spill is reported once")
        var read: [UInt8] = []
        spool.forEachChunk { read += $0 }
        XCTAssertEqual(read.count, expected.count)
        XCTAssertTrue(read == expected, "no output is lost or reordered")
    }

    // MARK: - Writes

    func testWriteErrorsNameTheFile() throws {
        let file = try AppendFile("/dev/full")
        XCTAssertThrowsError(try file.write(Array("x\n".utf8))) { error in
            XCTAssertEqual((error as? FileError)?.code, ENOSPC)
            XCTAssertEqual("\(error)", "cannot write /dev/full: No space left on device")
        }
    }
}

/// A test machine that cannot give what a test needs: thrown from setUp, it fails the test (never skips it).
struct SetupFailure: Error { let message: String }
