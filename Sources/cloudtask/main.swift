// cloudtask: the classic batch front end. Parses options, reads jobs from stdin, resolves workers,
// then hands everything to the engine's Runner over the SSH transport. Errors become one line and an exit code here.
import Engine
import Foundation
import LuaShell
import Providers
import Reports
import SSH

let version = "0.1.0"
nonisolated(unsafe) var wakeDescriptor: Int32 = -1

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("cloudtask: \(message)\n".utf8))
    exit(code)
}

/// The original's confirmation: asked on the terminal, since stdin holds the jobs.
func confirm(_ config: TaskConfig, jobs: [JobSpec], endpoints: [Endpoint], split: Int, launch: Int, provider: String?) -> Bool {
    let fleet = launch > 0 ? "\(split) workers (\(split - launch) given, \(launch) launched by \(provider ?? "?"))" : "\(split) of \(endpoints.count) workers"
    var text = "About to launch \(jobs.count) jobs on \(fleet) (\(String(decoding: jobs.first!.text, as: UTF8.self)) .. \(String(decoding: jobs.last!.text, as: UTF8.self)))\n\n"
    let rows: [(String, String)] = [
        ("command", ShellQuote.display(config.command)), ("workers", endpoints.map { $0.slotsPrefix + $0.label }.joined(separator: " ")),
        ("split", String(split)), ("slots", String(config.slots)), ("timeout", String(config.timeout)),
        ("retries", String(config.retries)), ("strikes", String(config.strikes)), ("pre", config.pre ?? ""),
        ("post", config.post ?? ""), ("overlay", config.overlay ?? ""), ("host-key-policy", config.hostKeyPolicy),
        ("provider", launch > 0 ? provider ?? "" : ""), ("region", config.region ?? ""), ("image", config.image ?? ""),
        ("instance-type", config.instanceType ?? ""),
    ]
    text += "  Parameter        Value\n  ---------        -----\n"
    for (name, value) in rows where !value.isEmpty { text += "  " + name.padding(toLength: 17, withPad: " ", startingAt: 0) + value + "\n" }
    text += "\nIs this really what you want? [yes/no] "
    FileHandle.standardError.write(Data(text.utf8))
    guard let tty = FileHandle(forReadingAtPath: "/dev/tty") else { return false }
    var answer: [UInt8] = []
    while true {
        let byte = tty.readData(ofLength: 1)
        if byte.isEmpty || byte.first == 10 { break }
        answer += byte
    }
    return String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased() == "yes"
}

// MARK: - Main

let environment = ProcessInfo.processInfo.environment
let home = environment["HOME"] ?? NSHomeDirectory()
let parsed: (TaskConfig, RunFlags)
do { parsed = try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: environment) } catch { fail("\(error)") }
var (config, flags) = parsed
if flags.help { print(Options.help(program: "cloudtask"), terminator: ""); exit(0) }
if let shell = flags.completionScript.flatMap(Completion.Shell.init(rawValue:)) { print(Completion.script(for: .cloudtask, shell: shell), terminator: ""); exit(0) }
if flags.version { print("cloudtask \(version)"); exit(0) }
let sessionsRoot = config.sessions ?? home + "/.cloudtask"
if let id = flags.status {
    // Read-only: the journal replayed, the lock asked who holds it. Safe while the session runs.
    let path = "\(sessionsRoot)/\(id)"
    guard let bytes = FileManager.default.contents(atPath: path + "/journal") else { fail("no session \(id) in \(sessionsRoot)") }
    let replay: Replay
    do { replay = try Journal.replay(Array(bytes), name: path + "/journal") } catch { fail("\(error)") }
    let counts = replay.counts
    let holder = Session.holder(path)
    let total = replay.jobs.count
    let done = total - counts.running - counts.pending
    let state = holder.map { "running (pid \($0))" } ?? (counts.running + counts.pending == 0 ? "finished" : "stopped")
    print("session \(id): \(state), \(done)/\(total) done: \(counts.ok) OK, \(counts.failed) failed, \(counts.timeouts) timeouts, \(counts.lost) lost, \(holder == nil ? 0 : counts.running) running, \(counts.pending + (holder == nil ? counts.running : 0)) pending")
    if let saved = Session.savedConfig(path) {
        print("command: \(ShellQuote.display(saved.command))")
    }
    for note in replay.notes { print("note: \(note)") }
    exit(0)
}

var session: Session?
var saved: [SavedJob]?
var jobs: [JobSpec]

if let id = flags.resume ?? flags.retry {
    // A saved session: its conf is the base; only the command line overrides it, not the environment.
    if !config.command.isEmpty { fail("--resume/--retry take no command (the session's own is used): \(ShellQuote.display(config.command))") }
    let replay: Replay
    do {
        let (opened, savedConfig, journal) = try Session.open(root: sessionsRoot, id: id)
        (session, replay) = (opened, journal)
        config = try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: [:], base: savedConfig).0
        config.command = savedConfig.command
        config.sessions = savedConfig.sessions
    } catch { fail("\(error)") }
    for note in replay.notes { FileHandle.standardError.write(Data("cloudtask: \(note)\n".utf8)) }
    var restored = replay.jobs
    if flags.retry != nil {
        let retrying = restored.filter { $0.state != .exited(0) }.count
        if retrying == 0 {
            session?.writeJobs(restored.map { ($0.state, $0.spec.text) })  // the view may predate the last results
            print("session \(id): nothing to retry, every job exited 0"); exit(0)
        }
        for i in restored.indices where restored[i].state != .exited(0) {
            restored[i].state = .pending; restored[i].retried = 0; restored[i].deaths = 0
        }
        FileHandle.standardError.write(Data("cloudtask: session \(id): retrying \(retrying) of \(restored.count) jobs\n".utf8))
    } else {
        let unfinished = restored.filter { !$0.state.finished }.count
        if unfinished == 0 {
            session?.writeJobs(restored.map { ($0.state, $0.spec.text) })
            print("session \(id) finished"); exit(0)
        }
        FileHandle.standardError.write(Data("cloudtask: session \(id): resuming \(unfinished) of \(restored.count) jobs (\(restored.count - unfinished) finished keep their results)\n".utf8))
    }
    saved = restored
    jobs = restored.filter { !$0.state.finished }.map(\.spec)
} else {
    do { jobs = try Batch.jobs(Batch.readStandardInput(), command: config.command) } catch { fail("stdin: \(error); nothing was run") }
    guard !jobs.isEmpty else { FileHandle.standardError.write(Data("cloudtask: no jobs, nothing to do\n".utf8)); exit(0) }
}

