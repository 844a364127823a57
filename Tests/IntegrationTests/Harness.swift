// Runs the built executables against the real loopback sshd workers of scripts/test-workers,
// each test in a fresh temp folder used as HOME and sessions root.
import Engine
import Foundation
import XCTest

struct Result {
    let stdout: [UInt8]
    let stderr: String
    let status: Int32
    var out: String { String(decoding: stdout, as: UTF8.self) }
}

enum Env {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let environment = ProcessInfo.processInfo.environment
    static var binary: String { environment["CLOUDTASK_BIN"] ?? root + "/.build/debug/cloudtask" }
    static var dir: String { environment["CLOUDTASK_TEST_DIR"] ?? "/tmp/cloudtask-test-workers" }
    static var key: String { environment["CLOUDTASK_TEST_KEY"] ?? dir + "/id_ed25519" }
    static var knownHosts: String { environment["CLOUDTASK_TEST_KNOWN_HOSTS"] ?? dir + "/known_hosts" }
}

/// A failure of the harness itself (a server that never came up); thrown, it fails the test.
struct HarnessError: Error { let message: String }

/// A child's result, filled by the thread that waits for it and read after that thread signals.
final class Finished: @unchecked Sendable { var result: Subprocess.Result? }

/// Ends the whole test run when one test outlives `limit` seconds: every helper here has its own timeout,
/// so this only fires on a hang nobody foresaw, and it names the test instead of leaving CI to time out.
final class Watchdog: @unchecked Sendable {
    static let shared = Watchdog()
    let limit = 300.0
    private let lock = NSLock()
    private var generation = 0

    func arm(_ test: String) {
        lock.lock(); generation += 1; let mine = generation; lock.unlock()
        DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
            self.lock.lock(); let current = self.generation == mine; self.lock.unlock()
            guard current else { return }
            FileHandle.standardError.write(Data("watchdog: \(test) still running after \(Int(self.limit)) s; ending the test run\n".utf8))
            exit(1)
        }
    }

    func disarm() { lock.lock(); generation += 1; lock.unlock() }
}

