// The `lua` provider: a Lua file returning {launch = function(count, ctx), destroy = function(instances, ctx)},
// so a user can script any cloud (with the `http` binding). Runs in a Lua state of its own, used one call at
// a time on a serial queue of its own: a slow launch does not hold up the run, and destroy waits for it.
import Engine
import Foundation
import HTTP
import LuaVM
import Providers

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
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        lua.register("__ct_record") { [unowned self] call in
            guard case .table(let fields) = try call.value(1), let id = fields[.string("id")]?.text, let host = fields[.string("host")]?.text else {
                throw BindingError("ctx.record: instance table with id and host expected")
            }
            let instance = Instance(id: id, provider: self.name, host: host, port: fields[.string("port")]?.integer ?? 22,
                                    user: fields[.string("user")]?.text ?? user)
            try self.ledger?.record("launch", instance)
            self.recorded[id] = instance
            return []
        }
        lua.register("__ct_free_port") { call in [.integer(try LocalProvider.freePort(try call.string(1)))] }
        let publicKey = ((try? String(contentsOfFile: sessionKey + ".pub", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let setup = """
        local path, session, key = ...
        local provider = dofile(path)
        if type(provider) ~= "table" or type(provider.launch) ~= "function" or type(provider.destroy) ~= "function" then
          error(path .. ": a provider returns a table with launch and destroy functions", 0)
        end
        local ctx = {session = session, public_key = key, record = __ct_record, free_port = __ct_free_port}
        function __ct_provider_launch(count)
          local rows = {}
          for _, i in ipairs(provider.launch(count, ctx) or {}) do
            if not i.id or not i.host then error(path .. ": launch must return instances with id and host", 0) end
            rows[#rows + 1] = table.concat({i.id, i.host, i.port or 22, i.user or ""}, "\\t")
          end
          return table.concat(rows, "\\n")
        end
        function __ct_provider_list()
          if type(provider.list) ~= "function" then return "" end
          local rows = {}
          for _, i in ipairs(provider.list(ctx) or {}) do
            if not i.id then error(path .. ": list must return instances with id", 0) end
            rows[#rows + 1] = table.concat({i.id, i.host or "", i.port or 22, i.user or ""}, "\\t")
          end
          return table.concat(rows, "\\n")
        end
        function __ct_provider_destroy(ids)
          local instances = {}
          for id in ids:gmatch("[^\\n]+") do instances[#instances + 1] = {id = id} end
          local failed = provider.destroy(instances, ctx) or {}
          local rows = {}
          for id, why in pairs(failed) do rows[#rows + 1] = id .. "\\t" .. tostring(why) end
          return table.concat(rows, "\\n")
        end
        """
        lua.register("__ct_setup_args") { _ in [.string(file), .string(sessionPath), .string(publicKey)] }
        do { try lua.run("return (load(...))(__ct_setup_args())".replacingOccurrences(of: "...", with: luaQuoted(setup)), name: "=provider") } catch let error as LuaError {
            throw ProviderError(error.message)
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
        let rows: String
        do { rows = try lua.run("return __ct_provider_launch(\(count))", name: "=\(name)").first ?? "" } catch let error as LuaError {
            throw ProviderError("launch: \(error.message)")
        }
        var up: [Instance] = []
        for var instance in instances(rows) {
            if let known = recorded[instance.id] {
                instance.user = known.user  // as ctx.record had it; host and port as launch returned them
            } else {
                try ledger.record("launch", instance)  // the script did not record it first
            }
            up.append(instance)
        }
        return up
    }

    /// The instances of the prelude's rows (`id TAB host TAB port TAB user`, one per line).
    private func instances(_ rows: String) -> [Instance] {
        rows.split(separator: "\n").compactMap { row in
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else { return nil }
            return Instance(id: fields[0], provider: name, host: fields[1], port: Int(fields[2]) ?? 22,
                            user: fields[3].isEmpty ? (ProcessInfo.processInfo.environment["USER"] ?? NSUserName()) : fields[3])
        }
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
            let rows: String
            do { rows = try lua.run("return __ct_provider_list()", name: "=\(name)").first ?? "" } catch let error as LuaError {
                throw ProviderError("list: \(error.message)")
            }
            return instances(rows)
        }
    }

    /// Runs the script's destroy on the provider's thread, after any launch under way, and waits for it.
    public func destroy(_ instances: [Instance]) -> [String: String] {
        queue.sync { runDestroy(instances) }
    }

    private func runDestroy(_ instances: [Instance]) -> [String: String] {
        let ids = instances.map(\.id).joined(separator: "\n")
        do {
            let rows = try lua.run("return __ct_provider_destroy(\(luaQuoted(ids)))", name: "=\(name)").first ?? ""
            var failures: [String: String] = [:]
            for row in rows.split(separator: "\n") {
                let fields = row.split(separator: "\t", maxSplits: 1).map(String.init)
                failures[fields[0]] = fields.count > 1 ? fields[1] : "not destroyed"
            }
            return failures
        } catch {
            return Dictionary(uniqueKeysWithValues: instances.map { ($0.id, "\(error)") })
        }
    }
}

/// A Lua string literal for `text` (decimal escapes for everything but plain printable ASCII).
func luaQuoted(_ text: String) -> String {
    var out = "\""
    for byte in text.utf8 {
        if byte >= 32 && byte < 127 && byte != 34 && byte != 92 { out.append(Character(UnicodeScalar(byte))) } else { out += "\\\(byte)" }
    }
    return out + "\""
}

/// `http.request{url = ..., method = "GET", headers = {...}, body = "...", timeout = 30}` -> {status, headers, body}.
enum HTTPBinding {
    static func register(_ lua: LuaState) {
        lua.register("__ct_http") { call in
            guard case .table(let options) = try call.value(1), let url = options[.string("url")]?.text else {
                throw BindingError("bad argument #1 to 'request' (table with url expected)")
            }
            var headers: [(String, String)] = []
            if case .table(let entries)? = options[.string("headers")] {
                for (key, value) in entries { if let k = key.text, let v = value.text { headers.append((k, v)) } }
            }
            let body = options[.string("body")]?.text.map { Array($0.utf8) }
            let timeout: Double = options[.string("timeout")].flatMap { if case .number(let d) = $0 { return d }; return $0.integer.map(Double.init) } ?? 30
            let client = try HTTPClient()
            let response = try client.request(method: options[.string("method")]?.text ?? (body == nil ? "GET" : "POST"), url: url,
                                              headers: headers, body: body, timeout: timeout)
            var responseHeaders: [LuaValue: LuaValue] = [:]
            for (name, value) in response.headers { responseHeaders[.string(name.lowercased())] = .string(value) }
            return [.table([.string("status"): .integer(Int(response.status)), .string("body"): .string(String(decoding: response.body, as: UTF8.self)),
                            .string("headers"): .table(responseHeaders)])]
        }
        _ = try? lua.run("http = {request = __ct_http}; __ct_http = nil", name: "=http")
    }
}
