// Fleet.copy (pool:put, pool:get, cloudtask-put/-get) over the fake transport: what each worker is asked to
// copy, where a get lands, per-host results and progress, failures that stay per host, and the landing names.
import Foundation
import XCTest
@testable import Engine

final class FleetCopyTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "fleet-copy-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir + "/tree/sub", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 1500).write(to: URL(fileURLWithPath: dir + "/tree/a"))
        try Data("bb".utf8).write(to: URL(fileURLWithPath: dir + "/tree/sub/b"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func endpoints(_ labels: [String]) -> [Endpoint] {
        labels.map { Endpoint(label: $0, host: $0, port: 22, user: "root", identityFiles: []) }
    }

    func fake() -> FakeTransport { FakeTransport(seed: 13, outcomes: .perJob, failPercent: 0) }

    func testPutSendsTheTreeToEveryWorkerWithProgressOverAll() throws {
        let transport = fake()
        transport.copyBytes = 2048  // what the transport sent (a tar stream's headers too), not the files' bytes
        var seen: [FleetCopyProgress] = []
        let results = try Fleet.copy(endpoints(["w1", "w2", "w3", "w4"]), .put(local: dir + "/tree", remote: "/tmp/x"),
                                     config: TaskConfig(), transport: transport) { seen.append($0) }
        XCTAssertEqual(results.map(\.label), ["w1", "w2", "w3", "w4"])
        XCTAssertEqual(results.map(\.error), [nil, nil, nil, nil])
        XCTAssertEqual(results.map(\.files), [2, 2, 2, 2])
        XCTAssertEqual(results.map(\.bytes), [1502, 1502, 1502, 1502], "the files' bytes, whatever the transport counted")
        XCTAssertEqual(results.map(\.via), ["fake", "fake", "fake", "fake"])
        XCTAssertEqual(results.map(\.path), [nil, nil, nil, nil])
        XCTAssertEqual(Set(transport.copies.map(\.worker)), [0, 1, 2, 3])
        for copy in transport.copies {
            XCTAssertEqual(copy.files, FileCopy(direction: .put, items: [.init(local: dir + "/tree", remote: "/tmp/x")],
                                                recursive: true))
        }
        XCTAssertEqual(seen.last, FleetCopyProgress(bytes: 4 * 2048, total: 4 * 1502, done: 4, workers: 4))
        XCTAssertTrue(seen.contains { $0.done < 4 && $0.bytes > 0 }, "copying events feed progress: \(seen)")
        XCTAssertEqual(results[0].line.replacingOccurrences(of: #"in \d+\.\d s"#, with: "in T", options: .regularExpression),
                       "w1: 2 files, 1.5 kB in T (fake)")
        XCTAssertEqual(results[0].summary, "2 files, 1.5 kB (fake)")
    }

    func testPutOfOneFileIntoARemoteFolderKeepsItsName() throws {
        let transport = fake()
        let results = try Fleet.copy(endpoints(["w1"]), .put(local: dir + "/tree/a", remote: "/tmp/in/"),
                                     config: TaskConfig(), transport: transport)
        XCTAssertEqual(results.first?.files, 1)
        XCTAssertEqual(transport.copies.first?.files,
                       FileCopy(direction: .put, items: [.init(local: dir + "/tree/a", remote: "/tmp/in/a")]))
    }

    func testAMissingLocalFileIsAUsageErrorBeforeAnyConnection() {
        let transport = fake()
        XCTAssertThrowsError(try Fleet.copy(endpoints(["w1"]), .put(local: dir + "/nope", remote: "x"),
                                            config: TaskConfig(), transport: transport)) { error in
            XCTAssertEqual((error as? UsageError)?.message, "\(dir)/nope: no such file or folder")
        }
        XCTAssertEqual(transport.connects, [])
    }

    func testGetLandsEachWorkerInAFolderOfItsOwn() throws {
        let transport = fake()
        let labels = ["127.0.1.1", "[::1]:2222", "root@web1", "127.0.1.1"]
        let results = try Fleet.copy(endpoints(labels), .get(remote: "/var/log/app/", localDir: dir + "/out"),
                                     config: TaskConfig(), transport: transport)
        let folders = ["127.0.1.1", "::1_2222", "root@web1", "127.0.1.1_2"].map { dir + "/out/" + $0 }
        XCTAssertEqual(results.map(\.path), folders.map { $0 + "/app" })
        let asked = transport.copies.sorted { $0.worker < $1.worker }.map(\.files)
        XCTAssertEqual(asked, folders.map {
            FileCopy(direction: .get, items: [.init(local: $0 + "/app", remote: "/var/log/app/")], recursive: true)
        })
        for folder in folders { XCTAssertTrue(FileManager.default.fileExists(atPath: folder), folder) }
    }

    func testGetOfTheHomeFolderLandsAsTheWorkersFolder() throws {
        let transport = fake()
        let results = try Fleet.copy(endpoints(["w1"]), .get(remote: ".", localDir: dir + "/out"),
                                     config: TaskConfig(), transport: transport)
        XCTAssertEqual(results.first?.path, dir + "/out/w1")
        XCTAssertEqual(transport.copies.first?.files.items, [.init(local: dir + "/out/w1", remote: ".")])
    }

    func testFailuresStayPerHostAndLeaveNoEmptyLandingFolder() throws {
        let transport = fake()
        transport.unreachable = [1]
        transport.copyFailures = [2: "/etc/app.conf: no such file"]
        let results = try Fleet.copy(endpoints(["w1", "w2", "w3"]), .get(remote: "/etc/app.conf", localDir: dir + "/out"),
                                     config: TaskConfig(), transport: transport)
        XCTAssertEqual(results.map(\.ok), [true, false, false])
        XCTAssertEqual(results[1].error, "fake: connection refused")
        XCTAssertEqual(results[2].line, "w3: error: /etc/app.conf: no such file")
        XCTAssertEqual(results[2].path, nil)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/w1"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/w2"), "an unreachable worker's folder is removed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/w3"))
        XCTAssertEqual(Set(transport.copies.map(\.worker)), [0, 2], "no copy is started on a worker never connected")
    }

    func testAStalledCopyTimesOutAndIsCancelled() throws {
        let transport = fake()
        transport.copyHangs = [1]
        var config = TaskConfig()
        config.timeout = 1
        let started = Date()
        let results = try Fleet.copy(endpoints(["w1", "w2"]), .put(local: dir + "/tree/a", remote: "a"),
                                     config: config, transport: transport)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(results.map(\.error), [nil, "timed out after 1 seconds"])
        XCTAssertEqual(transport.cancelled, [1])
    }

    func testCtrlCStopsTheCopiesUnderWay() throws {
        let transport = fake()
        transport.copyHangs = [0]
        // Runner.interrupts is the process's: the engine tests after this one expect none.
        let before = Runner.interrupts
        defer { Runner.interrupts = before }
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.3)
            Runner.interrupts += 1
        }
        let results = try Fleet.copy(endpoints(["w1"]), .put(local: dir + "/tree/a", remote: "a"),
                                     config: TaskConfig(), transport: transport)
        XCTAssertEqual(results.first?.error, "interrupted")
        XCTAssertEqual(transport.cancelled, [0])
    }

    func testFleetRunStillReportsPerHostThroughTheSharedDriver() throws {
        let transport = fake()
        transport.unreachable = [0]
        let results = try Fleet.run(endpoints(["w1", "w2"]), command: "uname", config: TaskConfig(), environment: [:],
                                    transport: transport)
        XCTAssertEqual(results.map(\.error), ["fake: connection refused", nil])
        XCTAssertEqual(results[1].status, .exited(0))
        XCTAssertEqual(String(decoding: results[1].stdout, as: UTF8.self), "step\n")
    }

    // MARK: - Landing names

    func testLandingNamesAreSafeForAPathAndDistinct() {
        XCTAssertEqual(Fleet.landingNames(["[::1]:2222", "[::1]", "web:2222", "root@web1", "deploy@web1:22"]),
                       ["::1_2222", "::1", "web_2222", "root@web1", "deploy@web1_22"])
        XCTAssertEqual(Fleet.landingNames(["a/b", ".hidden", "..", "", "naïve host"]),
                       ["a_b", "_hidden", "_.", "_", "na_ve_host"])
        XCTAssertEqual(Fleet.landingNames(["web1", "web1", "web1_2", "web1"]), ["web1", "web1_2", "web1_2_2", "web1_3"])
        for name in Fleet.landingNames(["../../etc", "/", "x/../y"]) {
            XCTAssertFalse(name.contains("/") || name.hasPrefix("."), name)
        }
    }

    func testSizesReadAsPeopleReadThem() {
        XCTAssertEqual([0, 999, 1000, 1500, 12_000_000, 999_960, 2_100_000_000].map { FleetCopyResult.size($0) },
                       ["0 B", "999 B", "1.0 kB", "1.5 kB", "12.0 MB", "1.0 MB", "2.1 GB"])
    }
}