let workerEndpoints: [Endpoint]
do {
    workerEndpoints = LaunchedPools.attach(try Endpoints.resolve(config, home: home, localUser: environment["USER"] ?? NSUserName()),
                                           workersValue: config.workers.first ?? "", sessionsRoot: sessionsRoot)
} catch { fail("--workers: \(error)") }
// With no workers given, the local provider launches them (the embedded default).
let providerName = config.launchingProvider
let split: Int
do {
    split = providerName == nil ? try Batch.split(config, workers: workerEndpoints.count, jobs: jobs.count)
                                : max(1, min(config.split ?? max(1, workerEndpoints.count), jobs.count))
} catch { fail("\(error)") }
let launchCount = max(0, split - workerEndpoints.count)

if flags.dryRun {
    for job in jobs { FileHandle.standardOutput.write(Data(job.text + [10])) }
    let launching = launchCount > 0 ? " + \(launchCount) launched by \(providerName!)" : ""
    FileHandle.standardError.write(Data("workers (\(split) at once, \(config.slots) slots each): \(workerEndpoints.map { $0.slotsPrefix + "\($0.user)@\($0.host):\($0.port)" }.joined(separator: " "))\(launching)\n".utf8))
    exit(0)
}
if isatty(2) == 1 && !flags.force && !confirm(config, jobs: jobs, endpoints: workerEndpoints, split: split, launch: launchCount, provider: providerName) {
    fail("aborted, nothing was run", code: 1)
}

let runSession: Session
if let session {
    runSession = session
} else {
    do { runSession = try Session.create(root: sessionsRoot, config: config) } catch { fail("sessions: \(error)") }
}

let policy = HostKeyPolicy(rawValue: config.hostKeyPolicy)!
if policy == .off { FileHandle.standardError.write(Data("cloudtask: warning: host keys are not checked (--host-key-policy=off)\n".utf8)) }
let transport = SSHTransport(settings: .init(
    knownHosts: config.knownHosts ?? home + "/.ssh/known_hosts", hostKeyPolicy: policy,
    defaultIdentities: [home + "/.ssh/id_ed25519", home + "/.ssh/id_ecdsa"],
    useAgent: environment["SSH_AUTH_SOCK"] != nil))
wakeDescriptor = transport.wakeDescriptor

signal(SIGPIPE, SIG_IGN)
let onSignal: @convention(c) (Int32) -> Void = { _ in
    Runner.interrupts += 1
    var byte: UInt8 = 1
    _ = write(wakeDescriptor, &byte, 1)
}
signal(SIGINT, onSignal)
signal(SIGTERM, onSignal)

// Instances a killed run left are destroyed before anything else; a fresh launch replaces them.
var provider: Provider?
if let providerName {
    do { provider = try ProviderFactory.make(providerName, sessionPath: runSession.path, config: config, environment: environment) } catch {
        fail("--provider=\(providerName): \(error)", code: 2)
    }
    let (destroyed, failures) = ProviderFactory.destroyLeftovers(sessionPath: runSession.path, provider: provider!)
    if destroyed > 0 { FileHandle.standardError.write(Data("cloudtask: destroyed \(destroyed) workers left by an earlier run of session \(runSession.id)\n".utf8)) }
    for (id, why) in failures { FileHandle.standardError.write(Data("cloudtask: cannot destroy \(id) left by an earlier run: \(why)\n".utf8)) }
}

let runner: Runner
if let saved {
    runner = Runner(config: config, saved: saved, fresh: false, endpoints: workerEndpoints, split: split, transport: transport, session: runSession,
                    reset: flags.retry != nil, provider: provider, launch: launchCount)
} else {
    runner = Runner(config: config, jobs: jobs, endpoints: workerEndpoints, split: split, transport: transport, session: runSession,
                    provider: provider, launch: launchCount)
}
let summary = runner.run()
if let hooks = config.reports, !hooks.isEmpty {
    // The session is saved; hooks only report on it, and their failures never change the exit status.
    let replay = FileManager.default.contents(atPath: runSession.path + "/journal").flatMap { try? Journal.replay(Array($0), name: "journal") }
    let facts = ReportHooks.Facts(id: runSession.id, path: runSession.path, config: config, jobs: replay?.jobs ?? [],
                                  seconds: summary.seconds, exitCode: summary.exitCode)
    let body = ReportHooks.body(sessionPath: runSession.path)
    ReportHooks.run(hooks, facts: facts, body: body, environment: environment) { problem in
        FileHandle.standardError.write(Data("cloudtask: \(problem)\n".utf8))
    }
}
exit(summary.exitCode)
