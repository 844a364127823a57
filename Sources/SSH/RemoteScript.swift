// The exec request for one command: the wrapper that runs it under /bin/sh on the worker.
import Engine

enum RemoteScript {
    /// The wrapper: the command runs under /bin/sh with stdin from /dev/null, inside the process group sshd
    /// made for this session (sshd calls setsid for each exec). libssh2 1.10 cannot signal a channel, so a
    /// watcher reads the channel's stdin: when we close the channel (timeout, abort) or the connection dies,
    /// it reads EOF and kills the whole group, TERM then KILL. The command is evaluated in a subshell with
    /// no positional parameters (what `/bin/sh -c` gives it, but without exec'ing another shell: about 12%
    /// more jobs per second, since sshd and the shells are the whole cost of a job); the wrapper's own
    /// variables have names no job uses.
    /// Dropbear runs the command in its connection process's group (no setsid): there the wrapper (passed again
    /// as $2) runs itself again under `setsid` first, or `kill 0` would kill the connection too; without setsid
    /// it refuses, naming it (`MissingTool`), rather than run a job it could not kill alone.
    static let killable = [
        leadsItsGroup,
        "exec 3<&0 </dev/null",
        "{ read _ <&3; trap '' TERM; kill -TERM 0; sleep 2; kill -KILL 0; } >/dev/null 2>&1 &",
        "__cloudtask_watcher=$!",
        "( __cloudtask_job=$1; set --; eval \"$__cloudtask_job\" ) 3<&-",
        "__cloudtask_status=$?",
        "kill $__cloudtask_watcher 2>/dev/null",
        "exit $__cloudtask_status",
    ].joined(separator: "\n")

    /// Where the command does not lead its process group (Dropbear, sudo), the wrapper ("$2") runs again under
    /// setsid, so that `kill 0` kills its jobs and nothing else.
    static let leadsItsGroup = "read -r _ _ _ _ __cloudtask_pg _ 2>/dev/null </proc/$$/stat && [ \"$__cloudtask_pg\" != $$ ] && { \(MissingTool.check(["setsid"])) && exec setsid /bin/sh -c \"$2\" cloudtask \"$1\"; }"

    /// The runner: a long-lived /bin/sh on one slot that runs the jobs it reads on stdin, one after the other,
    /// each as the wrapper above does (a subshell with stdin from /dev/null, no positional parameters, `$0`
    /// cloudtask, its variables exported there). Each request is one line, `__ct_job NONCE 'TEXT' NAME 'VALUE'...`
    /// (newlines as "$__ct_nl"); the controller sends the next one before the current job ends, so none waits for
    /// a round trip. Around each job it writes `\1NONCE` markers, S before the job on stdout, E and the exit
    /// status after it on stdout and on stderr: the job's output is what lies between them, on each stream, and a
    /// job cannot forge them without the nonce, fresh per job and only ever on this shell's stdin. After a failed
    /// job the runner skips every request (a K marker for each) until the controller sends `__ct_go`: it sends
    /// again the jobs that should still run, and none when the run halted or the worker is retired. A reader copies
    /// stdin to the loop; at its end (the channel closed: timeout, abort, connection lost) it kills the whole
    /// process group, TERM then KILL, as the watcher does.
    static let agent = [
        leadsItsGroup,
        "__ct_nl='",
        "'",
        "__ct_hold=",
        "__ct_job() {",
        "  if [ -n \"$__ct_hold\" ]; then printf '\\001%sK\\n' \"$1\"; return 0; fi",
        "  __ct_n=$1 __ct_j=$2",
        "  shift 2",
        "  printf '\\001%sS\\n' \"$__ct_n\"",
        "  ( while [ $# -gt 1 ]; do export \"$1=$2\"; shift 2; done; set --; eval \"$__ct_j\" ) </dev/null",
        "  __ct_s=$?",
        "  [ $__ct_s = 0 ] || __ct_hold=1",
        "  printf '\\001%sE%s\\n' \"$__ct_n\" $__ct_s",
        "  printf '\\001%sE\\n' \"$__ct_n\" >&2",
        "}",
        "__ct_go() { __ct_hold=; }",
        "{ trap '' TERM; cat; kill -TERM 0; sleep 2; kill -KILL 0; } 2>/dev/null |",
        "  while IFS= read -r __ct_r; do eval \"$__ct_r\"; done",
    ].joined(separator: "\n")

    /// One request line for the runner.
    static func agentRequest(nonce: String, script: [UInt8], environment: [(String, String)]) -> [UInt8] {
        var line = Array("__ct_job \(nonce) ".utf8) + oneLine(script)
        for (name, value) in environment { line += Array(" \(name) ".utf8) + oneLine(Array(value.utf8)) }
        return line + [10]
    }

