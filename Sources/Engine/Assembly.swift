// The one place a task is put together, for every front end (cloudtask, ctsh's task/resume/templates, the
// companions): the workers given, the provider and how many it launches, the split, the session (new,
// resumed or retried) and the runner. Front ends parse their input and render the run; they decide none of this.
import Foundation

/// Makes providers by name (`local`, `ec2`, a `FILE.lua`); the Providers module implements it.
public protocol ProviderCatalog {
    /// The provider `name` for the session folder `sessionPath`, with the session's launch key (made if
    /// missing); `ownKeys` are public keys its workers authorize besides (the user's, for launch-workers).
    func make(_ name: String, sessionPath: String, config: TaskConfig, ownKeys: [String]) throws -> Provider
}

/// What every task is assembled with: the user's home and environment, and the adapters the engine cannot
/// build itself (providers, the SSH transport).
public struct TaskContext {
    public var home: String
    public var environment: [String: String]
    public var localUser: String
    public var providers: ProviderCatalog
    /// The transport for a task's configuration (known_hosts, host-key policy, default keys, agent) and the
    /// workers it will reach first (whose encrypted keys a front end may unlock); nil for front ends that run
    /// no task (the companions).
    public var transport: ((TaskConfig, [Endpoint]) -> Transport)?

    public init(environment: [String: String], providers: ProviderCatalog,
                transport: ((TaskConfig, [Endpoint]) -> Transport)? = nil) {
        self.environment = environment
        self.home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        self.localUser = environment["USER"] ?? NSUserName()
        self.providers = providers
        self.transport = transport
    }

    /// Where sessions live: --sessions, else $CLOUDTASK_SESSIONS, else ~/.cloudtask.
    public func sessionsRoot(_ config: TaskConfig) -> String {
        config.sessions ?? environment["CLOUDTASK_SESSIONS"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.cloudtask"
    }
}

/// Where a new task's jobs come from.
public enum JobSource {
    /// All known before the run (a batch read whole).
    case list([JobSpec])
    /// Lines still being read (cloudtask's stdin, a template's): `first` are the jobs of the first read, checked
    /// before anything runs, which took input lines up to `lines`; the run takes the rest as they arrive.
    case stream(JobInput, first: [JobSpec], lines: Int)
    /// Added while the run goes on (ctsh's `t:add` and generators): how many is not known up front, so
    /// nothing is capped by it.
    case open
}

/// A task to assemble: a new session, or a saved one continued.
public enum TaskOrigin {
    case new(TaskConfig, JobSource)
    /// Session `id` under the root of `config` (the front end's options): `configure` lays the front end's
    /// overrides over the saved configuration. With `retry`, every job that did not exit 0 runs again.
    case resume(id: Int, retry: Bool, config: TaskConfig, configure: (TaskConfig) throws -> TaskConfig)
}

/// A task's shape, decided before anything starts: what `--dry-run` and the confirmation show.
public struct TaskPlan {
    public let config: TaskConfig
    /// The workers given, resolved (~/.ssh/config, a launched pool's pinned keys).
    public let endpoints: [Endpoint]
    /// Workers used at once.
    public let split: Int
    /// The provider that launches workers (the one named; `local` when no workers are given), and how many.
    public let provider: String?
    public let launch: Int
    /// The jobs known now, in memory: all of a new batch, or a stream's first read (none for a saved session,
    /// whose jobs stay in its journal: see `forEachJob`).
    public let jobs: [JobSpec]
    /// How many jobs the run starts with: a new batch's (so far, for a stream), a saved session's unfinished ones.
    public let jobCount: Int
    /// A stream whose input had not ended after its first read: more jobs come as lines arrive.
    public let streaming: Bool
    let source: JobSource?
    /// A saved session, opened and locked.
    public let session: Session?
    /// Every job of a saved session, as this run takes them (retried ones reset to pending).
    let index: JobIndex?
    /// --retry: the jobs reset to pending are journaled as reset when the run starts.
    public let retrying: Bool
    /// What the journal said of itself (a torn tail dropped).
    public let journalNotes: [String]
    /// "session N: resuming 3 of 10 jobs (...)", for a saved session.
    public let resumeNote: String?
    /// Its generator had not finished, or its input was not read to its end: what is not part of the session.
    public let generatorNote: String?
    /// Set when a saved session has nothing to run: what to say (the run is not needed).
    public let nothingToDo: String?
    /// --env's variables, resolved from the environment of this run.
    public var passed: [PassedVariable] = []
    /// What ~/.ssh/config's resolution warned of (a Match exec not run), each once.
    public var sshConfigWarnings: [String] {
        endpoints.flatMap(\.configWarnings).reduce(into: []) { list, warning in
            if !list.contains(warning) { list.append(warning) }
        }
    }
    /// --sudo, with its password read (from --sudo-password-file or $CLOUDTASK_SUDO_PASSWORD).
    public var sudo: SudoLogin?

