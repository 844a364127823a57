// cloudtask --provider=ec2 end to end against moto: instances launched with tags, jobs run on the loopback
// test workers the test hook maps them to (nothing ever connects to moto's made-up addresses), all terminated
// at the end, and after a SIGKILL by cloudtask-destroy-workers.
import Engine
import Foundation
@testable import Providers
import XCTest

final class EC2EndToEndTests: XCTestCase {
    var moto: Moto!
    var home = ""
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    var testDir: String { ProcessInfo.processInfo.environment["CLOUDTASK_TEST_DIR"] ?? "/tmp/cloudtask-test-workers" }

    override func setUpWithError() throws {
        switch Moto.start() {
        case .success(let started): moto = started
        case .failure(let failure): XCTFail(failure.description); throw failure
        }
        guard FileManager.default.fileExists(atPath: testDir + "/workers") else {
            XCTFail("no test workers in \(testDir): run scripts/test-workers up 5 (scripts/test does)"); return
        }
        home = NSTemporaryDirectory() + "ec2-e2e-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: home) }

    func run(_ binary: String, _ arguments: [String], stdin: String = "", whileRunning: ((Subprocess) -> Void)? = nil) throws -> (out: String, err: String, status: Int32) {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLOUDTASK_") && !$0.key.hasPrefix("AWS_") }.merging([
            "HOME": home, "AWS_ACCESS_KEY_ID": moto.credentials.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey.value,
            "CLOUDTASK_TEST_EC2_ADDRESSES": "127.0.1.1 127.0.1.2", "CLOUDTASK_SESSIONS": home + "/sessions",
        ]) { $1 }
        let process = try Subprocess([root + "/.build/debug/" + binary] + arguments, environment: environment,
                                     input: .bytes(Array(stdin.utf8)), output: .capture, error: .capture)
        nonisolated(unsafe) var result: Subprocess.Result?
        let done = DispatchSemaphore(value: 0)
        Thread { result = process.wait(timeout: 120); done.signal() }.start()
        whileRunning?(process)
        done.wait()
        XCTAssertFalse(result!.timedOut, "\(binary) \(arguments) hung for 120 s and was killed")
        return (result!.outputText, result!.errorText, result!.status)
    }

    var options: [String] {
        ["--provider=ec2", "--ec2-endpoint=\(moto.endpoint)", "--image=\(moto.image)", "--user=root", "--ssh-identity=\(testDir)/id_ed25519", "--split=2"]
    }

    /// States of the instances tagged with session `path`'s tag, from moto.
    func states(_ path: String) throws -> [String] {
        let client = try EC2Client(settings: EC2Settings(endpoint: moto.endpoint, image: moto.image), credentials: moto.credentials)
        let answer = try client.call("DescribeInstances", [("Filter.1.Name", "tag:cloudtask:session"), ("Filter.1.Value.1", ProcessInfo.processInfo.hostName + ":" + path)])
        return answer.all("instancesSet").flatMap { $0.children }.compactMap { $0.child("instanceState")?.child("name")?.text }
    }

    func testLaunchRunAndTerminate() throws {
        let r = try run("cloudtask", options + ["sh", "-c", "echo $0 on $CLOUDTASK_WORKER"], stdin: "1\n2\n3\n4\n")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 4, r.out)
        XCTAssertEqual(r.err.components(separatedBy: ": launched worker i-").count - 1, 2, r.err)
        XCTAssertEqual(r.err.components(separatedBy: ": destroyed worker i-").count - 1, 2, r.err)
        let states = try states(home + "/sessions/1")
        XCTAssertEqual(states.count, 2)
        XCTAssertTrue(states.allSatisfy { $0 == "terminated" || $0 == "shutting-down" }, "\(states)")
        XCTAssertEqual(Ledger(sessionPath: home + "/sessions/1").live(), [])
    }

    func testSIGKILLThenDestroyWorkersTerminatesEverything() throws {
        _ = try run("cloudtask", options + ["sleep"], stdin: "30\n30\n") { process in
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && !((try? String(contentsOfFile: self.home + "/sessions/1/log", encoding: .utf8)) ?? "").contains("launched worker") {
                Thread.sleep(forTimeInterval: 0.05)
            }
            kill(process.processIdentifier, SIGKILL)
        }
        XCTAssertFalse(Ledger(sessionPath: home + "/sessions/1").live().isEmpty, "the killed run left instances")
        // Even with the ledger lost, the instances are found by their session tag and terminated.
        try FileManager.default.removeItem(atPath: home + "/sessions/1/instances")
        let destroyed = try run("cloudtask-destroy-workers", ["--session=1"])
        XCTAssertEqual(destroyed.status, 0, destroyed.err)
        XCTAssertTrue(destroyed.out.contains("session 1: 2 live instance(s) not in the ledger, found by the provider"), destroyed.out + destroyed.err)
        XCTAssertEqual(Ledger(sessionPath: home + "/sessions/1").live(), [])
        XCTAssertTrue(try states(home + "/sessions/1").allSatisfy { $0 == "terminated" || $0 == "shutting-down" })
    }

    func testCtshLaunchesAnEC2PoolRunsOnItAndDestroysIt() throws {
        let chunk = """
            p = workers{launch = 2, provider = 'ec2', image = '\(moto.image)', ec2_endpoint = '\(moto.endpoint)',
                        user = 'root', identity = '\(testDir)/id_ed25519'}
            print(#p)
            r = p:run('echo hi')
            for _, host in ipairs(p.hosts) do print(r[host].exit, r[host].output) end
            print(p:destroy())
            """
        let r = try run("ctsh", ["-e", chunk])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "2\n0\thi\n\n0\thi\n\ntrue\n", r.err)
        let states = try states(home + "/sessions/1")
        XCTAssertEqual(states.count, 2)
        XCTAssertTrue(states.allSatisfy { $0 == "terminated" || $0 == "shutting-down" }, "\(states)")
        XCTAssertEqual(Ledger(sessionPath: home + "/sessions/1").live(), [])
    }
}
