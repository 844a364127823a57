// The arguments of one call from Lua into a registered Swift function, checked the way luaL_check* does.
import CLua

/// One call from Lua to a registered Swift function. Valid only during that call.
public struct LuaCallContext {
    let state: OpaquePointer
    /// The name the function was registered under, used in argument errors.
    public let name: String

    /// A message that becomes the Lua error raised for the call.
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// How many arguments Lua passed.
    public var count: Int { Int(lua_gettop(state)) }

    /// Argument `index` (1-based) as a plain value; nil when absent.
    public func value(_ index: Int) throws -> LuaValue {
        var path = Set<UnsafeRawPointer>()
        do {
            return try LuaValue.read(at: Int32(index), state, path: &path)
        } catch let failure as Failure {
            throw argumentError(index, failure.message)
        }
    }

    /// Argument `index` as a string (numbers are converted in place, as `luaL_checkstring` does).
    public func string(_ index: Int) throws -> String {
        let type = lua_type(state, Int32(index))
        guard type == LUA_TSTRING || type == LUA_TNUMBER else { throw typeError(index, expected: "string") }
        lua_tolstring(state, Int32(index), nil)
        return LuaValue.string(at: Int32(index), state) ?? ""
    }

    /// Argument `index` as an integer (numeric strings and integral floats accepted, as `luaL_checkinteger` does).
    public func integer(_ index: Int) throws -> Int {
        var isInteger: Int32 = 0
        let value = lua_tointegerx(state, Int32(index), &isInteger)
        if isInteger != 0 { return Int(value) }
        if lua_isnumber(state, Int32(index)) != 0 { throw argumentError(index, "number has no integer representation") }
        throw typeError(index, expected: "number")
    }

    /// Argument `index` as a number (numeric strings accepted, as `luaL_checknumber` does).
    public func number(_ index: Int) throws -> Double {
        var isNumber: Int32 = 0
        let value = lua_tonumberx(state, Int32(index), &isNumber)
        if isNumber != 0 { return value }
        throw typeError(index, expected: "number")
    }

    /// An error shaped like Lua's: `bad argument #2 to 'name' (message)`.
    public func argumentError(_ index: Int, _ message: String) -> some Error {
        Failure(message: "bad argument #\(index) to '\(name)' (\(message))")
    }

    private func typeError(_ index: Int, expected: String) -> some Error {
        let actual = lua_type(state, Int32(index)) == LUA_TNONE
            ? "no value"
            : String(cString: lua_typename(state, lua_type(state, Int32(index))))
        return argumentError(index, "\(expected) expected, got \(actual)")
    }
}