    /// Calls `body` with every job the run would start, in order: a saved session's read back from its
    /// journal one at a time (for --dry-run).
    public func forEachJob(_ body: (JobSpec) -> Void) throws {
        guard let index, let session else { return jobs.forEach(body) }
        _ = try Journal.scan(path: session.path + "/journal") { record, _ in
            if case .job(let spec) = record, spec.number <= index.count, !index.state(spec.number - 1).finished {
                body(spec)
            }
        }
    }
}

extension TaskPlan {
    /// "workers (2 at once, 1 slots each): root@127.0.1.1:22 root@127.0.1.2:22 + 1 launched by local", for --dry-run.
    public var fleetSummary: String {
        let launching = launch > 0 ? " + \(launch) launched by \(provider ?? "?")" : ""
        let workers = endpoints.map { $0.slotsPrefix + "\($0.user)@\($0.host):\($0.port)" }.joined(separator: " ")
        return "workers (\(split) at once, \(config.slots) slots each): \(workers)\(launching)"
    }
}

/// An assembled task, ready to run.
public struct AssembledTask {
    public let plan: TaskPlan
    public let session: Session
    public let runner: Runner
    public let transport: Transport
    /// Instances an earlier run of the session left alive, destroyed before this one: how many, and those
    /// that could not be destroyed (id: why).
    public let leftoversDestroyed: Int
    public let leftoverFailures: [String: String]
}

public enum TaskAssembly {
    // MARK: - Plan

    /// Decides the task's workers, provider, launch count and split; opens a saved session. Throws a
    /// UsageError (the message names the option) for what no run could fix.
    public static func plan(_ origin: TaskOrigin, context: TaskContext) throws -> TaskPlan {
        switch origin {
        case .new(var config, let source):
            _ = try JobRecipe(config)  // a bad --colsep, -I or --return is refused before anything runs
            if config.movesFiles {
                config.localDirectory = config.localDirectory ?? FileManager.default.currentDirectoryPath
            }
            let endpoints = try resolveWorkers(config, context: context)
            var jobs: [JobSpec] = []
            var count: Int?       // what caps the split: the jobs, when all of them are known
            var streaming = false
            switch source {
            case .list(let list): jobs = list; count = list.count
            case .stream(let input, let first, _):
                jobs = first
                streaming = !input.exhausted
                if !streaming { count = first.count }
            case .open: break
            }
            let (split, provider, launch) = try shape(config, workers: endpoints.count, jobs: count)
            let passed = try PassedEnvironment.resolve(config, environment: context.environment, resuming: false)
            let sudo = try SudoLogin.resolve(config, environment: context.environment)
            var plan = TaskPlan(config: config, endpoints: endpoints, split: split, provider: provider, launch: launch,
                            jobs: jobs, jobCount: jobs.count, streaming: streaming, source: source, session: nil,
                            index: nil, retrying: false, journalNotes: [], resumeNote: nil, generatorNote: nil,
                            nothingToDo: nil)
            plan.passed = passed
            plan.sudo = sudo
            return plan
        case .resume(let id, let retry, let base, let configure):
            let (session, savedConfig, scan) = try Session.resume(root: context.sessionsRoot(base), id: id)
            var config = try configure(savedConfig)
            config.command = savedConfig.command
            // Jobs made later (a ctsh generator's) are made as the session's first ones were.
            (config.lines, config.null, config.colsep, config.replace) =
                (savedConfig.lines, savedConfig.null, savedConfig.colsep, savedConfig.replace)
            config.sessions = savedConfig.sessions
            let index = scan.index
            let total = index.count
            let note: String
            var nothingToDo: String?
            var unfinished = 0
            if retry {
                for i in 0..<total where index.state(i) != .exited(0) {
                    index.setState(i, .pending); index.setRetried(i, 0); index.setDeaths(i, 0)
                    unfinished += 1
                }
                note = "session \(id): retrying \(unfinished) of \(total) jobs"
                if unfinished == 0 { nothingToDo = "session \(id): nothing to retry, every job exited 0" }
            } else {
                for i in 0..<total where !index.state(i).finished { unfinished += 1 }
                note = "session \(id): resuming \(unfinished) of \(total) jobs"
                    + " (\(total - unfinished) finished keep their results)"
                if unfinished == 0 { nothingToDo = "session \(id) finished" }
            }
            var generator: String?
            if scan.generatorOpen {
                generator = "its job generator had not finished: "
                    + "inputs it had not produced yet are not known to the session"
            } else if let line = scan.inputCutAfterLine {
                generator = "its input was read up to line \(line), not to its end: "
                    + "later lines are not part of the session"
            }
            if let nothingToDo {
                // Said before any worker or split is looked at: a finished session needs neither.
                session.writeJobsView(index)  // the view may predate the last results
                return TaskPlan(config: config, endpoints: [], split: 1, provider: nil, launch: 0, jobs: [],
                                jobCount: 0, streaming: false, source: nil, session: session, index: index,
                                retrying: retry, journalNotes: scan.notes, resumeNote: note, generatorNote: generator,
                                nothingToDo: nothingToDo)
            }
            let endpoints = try resolveWorkers(config, context: context)
            let (split, provider, launch) = try shape(config, workers: endpoints.count, jobs: unfinished)
            let passed = try PassedEnvironment.resolve(config, environment: context.environment, resuming: true)
            let sudo = try SudoLogin.resolve(config, environment: context.environment)
            var plan = TaskPlan(config: config, endpoints: endpoints, split: split, provider: provider, launch: launch,
                            jobs: [], jobCount: unfinished, streaming: false, source: nil, session: session,
                            index: index, retrying: retry, journalNotes: scan.notes, resumeNote: note,
                            generatorNote: generator, nothingToDo: nil)
            plan.passed = passed
            plan.sudo = sudo
            return plan
        }
    }

