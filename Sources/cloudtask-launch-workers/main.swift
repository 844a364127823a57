// cloudtask-launch-workers HOWMANY FILE|-: launches a pool with a provider and writes one line per worker as it
// becomes reachable, `ADDRESS  # PROVIDER:INSTANCE-ID`, which `cloudtask --workers=FILE` reads (the comment ties
// the worker to its session: pinned host key and launch key) and `cloudtask-destroy-workers FILE` destroys.
// The pool's instances are recorded in a session of their own. Exit 0 all launched, 1 otherwise.
import Engine
import Foundation
import Providers

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("cloudtask-launch-workers: \(message)\n".utf8))
    exit(code)
}

let usage = Command.launchWorkers.usage
let environment = ProcessInfo.processInfo.environment
let parsed: (TaskConfig, RunFlags)
do {
    parsed = try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: environment,
                               command: .launchWorkers)
} catch {
    fail("\(error)")
}
var (config, flags) = parsed
if flags.help { print(Command.launchWorkers.help, terminator: ""); exit(0) }
if let shell = flags.completionScript.flatMap(Completion.Shell.init(rawValue:)) {
    print(Completion.script(for: .launchWorkers, shell: shell), terminator: "")
    exit(0)
}
guard config.command.count == 2, let count = Int(config.command[0]), count >= 1 else { fail(usage) }
let target = config.command[1]
config.command = []
let providerName = config.provider ?? "local"
config.provider = providerName
let home = environment["HOME"] ?? NSHomeDirectory()
let context = TaskContext(environment: environment, providers: ProviderFactory(environment: environment))

let output: FileHandle
if target == "-" {
    output = FileHandle.standardOutput
} else {
    guard FileManager.default.createFile(atPath: target, contents: nil),
          let file = FileHandle(forWritingAtPath: target) else {
        fail("cannot write \(target)")
    }
    output = file
}
// The user's own keys are authorized too, so plain `cloudtask --workers=FILE` logs in as it would anywhere.
let ownKeys = ["id_ed25519.pub", "id_ecdsa.pub"].compactMap {
    try? String(contentsOfFile: home + "/.ssh/" + $0, encoding: .utf8)
}
let pool: LaunchedPool
do {
    pool = try PoolLaunch.run(count: count, config: config, context: context,
                              ownKeys: ownKeys.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) },
                              up: { output.write(Data("\($0.host):\($0.port)  # \(providerName):\($0.id)\n".utf8)) },
                              problem: {
                                  if !$0.isEmpty {
                                      FileHandle.standardError.write(Data("cloudtask-launch-workers: \($0)\n".utf8))
                                  }
                              })
} catch {
    fail("\(error)")
}
let up = pool.instances.count
let destroy = target == "-" ? "--session \(pool.session.id)" : target
FileHandle.standardError.write(Data(
    ("cloudtask-launch-workers: \(up) of \(count) workers up (session \(pool.session.id); "
        + "destroy them with cloudtask-destroy-workers \(destroy))\n").utf8))
exit(up == count ? 0 : 1)
