// cloudtask-destroy-workers --session ID: destroys the instances a session's ledger names as still alive
// (after a controller was killed), and any its provider finds alive besides, without resuming it.
// Exit 0 all destroyed, 1 fatal or usage error, 2 some left.
import Engine
import Foundation
import Providers

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("cloudtask-destroy-workers: \(message)\n".utf8))
    exit(1)
}

let usage = Command.destroyWorkers.usage
let parsed: ParsedArguments
do { parsed = try Command.destroyWorkers.parse(Array(CommandLine.arguments.dropFirst())) } catch { fail("\(error)") }
if let text = Command.destroyWorkers.answer(parsed) { print(text, terminator: ""); exit(0) }
if parsed.positionals.count > 1 { fail("unexpected argument \(parsed.positionals[1]) (\(usage))") }
let id = parsed.value("session").flatMap { Int($0) }
let root = parsed.value("sessions")
let file = parsed.positionals.first
let environment = ProcessInfo.processInfo.environment
let providers = ProviderFactory(environment: environment)
var rootConfig = TaskConfig()
rootConfig.sessions = root
let sessions = TaskContext(environment: environment, providers: providers).sessionsRoot(rootConfig)

/// Destroys `instances` of the session at `path` with its provider; returns the ids that are left.
func destroy(_ instances: [Instance], sessionPath path: String) -> Set<String> {
    let ledger = Ledger(sessionPath: path)
    var left = Set<String>()
    for (providerName, group) in Dictionary(grouping: instances, by: \.provider) {
        let conf = Session.savedConfig(path) ?? TaskConfig()
        let name = providerName.hasPrefix("lua:") ? conf.provider ?? providerName : providerName
        let provider: Provider
        do { provider = try providers.make(name, sessionPath: path, config: conf, ownKeys: []) } catch {
            let ids = group.map(\.id)
            FileHandle.standardError.write(Data(
                "cloudtask-destroy-workers: cannot load provider \(providerName) for \(ids): \(error)\n".utf8))
            left.formUnion(group.map(\.id))
            continue
        }
        let failures = provider.destroy(group)
        for instance in group {
            if let why = failures[instance.id] {
                FileHandle.standardError.write(Data("cloudtask-destroy-workers: \(instance.id): \(why)\n".utf8))
                left.insert(instance.id)
            } else {
                try? ledger.record(.destroyed, instance)
                print("destroyed worker \(instance.id) (\(instance.host):\(instance.port))")
            }
        }
    }
    return left
}

// The original's contract: FILE|- lists workers (as cloudtask-launch-workers wrote them); the file is rewritten
// with those that remain. Exit 0 all destroyed, 1 none (or a fatal error), 2 some.
if let file {
    let text: String
    if file == "-" {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    } else {
        guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else { fail("cannot read \(file)") }
        text = contents
    }
    let notes = LaunchedPools.annotations(text)
    guard !notes.isEmpty else {
        fail("\(file): no workers launched by cloudtask-launch-workers (lines ADDRESS  # PROVIDER:ID)")
    }
    let found = LaunchedPools.find(Set(notes.map(\.id)), sessionsRoot: sessions)
    var left = Set(notes.map(\.id)).subtracting(found.keys)  // unknown ids: not in any ledger as alive
    for id in left {
        FileHandle.standardError.write(Data(
            "cloudtask-destroy-workers: \(id): no live instance in the ledgers under \(sessions)\n".utf8))
    }
    for (path, group) in Dictionary(grouping: found.values, by: \.path) {
        left.formUnion(destroy(group.map(\.instance), sessionPath: path))
    }
    if file != "-" {
        let remaining = text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            !notes.contains { $0.line == String(line) && !left.contains($0.id) }
        }
        try? remaining.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }
    exit(left.isEmpty ? 0 : 2)
}

guard let id else { fail(usage) }
let path = "\(sessions)/\(id)"
guard FileManager.default.fileExists(atPath: path) else { fail("no session \(id) in \(sessions)") }

// The ledger's live instances, and what the session's provider finds alive besides (a lost ledger entry).
var live = Ledger(sessionPath: path).live()
if let conf = Session.savedConfig(path), let name = conf.launchingProvider,
   let provider = try? providers.make(name, sessionPath: path, config: conf, ownKeys: []) {
    let inLedger = live.count
    live = Leftovers.find(live, provider: provider)
    let listed = live.count - inLedger
    if listed > 0 { print("session \(id): \(listed) live instance(s) not in the ledger, found by the provider") }
}
if live.isEmpty { print("session \(id): no live instances"); exit(0) }
let left = destroy(live, sessionPath: path)
exit(left.isEmpty ? 0 : 2)
