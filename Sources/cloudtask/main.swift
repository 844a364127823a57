// cloudtask: the classic batch front end. Parses options and reads jobs from stdin; the engine's TaskAssembly
// decides the task and builds its runner; this file renders it. Errors become one line and an exit code here.
import Engine
import Foundation
import Providers
import Reports
import SSH
import Terminal

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("cloudtask: \(message)\n".utf8))
    exit(code)
}

/// The original's confirmation: asked on the terminal, since stdin holds the jobs.
func confirm(_ plan: TaskPlan) -> Bool {
    let config = plan.config.withoutSecrets  // what the hooks see
    let fleet = plan.launch > 0
        ? "\(plan.split) workers (\(plan.split - plan.launch) given, "
            + "\(plan.launch) launched by \(plan.provider ?? "?"))"
        : "\(plan.split) of \(plan.endpoints.count) workers"
    var first: [UInt8]?, last: [UInt8]?
    try? plan.forEachJob { job in
        if first == nil { first = job.text }
        last = job.text
    }
    let range = first.map { " (\(String(decoding: $0, as: UTF8.self)) .. \(String(decoding: last!, as: UTF8.self))" } ?? ""
    let jobs = plan.streaming ? "jobs as they are read from stdin (\(plan.jobCount) so far\(range.isEmpty ? "" : ":\(range.dropFirst(2))"))"
                              : "\(plan.jobCount) jobs"
    var text = "About to launch \(jobs) on \(fleet)\(plan.streaming ? "" : range)\n\n"
    let rows: [(String, String)] = [
        ("command", ShellQuote.display(config.command)),
        ("workers", plan.endpoints.map { $0.slotsPrefix + $0.label }.joined(separator: " ")),
        ("split", String(plan.split)), ("slots", String(config.slots)), ("timeout", String(config.timeout)),
        ("retries", String(config.retries)), ("strikes", String(config.strikes)), ("pre", config.pre ?? ""),
        ("post", config.post ?? ""), ("overlay", config.overlay ?? ""), ("host-key-policy", config.hostKeyPolicy),
        ("provider", plan.launch > 0 ? plan.provider ?? "" : ""), ("region", config.region ?? ""),
        ("image", config.image ?? ""), ("instance-type", config.instanceType ?? ""),
    ]
    text += "  Parameter        Value\n  ---------        -----\n"
    for (name, value) in rows where !value.isEmpty {
        text += "  " + name.padding(toLength: 17, withPad: " ", startingAt: 0) + value + "\n"
    }
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

func say(_ line: String) { FileHandle.standardError.write(Data("cloudtask: \(line)\n".utf8)) }

// MARK: - Main

let environment = ProcessInfo.processInfo.environment
let home = environment["HOME"] ?? NSHomeDirectory()
let parsed: (TaskConfig, RunFlags)
do {
    parsed = try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: environment)
} catch {
    fail("\(error)")
}
var (config, flags) = parsed
if flags.help { print(Options.help(program: "cloudtask"), terminator: ""); exit(0) }
if let shell = flags.completionScript.flatMap(Completion.Shell.init(rawValue:)) {
    print(Completion.script(for: .cloudtask, shell: shell), terminator: "")
    exit(0)
}
if flags.version { print("cloudtask \(Command.version)"); exit(0) }
// Passphrases of encrypted key files, asked once per key before anything connects (see `KeyUnlock`), only where
// a person watches (stderr is a terminal, as for the confirmation): a piped run never waits on it, and says which
// key is encrypted. Never saved.
let keyring = Keyring(ask: { isatty(2) == 1 ? SecretPrompt.ask($0) : nil })
let context = TaskContext(environment: environment, providers: ProviderFactory(environment: environment)) { config, endpoints in
    keyring.transport(config, unlocking: endpoints, home: home, environment: environment)
}
let sessionsRoot = context.sessionsRoot(config)
if let id = flags.status {
    // Read-only: the journal streamed (memory is its job index, not the journal), the lock asked who holds it.
    // Safe while the session runs.
    let path = "\(sessionsRoot)/\(id)"
    guard access(path + "/journal", R_OK) == 0 else { fail("no session \(id) in \(sessionsRoot)") }
    let scan: JournalScan
    do { scan = try Journal.scan(path: path + "/journal") } catch { fail("\(error)") }
    let counts = scan.counts
    let holder = Session.holder(path)
    let total = scan.index.count
    let done = total - counts.running - counts.pending
    let state = holder.map { "running (pid \($0))" } ?? (counts.running + counts.pending == 0 ? "finished" : "stopped")
    let running = holder == nil ? 0 : counts.running
    let pending = counts.pending + (holder == nil ? counts.running : 0)
    print("session \(id): \(state), \(done)/\(total) done: \(counts.ok) OK, \(counts.failed) failed, "
        + "\(counts.timeouts) timeouts, \(counts.lost) lost, \(running) running, \(pending) pending")
    if let saved = Session.savedConfig(path) {
        print("command: \(ShellQuote.display(saved.command))")
    }
    for note in scan.notes { print("note: \(note)") }
    if let line = scan.inputCutAfterLine {
        print("note: input read up to line \(line), not to its end: later lines are not part of the session")
    }
    exit(0)
}

