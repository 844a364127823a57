// Each executable's command line as a table (name, options, positional arguments, usage): the one parser, --help
// and the completion scripts (Completion.swift) all read it, so they cannot drift apart.
import Foundation

/// An executable's command-line interface.
public struct Command: Sendable {
    /// A positional argument, for --help and completion.
    struct Positional: Sendable {
        let name: String
        let help: String          // "" leaves it out of --help (the summary explains it)
        let hint: ValueHint
        var variadic = false      // this one and every word after it
    }

    /// CloudTask's version: `cloudtask --version`, the man pages' footer, the Debian package (scripts/package).
    public static let version = "0.1.0"

    public let name: String
    let synopsis: [String]        // the usage lines, each starting with the program name
    let summary: String
    let options: [Options.Spec]
    let positionals: [Positional]
    let footer: String
    /// Options may follow positional arguments (as getopt permutes); otherwise the first positional ends them.
    let interspersed: Bool

    // MARK: - Parsing

    /// Splits `arguments` (without the program name) into validated options and positional words.
    /// `--` ends the options; `--name=value` or `--name value`; `-h` is `--help`.
    public func parse(_ arguments: [String]) throws -> ParsedArguments {
        var parsed = ParsedArguments()
        var index = 0
        var optionsDone = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if optionsDone { parsed.positionals.append(argument); continue }
            if argument == "--" { optionsDone = true; continue }
            if argument == "-h", options.contains(where: { $0.name == "help" }) {
                parsed.options.append(.init(name: "help", value: ""))
                continue
            }
            if !argument.hasPrefix("--"), argument.count >= 2, argument.hasPrefix("-"),
               let spec = options.first(where: { $0.short == argument.dropFirst().first }) {
                // -0, -I STR, -ISTR
                var value = String(argument.dropFirst(2))
                if !spec.takesValue {
                    guard value.isEmpty else { throw UsageError("option -\(spec.short!) takes no value") }
                    parsed.options.append(.init(name: spec.name, value: ""))
                    continue
                }
                if value.isEmpty {
                    guard index < arguments.count else {
                        throw UsageError("option -\(spec.short!) needs a value (\(spec.value))")
                    }
                    value = arguments[index]
                    index += 1
                }
                parsed.options.append(.init(name: spec.name, value: try Options.validate(spec, value, source: "-\(spec.short!)")))
                continue
            }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                if interspersed && argument.hasPrefix("-") && argument != "-" {
                    throw UsageError("unknown option \(argument) (see --help)")
                }
                parsed.positionals.append(argument)
                if !interspersed { optionsDone = true }
                continue
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard name.count > 1, let spec = options.first(where: { $0.name == name }) else {
                throw UsageError("unknown option --\(name) (see --help)")
            }
            if !spec.takesValue {
                if value != nil { throw UsageError("option --\(name) takes no value") }
                parsed.options.append(.init(name: name, value: ""))
                continue
            }
            if value == nil {
                guard index < arguments.count else {
                    throw UsageError("option --\(name) needs a value (\(spec.value))")
                }
                value = arguments[index]
                index += 1
            }
            parsed.options.append(.init(name: name, value: try Options.validate(spec, value!, source: "--\(name)")))
        }
        return parsed
    }

    /// What `--help` or `--generate-completion-script` asked for, to print before exiting 0; nil when neither
    /// was given.
    public func answer(_ parsed: ParsedArguments) -> String? {
        if parsed.help { return help }
        if let shell = parsed.completionScript.flatMap(Completion.Shell.init(rawValue:)) {
            return Completion.script(for: self, shell: shell)
        }
        return nil
    }

    // MARK: - Help

    /// The usage lines alone, for a usage error.
    public var usage: String {
        "usage: " + synopsis.joined(separator: "\n       ")
    }

    /// The --help text.
    public var help: String {
        var text = usage + "\n\n"
        if !summary.isEmpty { text += summary + "\n\n" }
        let described = positionals.filter { !$0.help.isEmpty }
        if !described.isEmpty {
            text += "arguments:\n"
            for positional in described { text += Command.row("  " + positional.name, positional.help) }
            text += "\n"
        }
        text += "options:\n"
        for spec in options {
            text += Command.row("  " + spec.flags + (spec.value.isEmpty ? "" : "=" + spec.value), spec.help)
        }
        if !footer.isEmpty { text += "\n" + footer + "\n" }
        return text
    }

    private static func row(_ left: String, _ help: String) -> String {
        let pad = left.count < 28
            ? String(repeating: " ", count: 28 - left.count)
            : "\n" + String(repeating: " ", count: 28)
        return left + pad + help + "\n"
    }
}

/// The options and positional words one command line gave, values validated.
public struct ParsedArguments: Sendable {
    public struct Option: Sendable, Equatable {
        public let name: String
        public let value: String
    }

    public var options: [Option] = []
    public var positionals: [String] = []