    /// `bytes` quoted for sh on one line: each line quoted, joined by "$__ct_nl".
    static func oneLine(_ bytes: [UInt8]) -> [UInt8] {
        let parts = bytes.split(separator: 10, omittingEmptySubsequences: false)
        return Array(parts.map { ShellQuote.quote(Array($0)) }.joined(separator: Array("\"$__ct_nl\"".utf8)))
    }

    /// For commands fed on stdin (overlay): stdin is the data, so no watcher.
    static let fed = "exec /bin/sh -c \"$1\""

    /// The exec request text; the login shell runs it, whatever it is, so it uses only `exec`, single quotes, and
    /// `\` and `'` escaped with a backslash outside them, which POSIX shells and fish read alike.
    static func request(for command: RemoteCommand) -> [UInt8] {
        request(for: command, body: command.stdin == nil ? killable : fed)
    }

    /// The exec request that starts a slot's runner, with `command`'s sudo and secrets (its text and
    /// variables go in each job's request line instead).
    static func agentRequest(for command: RemoteCommand) -> [UInt8] {
        var base = RemoteCommand(script: [])
        base.secrets = command.secrets
        base.sudo = command.sudo
        return request(for: base, body: agent)
    }

    private static func request(for command: RemoteCommand, body wrapper: String) -> [UInt8] {
        var prefix = ""
        if command.pty { prefix += "stty -onlcr 2>/dev/null\n" }
        // A terminal would echo what stdin carries: with --pty, secrets go in the command text (see README).
        let inText = command.pty || command.stdin != nil ? command.secrets.map { ($0.name, $0.value) } : []
        for (name, value) in command.environment + inText {
            let quoted = String(decoding: ShellQuote.quote(Array(value.utf8)), as: UTF8.self)
            prefix += "\(name)=\(quoted); export \(name)\n"
        }
        if !command.pty && command.stdin == nil && !command.secrets.isEmpty {
            prefix += PassedEnvironment.readingLines(command.secrets) + "\n"
        }
        let body = prefix + wrapper
        var text = Array("exec /bin/sh -c ".utf8)
        // The login shell reads this: fish reads \ and \' in '...' as escapes, so they go outside the quotes.
        text += ShellQuote.quoteForLoginShell(Array((command.sudo.map { sudoing(body, $0, pty: command.pty) } ?? body).utf8))
        text += Array(" cloudtask ".utf8)
        text += ShellQuote.quoteForLoginShell(command.script)
        if command.stdin == nil { text += Array(" ".utf8) + ShellQuote.quoteForLoginShell(Array(wrapper.utf8)) }
        return text
    }

    /// The outer wrapper under --sudo: `body` (the wrapper above, watcher and all) runs under `sudo -n`, so a
    /// root watcher can kill a root job's group. With a password, the first stdin line is read into a variable
    /// and piped from the printf builtin to `sudo -S -v`: the line is consumed exactly once whether sudo asks or
    /// not (NOPASSWD, a cached timestamp), and is in no process's arguments. `sudo -n` then runs as a child, not
    /// exec'd: with no terminal, Debian's sudo (timestamp_type=tty) ties the timestamp to the parent pid.
    static func sudoing(_ body: String, _ sudo: SudoLogin, pty: Bool) -> String {
        let user = String(decoding: ShellQuote.quote(Array(sudo.user.utf8)), as: UTF8.self)
        let inner = String(decoding: ShellQuote.quote(Array(body.utf8)), as: UTF8.self)
        // "$2" is the wrapper again, for its setsid re-run where the command does not lead its process group.
        let run = "sudo -n -u \(user) -- /bin/sh -c \(inner) cloudtask \"$1\" \"$2\""
        // sudo (use_pty) relays its own terminal to ours: ours must not add carriage returns either.
        var lines = [MissingTool.check(["sudo"])] + (pty ? ["stty -onlcr 2>/dev/null"] : [])
        guard sudo.password != nil else { return (lines + ["exec " + run]).joined(separator: "\n") }
        lines += ["IFS= read -r __cloudtask_pw"]
        // The pty was requested without echo, so the line is not echoed back; sudo copies these settings on.
        if pty { lines += ["stty echo 2>/dev/null"] }
        lines += [
            "printf '%b\\n' \"$__cloudtask_pw\" | sudo -S -p '' -v || exit 1",
            "unset __cloudtask_pw",
            run,
        ]
        return lines.joined(separator: "\n")
    }
}

extension RemoteCommand {
    /// What the channel's stdin carries before the command runs (and before `stdin`): the sudo password, then
    /// the secrets when the wrapper reads them.
    var preamble: [UInt8] {
        let password = sudo?.password.map(PassedEnvironment.encodedLine) ?? []
        return password + (pty || stdin != nil || secrets.isEmpty ? [] : PassedEnvironment.preamble(secrets))
    }
}
