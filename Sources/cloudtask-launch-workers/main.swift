// cloudtask-launch-workers HOWMANY FILE|-: launches a pool with a provider and writes one line per worker as it
// becomes reachable, `ADDRESS  # PROVIDER:INSTANCE-ID`, which `cloudtask --workers=FILE` reads (the comment ties
// the worker to its session: pinned host key and launch key) and `cloudtask-destroy-workers FILE` destroys.
// The pool's instances are recorded in a session of their own. Exit 0 all launched, 1 otherwise.
import Engine
import Foundation
import LuaShell
import Providers

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("cloudtask-launch-workers: \(message)\n".utf8))
    exit(code)
}

let usage = Command.launchWorkers.usage
let environment = ProcessInfo.processInfo.environment
let parsed: (TaskConfig, RunFlags)
do { parsed = try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: environment, command: .launchWorkers) } catch { fail("\(error)") }
var (config, flags) = parsed
if flags.help { print(Command.launchWorkers.help, terminator: ""); exit(0) }
if let shell = flags.completionScript.flatMap(Completion.Shell.init(rawValue:)) { print(Completion.script(for: .launchWorkers, shell: shell), terminator: ""); exit(0) }
guard config.command.count == 2, let count = Int(config.command[0]), count >= 1 else { fail(usage) }
let target = config.command[1]
config.command = []
let providerName = config.provider ?? "local"
config.provider = providerName
let home = environment["HOME"] ?? NSHomeDirectory()
let session: Session
do { session = try Session.create(root: config.sessions ?? home + "/.cloudtask", config: config) } catch { fail("sessions: \(error)") }
let provider: Provider
do { provider = try ProviderFactory.make(providerName, sessionPath: session.path, config: config, environment: environment) } catch {
    fail("--provider=\(providerName): \(error)")
}
// The user's own keys are authorized too, so plain `cloudtask --workers=FILE` logs in as it would anywhere.
if let local = provider as? LocalProvider {
    let own = ["id_ed25519.pub", "id_ecdsa.pub"].compactMap { try? String(contentsOfFile: home + "/.ssh/" + $0, encoding: .utf8) }
    local.extraAuthorizedKeys = own.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
}

let output: FileHandle
if target == "-" {
    output = FileHandle.standardOutput
} else {
    guard FileManager.default.createFile(atPath: target, contents: nil) , let file = FileHandle(forWritingAtPath: target) else { fail("cannot write \(target)") }
    output = file
}
let ledger = Ledger(sessionPath: session.path)
do { try provider.launch(count: count, ledger: ledger) } catch { fail("\(error)") }
var up = 0, failed = 0
let deadline = Date().addingTimeInterval(config.bootTimeout ?? 600)
while up + failed < count && Date() < deadline {
    do {
        for instance in try provider.ready() {
            try? ledger.record("up", instance)
            output.write(Data("\(instance.host):\(instance.port)  # \(providerName):\(instance.id)\n".utf8))
            up += 1
        }
    } catch {
        if !"\(error)".isEmpty { FileHandle.standardError.write(Data("cloudtask-launch-workers: \(error)\n".utf8)) }
        failed += 1
    }
    usleep(50_000)
}
session.unlock()
FileHandle.standardError.write(Data("cloudtask-launch-workers: \(up) of \(count) workers up (session \(session.id); destroy them with cloudtask-destroy-workers \(target == "-" ? "--session \(session.id)" : target))\n".utf8))
exit(up == count ? 0 : 1)
