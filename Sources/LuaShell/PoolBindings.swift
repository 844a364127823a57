// ctsh's pool primitives: pools launched by a provider (workers{launch = N}) and destroyed, one-off fleet
// commands (pool:run, pool:ping), fleet copies (pool:put, pool:get), address checks, and the saved sessions.
import Engine
import Foundation
import LuaVM
import Terminal

extension Bindings {
    /// Destroys what a launched pool's ledger (or its provider) holds alive; returns how many could not be destroyed.
    func destroyPool(_ id: Int) -> Int {
        guard let pool = launchedPools.removeValue(forKey: id) else { return 0 }
        return Leftovers.destroy(sessionPath: pool.path, provider: pool.provider).failures.count
    }

    func registerPools() {
        lua.register("__ct_launch") { [unowned self] call in
            let count = try call.integer(1)
            guard count >= 1 else { throw call.argumentError(1, "launch must be 1 or more") }
            let providerName = try call.string(2)
            var settings: [LuaValue: LuaValue] = [:]
            if call.count >= 3, case .table(let table) = try call.value(3) { settings = table }
            // checked by cloudtask's parser before a session exists
            settings[.string("provider")] = .string(providerName)
            let config = try self.config(from: settings, base: try self.environmentConfig(), function: "workers")
            let pool: LaunchedPool
            do { pool = try PoolLaunch.run(count: count, config: config, context: self.context) } catch {
                throw BindingError("workers: \(error)")
            }
            self.launchedPools[pool.session.id] = (pool.session.path, pool.provider)
            guard pool.instances.count == count else {
                _ = self.destroyPool(pool.session.id)
                let why = pool.problems.first { !$0.isEmpty } ?? "\(pool.instances.count) of \(count) came up"
                throw BindingError("workers: provider \(providerName): \(why)")
            }
            var hosts: [LuaValue: LuaValue] = [:]
            for (index, instance) in pool.instances.enumerated() {
                let address = WorkerAddress(host: instance.host, port: instance.port)
                hosts[.integer(index + 1)] = .string(address.description)
            }
            return [.integer(pool.session.id), .table(hosts),
                    .string(pool.provider.identity), .string(pool.provider.knownHosts),
                    .string(pool.provider.hostKeyPolicy.rawValue), .string(pool.instances.first?.user ?? "")]
        }
        lua.register("__ct_destroy_pool") { [unowned self] call in
            [.integer(self.destroyPool(try call.integer(1)))]
        }
        // One pool entry to its addresses (a range or @group gives several), checked as cloudtask checks
        // --workers: the addresses as a list, or nil and why.
        lua.register("__ct_check_address") { call in
            do {
                var list: [LuaValue: LuaValue] = [:]
                for (index, address) in try WorkerList.expand(try call.string(1)).enumerated() {
                    list[.integer(index + 1)] = .string(address)
                }
                return [.table(list)]
            } catch {
                return [.nil, .string("\(error)")]
            }
        }
        lua.register("__ct_sessions") { [unowned self] _ in
            let root = self.sessionsRoot
            let ids = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
            var list: [LuaValue: LuaValue] = [:]
            for id in ids {
                // Streamed: a session of millions of jobs costs its job index, not its journal.
                guard let scan = try? Journal.scan(path: "\(root)/\(id)/journal", name: "journal") else { continue }
                let counts = scan.counts
                let conf = Session.savedConfig("\(root)/\(id)")
                list[.integer(list.count + 1)] = .table([
                    .string("id"): .integer(id), .string("jobs"): .integer(scan.index.count),
                    .string("ok"): .integer(counts.ok), .string("failed"): .integer(counts.notOK),
                    .string("pending"): .integer(counts.pending + counts.running),
                    .string("command"): .string(conf.map { ShellQuote.display($0.command) } ?? ""),
                ])
            }
            return [.table(list)]
        }
        lua.register("__ct_fleet") { [unowned self] call in
            let command = try call.string(2)
            guard let (config, endpoints, transport) = try self.fleet(call, function: "run") else { return [.table([:])] }
            let results: [FleetResult]
            Shell.foregroundTask = true  // Ctrl-C stops the command (hosts not done read "interrupted"), as a task's run
            defer { Shell.foregroundTask = false }
            do {
                results = try Fleet.run(endpoints, command: command, config: config, environment: self.environment,
                                        transport: transport)
            } catch let error as UsageError {
                throw BindingError("bad option to 'run': \(error.message)")
            }
            var list: [LuaValue: LuaValue] = [:]
            for (index, result) in results.enumerated() {
                var entry: [LuaValue: LuaValue] = [
                    .string("host"): .string(result.label), .string("seconds"): .number(result.seconds),
                    .string("output"): .string(String(decoding: result.stdout, as: UTF8.self)),
                    .string("stderr"): .string(String(decoding: result.stderr, as: UTF8.self)),
                ]
                switch result.status {
                case .exited(let code)?: entry[.string("exit")] = .integer(code)
                case .signaled(let name)?: entry[.string("signal")] = .string(name)
                case nil: entry[.string("error")] = .string(result.error ?? "no answer")
                }
                list[.integer(index + 1)] = .table(entry)
            }
            return [.table(list)]
        }
        // pool:put(local, remote) and pool:get(remote, localdir): the pool's table, then the two paths.
        for direction in [FileCopy.Direction.put, .get] {
            let name = direction == .put ? "put" : "get"
            lua.register("__ct_" + name) { [unowned self] call in
                let (first, second) = (try call.string(2), try call.string(3))
                guard let (config, endpoints, transport) = try self.fleet(call, function: name) else { return [.table([:])] }
                let request: Fleet.CopyRequest = direction == .put ? .put(local: first, remote: second)
                                                                   : .get(remote: first, localDir: second)
                let line = CopyProgressLine(verb: name, quiet: config.quiet == true)
                let results: [FleetCopyResult]
                Shell.foregroundTask = true
                defer { Shell.foregroundTask = false }
                do {
                    results = try Fleet.copy(endpoints, request, config: config, transport: transport, progress: line.update)
                } catch let error as UsageError {
                    // Before anything connects: a put's missing LOCAL, a get's LOCALDIR that cannot be made.
                    throw BindingError("bad argument #\(direction == .put ? 1 : 2) to '\(name)' (\(error.message))")
                }
                line.finish()
                var list: [LuaValue: LuaValue] = [:]
                for (index, result) in results.enumerated() {
                    var entry: [LuaValue: LuaValue] = [
                        .string("host"): .string(result.label), .string("ok"): .bool(result.ok),
                        .string("bytes"): .integer(Int(result.bytes)), .string("files"): .integer(result.files),
                        .string("seconds"): .number(result.seconds), .string("summary"): .string(result.summary),
                    ]
                    if let error = result.error { entry[.string("error")] = .string(error) }
                    if let via = result.via { entry[.string("via")] = .string(via) }
                    if let path = result.path { entry[.string("path")] = .string(path) }
                    list[.integer(index + 1)] = .table(entry)
                }
                return [.table(list)]
            }
        }
    }

    /// What a fleet primitive (pool:run, put, get) starts from: the pool's table (argument 1) as a configuration,
    /// its workers and a transport for them; nil when this shell has no transport.
    private func fleet(_ call: LuaCallContext, function: String) throws -> (TaskConfig, [Endpoint], Transport)? {
        guard case .table(let table) = try call.value(1) else { throw call.argumentError(1, "table expected") }
        let config = try self.config(from: table, base: try self.environmentConfig(), function: function)
        let endpoints = try self.endpoints(config)
        guard let transport = self.context.transport?(config, endpoints) else { return nil }
        return (config, endpoints, transport)
    }
}