let origin: TaskOrigin
if let id = flags.resume ?? flags.retry {
    // A saved session: its conf is the base; only the command line overrides it, not the environment.
    if !config.command.isEmpty {
        fail("--resume/--retry take no command (the session's own is used): \(ShellQuote.display(config.command))")
    }
    origin = .resume(id: id, retry: flags.retry != nil, config: config) { saved in
        try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: [:], base: saved).0
    }
} else {
    // Lines are read as they come; those of the first read are all checked before anything runs.
    let recipe: JobRecipe
    do { recipe = try JobRecipe(config) } catch { fail("\(error)") }
    let input = JobInput(fd: 0, separator: config.recordEnd)
    let first: (jobs: [JobSpec], lines: Int)
    do { first = try Batch.firstRead(input, recipe: recipe) } catch { fail("stdin: \(error); nothing was run") }
    if first.jobs.isEmpty && input.exhausted { say("no jobs, nothing to do"); exit(0) }
    origin = .new(config, .stream(input, first: first.jobs, lines: first.lines))
}

let descriptors = FileLimit.raise()  // each worker costs descriptors: see FileLimit
let plan: TaskPlan
do { plan = try TaskAssembly.plan(origin, context: context) } catch { fail("\(error)") }
for note in plan.journalNotes { say(note) }
for warning in plan.sshConfigWarnings { say("warning: \(warning)") }
if let warning = FileLimit.warning(workers: plan.split, limit: descriptors) { say("warning: \(warning)") }
if let done = plan.nothingToDo { print(done); exit(0) }
if let note = plan.resumeNote { say(note) }
if let note = plan.generatorNote, let id = flags.resume ?? flags.retry { say("session \(id): \(note)") }

if flags.dryRun {
    do { try plan.forEachJob { FileHandle.standardOutput.write(Data($0.text + [10])) } } catch { fail("\(error)") }
    if case .new(_, .stream(let input, let first, _)) = origin {
        // The rest of the stream, as it comes: nothing is kept.
        var number = first.count
        let recipe = try? JobRecipe(plan.config)
        while !input.exhausted {
            input.waitForFirstRead(pause: 0.05, limit: 4096)
            for line in input.take(4096) {
                do {
                    guard let job = try recipe?.job(line.bytes, lineNumber: line.number, number: number + 1)
                    else { continue }
                    number += 1
                    FileHandle.standardOutput.write(Data(job.text + [10]))
                } catch {
                    fail("stdin: \(error)")
                }
            }
        }
    }
    FileHandle.standardError.write(Data((plan.fleetSummary + "\n").utf8))
    exit(0)
}
if isatty(2) == 1 && !flags.force && !confirm(plan) { fail("aborted, nothing was run", code: 1) }

if plan.config.hostKeyPolicy == HostKeyPolicy.off.rawValue {
    say("warning: host keys are not checked (--host-key-policy=off)")
}
let task: AssembledTask
do {
    task = try TaskAssembly.build(plan, context: context, display: TerminalDisplay(quiet: plan.config.quiet == true))
} catch {
    fail("\(error)")
}
if task.leftoversDestroyed > 0 {
    say("destroyed \(task.leftoversDestroyed) workers left by an earlier run of session \(task.session.id)")
}
for (id, why) in task.leftoverFailures { say("cannot destroy \(id) left by an earlier run: \(why)") }
Interrupts.install(wake: task.transport.wakeDescriptor)

let summary = task.runner.run()
let runSession = task.session
config = plan.config.withoutSecrets  // what the hooks see
if let hooks = config.reports, !hooks.isEmpty {
    // The session is saved; hooks only report on it, and their failures never change the exit status.
    let replay = FileManager.default.contents(atPath: runSession.path + "/journal").flatMap {
        try? Journal.replay(Array($0), name: "journal")
    }
    let facts = ReportHooks.Facts(id: runSession.id, path: runSession.path, config: config, jobs: replay?.jobs ?? [],
                                  seconds: summary.seconds, exitCode: summary.exitCode)
    let body = ReportHooks.body(sessionPath: runSession.path)
    ReportHooks.run(hooks, facts: facts, body: body, environment: environment) { problem in
        FileHandle.standardError.write(Data("cloudtask: \(problem)\n".utf8))
    }
}
exit(summary.exitCode)
