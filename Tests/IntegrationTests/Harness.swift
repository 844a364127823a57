// Runs the built executables against the real loopback sshd workers of scripts/test-workers,
// each test in a fresh temp folder used as HOME and sessions root.
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

/// Bytes filled by a reader thread and read after it is joined.
final class Box: @unchecked Sendable { var data = Data() }

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
    }

    override func tearDownWithError() throws {
        if !home.isEmpty { try? FileManager.default.removeItem(atPath: home) }
    }

    /// The options every run gets: the test key, the workers' known_hosts, this test's sessions.
    var base: [String] { ["--ssh-identity=\(Env.key)", "--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)"] }

    @discardableResult
    func run(_ arguments: [String], stdin: [UInt8] = [], env: [String: String] = [:], timeout: Double = 120,
             binary: String = Env.binary, whileRunning: ((Process) -> Void)? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var environment = Env.environment.filter { !$0.key.hasPrefix("CLOUDTASK_") && $0.key != "SSH_AUTH_SOCK" }
        environment["HOME"] = home
        for (k, v) in env { environment[k] = v }
        process.environment = environment
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let writer = Thread { input.fileHandleForWriting.write(Data(stdin)); try? input.fileHandleForWriting.close() }
        writer.start()
        let out = Box(), err = Box()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { out.data = output.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { err.data = error.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        whileRunning?(process)
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.interrupt(); kill(process.processIdentifier, SIGKILL)
            XCTFail("cloudtask \(arguments) hung for \(timeout) s")
            _ = group.wait(timeout: .now() + 5)
        }
        process.waitUntilExit()
        return Result(stdout: Array(out.data), stderr: String(decoding: err.data, as: UTF8.self), status: process.terminationStatus)
    }

    /// cloudtask with the base options, `workers`, then `arguments`, jobs as lines.
    @discardableResult
    func cloudtask(_ arguments: [String], workers: String = "127.0.1.1 127.0.1.2", lines: [String], env: [String: String] = [:],
                   timeout: Double = 120, whileRunning: ((Process) -> Void)? = nil) throws -> Result {
        try run(base + ["--workers=\(workers)"] + arguments, stdin: Array(lines.map { $0 + "\n" }.joined().utf8), env: env,
                timeout: timeout, whileRunning: whileRunning)
    }

    func file(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func sessionFile(_ id: Int, _ name: String) -> String { file("\(sessions)/\(id)/\(name)") }

    /// Processes on this machine (the workers are local) whose command line contains `marker`.
    func remoteProcesses(_ marker: String) -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        p.arguments = ["-af", marker]
        let pipe = Pipe()
        p.standardOutput = pipe
        try? p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.split(separator: "\n").map(String.init).filter { !$0.contains("pgrep") }
    }

    /// Polls until `condition` is false, at most `tries` times.
    func waitWhile(tries: Int, every seconds: Double, _ condition: () -> Bool) {
        var left = tries
        while left > 0 && condition() { Thread.sleep(forTimeInterval: seconds); left -= 1 }
    }

    /// Runs a shell command with this test's HOME; returns its exit status.
    @discardableResult
    func shell(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.environment = ProcessInfo.processInfo.environment.merging(["HOME": home]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// An ssh-agent holding the test key, in the foreground (-D): a daemonized agent keeps Foundation's
    /// Process from seeing its parent exit. Returns it (terminate it when done) and its socket.
    func startAgent() throws -> (Process, String) {
        let socket = home + "/agent.sock"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
        agent.arguments = ["-D", "-a", socket]
        agent.standardOutput = FileHandle.nullDevice
        try agent.run()
        waitWhile(tries: 50, every: 0.05) { !FileManager.default.fileExists(atPath: socket) }
        XCTAssertEqual(shell("SSH_AUTH_SOCK=\(socket) ssh-add -q \(Env.key)"), 0)
        return (agent, socket)
    }

    func unique() -> String { "ct" + UUID().uuidString.prefix(8).lowercased() }
}
