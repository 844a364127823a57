// cloudtask-destroy-workers --session ID: destroys the instances a session's ledger names as still alive
// (after a controller was killed), without resuming it. Exit 0 all destroyed, 1 fatal or usage error, 2 some left.
import Engine
import Foundation
import LuaShell
import Providers

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("cloudtask-destroy-workers: \(message)\n".utf8))
    exit(1)
}

let usage = "usage: cloudtask-destroy-workers --session ID [--sessions DIR]"
var arguments = Array(CommandLine.arguments.dropFirst())
var id: Int?
var root: String?
while let argument = arguments.first {
    arguments.removeFirst()
    let (name, inline) = argument.contains("=") ? (String(argument.split(separator: "=", maxSplits: 1)[0]), String(argument.split(separator: "=", maxSplits: 1)[1])) : (argument, nil)
    switch name {
    case "-h", "--help": print(usage); exit(0)
    case "--session", "--sessions":
        guard let value = inline ?? (arguments.isEmpty ? nil : arguments.removeFirst()) else { fail("\(name) needs a value") }
        if name == "--session" {
            guard let n = Int(value), n > 0 else { fail("--session=\(value): expected a session id") }
            id = n
        } else {
            root = value
        }
    default: fail("unexpected argument \(argument) (\(usage))")
    }
}
guard let id else { fail(usage) }
let environment = ProcessInfo.processInfo.environment
let home = environment["HOME"] ?? NSHomeDirectory()
let sessions = root ?? environment["CLOUDTASK_SESSIONS"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.cloudtask"
let path = "\(sessions)/\(id)"
guard FileManager.default.fileExists(atPath: path) else { fail("no session \(id) in \(sessions)") }

let ledger = Ledger(sessionPath: path)
let live = ledger.live()
if live.isEmpty { print("session \(id): no live instances"); exit(0) }
var left = 0
for (providerName, instances) in Dictionary(grouping: live, by: \.provider) {
    let conf = FileManager.default.contents(atPath: path + "/conf").flatMap { try? JSONDecoder().decode(TaskConfig.self, from: $0) } ?? TaskConfig()
    let name = providerName.hasPrefix("lua:") ? conf.provider ?? providerName : providerName
    let provider: Provider
    do { provider = try ProviderFactory.make(name, sessionPath: path, config: conf, environment: environment) } catch {
        FileHandle.standardError.write(Data("cloudtask-destroy-workers: cannot load provider \(providerName) for \(instances.map(\.id)): \(error)\n".utf8))
        left += instances.count
        continue
    }
    let failures = provider.destroy(instances)
    for instance in instances {
        if let why = failures[instance.id] {
            FileHandle.standardError.write(Data("cloudtask-destroy-workers: \(instance.id): \(why)\n".utf8))
            left += 1
        } else {
            try? ledger.record("destroyed", instance)
            print("destroyed worker \(instance.id) (\(instance.host):\(instance.port))")
        }
    }
}
exit(left == 0 ? 0 : 2)