    /// The rules every front end shares: the provider named launches workers, and `local` does when none
    /// are given; without a provider, --split may not exceed the workers given; the split is never more
    /// than the jobs (when they are known); the provider launches what the split asks beyond the workers.
    static func shape(_ config: TaskConfig, workers: Int, jobs: Int?) throws
        -> (split: Int, provider: String?, launch: Int) {
        let provider = config.launchingProvider
        let wanted = config.split ?? max(1, workers)
        if provider == nil && wanted > workers {
            throw UsageError("--split=\(wanted) exceeds the \(workers) workers given (--workers);"
                + " launching more needs a provider")
        }
        let split = max(1, jobs.map { min(wanted, $0) } ?? wanted)
        return (split, provider, provider == nil ? 0 : max(0, split - workers))
    }

    /// The workers of `config`: its list or file resolved with ~/.ssh/config, and a launched pool's workers
    /// (a cloudtask-launch-workers file) tied to their session's launch key and pinned host keys.
    public static func resolveWorkers(_ config: TaskConfig, context: TaskContext) throws -> [Endpoint] {
        let endpoints: [Endpoint]
        do {
            let resolved = try Endpoints.resolve(config, home: context.home, localUser: context.localUser)
            endpoints = LaunchedPools.attach(resolved, workersValue: config.workers.first ?? "",
                                             sessionsRoot: context.sessionsRoot(config))
        } catch {
            throw UsageError("--workers: \(error)")
        }
        return endpoints
    }

    // MARK: - Build

    /// A new session for `config` under its root; an error names the sessions folder's trouble.
    static func createSession(_ config: TaskConfig, context: TaskContext) throws -> Session {
        do { return try Session.create(root: context.sessionsRoot(config), config: config) } catch {
            throw UsageError("sessions: \(error)")
        }
    }

    /// Creates (or takes the opened) session, makes the provider and destroys what an earlier run of the
    /// session left alive, and makes the runner. Nothing has been started when it returns.
    public static func build(_ plan: TaskPlan, context: TaskContext, display: RunDisplay?) throws -> AssembledTask {
        let session = try plan.session ?? createSession(plan.config, context: context)
        var provider: Provider?
        var destroyed = 0
        var failures: [String: String] = [:]
        if let name = plan.provider {
            do {
                provider = try context.providers.make(name, sessionPath: session.path, config: plan.config, ownKeys: [])
            } catch {
                session.unlock()
                throw UsageError("--provider=\(name): \(error)")
            }
            (destroyed, failures) = Leftovers.destroy(sessionPath: session.path, provider: provider!)
        }
        guard let makeTransport = context.transport else {
            preconditionFailure("TaskAssembly.build: the context has no transport")
        }
        let transport = makeTransport(plan.config, plan.endpoints)
        let runner: Runner
        if let index = plan.index {
            runner = Runner(config: plan.config, index: index, endpoints: plan.endpoints, split: plan.split,
                            transport: transport, session: session, reset: plan.retrying,
                            provider: provider, launch: plan.launch, display: display)
        } else if case .stream(let input, _, let lines)? = plan.source {
            runner = Runner(config: plan.config, jobs: plan.jobs, endpoints: plan.endpoints, split: plan.split,
                            transport: transport, session: session, provider: provider, launch: plan.launch,
                            display: display, input: input, firstReadLines: lines)
        } else {
            runner = Runner(config: plan.config, jobs: plan.jobs, endpoints: plan.endpoints, split: plan.split,
                            transport: transport, session: session, provider: provider, launch: plan.launch,
                            display: display)
        }
        runner.passedEnvironment = plan.passed
        runner.sudo = plan.sudo
        return AssembledTask(plan: plan, session: session, runner: runner, transport: transport,
                             leftoversDestroyed: destroyed, leftoverFailures: failures)
    }
}