    /// The last value given for `name`.
    public func value(_ name: String) -> String? { options.last { $0.name == name }?.value }
    /// Every value given for `name`, in order (a repeatable option).
    public func values(_ name: String) -> [String] { options.filter { $0.name == name }.map(\.value) }
    public var help: Bool { options.contains { $0.name == "help" } }
    public var completionScript: String? { value("generate-completion-script") }
}

// MARK: - The tables

extension Command {
    public static let cloudtask = cloudtask(named: "cloudtask")

    /// cloudtask's table under another program name (a task template's --help).
    public static func cloudtask(named program: String) -> Command {
        Command(
            name: program,
            synopsis: ["cat jobs | \(program) [OPTIONS] [COMMAND [ARGS...]]", "\(program) [OPTIONS] --resume=ID", "\(program) [OPTIONS] --retry=ID"],
            summary: """
            Runs one job per input line on SSH workers in parallel: each line's words, quoted exactly,
            are appended to COMMAND, or replace {} {.} {/} {//} {/.} {#} {%} {1} {2} ... in it (GNU
            parallel's replacement strings). A COMMAND given as one argument with spaces is shell text;
            with no COMMAND each line is itself the job. Options come before COMMAND.
            """,
            options: Options.specs,
            positionals: [Positional(name: "COMMAND", help: "", hint: .commands), Positional(name: "ARGS", help: "", hint: .files, variadic: true)],
            footer: """
            Task options can also be set as CLOUDTASK_<NAME> environment variables (CLOUDTASK_SPLIT=4,
            CLOUDTASK_HOST_KEY_POLICY=strict); command-line options win.
            exit status: 0 every job exited 0; 1 some job failed, timed out, was lost or is pending;
            2 usage or input error, found before any worker was contacted.
            """,
            interspersed: false)
    }

    public static let logalyzer = Command(
        name: "cloudtask-logalyzer",
        synopsis: ["cloudtask-logalyzer [--price TYPE=USD_PER_HOUR]... [--html FILE] SESSION [OUTPUT_DIR]"],
        summary: """
        Prints the report of a cloudtask session: totals, failures by worker with the last lines of their
        output, timeouts, pending jobs, workers (jobs, work time, lifetime, efficiency), instance hours and cost.
        """,
        options: [
            Options.Spec(name: "price", kind: .price, value: "TYPE=USD_PER_HOUR",
                         help: "the hourly price of an instance type (adds to or replaces the built-in us-east-1 prices); may be repeated", task: false),
            Options.Spec(name: "html", kind: .outputFile, value: "FILE",
                         help: "also write the report as one self-contained HTML page: a timeline of the workers with a bar per job attempt, the workers' lives, the fleet's utilisation, a histogram of durations", task: false),
            Options.helpSpec, Options.completionSpec,
        ],
        positionals: [
            Positional(name: "SESSION", help: "a session folder, or a session id looked up in $CLOUDTASK_SESSIONS (default ~/.cloudtask)",
                       hint: ValueHint(directories: true, sessions: true)),
            Positional(name: "OUTPUT_DIR", help: "also write each finished job's command line and output to OUTPUT_DIR/failures/N or OUTPUT_DIR/succeeded/N (N is the job number)",
                       hint: .directories),
        ],
        footer: "exit status: 0 done; 1 the HTML page or the outputs could not be written; 2 usage error, or a missing or corrupt session.",
        interspersed: true)

    public static let destroyWorkers = Command(
        name: "cloudtask-destroy-workers",
        synopsis: ["cloudtask-destroy-workers --session ID [--sessions DIR]", "cloudtask-destroy-workers [--sessions DIR] FILE|-"],
        summary: """
        Destroys launched workers with their session's provider: with --session, what the session's ledger
        still holds alive and what the provider lists alive for it; with FILE|-, the workers a
        cloudtask-launch-workers file names, rewriting the file with those that remain.
        """,
        options: [
            Options.Spec(name: "session", kind: .session, value: "ID", help: "destroy what session ID launched and did not destroy", task: false),
            Options.Spec(name: "sessions", kind: .text, value: "DIR", help: "where sessions are kept (default $CLOUDTASK_SESSIONS, else ~/.cloudtask)",
                         task: false, hint: .directories),
            Options.helpSpec, Options.completionSpec,
        ],
        positionals: [Positional(name: "FILE|-", help: "a file written by cloudtask-launch-workers, or - for stdin", hint: ValueHint(words: ["-"], files: true))],
        footer: "exit status: 0 all destroyed; 1 usage or fatal error; 2 some left.",
        interspersed: true)

