// ctsh's shell: one Lua state with the bindings, running a script, a chunk, or the REPL (libedit).
import Engine
import Foundation
import LineEditor
import LuaLibraries
import LuaVM

public final class Shell {
    let lua: LuaState
    let bindings: Bindings
    /// True while a task runs in the foreground: Ctrl-C then aborts the task, not the Lua code driving it.
    nonisolated(unsafe) public static var foregroundTask = false
    /// True while the prompt waits: Ctrl-C then clears the line.
    nonisolated(unsafe) public static var atPrompt = false

    /// `CTSH_MEMORY_LIMIT` (MiB, default 4096) bounds the Lua heap, so a runaway script fails with "not enough memory".
    public init(environment: [String: String]) {
        let megabytes = environment["CTSH_MEMORY_LIMIT"].flatMap { Int($0) } ?? 4096
        lua = LuaState(memoryLimit: megabytes << 20)
        bindings = Bindings(lua: lua, environment: environment)
        HTTPBinding.register(lua)
        OSExecute.register(lua)
        lua.enableInterrupts()
        lua.register("__ct_foreground") { call in
            Shell.foregroundTask = (try? call.value(1)) == .bool(true)
            return []
        }
        do {
            for chunk in Prelude.chunks { try lua.run(chunk, name: "=prelude") }
        } catch {
            fatalError("ctsh prelude: \(error)")
        }
    }

    /// What Ctrl-C does, from the signal handler: only flags, read where it is safe.
    public static func interrupt() {
        if atPrompt {
            LineEditor.interruptPending = 1
        } else if foregroundTask {
            Runner.interrupts += 1
        } else {
            LuaState.interrupt()
        }
    }

    /// Aborts tasks still running and cleans up their workers (at exit).
    public func shutdown() { bindings.shutdown() }

    // MARK: - Scripts

    /// Runs a script file as `lua` does; returns the exit status (1 after an error, printed as FILE:LINE:
    /// message and a traceback).
    /// A script whose main chunk returns a table is a task template (see the prelude's __ct_template).
    public func runScript(_ path: String, arguments: [String]) -> Int32 {
        lua.setArguments(script: path, arguments)
        do {
            return Int32(clamping: try lua.call("__ct_script", [.string(path)]).first?.integer ?? 0)
        } catch let error as LuaError {
            report(error)
            return 1
        } catch {
            FileHandle.standardError.write(Data("ctsh: \(error)\n".utf8))
            return 1
        }
    }

    /// Runs the startup file at `path` (a missing one is no error), before the REPL's first prompt. An error in
    /// it is printed (`FILE:LINE: message` and a traceback) and the shell goes on; returns false then.
    @discardableResult
    public func runStartupFile(_ path: String) -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return true }
        do {
            _ = try lua.call("__ct_startup", [.string(path)])
            return true
        } catch let error as LuaError {
            report(error)
            return false
        } catch {
            FileHandle.standardError.write(Data("ctsh: \(path): \(error)\n".utf8))
            return false
        }
    }

    /// `$XDG_CONFIG_HOME/cloudtask/ctshrc.lua`, else `~/.config/cloudtask/ctshrc.lua`.
    public static func startupFile(environment: [String: String]) -> String {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) + "/.config"
        return config + "/cloudtask/ctshrc.lua"
    }

    /// Runs one chunk (`ctsh -e`); its results are printed as the REPL does.
    public func runChunk(_ source: String) -> Int32 {
        evaluate(source, whole: true) == "error" ? 1 : 0
    }

    private func report(_ error: LuaError) {
        var text = "ctsh: " + error.message
        let traceback = Shell.userFrames(error.traceback)
        if !traceback.isEmpty { text += "\n" + traceback }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A script's traceback down to its main chunk, without the frames of ctsh's own prelude;
    /// empty when nothing of the script's own is left (an error in loading it).
    static func userFrames(_ traceback: String) -> String {
        var lines = traceback.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let cut = lines.firstIndex(where: { $0.hasPrefix("\tprelude:") || $0 == "\t(...tail calls...)" }) {
            lines.removeSubrange(cut...)
            if let last = lines.indices.last, lines[last].hasSuffix(": in local 'chunk'") {
                lines[last] = String(lines[last].dropLast(": in local 'chunk'".count)) + ": in main chunk"
            }
        }
        let frames = lines.dropFirst().filter { $0 != "\t[C]: in function 'error'" }
        return frames.isEmpty ? "" : lines.joined(separator: "\n")
    }

    /// Evaluates REPL input through the prelude's evaluator: "ok", "error" or "incomplete" (never when `whole`).
    func evaluate(_ source: String, whole: Bool = false) -> String {
        let arguments: [LuaValue] = whole
            ? [.string(source), .string("=(command line)"), .bool(true)]
            : [.string(source), .string("=stdin")]
        do {
            return try lua.call("__ct_repl", arguments).first?.text ?? "error"
        } catch let error as LuaError {
            report(error)
            return "error"
        } catch {
            return "error"
        }
    }

    // MARK: - REPL

    /// The interactive loop: `ctsh> ` prompt, `>> ` while a statement is incomplete, Ctrl-D to leave.
    public func repl(historyFile: String?) -> Int32 {
        if let historyFile {
            try? FileManager.default.createDirectory(atPath: (historyFile as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        LineEditor.installHooks()
        let editor = LineEditor(historyFile: historyFile, historySize: 1000)
        LineEditor.idle = { [unowned self] in
            Shell.atPrompt = false
            _ = try? self.lua.call("__ct_idle")
            Shell.atPrompt = true
        }
        LineEditor.completer = { [unowned self] word, line in
            guard let results = try? self.lua.call("__ct_complete", [.string(word), .string(line)]),
                  case .table(let found)? = results.first else { return ([], false) }
            return (Bindings.list(found), results.dropFirst().first == .bool(true))
        }
        var buffer = ""
        while true {
            Shell.atPrompt = true
            let line = editor.readLine(prompt: buffer.isEmpty ? "ctsh> " : ">> ")
            Shell.atPrompt = false
            guard let line else { print(""); break }
            if LineEditor.cancelled {
                LuaState.clearInterrupt()
                buffer = ""
                continue
            }
            buffer += buffer.isEmpty ? line : "\n" + line
            if buffer.trimmingCharacters(in: .whitespaces).isEmpty { buffer = ""; continue }
            let status = evaluate(buffer)
            if status == "incomplete" { continue }
            editor.addHistory(buffer)
            try? editor.saveHistory()
            buffer = ""
        }
        return 0
    }
}