class IntegrationCase: XCTestCase {
    var home = ""
    var sessions: String { home + "/sessions" }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Env.binary) else {
            XCTFail("no cloudtask binary at \(Env.binary): run scripts/test (it builds first)"); return
        }
        guard FileManager.default.fileExists(atPath: Env.dir + "/workers") else {
            XCTFail("no test workers in \(Env.dir): run scripts/test-workers up 5 (scripts/test does)"); return
        }
        home = NSTemporaryDirectory() + "ct-it-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        Watchdog.shared.arm(name)
    }

    override func tearDownWithError() throws {
        Watchdog.shared.disarm()
        if !home.isEmpty { try? FileManager.default.removeItem(atPath: home) }
    }

    /// The options every run gets: the test key, the workers' known_hosts, this test's sessions.
    var base: [String] { ["--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)"] }

    @discardableResult
    func run(_ arguments: [String], stdin: [UInt8] = [], env: [String: String] = [:], timeout: Double = 120,
             binary: String = Env.binary, directory: String? = nil, whileRunning: ((Subprocess) -> Void)? = nil) throws -> Result {
        var environment = Env.environment.filter { !$0.key.hasPrefix("CLOUDTASK_") && $0.key != "SSH_AUTH_SOCK" }
        environment["HOME"] = home
        for (k, v) in env { environment[k] = v }
        let process = try Subprocess([binary] + arguments, environment: environment, directory: directory, input: .bytes(stdin),
                                     output: .capture, error: .capture)
        let finished = Finished()
        let done = DispatchSemaphore(value: 0)
        Thread { finished.result = process.wait(timeout: timeout); done.signal() }.start()
        whileRunning?(process)
        done.wait()
        let result = finished.result!
        if result.timedOut { XCTFail("\(binary) \(arguments) hung for \(timeout) s and was killed") }
        return Result(stdout: result.output, stderr: result.errorText, status: result.status)
    }

    /// cloudtask with the base options, `workers`, then `arguments`, jobs as lines.
    @discardableResult
    func cloudtask(_ arguments: [String], workers: String = "127.0.1.1 127.0.1.2", lines: [String], env: [String: String] = [:],
                   timeout: Double = 120, whileRunning: ((Subprocess) -> Void)? = nil) throws -> Result {
        try run(base + ["--workers=\(workers)"] + arguments, stdin: Array(lines.map { $0 + "\n" }.joined().utf8), env: env,
                timeout: timeout, whileRunning: whileRunning)
    }

    func file(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func sessionFile(_ id: Int, _ name: String) -> String { file("\(sessions)/\(id)/\(name)") }

    /// What `argv` prints on stdout given `stdin` ("" if it cannot run; a hang is a failure after 30 s).
    func output(_ argv: [String], stdin: [UInt8] = []) -> String {
        guard let result = try? Subprocess.run(argv, input: .bytes(stdin), output: .capture, timeout: 30) else { return "" }
        if result.timedOut { XCTFail("\(argv) hung for 30 s and was killed") }
        return result.outputText
    }

    /// Processes on this machine (the workers are local) whose command line contains `marker`.
    func remoteProcesses(_ marker: String) -> [String] {
        output(["/usr/bin/pgrep", "-af", marker]).split(separator: "\n").map(String.init).filter { !$0.contains("pgrep") }
    }

    /// Polls until `condition` is false, at most `tries` times.
    func waitWhile(tries: Int, every seconds: Double, _ condition: () -> Bool) {
        var left = tries
        while left > 0 && condition() { Thread.sleep(forTimeInterval: seconds); left -= 1 }
    }

    /// Runs a shell command with this test's HOME; returns its exit status.
    @discardableResult
    func shell(_ command: String, timeout: Double = 60) -> Int32 {
        let environment = ProcessInfo.processInfo.environment.merging(["HOME": home]) { $1 }
        guard let result = try? Subprocess.run(["/bin/sh", "-c", command], environment: environment, timeout: timeout) else { return -1 }
        if result.timedOut { XCTFail("'\(command)' hung for \(timeout) s and was killed") }
        return result.status
    }

    /// Starts a loopback server, `argv(port)`, and waits until it accepts connections (20 s at most). A server
    /// that exits first (its port was taken) is tried again on another port; three failures fail the test.
    func startServer(_ argv: (Int) -> [String]) throws -> (Subprocess, Int) {
        for _ in 0..<3 {
            let port = 20000 + Int.random(in: 0..<20000)
            let server = try Subprocess(argv(port))
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && server.isRunning {
                if shell("bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(port)' 2>/dev/null") == 0 { return (server, port) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            server.terminate()
            server.waitUntilExit()
        }
        throw HarnessError(message: "\(argv(0)) never accepted connections on loopback")
    }

    /// An ssh-agent holding `keys` (the test key unless told), in the foreground (-D) so it can be stopped.
    /// Returns it (terminate it when done) and its socket.
    func startAgent(keys: [String] = [Env.key]) throws -> (Subprocess, String) {
        let socket = home + "/agent.sock"
        let agent = try Subprocess(["/usr/bin/ssh-agent", "-D", "-a", socket])
        waitWhile(tries: 50, every: 0.05) { !FileManager.default.fileExists(atPath: socket) }
        for key in keys { XCTAssertEqual(shell("SSH_AUTH_SOCK=\(socket) ssh-add -q \(key)"), 0) }
        return (agent, socket)
    }

    func unique() -> String { "ct" + UUID().uuidString.prefix(8).lowercased() }
}

extension Subprocess {
    /// Polls until the child has ended, for a caller that does not own its output (`wait` does that).
    func waitUntilExit() { while isRunning { Thread.sleep(forTimeInterval: 0.01) } }
}
