// ctsh: the Lua shell over the CloudTask engine. `ctsh` (REPL), `ctsh FILE.lua [ARGS]`, `ctsh -e CHUNK`,
// `-i` for the REPL after.
import Engine
import Foundation
import LuaShell

let usage = """
usage: ctsh [-i] [-e CHUNK] [FILE.lua [ARGS...]]
  ctsh                  interactive shell (libedit editing, history, tab completion)
  ctsh FILE.lua ARGS    run a script (arg[0] = FILE, arg[1..] = ARGS); works as #!/usr/bin/env ctsh
  ctsh -e CHUNK         run a chunk and print its results
  ctsh -i ...           enter the shell after the script or chunk
  the shell first runs $XDG_CONFIG_HOME/cloudtask/ctshrc.lua (default ~/.config/cloudtask/ctshrc.lua)
  ctsh - ARGS           run the script on stdin (what ctsh does when stdin is not a terminal)
bindings: workers{...}, task{...}, split(t, n), abort(t), resume(id, {...}), sessions(); help() in the shell

"""

var arguments = Array(CommandLine.arguments.dropFirst())
var chunks: [String] = []
var interactive = false
var script: String?
while let first = arguments.first {
    if first == "-e" {
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(Data("ctsh: -e needs a chunk\n".utf8))
            exit(2)
        }
        chunks.append(arguments[1])
        arguments.removeFirst(2)
    } else if first == "-i" {
        interactive = true
        arguments.removeFirst()
    } else if first == "-h" || first == "--help" {
        print(usage, terminator: "")
        exit(0)
    } else if first == "--generate-completion-script" || first.hasPrefix("--generate-completion-script=") {
        do {
            print(Command.ctsh.answer(try Command.ctsh.parse(Array(arguments.prefix(2)))) ?? "", terminator: "")
            exit(0)
        } catch { FileHandle.standardError.write(Data("ctsh: \(error)\n".utf8)); exit(2) }
    } else if first == "--" {
        arguments.removeFirst()
        break
    } else if first.hasPrefix("-") && first != "-" {
        FileHandle.standardError.write(Data("ctsh: unknown option \(first) (see ctsh --help)\n".utf8))
        exit(2)
    } else {
        break
    }
}
if let first = arguments.first {
    script = first
    arguments.removeFirst()
}
// As the standalone lua does: with nothing to run and stdin not a terminal, stdin is the script.
if script == nil && chunks.isEmpty && !interactive && isatty(0) == 0 { script = "-" }

let environment = ProcessInfo.processInfo.environment
let shell = Shell(environment: environment)
signal(SIGPIPE, SIG_IGN)
FileLimit.raise()  // each worker costs descriptors: see FileLimit
let onSignal: @convention(c) (Int32) -> Void = { _ in Shell.interrupt() }
signal(SIGINT, onSignal)
signal(SIGTERM, onSignal)

var status: Int32 = 0
for chunk in chunks where status == 0 { status = shell.runChunk(chunk) }
if status == 0, let script { status = shell.runScript(script, arguments: arguments) }
if interactive || (chunks.isEmpty && script == nil) {
    // After the script or chunks of `-i`, so that they run alike with and without it.
    shell.runStartupFile(Shell.startupFile(environment: environment))
    let state = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
        ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state"
    status = shell.repl(historyFile: state + "/cloudtask/ctsh_history")
}
shell.shutdown()
exit(status)
