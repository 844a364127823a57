// ~/.ssh/config through the built cloudtask and real sshd workers: Match blocks, ConnectTimeout and
// --connect-timeout, jump hosts from --jump and ProxyCommand, and what is refused (ProxyCommand forms we do not run).
import Foundation
import XCTest

final class SSHConfigEndToEndTests: IntegrationCase {
    private func writeConfig(_ text: String) throws {
        try text.write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
    }

    func testMatchHostAndUserGiveHostNamePortAndIdentityFile() throws {
        // Line 5 tests originalhost: `host` would see the HostName 127.0.1.2 found above and not reach the exec.
        try writeConfig("""
        Match host fleet-* user root
            HostName 127.0.1.2
            Port 22
            IdentityFile \(Env.key)
        Match originalhost fleet-* exec "false"
            HostName 127.0.1.3
        Match all
            Port 2
        """)
        let r = try run(["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--user=root", "--workers=fleet-a fleet-b",
                         "sh", "-c", "echo $(id -un) ${SSH_CONNECTION##* } $(echo $SSH_CONNECTION | cut -d' ' -f3)"],
                        stdin: Array("x\ny\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root 22 127.0.1.2\nroot 22 127.0.1.2\n")
        let warning = "warning: ~/.ssh/config:5: Match exec is not run by cloudtask: this Match counts as not matching"
        XCTAssertEqual(r.stderr.components(separatedBy: warning).count - 1, 1, "said once for two workers: \(r.stderr)")
        // Without user root the Match does not hold: Match all's Port 2 and no HostName.
        let other = try run(base + ["--user=nobody", "--connect-timeout=2", "--workers=fleet-a", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(other.status, 1, other.stderr)
        XCTAssertTrue(other.stderr.contains("fleet-a: unreachable: "), other.stderr)
    }

    func testConnectTimeoutAgainstAServerThatNeverSpeaks() throws {
        // The kernel completes the TCP handshake into the backlog; nothing ever accepts, so the SSH handshake hangs.
        let (server, port) = try startServer { port in
            ["/usr/bin/python3", "-c",
             "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',\(port)))\ns.listen(64)\ntime.sleep(120)"]
        }
        defer { server.terminate(); server.waitUntilExit() }
        let started = Date()
        let r = try run(base + ["--connect-timeout=1", "--workers=127.0.0.1:\(port)", "echo"], stdin: Array("x\n".utf8), timeout: 60)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("connection timed out after 1 seconds"), r.stderr)
        // Three attempts of 1 s, 1 s and 2 s apart: well under the default 30 s of one attempt.
        XCTAssertLessThan(elapsed, 15, r.stderr)

        // ssh_config's ConnectTimeout applies when --connect-timeout is not given.
        try writeConfig("Host silent\n    HostName 127.0.0.1\n    Port \(port)\n    ConnectTimeout 1\n")
        let fromConfig = try run(base + ["--workers=silent", "echo"], stdin: Array("x\n".utf8), timeout: 60)
        XCTAssertEqual(fromConfig.status, 1, fromConfig.stderr)
        XCTAssertTrue(fromConfig.stderr.contains("silent: unreachable: connection timed out after 1 seconds"), fromConfig.stderr)
    }

    func testProxyCommandThatIsNotSshDashWIsRefused() throws {
        try writeConfig("Host *.lan\n    User me\n\nHost gate\n    HostName 127.0.1.1\n    ProxyCommand nc %h %p\n")
        let r = try run(base + ["--workers=gate", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderr, "cloudtask: --workers: gate: ~/.ssh/config:6: ProxyCommand 'nc %h %p' is not supported: use ProxyJump\n")
    }

    func testJumpHostsFromTheCommandLineAndProxyCommandAreUsed() throws {
        // Nothing listens on 127.0.1.250: the worker is unreachable, and the line names the jump host (JumpHostTests
        // goes through a real one).
        let r = try run(base + ["--jump=admin@127.0.1.250:2222", "--workers=127.0.1.1", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: unreachable: jump host admin@127.0.1.250:2222: connect: Connection refused"),
                      r.stderr)
        try writeConfig("Host gate\n    HostName 127.0.1.1\n    ProxyCommand ssh -q -W %h:%p root@127.0.1.250\n")
        let fromConfig = try run(base + ["--workers=gate", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(fromConfig.status, 1, fromConfig.stderr)
        XCTAssertTrue(fromConfig.stderr.contains("gate: unreachable: jump host root@127.0.1.250:22: connect: Connection refused"),
                      fromConfig.stderr)
        // --jump=none connects directly whatever ssh_config says.
        let direct = try run(base + ["--jump=none", "--workers=gate", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(direct.status, 0, direct.stderr)
        XCTAssertEqual(direct.out, "x\n")
        let bad = try run(base + ["--jump=a,,b", "--workers=127.0.1.1", "echo"], stdin: Array("x\n".utf8))
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--jump=a,,b: empty jump host"), bad.stderr)
    }
}
