// The engine's primitives as Lua functions (__ct_*); the prelude (Prelude.swift) builds the user-facing
// bindings (workers, task, split, abort, resume, sessions) on top of them in Lua.
import Engine
import Foundation
import LuaVM
import Providers
import SSH

/// One task the shell started: its engine run and what it needs to accept more jobs.
final class TaskHandle {
    let runner: Runner
    let session: Session
    let command: [String]
    var started = false
    var summary: RunSummary?
    init(runner: Runner, session: Session, command: [String]) { self.runner = runner; self.session = session; self.command = command }
}

public final class Bindings {
    let lua: LuaState
    let home: String
    let environment: [String: String]
    private var tasks: [Int: TaskHandle] = [:]
    /// Pools launched by workers{launch = N}, by session id: their session folder and provider, destroyed by
    /// pool:destroy() or at exit.
    private var launchedPools: [Int: (path: String, provider: Provider)] = [:]
    private var nextHandle = 1

    public init(lua: LuaState, environment: [String: String]) {
        self.lua = lua
        self.environment = environment
        self.home = environment["HOME"] ?? NSHomeDirectory()
        register()
    }

    /// Aborts every task still running (the shell is exiting): jobs stopped, workers cleaned up, sessions saved.
    public func shutdown() {
        for id in launchedPools.keys.sorted() { _ = destroyPool(id) }
        for handle in tasks.values where handle.started && handle.summary == nil {
            handle.runner.abort()
            while handle.runner.step(timeout: 0.2) {}
            handle.summary = handle.runner.finish()
            handle.session.unlock()
        }
    }

    // MARK: - Configuration

    /// A Lua options table as cloudtask arguments, so validation and messages are the CLI's own.
    func config(from table: [LuaValue: LuaValue], base: TaskConfig = TaskConfig(), function: String) throws -> TaskConfig {
        var arguments: [String] = []
        for (key, value) in table {
            guard case .string(let name) = key else { continue }
            let option = name.replacingOccurrences(of: "_", with: "-")
            if ["command", "jobs", "on_result", "identity"].contains(name) { continue }
            switch value {
            case .bool(true): arguments.append("--\(option)")
            case .bool(false), .nil: continue
            case .integer(let n): arguments.append("--\(option)=\(n)")
            case .number(let n): arguments.append("--\(option)=\(n)")
            case .string(let s): arguments.append("--\(option)=\(s)")
            case .table(let entries):
                guard name == "workers" else { throw BindingError("bad field '\(name)' to '\(function)' (not a table option)") }
                let list = entries.sorted { ($0.key.integer ?? 0) < ($1.key.integer ?? 0) }.compactMap { $0.value.text }
                if !list.isEmpty { arguments.append("--workers=\(list.joined(separator: " "))") }  // an empty pool: no workers given
            }
        }
        if case .string(let identity)? = table[.string("identity")] { arguments.append("--ssh-identity=\(identity)") }
        do {
            var (config, _) = try Options.parse(arguments, environment: [:], base: base)
            config.command = command(table[.string("command")])
            return config
        } catch let error as UsageError {
            throw BindingError("bad option to '\(function)': \(error.message)")
        }
    }

    /// CLOUDTASK_* settings, the base every task, template and fleet command starts from.
    func environmentConfig() throws -> TaskConfig {
        do { return try Options.parse([], environment: environment).0 } catch let error as UsageError { throw BindingError(error.message) }
    }

    func command(_ value: LuaValue?) -> [String] {
        switch value {
        case .string(let text)?: return [text]
        case .table(let entries)?: return entries.sorted { ($0.key.integer ?? 0) < ($1.key.integer ?? 0) }.compactMap { $0.value.text }
        default: return []
        }
    }

    func transport(_ config: TaskConfig) -> SSHTransport {
        SSHTransport(settings: .init(
            knownHosts: config.knownHosts ?? home + "/.ssh/known_hosts",
            hostKeyPolicy: HostKeyPolicy(rawValue: config.hostKeyPolicy) ?? .acceptNew,
            defaultIdentities: [home + "/.ssh/id_ed25519", home + "/.ssh/id_ecdsa"],
            useAgent: environment["SSH_AUTH_SOCK"] != nil))
    }

