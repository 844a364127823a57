// Plain Swift values crossing into and out of Lua: conversion to and from the Lua stack.
import CLua

/// A Lua value that Swift can hold. Functions, userdata and threads are not representable.
public enum LuaValue: Hashable, Sendable {
    case `nil`
    case bool(Bool)
    case number(Double)
    case integer(Int)
    case string(String)
    /// A table; nil and NaN keys are dropped when it is pushed, as Lua cannot store them.
    case table([LuaValue: LuaValue])
}

extension LuaValue {
    /// Pushes the value onto the stack (one slot; tables need three more while they are built).
    func push(_ L: OpaquePointer) {
        switch self {
        case .nil: lua_pushnil(L)
        case .bool(let value): lua_pushboolean(L, value ? 1 : 0)
        case .number(let value): lua_pushnumber(L, value)
        case .integer(let value): lua_pushinteger(L, lua_Integer(value))
        case .string(let value):
            var value = value
            value.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
            }
        case .table(let entries):
            lua_createtable(L, 0, Int32(clamping: entries.count))
            guard lua_checkstack(L, 3) != 0 else { return }
            for (key, value) in entries {
                if key == .nil { continue }
                if case .number(let number) = key, number.isNaN { continue }
                key.push(L)
                value.push(L)
                lua_rawset(L, -3)
            }
        }
    }

    /// The string at `index` (strings only, no number conversion), bytes that are not UTF-8 repaired.
    static func string(at index: Int32, _ L: OpaquePointer) -> String? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var length = 0
        guard let bytes = lua_tolstring(L, index, &length) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    /// Reads the value at `index` without calling metamethods. `path` holds the tables being
    /// read, so that a table containing itself fails instead of recursing forever.
    static func read(at index: Int32, _ L: OpaquePointer, path: inout Set<UnsafeRawPointer>) throws -> LuaValue {
        switch lua_type(L, index) {
        case LUA_TNONE, LUA_TNIL: return .nil
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, index) != 0)
        case LUA_TNUMBER:
            return lua_isinteger(L, index) != 0
                ? .integer(Int(lua_tointegerx(L, index, nil)))
                : .number(lua_tonumberx(L, index, nil))
        case LUA_TSTRING: return .string(string(at: index, L) ?? "")
        case LUA_TTABLE:
            let table = lua_absindex(L, index)
            guard let identity = lua_topointer(L, table), path.insert(identity).inserted else {
                throw LuaCallContext.Failure(message: "cannot convert a table that contains itself")
            }
            defer { path.remove(identity) }
            guard lua_checkstack(L, 3) != 0 else { throw LuaCallContext.Failure(message: "table nested too deeply") }
            var entries: [LuaValue: LuaValue] = [:]
            lua_pushnil(L)
            while lua_next(L, table) != 0 {
                entries[try read(at: -2, L, path: &path)] = try read(at: -1, L, path: &path)
                lua_settop(L, -2)
            }
            return .table(entries)
        default:
            let type = String(cString: lua_typename(L, lua_type(L, index)))
            throw LuaCallContext.Failure(message: "cannot convert a \(type) value")
        }
    }
}

extension LuaValue {
    /// The value as a whole number (an integer, or a float with an exact integer value).
    public var integer: Int? {
        switch self {
        case .integer(let n): return n
        case .number(let d): return Int(exactly: d)
        default: return nil
        }
    }
    /// The value as text (a string, or an integer written out).
    public var text: String? {
        switch self {
        case .string(let s): return s
        case .integer(let n): return String(n)
        default: return nil
        }
    }
}
