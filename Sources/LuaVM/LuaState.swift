// One Lua interpreter: running chunks and files under lua_pcall with a traceback handler,
// and registering Swift functions behind the C trampoline in shim.h.
import CLua

/// One `lua_State` with the standard libraries open. Use it from one thread only.
public final class LuaState {
    private var state: OpaquePointer?
    /// Swift closures the trampolines point at; kept alive until `lua_close` has run every `__gc`.
    private var bindings: [LuaBinding] = []

    private let budget: UnsafeMutablePointer<ct_lua_budget>

    /// Creates a state with the standard libraries (`luaL_openlibs`); past `memoryLimit` bytes
    /// (0 = none) allocations fail and Lua raises "not enough memory".
    public init(memoryLimit: Int = 0) {
        budget = .allocate(capacity: 1)
        budget.initialize(to: ct_lua_budget(used: 0, limit: max(0, memoryLimit)))
        guard let state = ct_lua_newstate(budget) else { fatalError("LuaState: cannot allocate a Lua state") }
        luaL_openlibs(state)
        self.state = state
    }

    /// Bytes the state holds now.
    public var memoryUsed: Int { budget.pointee.used }

    deinit {
        close()
        budget.deallocate()
    }

    /// Closes the state (`lua_close`); later calls on this object are a programming error.
    public func close() {
        guard let state else { return }
        lua_close(state)
        self.state = nil
        bindings = []
    }

    // MARK: - Running code

    /// Loads and calls `chunk` (text only), returning its results as `tostring` would show them.
    /// `name` is Lua's chunk name: `=chunk` makes messages read `chunk:LINE: message`.
    @discardableResult
    public func run(_ chunk: String, name: String = "=chunk") throws -> [String] {
        let L = handle()
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        lua_pushcclosure(L, ct_lua_msghandler, 0)
        let loaded = chunk.utf8CString.withUnsafeBufferPointer { buffer in
            luaL_loadbufferx(L, buffer.baseAddress, buffer.count - 1, name, "t")
        }
        guard loaded == LUA_OK else { throw failure(L, loaded, "loading \(name)") }
        let status = ct_lua_pcall(L, 0, LUA_MULTRET, base + 1)
        guard status == LUA_OK else { throw failure(L, status, "running \(name)") }
        return try (base + 2 ..< lua_gettop(L) + 1).map { try display(L, $0, handler: base + 1) }
    }

    /// Calls the global function `function` with `arguments` under `lua_pcall` and returns its results as
    /// plain values (tables as tables): Lua and Swift exchange values, never generated source or text rows.
    @discardableResult
    public func call(_ function: String, _ arguments: [LuaValue] = []) throws -> [LuaValue] {
        let L = handle()
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        guard lua_checkstack(L, Int32(clamping: arguments.count + 2)) != 0 else {
            throw LuaError(code: LUA_ERRRUN, message: "too many arguments", traceback: "",
                           context: "calling \(function)")
        }
        lua_pushcclosure(L, ct_lua_msghandler, 0)
        ct_lua_pushglobaltable(L)
        LuaValue.string(function).push(L)
        lua_rawget(L, -2)
        lua_rotate(L, -2, 1)
        lua_settop(L, -2)  // drops the globals table, leaving the function
        for argument in arguments { argument.push(L) }
        let status = ct_lua_pcall(L, Int32(arguments.count), LUA_MULTRET, base + 1)
        guard status == LUA_OK else { throw failure(L, status, "calling \(function)") }
        var path = Set<UnsafeRawPointer>()
        do {
            return try (base + 2 ..< lua_gettop(L) + 1).map { try LuaValue.read(at: $0, L, path: &path) }
        } catch {
            throw LuaError(code: LUA_ERRRUN, message: "\(function): \(error)", traceback: "",
                           context: "calling \(function)")
        }
    }

    /// Runs a script file as the standalone `lua` does: global `arg` holds the script at 0 and
    /// `args` from 1, and the chunk receives `args` as `...`. A first line starting with `#` is skipped.
    public func runFile(path: String, args: [String]) throws {
        let L = handle()
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        setArguments(script: path, args)
        lua_pushcclosure(L, ct_lua_msghandler, 0)
        let loaded = luaL_loadfilex(L, path, nil)
        guard loaded == LUA_OK else { throw failure(L, loaded, "loading \(path)") }
        guard lua_checkstack(L, Int32(args.count)) != 0 else {
            throw LuaError(code: LUA_ERRRUN, message: "too many arguments", traceback: "", context: "running \(path)")
        }
        for argument in args { LuaValue.string(argument).push(L) }
        let status = ct_lua_pcall(L, Int32(args.count), 0, base + 1)
        guard status == LUA_OK else { throw failure(L, status, "running \(path)") }
    }