    func endpoints(_ config: TaskConfig) throws -> [Endpoint] {
        do { return try Endpoints.resolve(config, home: home, localUser: environment["USER"] ?? NSUserName()) }
        catch { throw BindingError("bad workers: \(error)") }
    }

    var sessionsRoot: String { environment["CLOUDTASK_SESSIONS"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.cloudtask" }

    // MARK: - Launched pools

    /// A pool launched from ctsh: its session, the provider, and the instances that came up.
    struct LaunchedPool {
        let session: Int
        let provider: Provider
        let instances: [Instance]
    }

    /// Launches `count` workers with provider `providerName` (`config` holds its settings) into a session of
    /// their own, waiting for them to come up within the boot timeout.
    func launchPool(count: Int, providerName: String, config base: TaskConfig) throws -> LaunchedPool {
        var config = base
        config.provider = providerName
        let session = try Session.create(root: config.sessions ?? sessionsRoot, config: config)
        defer { session.unlock() }
        let provider: Provider
        do { provider = try ProviderFactory.make(providerName, sessionPath: session.path, config: config, environment: environment) } catch {
            throw BindingError("workers: provider \(providerName): \(error)")
        }
        let ledger = Ledger(sessionPath: session.path)
        launchedPools[session.id] = (session.path, provider)
        do {
            try provider.launch(count: count, ledger: ledger)
            var instances: [Instance] = []
            let deadline = Date().addingTimeInterval(config.bootTimeout ?? 600)
            while instances.count < count && Date() < deadline {
                instances += try provider.ready()
                if instances.count < count { usleep(20_000) }
            }
            for instance in instances { try? ledger.record("up", instance) }
            guard instances.count == count else {
                throw BindingError("workers: \(instances.count) of \(count) workers came up within the boot timeout")
            }
            return LaunchedPool(session: session.id, provider: provider, instances: instances)
        } catch {
            _ = destroyPool(session.id)
            throw error as? BindingError ?? BindingError("workers: provider \(providerName): \(error)")
        }
    }

    /// Destroys what a launched pool's ledger (or its provider) holds alive; returns how many could not be destroyed.
    func destroyPool(_ id: Int) -> Int {
        guard let pool = launchedPools.removeValue(forKey: id) else { return 0 }
        return ProviderFactory.destroyLeftovers(sessionPath: pool.path, provider: pool.provider).failures.count
    }

    // MARK: - Primitives

    private func register() {
        lua.register("__ct_launch") { [unowned self] call in
            let count = try call.integer(1)
            guard count >= 1 else { throw call.argumentError(1, "launch must be 1 or more") }
            let providerName = try call.string(2)
            var settings: [LuaValue: LuaValue] = [:]
            if call.count >= 3, case .table(let table) = try call.value(3) { settings = table }
            settings[.string("provider")] = .string(providerName)  // checked by cloudtask's parser before a session exists
            let config = try self.config(from: settings, base: try self.environmentConfig(), function: "workers")
            let pool = try self.launchPool(count: count, providerName: providerName, config: config)
            var hosts: [LuaValue: LuaValue] = [:]
            for (index, instance) in pool.instances.enumerated() {
                hosts[.integer(index + 1)] = .string(WorkerAddress(host: instance.host, port: instance.port).description)
            }
            return [.integer(pool.session), .table(hosts), .string(pool.provider.identity), .string(pool.provider.knownHosts),
                    .string(pool.provider.hostKeyPolicy.rawValue), .string(pool.instances.first?.user ?? "")]
        }
        lua.register("__ct_destroy_pool") { [unowned self] call in
            [.integer(self.destroyPool(try call.integer(1)))]
        }
        lua.register("__ct_task_new") { [unowned self] call in
            guard case .table(let table) = try call.value(1) else { throw call.argumentError(1, "table expected") }
            let config = try self.config(from: table, base: try self.environmentConfig(), function: "task")
            let endpoints = try self.endpoints(config)
            guard !endpoints.isEmpty || config.provider != nil else { throw BindingError("task: no workers (give workers = {...}, a pool, or a provider)") }
            let split = config.split ?? max(1, endpoints.count)
            guard split <= endpoints.count || config.provider != nil else {
                throw BindingError("task: split = \(split) exceeds the \(endpoints.count) workers given; launching more needs a provider")
            }
            let session = try Session.create(root: config.sessions ?? self.sessionsRoot, config: config)
            let provider = try config.provider.map { try ProviderFactory.make($0, sessionPath: session.path, config: config, environment: self.environment) }
            let runner = Runner(config: config, jobs: [], endpoints: endpoints, split: split, transport: self.transport(config), session: session,
                                provider: provider, launch: max(0, split - endpoints.count))
            return [.integer(self.keep(TaskHandle(runner: runner, session: session, command: config.command))), .integer(session.id)]
        }
        lua.register("__ct_resume") { [unowned self] call in
            let id = try call.integer(1)
            let options: [LuaValue: LuaValue]
            if call.count >= 2, case .table(let table) = try call.value(2) { options = table } else { options = [:] }
            let (session, saved, replay) = try Session.open(root: self.sessionsRoot, id: id)
            var config = try self.config(from: options, base: saved, function: "resume")
            config.command = saved.command
            var jobs = replay.jobs
            let retry = options[.string("retry")] == .bool(true)
            if retry {
                for i in jobs.indices where jobs[i].state != .exited(0) { jobs[i].state = .pending; jobs[i].retried = 0; jobs[i].deaths = 0 }
            }
            let endpoints = try self.endpoints(config)
            let pending = jobs.filter { !$0.state.finished }.count
            let providerName = config.provider ?? (endpoints.isEmpty ? "local" : nil)
            let provider = try providerName.map { try ProviderFactory.make($0, sessionPath: session.path, config: config, environment: self.environment) }
            if let provider { _ = ProviderFactory.destroyLeftovers(sessionPath: session.path, provider: provider) }
            let split = max(1, min(config.split ?? max(1, endpoints.count), pending))
            let runner = Runner(config: config, saved: jobs, fresh: false, endpoints: endpoints, split: split, transport: self.transport(config),
                                session: session, reset: retry, provider: provider, launch: max(0, split - endpoints.count))
            let note = replay.generatorOpen ? "its job generator had not finished: inputs it had not produced yet are not known to the session" : ""
            return [.integer(self.keep(TaskHandle(runner: runner, session: session, command: config.command))), .integer(id),
                    .integer(pending), .string(note)]
        }
        // A task template: environment < template < the script's arguments (cloudtask's options), jobs from stdin.
        // Returns (handle, session), or (nil, message, exit status) when there is nothing to run.
        lua.register("__ct_template") { [unowned self] call in
            guard case .table(let table) = try call.value(1) else { throw call.argumentError(1, "table expected") }
            var arguments: [String] = []
            if case .table(let args) = try call.value(2) {
                arguments = (1...max(1, args.count)).compactMap { args[.integer($0)]?.text }
            }
            do {
                let template = try self.config(from: table, base: try self.environmentConfig(), function: "template")
                var (config, flags) = try Options.parse(arguments, environment: [:], base: template)
                if flags.help { return [.nil, .string(Options.help(program: "template")), .integer(0)] }
                if flags.resume != nil || flags.retry != nil {
                    return [.nil, .string("--resume/--retry: use cloudtask --resume=ID on the template's session"), .integer(2)]
                }
                config.command = template.command + config.command
                let jobs: [JobSpec]
                do { jobs = try Batch.jobs(Batch.readStandardInput(), command: config.command) } catch {
                    return [.nil, .string("stdin: \(error); nothing was run"), .integer(2)]
                }
                if jobs.isEmpty { return [.nil, .string("no jobs, nothing to do"), .integer(0)] }
                let endpoints = try self.endpoints(config)
                guard !endpoints.isEmpty else { return [.nil, .string("no workers: give workers in the template or --workers"), .integer(2)] }
                let split = try Batch.split(config, workers: endpoints.count, jobs: jobs.count)
                if flags.dryRun {
                    for job in jobs { FileHandle.standardOutput.write(Data(job.text + [10])) }
                    return [.nil, .string(""), .integer(0)]
                }
                let session = try Session.create(root: config.sessions ?? self.sessionsRoot, config: config)
                let runner = Runner(config: config, jobs: jobs, endpoints: endpoints, split: split, transport: self.transport(config), session: session)
                return [.integer(self.keep(TaskHandle(runner: runner, session: session, command: config.command))), .integer(session.id)]
            } catch let error as UsageError {
                return [.nil, .string(error.message), .integer(2)]
            } catch let error as BindingError {
                return [.nil, .string(error.description), .integer(2)]
            }
        }
        lua.register("__ct_task_add") { [unowned self] call in
            let handle = try self.task(call)
            if handle.summary != nil {
                throw BindingError("the task has finished: resume(\(handle.session.id)) gives a task of the same session that takes more jobs")
            }
            let input = Array(try call.string(2).utf8)
            let words: [[UInt8]]?
            do { words = try JobLine.words(input, lineNumber: 1) } catch {
                throw BindingError("bad job input \(String(decoding: input, as: UTF8.self)): unterminated quote")
            }
            guard let words else { return [.nil] }  // blank or comment: no job, as on cloudtask's stdin
            let text = ShellQuote.jobText(command: handle.command, words: words, rawLine: input)
            if let problem = JobSpec.problem(text: text) { throw BindingError("bad job input: the job \(problem)") }
            return [.integer(handle.runner.add(input: input, text: text))]
        }
        lua.register("__ct_task_expect") { [unowned self] call in
            let handle = try self.task(call)
            handle.runner.expectingMore = (try? call.value(2)) == .bool(true)
            handle.session.noteGenerator(open: handle.runner.expectingMore)
            return []
        }
        lua.register("__ct_task_step") { [unowned self] call in
            let handle = try self.task(call)
            let timeout = call.count >= 2 ? try call.number(2) : 1
            handle.runner.showsProgress = try call.count >= 3 && call.value(3) == .bool(true)
            if !handle.started {
                handle.started = true
                handle.runner.collectResults = true
                handle.runner.start()
            }
            guard handle.summary == nil else { return [.bool(false), .table([:]), .integer(0)] }
            let running = handle.runner.step(timeout: timeout)
            let results = handle.runner.takeResults().enumerated().map { (LuaValue.integer($0.offset + 1), Bindings.table($0.element)) }
            return [.bool(running), .table(Dictionary(uniqueKeysWithValues: results)), .integer(handle.runner.queued)]
        }
        lua.register("__ct_task_finish") { [unowned self] call in
            let handle = try self.task(call)
            if handle.summary == nil {
                if !handle.started { handle.started = true; handle.runner.start() }
                while handle.runner.step() {}
                handle.summary = handle.runner.finish()
                handle.session.unlock()
            }
            return [Bindings.table(handle.summary!, session: handle.session.id)]
        }
        lua.register("__ct_task_split") { [unowned self] call in
            let handle = try self.task(call)
            if call.count >= 2, (try? call.value(2)) != .nil {
                let n = try call.integer(2)
                guard n >= 1 else { throw call.argumentError(2, "split must be 1 or more") }
                handle.runner.workersInUse = n
            }
            return [.integer(handle.runner.workersInUse)]
        }
        lua.register("__ct_task_abort") { [unowned self] call in
            let handle = try self.task(call)
            if handle.started && handle.summary == nil { handle.runner.abort() }
            return []
        }
        lua.register("__ct_check_address") { call in
            do { _ = try WorkerAddress(parsing: try call.string(1)); return [.nil] } catch { return [.string("\(error)")] }
        }
        lua.register("__ct_sessions") { [unowned self] _ in
            let root = self.sessionsRoot
            let ids = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
            var list: [LuaValue: LuaValue] = [:]
            for id in ids {
                guard let bytes = FileManager.default.contents(atPath: "\(root)/\(id)/journal"),
                      let replay = try? Journal.replay(Array(bytes), name: "journal") else { continue }
                let counts = replay.counts
                let conf = Session.savedConfig("\(root)/\(id)")
                list[.integer(list.count + 1)] = .table([
                    .string("id"): .integer(id), .string("jobs"): .integer(replay.jobs.count),
                    .string("ok"): .integer(counts.ok), .string("failed"): .integer(counts.notOK),
                    .string("pending"): .integer(counts.pending + counts.running),
                    .string("command"): .string(conf.map { ShellQuote.display($0.command) } ?? ""),
                ])
            }
            return [.table(list)]
        }
        lua.register("__ct_fleet") { [unowned self] call in
            guard case .table(let table) = try call.value(1) else { throw call.argumentError(1, "table expected") }
            let command = try call.string(2)
            let config = try self.config(from: table, base: try self.environmentConfig(), function: "run")
            let endpoints = try self.endpoints(config)
            let results = Fleet.run(endpoints, command: command, transport: self.transport(config), timeout: config.timeout > 0 ? config.timeout : 3600)
            var list: [LuaValue: LuaValue] = [:]
            for (index, result) in results.enumerated() {
                var entry: [LuaValue: LuaValue] = [.string("host"): .string(result.label), .string("seconds"): .number(result.seconds),
                                                   .string("output"): .string(String(decoding: result.stdout, as: UTF8.self)),
                                                   .string("stderr"): .string(String(decoding: result.stderr, as: UTF8.self))]
                switch result.status {
                case .exited(let code)?: entry[.string("exit")] = .integer(code)
                case .signaled(let name)?: entry[.string("signal")] = .string(name)
                case nil: entry[.string("error")] = .string(result.error ?? "no answer")
                }
                list[.integer(index + 1)] = .table(entry)
            }
            return [.table(list)]
        }
    }

    private func keep(_ handle: TaskHandle) -> Int {
        let id = nextHandle
        nextHandle += 1
        tasks[id] = handle
        return id
    }

    private func task(_ call: LuaCallContext) throws -> TaskHandle {
        guard let handle = tasks[try call.integer(1)] else { throw BindingError("no such task") }
        return handle
    }

    // MARK: - Conversions

    static func table(_ result: JobResult) -> LuaValue {
        var entry: [LuaValue: LuaValue] = [
            .string("job"): .integer(result.number), .string("input"): .string(String(decoding: result.input, as: UTF8.self)),
            .string("command"): .string(String(decoding: result.text, as: UTF8.self)), .string("worker"): .string(result.worker),
            .string("seconds"): .number(result.seconds), .string("attempt"): .integer(result.attempt),
            .string("output"): .string(String(decoding: result.tail, as: UTF8.self)), .string("final"): .bool(result.final),
        ]
        switch result.state {
        case .exited(0): entry[.string("status")] = .string("ok"); entry[.string("exit")] = .integer(0)
        case .exited(let code): entry[.string("status")] = .string("failed"); entry[.string("exit")] = .integer(code)
        case .signaled(let name): entry[.string("status")] = .string("failed"); entry[.string("signal")] = .string(name)
        case .timeout: entry[.string("status")] = .string("timeout")
        case .lost: entry[.string("status")] = .string("lost")
        case .pending, .running: entry[.string("status")] = .string("pending")
        }
        return .table(entry)
    }

    static func table(_ summary: RunSummary, session: Int) -> LuaValue {
        .table([.string("session"): .integer(session), .string("total"): .integer(summary.total), .string("ok"): .integer(summary.ok),
                .string("failed"): .integer(summary.failed), .string("timeouts"): .integer(summary.timeouts),
                .string("pending"): .integer(summary.pending), .string("lost"): .integer(summary.lost),
                .string("seconds"): .number(summary.seconds), .string("exit"): .integer(Int(summary.exitCode))])
    }
}

struct BindingError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension LuaValue {
    var integer: Int? {
        switch self {
        case .integer(let n): return n
        case .number(let d): return Int(exactly: d)
        default: return nil
        }
    }
    var text: String? {
        switch self {
        case .string(let s): return s
        case .integer(let n): return String(n)
        default: return nil
        }
    }
}
