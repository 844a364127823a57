// The completion scripts the built executables print, run by the shells themselves: bash -n, zsh -n and
// fish --no-execute accept them; bash's completion function and fish's `complete -C` give the values.
// No workers needed: nothing here runs a job.
import Engine
import Foundation
import XCTest

final class CompletionTests: XCTestCase {
    let executables = Command.all.map(\.name)
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "ct-completion-" + UUID().uuidString.prefix(8)
        for id in ["3", "12", "notes"] {
            try FileManager.default.createDirectory(atPath: folder + "/sessions/" + id, withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: folder + "/home/.ssh", withIntermediateDirectories: true)
        try "Host alpha beta\n  HostName 127.0.0.1\nHost *.example gamma\nhost=delta\nMatch all\n"
            .write(toFile: folder + "/home/.ssh/config", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: folder + "/work", withIntermediateDirectories: true)
        try "".write(toFile: folder + "/work/provider.lua", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// The script `executable` prints for `shell`, saved in the temp folder; its path.
    func script(_ executable: String, _ shell: String) throws -> String {
        let binary = Env.root + "/.build/debug/" + executable
        let result = try Subprocess.run([binary, "--generate-completion-script", shell], output: .capture, error: .capture, timeout: 30)
        XCTAssertEqual(result.status, 0, "\(executable): \(result.errorText)")
        let path = "\(folder)/\(executable).\(shell)"
        try result.output.withUnsafeBufferPointer { try Data($0).write(to: URL(fileURLWithPath: path)) }
        return path
    }

    /// Runs `argv` with HOME and CLOUDTASK_SESSIONS pointing into the temp folder, in its `work` subfolder.
    func shell(_ argv: [String]) throws -> Subprocess.Result {
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = folder + "/home"
        environment["CLOUDTASK_SESSIONS"] = folder + "/sessions"
        let result = try Subprocess.run(argv, environment: environment, directory: folder + "/work", output: .capture, error: .capture, timeout: 30)
        XCTAssertFalse(result.timedOut, "\(argv) hung")
        return result
    }

    func available(_ program: String) -> Bool {
        ["/usr/bin/", "/bin/", "/usr/local/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + program) }
    }

    func testEveryScriptIsAcceptedByItsShell() throws {
        for executable in executables {
            let bash = try shell(["bash", "-n", try script(executable, "bash")])
            XCTAssertEqual(bash.status, 0, "\(executable): \(bash.errorText)")
            guard available("zsh"), available("fish") else { XCTFail("zsh and fish are needed (scripts/deps installs them)"); continue }
            let zsh = try shell(["zsh", "-n", try script(executable, "zsh")])
            XCTAssertEqual(zsh.status, 0, "\(executable): \(zsh.errorText)")
            let fish = try shell(["fish", "--no-execute", try script(executable, "fish")])
            XCTAssertEqual(fish.status, 0, "\(executable): \(fish.errorText)")
            // zsh loads it as an autoloaded function would run it: compinit's compdef registers the command.
            let loaded = try shell(["zsh", "-f", "-c", "autoload -Uz compinit; compinit -u -D; source \(folder)/\(executable).zsh; print -r -- ${_comps[\(executable)]}"])
            XCTAssertEqual(loaded.outputText, "_" + Completion.identifier(executable) + "\n", "\(executable): \(loaded.errorText)")
        }
    }

    /// COMPREPLY when bash completes the last of `words` (readline's split: `--name=` is `--name`, `=`, ``).
    func bashCompletes(_ executable: String, _ words: [String]) throws -> [String] {
        let path = try script(executable, "bash")
        let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let function = "_" + Completion.identifier(executable)
        let result = try shell(["bash", "-c", "source \(path); COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); \(function); printf '%s\\n' \"${COMPREPLY[@]}\""])
        XCTAssertEqual(result.status, 0, result.errorText)
        XCTAssertEqual(result.errorText, "")
        return result.outputText.split(separator: "\n").map(String.init)
    }

    func testBashCompletesOptionsValuesSessionsAndHosts() throws {
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--host-key-policy", ""]), ["accept-new", "strict", "off"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--host-key-policy", "=", ""]), ["accept-new", "strict", "off"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--split=2", "--host-key-policy", "=", "st"]), ["strict"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--host-key-policy=st"]), ["strict"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--res"]).sorted(), ["--results", "--resume"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--resume", ""]).sorted(), ["12", "3"], "numeric session folders only")
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--status", "=", "1"]), ["12"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--provider", ""]).sorted(), ["ec2", "local", "provider.lua"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--workers", ""]).sorted(), ["alpha", "beta", "delta", "gamma", "provider.lua"])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--tag", "echo", "--ta"]), [], "options end at the command")
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--", "--ta"]), [])
        XCTAssertEqual(try bashCompletes("cloudtask", ["cloudtask", "--generate-completion-script", "f"]), ["fish"])
        XCTAssertEqual(try bashCompletes("cloudtask-logalyzer", ["cloudtask-logalyzer", "--price", "x=1", ""]).sorted(), ["12", "3"])
        XCTAssertEqual(try bashCompletes("cloudtask-logalyzer", ["cloudtask-logalyzer", "7", "--pr"]), ["--price"], "options anywhere")
        XCTAssertEqual(try bashCompletes("cloudtask-destroy-workers", ["cloudtask-destroy-workers", "--session", ""]).sorted(), ["12", "3"])
        XCTAssertEqual(try bashCompletes("cloudtask-launch-workers", ["cloudtask-launch-workers", "--"]).contains("--provider"), true)
        XCTAssertEqual(try bashCompletes("cloudtask-launch-workers", ["cloudtask-launch-workers", "--sp"]), [], "not cloudtask's whole table")
        XCTAssertEqual(try bashCompletes("ctsh", ["ctsh", "-i", ""]).sorted(), ["-", "provider.lua"])
        XCTAssertEqual(try bashCompletes("ctsh", ["ctsh", "-e", ""]), [], "a chunk has no completion")
    }

    func testFishCompletesTheValues() throws {
        guard available("fish") else { XCTFail("fish is needed (scripts/deps installs it)"); return }
        func fishCompletes(_ executable: String, _ line: String) throws -> [String] {
            let path = try script(executable, "fish")
            let result = try shell(["fish", "--no-config", "-c", "source \(path); complete -C '\(line)'"])
            XCTAssertEqual(result.status, 0, result.errorText)
            return result.outputText.split(separator: "\n").map { String($0.split(separator: "\t", omittingEmptySubsequences: false)[0]) }
        }
        XCTAssertEqual(try fishCompletes("cloudtask", "cloudtask --host-key-policy ").sorted(), ["accept-new", "off", "strict"])
        XCTAssertEqual(try fishCompletes("cloudtask", "cloudtask --retry ").sorted(), ["12", "3"])
        XCTAssertEqual(try fishCompletes("cloudtask", "cloudtask --res").sorted(), ["--results", "--resume"])
        XCTAssertTrue(try fishCompletes("cloudtask", "cloudtask --workers ").contains("alpha"))
        XCTAssertEqual(try fishCompletes("cloudtask-destroy-workers", "cloudtask-destroy-workers --session ").sorted(), ["12", "3"])
        XCTAssertTrue(try fishCompletes("ctsh", "ctsh -").contains("-e"))
    }
}
