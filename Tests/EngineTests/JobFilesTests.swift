// Jobs that move files (--transfer, --return, --cleanup), through the fake transport: the order of their steps,
// where the files go, and that a job's end is journaled only after its returns landed.
import Foundation
import XCTest
@testable import Engine

final class JobFilesTests: XCTestCase {
    private func run(_ inputs: [String], failPercent: Int = 0, configure: (inout TaskConfig) -> Void)
        throws -> (FakeTransport, String, [String]) {
        let root = RecoveryPropertyTests.tempRoot("ct-files")
        var config = TaskConfig()
        config.command = ["gzip", "-k"]
        config.localDirectory = "/here"
        configure(&config)
        let session = try Session.create(root: root, config: config)
        let specs = inputs.enumerated().map { index, input in
            JobSpec(number: index + 1, input: Array(input.utf8), text: Array("gzip -k \(input)".utf8))
        }
        let transport = FakeTransport(seed: 5, outcomes: .perJob, failPercent: failPercent)
        var endsSeenAtReturn: [String] = []
        transport.onCopy = { files in
            guard files.direction == .get else { return }
            // The job whose results these are: its folder is /fake/work/N-OP.
            guard let remote = files.items.first?.remote,
                  let number = remote.split(separator: "/").dropFirst(2).first?.split(separator: "-").first else { return }
            let journal = (try? String(contentsOfFile: session.path + "/journal", encoding: .utf8)) ?? ""
            endsSeenAtReturn += journal.split(separator: "\n").filter { $0.hasPrefix("{\"end\":\(number),") }.map(String.init)
        }
        RecoveryPropertyTests.quietly(true) {
            _ = Runner(config: config, jobs: specs, endpoints: [RecoveryPropertyTests.endpoint(0)], split: 1,
                       transport: transport, session: session).run()
        }
        return (transport, root, endsSeenAtReturn)
    }

    func testEachJobPutsRunsInItsFolderReturnsThenCleans() throws {
        let (transport, root, ends) = try run(["a.bin", "sub/b.bin", "/data/c.bin"]) { config in
            config.transfer = true
            config.returns = ["{}.gz"]
            config.cleanup = true
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertEqual(ends, [], "a job's end was journaled before its returns were fetched")
        let puts = transport.copies.filter { $0.files.direction == .put }.map(\.files)
        let gets = transport.copies.filter { $0.files.direction == .get }.map(\.files)
        XCTAssertEqual(puts.count, 3)
        XCTAssertEqual(gets.count, 3)
        for (index, (input, place)) in [("a.bin", "a.bin"), ("sub/b.bin", "sub/b.bin"), ("/data/c.bin", "data/c.bin")].enumerated() {
            let folder = try XCTUnwrap(puts[index].folder)
            XCTAssertTrue(folder.hasPrefix("/fake/work/\(index + 1)-"), folder)
            let local = input.hasPrefix("/") ? input : "/here/" + input
            XCTAssertEqual(puts[index].items, [FileCopy.Item(local: local, remote: folder + "/" + place)])
            XCTAssertEqual(gets[index].items, [FileCopy.Item(local: local + ".gz", remote: folder + "/" + place + ".gz")])
            XCTAssertFalse(gets[index].missingOK)
        }
        let scripts = transport.ran.map { String(decoding: $0.command.script, as: UTF8.self) }
        let jobs = transport.ran.filter { $0.job != nil }.map { String(decoding: $0.command.script, as: UTF8.self) }
        XCTAssertEqual(jobs.count, 3)
        for (index, script) in jobs.enumerated() {
            XCTAssertTrue(script.hasPrefix("cd \(puts[index].folder!) || exit 1\ngzip -k "), script)
        }
        XCTAssertEqual(scripts.filter { $0.hasPrefix("rm -rf /fake/work/") }.count, 3, "\(scripts)")
        XCTAssertTrue(scripts.contains { $0.hasPrefix("rmdir /fake/work") }, "the session folder is not removed: \(scripts)")
        XCTAssertTrue(transport.ran.filter { $0.job != nil }.allSatisfy { $0.command.slot == nil }, "files jobs pipelined")
        let journal = try String(contentsOfFile: root + "/1/journal", encoding: .utf8)
        XCTAssertEqual(journal.components(separatedBy: "\"exit\":0").count - 1, 3, journal)
    }

    func testReturnDirAndAFailedJobsReturnsAreOptional() throws {
        let (transport, root, _) = try run(["x.txt"], failPercent: 100) { config in
            config.returns = ["{}.out", "log-{}"]
            config.returnDir = "/results"
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertTrue(transport.copies.filter { $0.files.direction == .put }.allSatisfy { $0.files.items.isEmpty },
                      "nothing to transfer without --transfer")
        let gets = transport.copies.filter { $0.files.direction == .get }.map(\.files)
        XCTAssertEqual(gets.count, 1)
        XCTAssertTrue(gets[0].missingOK, "a failed job's missing results are not a second failure")
        XCTAssertEqual(gets[0].items.map(\.local), ["/results/x.txt.out", "/results/log-x.txt"])
        XCTAssertFalse(transport.ran.contains { String(decoding: $0.command.script, as: UTF8.self).hasPrefix("rm -rf") },
                       "no --cleanup, yet the folder was removed")
    }

    func testAReturnWithoutAReplacementStringIsRefused() {
        var config = TaskConfig()
        config.returns = ["out.txt"]
        XCTAssertThrowsError(try JobFileNames.check(config, JobRecipe(config))) { error in
            XCTAssertTrue("\(error)".contains("--return=out.txt: every job would return the same file"), "\(error)")
        }
    }

    func testPlaceKeepsRelativePathsAndDropsRootAndParents() {
        XCTAssertEqual(JobFileNames.place("a/b.bin"), "a/b.bin")
        XCTAssertEqual(JobFileNames.place("./a//b.bin"), "a/b.bin")
        XCTAssertEqual(JobFileNames.place("/data/c.bin"), "data/c.bin")
        XCTAssertEqual(JobFileNames.place("../../up/d.bin"), "up/d.bin")
        XCTAssertEqual(JobFileNames.place("x/../y"), "y")
    }
}
