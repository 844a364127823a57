// Jump hosts end to end (issue 11): private workers in a network namespace of the test's own, reached only
// through a jump sshd inside it, bridged to 127.0.1.1:2207 from here (scripts/test-netns).
import Engine
import Foundation
import XCTest

final class JumpHostTests: IntegrationCase {
    private static let script = Env.root + "/scripts/test-netns"
    private static let setting = ["CLOUDTASK_JUMP_N": "7", "CLOUDTASK_JUMP_PORT": "2207"]
    private static let state = "/tmp/cloudtask-test-netns-7"
    private static let jump = "root@127.0.1.1:2207"
    private static let privateWorkers = "127.0.2.1 127.0.2.2"
    private nonisolated(unsafe) static var up = false

    private static func netns(_ verb: String) -> (Int32, String) {
        let environment = ProcessInfo.processInfo.environment.merging(setting) { $1 }
        guard let result = try? Subprocess.run([script, verb], environment: environment, output: .capture, timeout: 60) else {
            return (-1, "cannot run \(script)")
        }
        return (result.status, result.outputText)
    }

    override class func setUp() {
        super.setUp()
        up = netns("up").0 == 0
    }

    override class func tearDown() {
        _ = netns("down")
        super.tearDown()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard Self.up else { throw HarnessError(message: "scripts/test-netns up failed (needs root, ip, socat): run it by hand to see why") }
        let hosts = file(Env.knownHosts) + file(Self.state + "/known_hosts")
        try hosts.write(toFile: knownHosts, atomically: true, encoding: .utf8)
    }

    private var knownHosts: String { home + "/known_hosts" }
    private var options: [String] { ["--ssh-identity=\(Env.key)", "--known-hosts=\(knownHosts)", "--sessions=\(sessions)"] }
    /// Logins the jump sshd has accepted so far.
    private var jumpLogins: Int { file(Self.state + "/jump/sshd.log").components(separatedBy: "Accepted publickey for").count - 1 }
    /// Each job prints its word and the address its sshd was reached on: only the private workers have 127.0.2.x.
    private let job = ["sh", "-c", "echo $0 $(echo $SSH_CONNECTION | cut -d' ' -f3)"]
    private let words = Array("a\nb\nc\nd\n".utf8)

    private func checkPrivateOutput(_ r: Result, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        let lines = r.out.split(separator: "\n").map(String.init).sorted()
        XCTAssertEqual(lines.map { $0.prefix(1) }, ["a", "b", "c", "d"], r.out, file: file, line: line)
        XCTAssertEqual(Set(lines.map { $0.dropFirst(2) }), ["127.0.2.1", "127.0.2.2"], "both private workers ran jobs: \(r.out)",
                       file: file, line: line)
    }