    /// Sets the global `arg` as the standalone `lua` does: the script at 0, its arguments from 1.
    public func setArguments(script: String, _ args: [String]) {
        let L = handle()
        lua_createtable(L, Int32(args.count), 1)
        LuaValue.string(script).push(L)
        lua_rawseti(L, -2, 0)
        for (index, argument) in args.enumerated() {
            LuaValue.string(argument).push(L)
            lua_rawseti(L, -2, lua_Integer(index + 1))
        }
        setGlobal(L, "arg")
    }

    // MARK: - Interrupts

    /// Lets `interrupt()` stop running Lua code with the error "interrupted".
    public func enableInterrupts() { ct_lua_enable_interrupts(handle()) }

    /// Async-signal-safe: running Lua code raises "interrupted" within 1000 instructions.
    public static func interrupt() { ct_lua_interrupt() }

    /// Forgets an interrupt nobody consumed (Ctrl-C while no Lua code ran).
    public static func clearInterrupt() { ct_lua_clear_interrupt() }

    // MARK: - Swift functions

    /// Makes `fn` callable from Lua as the global `name`. Errors it throws become Lua errors
    /// (catchable with `pcall`), raised by the C trampoline once the Swift frame has returned.
    public func register(_ name: String, _ fn: @escaping (LuaCallContext) throws -> [LuaValue]) {
        let L = handle()
        let binding = LuaBinding(name: name, fn: fn)
        bindings.append(binding)
        let slot = lua_newuserdatauv(L, MemoryLayout<ct_lua_binding>.size, 0)!
        let call: ct_lua_swift_function = { L, context in
            Unmanaged<LuaBinding>.fromOpaque(context!).takeUnretainedValue().call(L!)
        }
        slot.initializeMemory(
            as: ct_lua_binding.self,
            repeating: ct_lua_binding(call: call, context: Unmanaged.passUnretained(binding).toOpaque()),
            count: 1)
        lua_pushcclosure(L, ct_lua_trampoline, 1)
        setGlobal(L, name)
    }

    // MARK: - Helpers

    private func handle() -> OpaquePointer {
        guard let state else { preconditionFailure("LuaState used after close()") }
        return state
    }

    /// Pops the value on top and stores it in the globals table without metamethods.
    private func setGlobal(_ L: OpaquePointer, _ name: String) {
        ct_lua_pushglobaltable(L)
        LuaValue.string(name).push(L)
        lua_rotate(L, -3, -1)  // globals, name, value
        lua_rawset(L, -3)
        lua_settop(L, -2)
    }

    /// `luaL_tolstring` of the value at `index`, run protected because `__tostring` may raise.
    private func display(_ L: OpaquePointer, _ index: Int32, handler: Int32) throws -> String {
        lua_pushcclosure(L, ct_lua_tostring, 0)
        lua_pushvalue(L, index)
        let status = ct_lua_pcall(L, 1, 1, handler)
        guard status == LUA_OK else { throw failure(L, status, "converting result \(index - handler)") }
        defer { lua_settop(L, -2) }
        return LuaValue.string(at: -1, L) ?? ""
    }

    /// The error on top of the stack as a `LuaError`, split from the traceback the handler appended.
    private func failure(_ L: OpaquePointer, _ code: Int32, _ context: String) -> LuaError {
        let text = LuaValue.string(at: -1, L)
            ?? "(error object is a \(String(cString: lua_typename(L, lua_type(L, -1)))) value)"
        guard let split = text.ranges(of: "\nstack traceback:\n").last else {
            return LuaError(code: code, message: text, traceback: "", context: context)
        }
        return LuaError(code: code, message: String(text[..<split.lowerBound]),
                        traceback: String(text[text.index(after: split.lowerBound)...]), context: context)
    }
}

/// A registered Swift function, called by the trampoline through `ct_lua_binding`.
final class LuaBinding {
    let name: String
    let fn: (LuaCallContext) throws -> [LuaValue]

    init(name: String, fn: @escaping (LuaCallContext) throws -> [LuaValue]) {
        self.name = name
        self.fn = fn
    }

    /// Pushes the results and returns their count, or pushes the message and returns -1
    /// so that the trampoline raises it.
    func call(_ L: OpaquePointer) -> Int32 {
        do {
            let results = try fn(LuaCallContext(state: L, name: name))
            guard lua_checkstack(L, Int32(clamping: results.count)) != 0 else {
                throw LuaCallContext.Failure(message: "too many results from '\(name)'")
            }
            for result in results { result.push(L) }
            return Int32(results.count)
        } catch {
            LuaValue.string(String(describing: error)).push(L)
            return -1
        }
    }
}
