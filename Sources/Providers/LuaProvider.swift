// The `lua` provider: a Lua file returning {launch = function(count, ctx), destroy = function(instances, ctx)},
// so a user can script any cloud (with the `http` binding). Runs in a Lua state of its own, used one call at
// a time on a serial queue of its own: a slow launch does not hold up the run, and destroy waits for it.
import Engine
import Foundation
import LuaLibraries
import LuaVM

public final class LuaProvider: Provider, @unchecked Sendable {
    public let name: String
    public let knownHosts: String
    public let identity: String
    let lua = LuaState(memoryLimit: 1 << 30)
    /// Every use of `lua` runs here, one at a time.
    private let queue = DispatchQueue(label: "cloudtask.lua-provider")
    private var ledger: Ledger?
    private var recorded: [String: Instance] = [:]
    /// Shared with the caller's thread, under `lock`: instances up, and launches that brought none.
    private let lock = NSLock()
    private var waiting: [Instance] = []
    private var missing: [String] = []

    /// Loads `file`; `sessionKey` is the private key launched workers must authorize (ctx.public_key).
    public init(file: String, sessionPath: String, sessionKey: String) throws {
        name = "lua:" + (file as NSString).lastPathComponent
        knownHosts = sessionPath + "/known_hosts"
        identity = sessionKey
        HTTPBinding.register(lua)
        OSExecute.register(lua)
        lua.register("__ct_record") { [unowned self] call in
            guard case .table(let fields) = try call.value(1),
                  let instance = self.instance(fields, requireHost: true) else {
                throw ProviderError("ctx.record: instance table with id and host expected")
            }
            try self.ledger?.record(.launch, instance)
            self.recorded[instance.id] = instance
            return []
        }
        lua.register("__ct_free_port") { call in [.integer(try LocalProvider.freePort(try call.string(1)))] }
        let publicKey = ((try? String(contentsOfFile: sessionKey + ".pub", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            try lua.run(LuaProvider.wrapper, name: "=provider")
            try lua.call("__ct_provider_setup", [.string(file), .string(sessionPath), .string(publicKey)])
        } catch let error as LuaError {
            throw ProviderError(error.message)
        }
    }

    /// The script's functions behind checked wrappers; instances cross to Swift as tables.
    private static let wrapper = """
    function __ct_provider_setup(path, session, key)
      local provider = dofile(path)
      if type(provider) ~= "table" or type(provider.launch) ~= "function" or type(provider.destroy) ~= "function" then
        error(path .. ": a provider returns a table with launch and destroy functions", 0)
      end
      local ctx = {session = session, public_key = key, record = __ct_record, free_port = __ct_free_port}
      local function instances(list, what, need_host)
        local rows = {}
        for _, i in ipairs(list or {}) do
          if type(i) ~= "table" or not i.id or (need_host and not i.host) then
            error(path .. ": " .. what .. " must return instances with id" .. (need_host and " and host" or ""), 0)
          end
          rows[#rows + 1] = {id = tostring(i.id), host = i.host and tostring(i.host), port = i.port, user = i.user}
        end
        return rows
      end
      function __ct_provider_launch(count) return instances(provider.launch(count, ctx), "launch", true) end
      function __ct_provider_list()
        if type(provider.list) ~= "function" then return {} end
        return instances(provider.list(ctx), "list", false)
      end
      function __ct_provider_destroy(list)
        local failed = {}
        for id, why in pairs(provider.destroy(list, ctx) or {}) do failed[tostring(id)] = tostring(why) end
        return failed
      end
    end
    """

    /// An instance from the table the script gave (id, host, port, user), or nil when it lacks id (or host).
    private func instance(_ fields: [LuaValue: LuaValue], requireHost: Bool) -> Instance? {
        guard let id = fields[.string("id")]?.text else { return nil }
        let host = fields[.string("host")]?.text
        if requireHost && host == nil { return nil }
        let port = fields[.string("port")].flatMap { $0.integer ?? $0.text.flatMap { Int($0) } } ?? 22
        let user = fields[.string("user")]?.text.flatMap { $0.isEmpty ? nil : $0 }
        return Instance(id: id, provider: name, host: host ?? "", port: port,
                        user: user ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName())
    }

    /// The instance tables of a wrapper's first result, in order.
    private func instances(_ results: [LuaValue], requireHost: Bool) -> [Instance] {
        guard case .table(let rows)? = results.first else { return [] }
        return (1...max(1, rows.count)).compactMap { index in
            guard case .table(let fields)? = rows[.integer(index)] else { return nil }
            return instance(fields, requireHost: requireHost)
        }
    }

    /// Starts the script's launch on the provider's thread and returns.
    public func launch(count: Int, ledger: Ledger) throws {
        queue.async { [self] in
            self.ledger = ledger
            var up: [Instance] = []
            var problem = ""
            do { up = try runLaunch(count: count, ledger: ledger) } catch { problem = "\(error)" }
            if problem.isEmpty && up.count < count { problem = "launch returned \(up.count) of \(count) instances" }
            lock.lock()
            waiting += up
            // One error per instance that will not come; said once.
            if up.count < count { missing += [problem] + Array(repeating: "", count: count - up.count - 1) }
            lock.unlock()
        }
    }

    private func runLaunch(count: Int, ledger: Ledger) throws -> [Instance] {
        let results: [LuaValue]
        do { results = try lua.call("__ct_provider_launch", [.integer(count)]) } catch let error as LuaError {
            throw ProviderError("launch: \(error.message)")
        }
        var up: [Instance] = []
        for var instance in instances(results, requireHost: true) {
            if let known = recorded[instance.id] {
                instance.user = known.user  // as ctx.record had it; host and port as launch returned them
            } else {
                try ledger.record(.launch, instance)  // the script did not record it first
            }
            up.append(instance)
        }
        return up
    }

    /// Instances launched since the last call; when there are none, one instance a launch did not bring
    /// is reported as an error (the engine counts one per call; an empty message is not shown).
    public func ready() throws -> [Instance] {
        lock.lock()
        defer { lock.unlock() }
        if !waiting.isEmpty {
            defer { waiting = [] }
            return waiting
        }
        if !missing.isEmpty { throw ProviderError(missing.removeFirst()) }
        return []
    }

    /// Waits for a launch under way.
    public func settle() { queue.sync {} }

    /// What the script's optional `list(ctx)` finds alive; none when it has no `list`.
    public func list() throws -> [Instance] {
        try queue.sync {
            do {
                return instances(try lua.call("__ct_provider_list"), requireHost: false)
            } catch let error as LuaError {
                throw ProviderError("list: \(error.message)")
            }
        }
    }

    /// Runs the script's destroy on the provider's thread, after any launch under way, and waits for it.
    public func destroy(_ instances: [Instance]) -> [String: String] {
        queue.sync { runDestroy(instances) }
    }

    private func runDestroy(_ instances: [Instance]) -> [String: String] {
        var list: [LuaValue: LuaValue] = [:]
        for (index, instance) in instances.enumerated() {
            list[.integer(index + 1)] = .table([.string("id"): .string(instance.id)])
        }
        do {
            guard case .table(let failed)? = try lua.call("__ct_provider_destroy", [.table(list)]).first else {
                return [:]
            }
            var failures: [String: String] = [:]
            for (id, why) in failed { if let id = id.text { failures[id] = why.text ?? "not destroyed" } }
            return failures
        } catch {
            return Dictionary(uniqueKeysWithValues: instances.map { ($0.id, "\(error)") })
        }
    }
}