    func testPrivateWorkersRunThroughOneJumpConnection() throws {
        let direct = try run(options + ["--connect-timeout=2", "--workers=127.0.2.1", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(direct.status, 1, direct.stderr)
        XCTAssertTrue(direct.stderr.contains("127.0.2.1: unreachable: "), "not reachable without the jump: \(direct.stderr)")
        let before = jumpLogins
        let r = try run(options + ["--jump=\(Self.jump)", "--workers=\(Self.privateWorkers)"] + job, stdin: words)
        checkPrivateOutput(r)
        XCTAssertEqual(jumpLogins - before, 1, "two workers, one connection to the jump host")
    }

    func testBulkOutputComesThroughWhole() throws {
        // 8 MB of output is many times the tunnel's buffers and the SSH window: back-pressure, not loss.
        let r = try run(options + ["--jump=\(Self.jump)", "--workers=127.0.2.1", "sh", "-c",
                                   "head -c 8000000 /dev/zero | tr '\\0' x; wc -c"],
                        stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.count, 8_000_000 + "0\n".count, r.stderr)
        XCTAssertTrue(r.stdout.prefix(8_000_000).allSatisfy { $0 == UInt8(ascii: "x") })
    }

    func testProxyJumpInSSHConfig() throws {
        try "Host 127.0.2.*\n    ProxyJump \(Self.jump)\n".write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        let before = jumpLogins
        checkPrivateOutput(try run(options + ["--workers=\(Self.privateWorkers)"] + job, stdin: words))
        XCTAssertEqual(jumpLogins - before, 1)
    }

    /// Issue 11: a hop is looked up in ssh_config as ssh does: `bastion` alone has its HostName, Port, User and
    /// IdentityFile there, and no --ssh-identity is given.
    private func writeBastionConfig(_ extra: String = "") throws {
        try """
        Host bastion
            HostName 127.0.1.1
            Port 2207
            User root
            IdentityFile \(Env.key)
        \(extra)
        """.write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
    }

    func testJumpHostFromSSHConfig() throws {
        try writeBastionConfig("Host 127.0.2.*\n    IdentityFile \(Env.key)\n")
        let own = ["--known-hosts=\(knownHosts)", "--sessions=\(sessions)"]
        let before = jumpLogins
        checkPrivateOutput(try run(own + ["--jump=bastion", "--workers=\(Self.privateWorkers)"] + job, stdin: words))
        XCTAssertEqual(jumpLogins - before, 1)
    }

    func testProxyJumpToAnAliasInSSHConfig() throws {
        try writeBastionConfig("Host 127.0.2.*\n    ProxyJump bastion\n")
        checkPrivateOutput(try run(options + ["--workers=\(Self.privateWorkers)"] + job, stdin: words))
    }

    func testProxyJumpLoopIsRefused() throws {
        try writeBastionConfig("    ProxyJump edge\nHost edge\n    ProxyJump bastion\n")
        let r = try run(options + ["--jump=bastion", "--workers=127.0.2.1", "echo"], stdin: words)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.2.1: jump host edge: ProxyJump loops back to bastion"), r.stderr)
    }

    func testChainTunnelsTheSecondHopThroughTheFirst() throws {
        // The second hop is the jump sshd again, at its own address inside the namespace: reachable only through the first.
        let key = file(Self.state + "/jump/ssh_host_ed25519_key.pub").split(separator: " ").prefix(2).joined(separator: " ")
        try (file(knownHosts) + "127.0.0.1 \(key)\n").write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let before = jumpLogins
        checkPrivateOutput(try run(options + ["--jump=\(Self.jump),root@127.0.0.1", "--workers=\(Self.privateWorkers)"] + job,
                                   stdin: words))
        XCTAssertEqual(jumpLogins - before, 2, "one connection per hop, whatever the number of workers")
    }

    func testUnreachableJumpHostNamesItAndLosesNothing() throws {
        let r = try run(options + ["--jump=root@127.0.1.250", "--workers=\(Self.privateWorkers)", "echo"], stdin: words)
        XCTAssertEqual(r.status, 1, r.stderr)
        for worker in ["127.0.2.1", "127.0.2.2"] {
            let line = "\(worker): unreachable: jump host root@127.0.1.250:22: connect: Connection refused"
            XCTAssertEqual(r.stderr.components(separatedBy: line).count - 1, 1, r.stderr)
        }
        XCTAssertFalse(r.stderr.contains("LOST"), r.stderr)
        XCTAssertTrue(r.stderr.contains("4 pending"), "the jobs wait for a --resume: \(r.stderr)")
    }

    func testJumpHostKeyMismatchIsRefusedLikeAWorkers() throws {
        // The jump's name with another host's key (worker 1's).
        let other = file(Env.knownHosts).split(separator: "\n").first { $0.hasPrefix("127.0.1.1 ") }!.split(separator: " ")
        try "[127.0.1.1]:2207 \(other[1]) \(other[2])\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let r = try run(options + ["--jump=\(Self.jump)", "--workers=127.0.2.1", "echo"], stdin: words)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.2.1: unreachable: jump host \(Self.jump): host key mismatch"), r.stderr)
        XCTAssertTrue(r.stderr.contains("ssh-keygen -R '[127.0.1.1]:2207'"), "the fix is named: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("attempt"), "a refusal is not retried: \(r.stderr)")
    }

    func testJumpHostDyingMidRunKillsItsWorkers() throws {
        let before = jumpLogins
        let r = try run(options + ["--jump=\(Self.jump)", "--workers=\(Self.privateWorkers)", "sh", "-c", "sleep 30; echo $0"],
                        stdin: Array("a\nb\n".utf8), timeout: 60) { _ in
            // Once the jump host has let us in and the jobs have had time to start, cut its one connection (the
            // bridge's fork for it).
            self.waitWhile(tries: 200, every: 0.05) { self.jumpLogins == before }
            Thread.sleep(forTimeInterval: 2)
            let bridge = self.file(Self.state + "/socat.pid").trimmingCharacters(in: .whitespacesAndNewlines)
            _ = self.shell("pkill -P \(bridge)")
        }
        XCTAssertEqual(r.status, 1, r.stderr)
        for worker in ["127.0.2.1", "127.0.2.2"] {
            XCTAssertTrue(r.stderr.contains("\(worker): worker died: jump host \(Self.jump): "), r.stderr)
        }
    }


    func testAPoolReachesPrivateWorkersThroughItsJump() throws {
        let r = try run(["-e", """
            local p = workers{"127.0.2.1", "127.0.2.2", jump = "\(Self.jump)", identity = "\(Env.key)", known_hosts = "\(knownHosts)"}
            local r = p:run("echo $SSH_CONNECTION | cut -d' ' -f3")
            io.write(r["127.0.2.1"].output, r["127.0.2.2"].output)
            """], env: ["CLOUDTASK_SESSIONS": sessions], binary: Env.root + "/.build/debug/ctsh")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "127.0.2.1\n127.0.2.2\n")
    }
}
