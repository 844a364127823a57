// ctsh's task primitives: task{...}, resume, templates, and a task's steps (add, run, split, abort). Every
// task is assembled by the engine's TaskAssembly, as cloudtask's are: same workers, provider, split, session.
import Engine
import Foundation
import LuaVM
import Terminal

extension Bindings {
    /// Plans `origin` and builds its runner; the engine's usage errors read `FUNCTION: message`.
    func assemble(_ origin: TaskOrigin, function: String) throws -> (TaskPlan, TaskHandle) {
        do {
            let plan = try TaskAssembly.plan(origin, context: context)
            for warning in plan.sshConfigWarnings {
                FileHandle.standardError.write(Data("ctsh: \(function): warning: \(warning)\n".utf8))
            }
            let display = TerminalDisplay(quiet: plan.config.quiet == true)
            let assembled = try TaskAssembly.build(plan, context: context, display: display)
            return (plan, TaskHandle(assembled, display: display))
        } catch let error as UsageError {
            throw BindingError("\(function): \(error.message)")
        }
    }

    func registerTasks() {
        lua.register("__ct_task_new") { [unowned self] call in
            guard case .table(let table) = try call.value(1) else { throw call.argumentError(1, "table expected") }
            if case .table(let pool)? = table[.string("workers")], pool.isEmpty, table[.string("provider")] == nil {
                throw BindingError("task: no workers (give workers = {...}, a pool, or a provider)")
            }
            let config = try self.config(from: table, base: try self.environmentConfig(), function: "task")
            let (_, handle) = try self.assemble(.new(config, .open), function: "task")
            return [.integer(self.keep(handle)), .integer(handle.session.id)]
        }
        lua.register("__ct_resume") { [unowned self] call in
            let id = try call.integer(1)
            var options: [LuaValue: LuaValue] = [:]
            if call.count >= 2, case .table(let table) = try call.value(2) { options = table }
            let retry = options[.string("retry")] == .bool(true)
            let origin = TaskOrigin.resume(id: id, retry: retry, config: try self.environmentConfig()) { saved in
                try self.config(from: options, base: saved, function: "resume")
            }
            let (plan, handle) = try self.assemble(origin, function: "resume")
            return [.integer(self.keep(handle)), .integer(id), .integer(plan.jobs.count),
                    .string(plan.generatorNote ?? "")]
        }
        // A task template: environment < template < the script's arguments (cloudtask's options), jobs from stdin.
        // Returns (handle, session), or (nil, message, exit status) when there is nothing to run.
        lua.register("__ct_template") { [unowned self] call in
            guard case .table(let table) = try call.value(1) else { throw call.argumentError(1, "table expected") }
            var arguments: [String] = []
            if case .table(let args) = try call.value(2) { arguments = Bindings.list(args) }
            do {
                let template = try self.config(from: table, base: try self.environmentConfig(), function: "template")
                var (config, flags) = try Options.parse(arguments, environment: [:], base: template)
                if flags.help { return [.nil, .string(Options.help(program: "template")), .integer(0)] }
                if flags.resume != nil || flags.retry != nil {
                    return [.nil, .string("--resume/--retry: use cloudtask --resume=ID on the template's session"),
                            .integer(2)]
                }
                config.command = template.command + config.command
                let recipe = try JobRecipe(config)
                let input = JobInput(fd: 0, separator: config.recordEnd)
                let first: (jobs: [JobSpec], lines: Int)
                do { first = try Batch.firstRead(input, recipe: recipe) } catch {
                    return [.nil, .string("stdin: \(error); nothing was run"), .integer(2)]
                }
                if first.jobs.isEmpty && input.exhausted { return [.nil, .string("no jobs, nothing to do"), .integer(0)] }
                let plan = try TaskAssembly.plan(.new(config, .stream(input, first: first.jobs, lines: first.lines)),
                                                 context: self.context)
                if flags.dryRun {
                    try plan.forEachJob { FileHandle.standardOutput.write(Data($0.text + [10])) }
                    return [.nil, .string(plan.fleetSummary), .integer(0)]
                }
                let display = TerminalDisplay(quiet: config.quiet == true)
                let assembled = try TaskAssembly.build(plan, context: self.context, display: display)
                let handle = TaskHandle(assembled, display: display)
                return [.integer(self.keep(handle)), .integer(handle.session.id)]
            } catch let error as UsageError {
                return [.nil, .string(error.message), .integer(2)]
            } catch let error as BindingError {
                return [.nil, .string(error.description), .integer(2)]
            }
        }
        lua.register("__ct_task_add") { [unowned self] call in
            let handle = try self.task(call)
            if handle.summary != nil {
                throw BindingError("the task has finished: resume(\(handle.session.id)) gives a task "
                                   + "of the same session that takes more jobs")
            }
            let input = Array(try call.string(2).utf8)
            do {
                // nil: blank or comment (or an empty record with lines = true): no job, as on cloudtask's stdin
                return [try handle.runner.add(record: input).map { .integer($0) } ?? .nil]
            } catch let error as JobLineError {
                throw BindingError("bad job input \(String(decoding: input, as: UTF8.self)): \(error.message)")
            }
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
            // A task behind the prompt (t:start()) draws no progress line; one in the foreground (t:run()) does.
            handle.display.showsProgress = try call.count >= 3 && call.value(3) == .bool(true)
            if !handle.started {
                handle.started = true
                handle.runner.collectResults = true
                handle.runner.start()
            }
            guard handle.summary == nil else { return [.bool(false), .table([:]), .integer(0)] }
            let running = handle.runner.step(timeout: timeout)
            let results = handle.runner.takeResults().enumerated().map {
                (LuaValue.integer($0.offset + 1), Bindings.table($0.element))
            }
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
    }

    // MARK: - Conversions

    static func table(_ result: JobResult) -> LuaValue {
        var entry: [LuaValue: LuaValue] = [
            .string("job"): .integer(result.number),
            .string("input"): .string(String(decoding: result.input, as: UTF8.self)),
            .string("command"): .string(String(decoding: result.text, as: UTF8.self)),
            .string("worker"): .string(result.worker),
            .string("seconds"): .number(result.seconds), .string("attempt"): .integer(result.attempt),
            .string("output"): .string(String(decoding: result.tail, as: UTF8.self)),
            .string("final"): .bool(result.final),
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
        var table: [LuaValue: LuaValue] = [.string("session"): .integer(session), .string("total"): .integer(summary.total),
                .string("ok"): .integer(summary.ok),
                .string("failed"): .integer(summary.failed), .string("timeouts"): .integer(summary.timeouts),
                .string("pending"): .integer(summary.pending), .string("lost"): .integer(summary.lost),
                .string("seconds"): .number(summary.seconds), .string("exit"): .integer(Int(summary.exitCode))]
        if let fault = summary.fault { table[.string("error")] = .string(fault) }  // said once already, by the display
        return .table(table)
    }
}