    /// cloudtask's provider options, with --sessions for the pool's own session.
    public static let launchWorkers = Command(
        name: "cloudtask-launch-workers",
        synopsis: ["cloudtask-launch-workers [--provider=NAME] [--sessions=DIR] [provider options] HOWMANY FILE|-"],
        summary: """
        Launches HOWMANY workers with a provider (default local) into a session of its own and writes a line
        per worker as it comes up, ADDRESS  # PROVIDER:INSTANCE-ID, to FILE (or stdout for -), which
        cloudtask --workers=FILE reads and cloudtask-destroy-workers FILE destroys.
        """,
        options: reused(["provider", "user", "region", "instance-type", "image", "key-name", "security-group", "subnet",
                         "ec2-endpoint", "boot-timeout", "sessions", "help", "generate-completion-script"]),
        positionals: [
            Positional(name: "HOWMANY", help: "how many workers to launch", hint: .none),
            Positional(name: "FILE|-", help: "where to write the workers' lines; - for stdout", hint: ValueHint(words: ["-"], files: true)),
        ],
        footer: """
        Provider options can also be set as CLOUDTASK_<NAME> environment variables (CLOUDTASK_EC2_ENDPOINT=...).
        exit status: 0 all workers came up; 1 otherwise.
        """,
        interspersed: false)

    /// cloudtask's own options by name, for a companion that takes them as cloudtask does.
    static func reused(_ names: [String]) -> [Options.Spec] {
        names.map { name in Options.specs.first { $0.name == name }! }
    }

    /// How cloudtask-put and cloudtask-get reach the workers: cloudtask's worker options (no --sudo: files are
    /// copied as the login user), and a timeout of the copy's own.
    static func copyOptions() -> [Options.Spec] {
        reused(["workers", "user", "port", "jump", "ssh-identity", "ssh-passphrase-file", "host-key-policy", "known-hosts",
                "connect-timeout", "connect-rate"])
            + [Options.Spec(name: "timeout", kind: .seconds, value: "SECONDS",
                            help: "give up a worker's copy after this long; 0 = an hour (default 3600)", task: true) { c, _, v in
                    c.timeout = Double(v)!
                }]
            + reused(["sessions"])
            + [Options.Spec(name: "quiet", kind: .flag, value: "", help: "no progress line on stderr", task: true) { c, _, _ in
                    c.quiet = true
                }]
            + reused(["help", "generate-completion-script"])
    }

    static let copyFooter = """
        Worker options can also be set as CLOUDTASK_<NAME> environment variables (CLOUDTASK_WORKERS=...).
        exit status: 0 every worker's copy is in place; 1 some worker failed; 2 usage error.
        """

    public static let put = Command(
        name: "cloudtask-put",
        synopsis: ["cloudtask-put [worker options] LOCAL REMOTE"],
        summary: """
        Copies LOCAL (a file, or a folder with everything under it) to REMOTE on every worker at once, over
        SFTP (a stream where the worker has none), keeping modes and modification times; prints a line per
        worker. A REMOTE ending in / is the folder LOCAL goes into; a relative one is under the login's home.
        """,
        options: copyOptions(),
        positionals: [
            Positional(name: "LOCAL", help: "the file or folder to copy", hint: .files),
            Positional(name: "REMOTE", help: "its path on each worker", hint: .none),
        ],
        footer: copyFooter,
        interspersed: true)

    public static let get = Command(
        name: "cloudtask-get",
        synopsis: ["cloudtask-get [worker options] REMOTE LOCALDIR"],
        summary: """
        Copies REMOTE (a file or a folder) from every worker at once into LOCALDIR/<worker>/, as pslurp and
        rcopy do: <worker> is the worker's address made safe for a file name ([::1]:2222 gives ::1_2222;
        a second worker of the same name gets _2). Modes and modification times are kept; prints a line per
        worker with where its copy landed.
        """,
        options: copyOptions(),
        positionals: [
            Positional(name: "REMOTE", help: "the file or folder on each worker (relative: under the login's home)", hint: .none),
            Positional(name: "LOCALDIR", help: "where the workers' folders are made", hint: .directories),
        ],
        footer: copyFooter,
        interspersed: true)

    /// Every executable's table, for the tests and tools that go over them all.
    public static let all: [Command] = [.cloudtask, .logalyzer, .destroyWorkers, .launchWorkers, .ctsh, .put, .get]

    /// ctsh parses its own command line (Sources/ctsh); this table gives its completion scripts.
    public static let ctsh = Command(
        name: "ctsh",
        synopsis: ["ctsh [-i] [-e CHUNK] [FILE.lua [ARGS...]]", "ctsh - [ARGS...]"],
        summary: "The Lua shell over the CloudTask engine.",
        options: [
            Options.Spec(name: "e", kind: .text, value: "CHUNK", help: "run a chunk and print its results", task: false),
            Options.Spec(name: "i", kind: .flag, value: "", help: "enter the shell after the script or chunk", task: false),
            Options.helpSpec, Options.completionSpec,
        ],
        positionals: [
            Positional(name: "FILE.lua", help: "a script to run; - for stdin", hint: ValueHint(words: ["-"], files: true, fileSuffix: ".lua")),
            Positional(name: "ARGS", help: "the script's arg[1..]", hint: .files, variadic: true),
        ],
        footer: "",
        interspersed: false)
}
