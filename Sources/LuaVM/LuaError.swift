// The error every failed Lua load or call becomes.
import CLua

/// A Lua failure: Lua's status code, its message and traceback, and what we were doing.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    /// Lua's status: `LUA_ERRSYNTAX`, `LUA_ERRRUN`, `LUA_ERRMEM`, `LUA_ERRERR` or `LUA_ERRFILE`.
    public let code: Int32
    /// Lua's message; for code errors its first line reads `name:LINE: message`.
    public let message: String
    /// `stack traceback:` and its frames; empty when nothing ran (load errors).
    public let traceback: String
    /// What we were doing, e.g. `running =chunk` or `loading script.lua`.
    public let context: String

    /// True for a compile error, e.g. an incomplete statement (message ending in `<eof>`).
    public var isSyntaxError: Bool { code == LUA_ERRSYNTAX }

    public var description: String {
        let kind = switch code {
        case LUA_ERRSYNTAX: "syntax error"
        case LUA_ERRMEM: "out of memory"
        case LUA_ERRERR: "error in error handler"
        case LUA_ERRFILE: "file error"
        default: "runtime error"
        }
        return "Lua \(kind) \(code) while \(context): \(message)"
    }
}
