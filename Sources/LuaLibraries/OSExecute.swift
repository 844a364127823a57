// os.execute without system(3): glibc's system() ignores SIGINT and SIGQUIT in the whole process while its
// child runs, so a Ctrl-C (or the SIGINT that aborts cloudtask) landing then was lost. This runs the command
// with /bin/sh -c through Subprocess, with Lua's own results.
import Engine
import Foundation
import LuaVM

public enum OSExecute {
    /// Replaces `os.execute` in `lua`.
    public static func register(_ lua: LuaState) {
        lua.register("__ct_execute") { call in
            // a shell is there
            guard call.count >= 1, case .string(let command) = try call.value(1) else { return [.bool(true)] }
            fflush(nil)  // what Lua printed comes before the command's output, as with system()
            guard let result = try? Subprocess.run(["/bin/sh", "-c", command],
                                                   input: .inherit, output: .inherit, error: .inherit) else {
                return [.nil, .string("exit"), .integer(127)]
            }
            if let signal = result.signal { return [.nil, .string("signal"), .integer(Int(signal))] }
            return [result.status == 0 ? .bool(true) : .nil, .string("exit"), .integer(Int(result.status))]
        }
        _ = try? lua.run("os.execute = __ct_execute; __ct_execute = nil", name: "=os.execute")
    }
}
