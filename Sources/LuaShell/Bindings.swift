// The engine's primitives as Lua functions (__ct_*), registered by TaskBindings.swift (tasks) and
// PoolBindings.swift (pools, fleet commands, sessions); the prelude builds the user-facing bindings on them.
// Here: the shared state, and how Lua tables become a task's configuration (typed values, no option text).
import Engine
import Foundation
import LuaVM
import Providers
import SSH
import Terminal

/// One task the shell started: its engine run, its display, and what it needs to accept more jobs.
final class TaskHandle {
    let runner: Runner
    let session: Session
    let display: TerminalDisplay
    var started = false
    var summary: RunSummary?
    init(_ task: AssembledTask, display: TerminalDisplay) {
        runner = task.runner; session = task.session; self.display = display
    }
}

public final class Bindings {
    let lua: LuaState
    let environment: [String: String]
    /// What every task, pool and fleet command of this shell is assembled with.
    let context: TaskContext
    var tasks: [Int: TaskHandle] = [:]
    /// Pools launched by workers{launch = N}, by session id: their session folder and provider, destroyed by
    /// pool:destroy() or at exit.
    var launchedPools: [Int: (path: String, provider: Provider)] = [:]
    private var nextHandle = 1

    public init(lua: LuaState, environment: [String: String]) {
        self.lua = lua
        self.environment = environment
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        // Where a person watches, an encrypted key is asked for once in the shell's life, as ssh-agent would.
        let keyring = Keyring(ask: { isatty(2) == 1 ? SecretPrompt.ask($0) : nil })
        context = TaskContext(environment: environment,
                              providers: ProviderFactory(environment: environment)) { config, endpoints in
            keyring.transport(config, unlocking: endpoints, home: home, environment: environment)
        }
        registerTasks()
        registerPools()
        registerRepl()
        lua.register("__ct_options") { _ in [Bindings.optionFields()] }
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

    func keep(_ handle: TaskHandle) -> Int {
        let id = nextHandle
        nextHandle += 1
        tasks[id] = handle
        return id
    }

    func task(_ call: LuaCallContext) throws -> TaskHandle {
        guard let handle = tasks[try call.integer(1)] else { throw BindingError("no such task") }
        return handle
    }

    // MARK: - Configuration

    /// The option fields for the prelude: `{split = {type = "number", scope = "task"}, ...}` from the options table.
    static func optionFields() -> LuaValue {
        var fields: [LuaValue: LuaValue] = [:]
        for field in Options.luaFields {
            fields[.string(field.field)] = .table([
                .string("type"): .string(field.type), .string("scope"): .string(field.scope),
            ])
        }
        return .table(fields)
    }

    /// Fields that are not options: the task's own (command, jobs, callbacks) and resume's `retry`.
    static let nonOptionFields: Set<String> = ["command", "jobs", "on_result", "retry"]

    /// A Lua table of options (field names as the options table gives them) over `base`; values are checked
    /// as cloudtask checks its options, and a bad one reads `bad option to 'task': --split=-1: ...`.
    func config(from table: [LuaValue: LuaValue], base: TaskConfig, function: String) throws -> TaskConfig {
        var fields: [(field: String, value: Options.Value)] = []
        for (key, value) in table {
            guard case .string(let name) = key, !Bindings.nonOptionFields.contains(name) else { continue }
            switch value {
            case .nil: continue
            case .bool(let on): fields.append((name, .flag(on)))
            case .integer(let n): fields.append((name, .text(String(n))))
            case .number(let n): fields.append((name, .text(String(n))))
            case .string(let s): fields.append((name, .text(s)))
            case .table(let entries): fields.append((name, .list(Bindings.list(entries))))
            }
        }
        do {
            var config = try Options.apply(fields: fields, to: base)
            config.command = command(table[.string("command")])
            return config
        } catch let error as UsageError {
            throw BindingError("bad option to '\(function)': \(error.message)")
        }
    }

    /// CLOUDTASK_* settings, the base every task, template and fleet command starts from.
    func environmentConfig() throws -> TaskConfig {
        do {
            return try Options.parse([], environment: environment).0
        } catch let error as UsageError {
            throw BindingError(error.message)
        }
    }

    func command(_ value: LuaValue?) -> [String] {
        switch value {
        case .string(let text)?: return [text]
        case .table(let entries)?: return Bindings.list(entries)
        default: return []
        }
    }

    /// A Lua sequence's items as text, in order.
    static func list(_ entries: [LuaValue: LuaValue]) -> [String] {
        entries.sorted { ($0.key.integer ?? 0) < ($1.key.integer ?? 0) }.compactMap { $0.value.text }
    }

    func endpoints(_ config: TaskConfig) throws -> [Endpoint] {
        do { return try TaskAssembly.resolveWorkers(config, context: context) } catch let error as UsageError {
            throw BindingError("bad workers: \(error.message.replacingOccurrences(of: "--workers: ", with: ""))")
        }
    }

    var sessionsRoot: String { context.sessionsRoot(TaskConfig()) }
}

struct BindingError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
