// The task options: one table gives the CLI flags, the CLOUDTASK_* environment names, validation, --help and the
// completion scripts. The companions' own options are specs of the same kind (see Commands.swift).
import Foundation

/// A bad option value or usage, reported as one line and exit code 2.
public struct UsageError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Everything a run is configured with; saved as the session's `conf` (no secrets are ever stored in it).
public struct TaskConfig: Codable, Equatable, Sendable {
    public var command: [String] = []
    public var workers: [String] = []
    public var split: Int?
    public var slots = 1
    public var timeout: Double = 3600
    public var retries = 0
    public var strikes = 0
    public var user: String?
    public var port: Int?
    public var sshIdentity: String?
    /// A file holding the passphrase of encrypted key files; the run reads it, `conf` never holds it.
    public var sshPassphraseFile: String?
    public var pre: String?
    public var post: String?
    public var overlay: String?
    public var sessions: String?
    public var hostKeyPolicy = HostKeyPolicy.acceptNew.rawValue
    public var knownHosts: String?
    public var tag = false
    public var keepOrder = false
    public var lineBuffer = false
    public var pty = false
    /// --sudo: the wrapper, hooks and overlay run under `sudo -n` as `sudoUser` (default root).
    public var sudo = false
    public var sudoUser: String?
    /// Its first line is the sudo password (never the password itself: the conf keeps this).
    public var sudoPasswordFile: String?
    /// --env: `NAME` (its value taken from the environment at each run) or `NAME=VALUE`, exported to every job.
    public var env: [String]?
    public var halt: String?
    public var provider: String?
    /// The provider that launches workers: the one named, else `local` when no workers are given.
    public var launchingProvider: String? { provider ?? (workers.isEmpty ? "local" : nil) }
    public var joblog: String?
    public var reports: [String]?
    public var quiet: Bool?
    public var verbose: Bool?
    public var results: String?
    public var region: String?
    public var instanceType: String?
    public var image: String?
    public var keyName: String?
    public var securityGroup: String?
    public var subnet: String?
    public var ec2Endpoint: String?
    public var bootTimeout: Double?
    public var pingInterval: Double?
    /// --connect-timeout: seconds to reach and log in to a worker; nil: ~/.ssh/config's ConnectTimeout, else 30.
    public var connectTimeout: Double?
    /// --connect-rate: new connections started per second; nil: `RunPolicy.defaultConnectRate`; 0: no limit.
    public var connectRate: Int?
    /// --jump: a validated chain of jump hosts, or `none`.
    public var jump: String?
    /// --runner: how jobs reach a worker; nil: `agent` (one long-lived runner per slot, jobs pipelined).
    public var runner: String?
    /// --lines: each input line is one literal word (no splitting, no quotes, no trimming).
    public var lines: Bool?
    /// -0/--null: input records end with NUL, each one literal word.
    public var null: Bool?
    /// --colsep: a regular expression splitting each line into literal columns ({1}, {2}, ...).
    public var colsep: String?
    /// -I/--replace: the token that stands for `{}`; the other replacement strings are then off.
    public var replace: String?
    /// The byte that ends an input record: NUL with --null, else newline.
    public var recordEnd: UInt8 { null == true ? 0 : 10 }
    /// --transfer: each job's input file goes to its work folder on the worker before it runs.
    public var transfer: Bool?
    /// --return: files copied back after each job (patterns with replacement strings, e.g. `{}.gz`).
    public var returns: [String]?
    /// --return-dir: where returned files land (at their path in the work folder); nil: where the input is.
    public var returnDir: String?
    /// --cleanup: each job's work folder is removed after its returns (and a resume empties the session's).
    public var cleanup: Bool?
    /// --workdir: the folder on the workers holding the session's work folders; nil: $TMPDIR, else /tmp.
    public var workdir: String?
    /// The controller's folder when the session began, which relative input and return paths are taken from
    /// (a resume may start elsewhere). Set by the assembly when jobs move files.
    public var localDirectory: String?
    /// Whether each job gets a work folder of its own on the worker (files go there and back, the job runs there).
    public var movesFiles: Bool {
        transfer == true || !(returns ?? []).isEmpty || cleanup == true || workdir != nil
    }
    /// Whether jobs go through the runner on the worker: the default, unless --runner=exec or --pty; a job that
    /// moves files runs on a channel of its own (its copies take longer than a channel's round trip).
    public var pipelined: Bool { runner != "exec" && !pty && !movesFiles }
    public init() {}
}

/// Options that steer one invocation and are never saved or taken from the environment.
public struct RunFlags: Sendable {
    public var force = false
    public var dryRun = false
    public var resume: Int?
    public var retry: Int?
    public var status: Int?
    public var help = false
    public var version = false
    /// `--generate-completion-script SHELL`: print the script and exit.
    public var completionScript: String?
    public init() {}
}

public enum Options {
    enum Kind: Sendable, Equatable {
        case flag, halt, provider, report, environment, count(min: Int), seconds, port, text, name
        case path, file, directory, outputFile, outputDirectory, policy, workers
        case pattern                 // a file name with replacement strings, repeatable (--return)
        case jumps                   // [user@]host[:port][,...] or none
        case session                 // a session id (1 or more)
        case price                   // TYPE=USD_PER_HOUR
        case choice([String])        // one of these words
        case regex                   // an NSRegularExpression pattern
        case token                   // a non-empty word (-I's replacement token)
    }

    struct Spec: Sendable {
        let name: String      // one letter for a short option (-e), else the long name without dashes
        let kind: Kind
        let value: String     // placeholder in --help
        let help: String
        let task: Bool        // a task option: saved in conf, settable by CLOUDTASK_<NAME>
        /// A one-letter alias of a long option (`0` for --null: `-0`), parsed as `-0`, `-I STR` or `-ISTR`.
        var short: Character?
        /// The field that sets it in ctsh's tables (`task{...}`, `workers{...}`, templates, `resume`): the name
        /// with underscores unless given (`identity` for --ssh-identity; a Lua keyword needs its own); nil: none.
        let lua: String?
        var hint: ValueHint?  // what completes the value, when the kind's default is not it
        /// Sets the option's value on a task; nil for a companion's own options, read from ParsedArguments
        /// instead.
        var apply: (@Sendable (inout TaskConfig, inout RunFlags, String) -> Void)?

        init(name: String, kind: Kind, value: String, help: String, task: Bool,
             lua: String? = "", hint: ValueHint? = nil, short: Character? = nil,
             apply: (@Sendable (inout TaskConfig, inout RunFlags, String) -> Void)? = nil) {
            self.name = name; self.kind = kind; self.value = value; self.help = help; self.task = task
            self.lua = lua == "" ? (task ? name.replacingOccurrences(of: "-", with: "_") : nil) : lua
            self.hint = hint
            self.short = short
            self.apply = apply
        }

        /// The option as typed: `-e`, `--split`.
        var flag: String { name.count == 1 ? "-" + name : "--" + name }
        /// The option as --help lists it: `-0, --null`.
        var flags: String { short.map { "-\($0), " + flag } ?? flag }
        var takesValue: Bool { kind != .flag }
        /// Whether giving it twice adds a value rather than replacing it (zsh offers it again).
        var repeatable: Bool { kind == .report || kind == .price || kind == .environment || kind == .pattern }
    }

    /// Every command's `--help` and `--generate-completion-script`.
    static let helpSpec = Spec(name: "help", kind: .flag, value: "", help: "show this help", task: false) { _, f, _ in
        f.help = true
    }
    static let completionSpec = Spec(
        name: "generate-completion-script", kind: .choice(Completion.Shell.allCases.map(\.rawValue)), value: "SHELL",
        help: "print a completion script for bash, zsh or fish (see scripts/install)", task: false
    ) { _, f, v in f.completionScript = v }

    static let specs: [Spec] = [
        Spec(name: "workers", kind: .workers, value: "LIST|FILE", help: "worker addresses ([N/][user@]host[:port], N/ for N jobs at once there; ranges web[01-20], groups @name) separated by spaces or commas, or a file with one per line", task: true) { c, _, v in c.workers = [v] },
        Spec(name: "split", kind: .count(min: 1), value: "N", help: "workers used at once (default: the number of workers given, else 1 launched by the local provider; never more than the jobs)", task: true) { c, _, v in c.split = Int(v) },
        Spec(name: "slots", kind: .count(min: 1), value: "N", help: "jobs each worker runs at once (default 1) unless its address says N/host", task: true) { c, _, v in c.slots = Int(v)! },
        Spec(name: "timeout", kind: .seconds, value: "SECONDS", help: "kill a job (its whole remote process group) after this long; 0 = none (default 3600)", task: true) { c, _, v in c.timeout = Double(v)! },
        Spec(name: "retries", kind: .count(min: 0), value: "N", help: "run a failed job again up to N times, on another worker when there is one (default 0)", task: true) { c, _, v in c.retries = Int(v)! },
        Spec(name: "strikes", kind: .count(min: 0), value: "N", help: "retire a worker after N consecutive failed jobs; 0 = never (default 0)", task: true) { c, _, v in c.strikes = Int(v)! },
        Spec(name: "user", kind: .name, value: "NAME", help: "login name on the workers (default: ~/.ssh/config, else the current user)", task: true) { c, _, v in c.user = v },
        Spec(name: "port", kind: .port, value: "N", help: "SSH port (default: ~/.ssh/config, else 22)", task: true) { c, _, v in c.port = Int(v) },
        Spec(name: "connect-timeout", kind: .seconds, value: "SECONDS", help: "give up connecting to a worker (TCP, handshake, login) after this long (default: ~/.ssh/config's ConnectTimeout, else 30)", task: true) { c, _, v in c.connectTimeout = Double(v)! },
        Spec(name: "connect-rate", kind: .count(min: 0), value: "N", help: "start at most N new connections per second, so that many workers behind one sshd stay within its MaxStartups; 0 = no limit (default \(RunPolicy.defaultConnectRate))", task: true) { c, _, v in c.connectRate = Int(v) },
        Spec(name: "jump", kind: .jumps, value: "[user@]host[:port][,...]", help: "reach the workers through these jump hosts, as ssh -J (default: ~/.ssh/config's ProxyJump); none for a direct connection", task: true) { c, _, v in c.jump = v },
        Spec(name: "ssh-identity", kind: .file, value: "FILE", help: "private key file (ed25519, ECDSA or RSA); default: ssh-agent, then ~/.ssh/id_ed25519, ~/.ssh/id_ecdsa, ~/.ssh/id_rsa", task: true, lua: "identity") { c, _, v in c.sshIdentity = v },
        Spec(name: "ssh-passphrase-file", kind: .file, value: "FILE", help: "the passphrase of encrypted key files, on the file's first line (never saved in the session)", task: true) { c, _, v in c.sshPassphraseFile = v },
        Spec(name: "pre", kind: .text, value: "COMMAND", help: "run on each worker before its jobs; a worker where it fails is left out", task: true) { c, _, v in c.pre = v },
        Spec(name: "post", kind: .text, value: "COMMAND", help: "run on each worker after its jobs", task: true) { c, _, v in c.post = v },
        Spec(name: "overlay", kind: .directory, value: "DIR", help: "copy this local folder onto each worker's / before its jobs (tar stream over SSH)", task: true) { c, _, v in c.overlay = v },
        Spec(name: "transfer", kind: .flag, value: "", help: "copy each job's input file ({}) to the worker first, into the job's work folder, where the job runs; relative paths keep their place there", task: true) { c, _, _ in c.transfer = true },
        Spec(name: "return", kind: .pattern, value: "PATTERN", help: "copy this file back after each job, from its work folder (replacement strings apply: --return='{}.gz'); lands at the same relative path here, or under --return-dir; repeatable", task: true, lua: "returns") { c, _, v in c.returns = (c.returns ?? []) + [v] },
        Spec(name: "return-dir", kind: .outputDirectory, value: "DIR", help: "land returned files under DIR (at their path in the work folder) instead of beside the input", task: true) { c, _, v in c.returnDir = v },
        Spec(name: "cleanup", kind: .flag, value: "", help: "remove each job's work folder after its returns (under --sudo with it); a resume removes what a killed run left", task: true) { c, _, _ in c.cleanup = true },
        Spec(name: "workdir", kind: .text, value: "DIR", help: "the folder on the workers for the session's work folders (default: $TMPDIR, else /tmp, on the worker)", task: true) { c, _, v in c.workdir = v },
        Spec(name: "provider", kind: .provider, value: "NAME", help: "launch workers with this provider when --split exceeds the workers given: local (private sshd workers on 127.0.1.x; the default when no --workers are given), ec2, or a FILE.lua", task: true) { c, _, v in c.provider = v },
        Spec(name: "region", kind: .text, value: "REGION", help: "ec2: region (default $AWS_REGION, else us-east-1)", task: true) { c, _, v in c.region = v },
        Spec(name: "instance-type", kind: .text, value: "TYPE", help: "ec2: instance type (default t3.micro)", task: true) { c, _, v in c.instanceType = v },
        Spec(name: "image", kind: .text, value: "AMI", help: "ec2: image id (required for ec2)", task: true) { c, _, v in c.image = v },
        Spec(name: "key-name", kind: .text, value: "NAME", help: "ec2: key pair name (the session key is authorized through user-data either way)", task: true) { c, _, v in c.keyName = v },
        Spec(name: "security-group", kind: .text, value: "ID", help: "ec2: security group id allowing SSH", task: true) { c, _, v in c.securityGroup = v },
        Spec(name: "subnet", kind: .text, value: "ID", help: "ec2: subnet id", task: true) { c, _, v in c.subnet = v },
        Spec(name: "ec2-endpoint", kind: .text, value: "URL", help: "ec2: API endpoint (default https://ec2.REGION.amazonaws.com)", task: true) { c, _, v in c.ec2Endpoint = v },
        Spec(name: "boot-timeout", kind: .seconds, value: "SECONDS", help: "launched workers not reachable by then are destroyed (default 600)", task: true) { c, _, v in c.bootTimeout = Double(v)! },
        Spec(name: "halt", kind: .halt, value: "N|N%", help: "stop starting jobs after N failed jobs (or N% of all jobs); running jobs finish, the rest stay pending", task: true) { c, _, v in c.halt = v },
        Spec(name: "ping-interval", kind: .seconds, value: "SECONDS", help: "check a busy worker that was silent this long; two more without an answer (ssh_config's ServerAliveCountMax) and it is declared dead (default: ~/.ssh/config's ServerAliveInterval, else 30)", task: true) { c, _, v in c.pingInterval = Double(v)! },
        Spec(name: "report", kind: .report, value: "HOOK", help: "when the session ends (also after an abort): 'mail: FROM TO...', 'sh: COMMAND' or 'lua: FILE-or-CODE'; may be repeated", task: true) { c, _, v in c.reports = (c.reports ?? []) + [v] },
        Spec(name: "joblog", kind: .outputFile, value: "FILE", help: "append a line per finished job in GNU parallel's joblog format", task: true) { c, _, v in c.joblog = v },
        Spec(name: "results", kind: .outputDirectory, value: "DIR", help: "write DIR/<job number>/{stdout,stderr,exit,input,command,worker,timing} per finished job", task: true) { c, _, v in c.results = v },
        Spec(name: "status", kind: .count(min: 1), value: "ID", help: "show session ID's state (also while it runs) and exit", task: false, hint: .sessions) { _, f, v in f.status = Int(v) },
        Spec(name: "sessions", kind: .text, value: "DIR", help: "where sessions are kept (default $CLOUDTASK_SESSIONS, else ~/.cloudtask)", task: false, lua: "sessions", hint: .directories) { c, _, v in c.sessions = v },
        Spec(name: "host-key-policy", kind: .policy, value: "POLICY", help: "accept-new (default: record unknown keys, refuse changed ones), strict, or off", task: true) { c, _, v in c.hostKeyPolicy = v },
        Spec(name: "known-hosts", kind: .path, value: "FILE", help: "known_hosts file (default ~/.ssh/known_hosts)", task: true) { c, _, v in c.knownHosts = v },
        Spec(name: "tag", kind: .flag, value: "", help: "prefix each output line with the job's input and a tab", task: true) { c, _, _ in c.tag = true },
        Spec(name: "keep-order", kind: .flag, value: "", help: "print job output in input order (default: as jobs finish)", task: true) { c, _, _ in c.keepOrder = true },
        Spec(name: "line-buffer", kind: .flag, value: "", help: "print output line by line as it comes, instead of per job", task: true) { c, _, _ in c.lineBuffer = true },
        Spec(name: "runner", kind: .choice(["agent", "exec"]), value: "KIND", help: "agent (default): one long-lived shell per slot on the worker runs the jobs, the next one already queued; exec: one SSH channel per job (as --pty always does)", task: true) { c, _, v in c.runner = v },
        Spec(name: "lines", kind: .flag, value: "", help: "each input line is one literal word: no splitting into words, no quotes, no trimming; empty lines are skipped", task: true) { c, _, _ in c.lines = true },
        Spec(name: "null", kind: .flag, value: "", help: "input records end with NUL (find -print0), each one literal word; newlines are ordinary bytes", task: true, short: "0") { c, _, _ in c.null = true },
        Spec(name: "colsep", kind: .regex, value: "REGEX", help: "split each line into literal columns at matches of REGEX, for {1} {2} ...", task: true) { c, _, v in c.colsep = v },
        Spec(name: "replace", kind: .token, value: "STR", help: "STR stands for the input in COMMAND instead of {}, and the other replacement strings are off (for a command with a literal {})", task: true, short: "I") { c, _, v in c.replace = v },
        Spec(name: "pty", kind: .flag, value: "", help: "run jobs on a terminal: stdout and stderr merged, as the original did", task: true) { c, _, _ in c.pty = true },
        Spec(name: "sudo", kind: .flag, value: "", help: "run jobs, --pre, --post and the overlay through sudo on the workers (as --sudo-user); a worker where sudo fails is left out", task: true) { c, _, _ in c.sudo = true },
        Spec(name: "sudo-user", kind: .name, value: "NAME", help: "with --sudo: the user jobs run as (default root)", task: true) { c, _, v in c.sudoUser = v },
        Spec(name: "sudo-password-file", kind: .file, value: "FILE", help: "with --sudo: its first line is the password, for hosts whose sudo asks (else $CLOUDTASK_SUDO_PASSWORD); sent on the job's stdin, never saved", task: true) { c, _, v in c.sudoPasswordFile = v },
        Spec(name: "env", kind: .environment, value: "NAME[=VALUE]", help: "export NAME (its local value, or VALUE) to every job; repeatable. Names holding TOKEN, SECRET, PASSWORD or KEY travel on the job's stdin and are never saved", task: true) { c, _, v in c.env = (c.env ?? []) + [v] },
        Spec(name: "quiet", kind: .flag, value: "", help: "no per-job status lines or progress on stderr (the session log keeps them); the summary stays", task: true) { c, _, _ in c.quiet = true },
        Spec(name: "verbose", kind: .flag, value: "", help: "also show connections and setup steps", task: true) { c, _, _ in c.verbose = true },
        Spec(name: "force", kind: .flag, value: "", help: "do not ask for confirmation", task: false) { _, f, _ in f.force = true },
        Spec(name: "dry-run", kind: .flag, value: "", help: "print the jobs as they would run and the workers, then exit", task: false) { _, f, _ in f.dryRun = true },
        Spec(name: "resume", kind: .count(min: 1), value: "ID", help: "continue session ID: run its jobs that did not finish", task: false, hint: .sessions) { _, f, v in f.resume = Int(v) },
        Spec(name: "retry", kind: .count(min: 1), value: "ID", help: "run again every job of session ID that did not exit 0", task: false, hint: .sessions) { _, f, v in f.retry = Int(v) },
        helpSpec,
        Spec(name: "version", kind: .flag, value: "", help: "show the version", task: false) { _, f, _ in f.version = true },
        completionSpec,
    ]

    /// Parses `arguments` (without the program name) over the defaults from `environment`, with the options of
    /// `command` (cloudtask's by default; cloudtask-launch-workers passes its own subset of them).
    /// Options come first; the first non-option word and everything after it is the command.
    public static func parse(_ arguments: [String], environment: [String: String], base: TaskConfig = TaskConfig(),
                             command: Command = .cloudtask) throws -> (TaskConfig, RunFlags) {
        var config = base
        var flags = RunFlags()
        for spec in command.options where spec.task {
            guard let apply = spec.apply else { continue }
            let variable = "CLOUDTASK_" + spec.name.uppercased().replacingOccurrences(of: "-", with: "_")
            guard let raw = environment[variable] else { continue }
            if case .flag = spec.kind {
                switch raw.lowercased() {
                case "1", "true", "yes", "on": apply(&config, &flags, "")
                case "0", "false", "no", "off", "": break
                default: throw UsageError("\(variable)=\(raw): expected 1/true/yes or 0/false/no")
                }
                continue
            }
            apply(&config, &flags, try validate(spec, raw, source: variable))
        }
        if config.sessions == nil, let dir = environment["CLOUDTASK_SESSIONS"], !dir.isEmpty {
            config.sessions = dir
        }

        let parsed = try command.parse(arguments)
        for option in parsed.options {
            command.options.first { $0.name == option.name }?.apply?(&config, &flags, option.value)
        }
        config.command = parsed.positionals
        if flags.resume != nil && flags.retry != nil {
            throw UsageError("--resume and --retry cannot be used together")
        }
        return (config, flags)
    }

    // MARK: - Typed values (ctsh)

    /// A value for an option from a front end whose values are typed (ctsh's Lua tables).
    public enum Value: Sendable, Equatable {
        case flag(Bool)
        case text(String)
        /// Several values: worker addresses, or --report hooks.
        case list([String])
    }

    /// Options a ctsh pool (`workers{...}`) takes: how to reach its workers, who commands run as there and with
    /// which variables, and which provider launches it. pool:run uses them all; a task on the pool inherits them.
    static let poolOptions: Set<String> = [
        "user", "port", "ssh-identity", "ssh-passphrase-file", "host-key-policy", "known-hosts", "timeout", "provider",
        "connect-timeout", "connect-rate", "jump", "sudo", "sudo-user", "sudo-password-file", "env",
    ]
    /// The provider settings, which a pool takes only with `launch`.
    static let launchOptions: Set<String> = ["region", "instance-type", "image", "key-name", "security-group", "subnet",
                                             "ec2-endpoint", "boot-timeout"]

    /// The ctsh field names of the options, with the kind of Lua value each takes ("boolean", "number",
    /// "string", or "list": a table of strings, or a string) and where it may be given: "pool" (a pool and a
    /// task), "launch" (a launched pool and a task) or "task".
    public static var luaFields: [(field: String, option: String, type: String, scope: String)] {
        specs.compactMap { spec in
            guard let field = spec.lua else { return nil }
            let type: String
            switch spec.kind {
            case .flag: type = "boolean"
            case .count, .seconds, .port: type = "number"
            case .workers, .report, .environment, .pattern: type = "list"
            default: type = "string"
            }
            let scope = poolOptions.contains(spec.name) ? "pool" : launchOptions.contains(spec.name) ? "launch" : "task"
            return (field, spec.name, type, scope)
        }
    }

    /// Applies ctsh's fields (by field name) over `base`, each checked as its command-line option is: a bad
    /// value reads `--split=-1: expected ...`, as on the command line. `false` leaves a flag as the base has it.
    public static func apply(fields: [(field: String, value: Value)], to base: TaskConfig) throws -> TaskConfig {
        var config = base
        var flags = RunFlags()
        for (field, value) in fields {
            guard let spec = specs.first(where: { $0.lua == field }), let apply = spec.apply else {
                throw UsageError("unknown option '\(field)'")
            }
            switch (spec.kind, value) {
            case (.flag, .flag(let on)):
                if on { apply(&config, &flags, "") }
            case (.flag, _):
                throw UsageError("--\(spec.name): expected true or false")
            case (_, .flag):
                throw UsageError("--\(spec.name): expected a value (\(spec.value)), not a boolean")
            case (.workers, .list(let addresses)):
                if addresses.isEmpty { continue }  // an empty pool: no workers given
                apply(&config, &flags, try validate(spec, addresses.joined(separator: " "), source: "--\(spec.name)"))
            case (.report, .list(let values)), (.environment, .list(let values)), (.pattern, .list(let values)):
                for value in values { apply(&config, &flags, try validate(spec, value, source: "--\(spec.name)")) }
            case (_, .list):
                throw UsageError("--\(spec.name): expected one value (\(spec.value)), not a list")
            case (_, .text(let raw)):
                apply(&config, &flags, try validate(spec, raw, source: "--\(spec.name)"))
            }
        }
        return config
    }

    /// Checks one value; returns it normalised. `source` names the option or variable in errors.
    static func validate(_ spec: Spec, _ raw: String, source: String) throws -> String {
        let value = raw.trimmingCharacters(in: .whitespaces)
        switch spec.kind {
        case .flag, .text:
            return raw
        case .regex:
            do { _ = try NSRegularExpression(pattern: raw) } catch {
                throw UsageError("\(source)=\(raw): not a valid regular expression")
            }
            return raw
        case .token:
            guard !raw.isEmpty else { throw UsageError("\(source): expected a non-empty replacement string") }
            return raw
        case .pattern:
            guard !value.isEmpty else { throw UsageError("\(source): expected a file name") }
            return raw
        case .session:
            guard let n = Int(value), n >= 1 else { throw UsageError("\(source)=\(raw): expected a session id") }
            return String(n)
        case .price:
            let parts = value.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, let price = Double(parts[1]), price >= 0, price.isFinite else {
                throw UsageError("\(source)=\(raw): expected TYPE=USD_PER_HOUR, e.g. --price=t3.micro=0.0104")
            }
            return value
        case .choice(let words):
            guard words.contains(value) else {
                throw UsageError("\(source)=\(raw): expected one of " + words.joined(separator: ", "))
            }
            return value
        case .path:
            guard !value.isEmpty else { throw UsageError("\(source)=\(raw): expected a path") }
            return absolute(value)
        case .name:
            guard !value.isEmpty, !value.contains(where: { $0.isWhitespace }) else {
                throw UsageError("\(source)=\(raw): expected a name")
            }
            return value
        case .outputFile, .outputDirectory:
            return try writablePath(value, directory: spec.kind == .outputDirectory, source: source, raw: raw)
        case .count(let min):
            guard let n = Int(value), n >= min else {
                let range = min == 0 ? "0 or more" : "\(min) or more"
                throw UsageError("\(source)=\(raw): expected a whole number \(range)")
            }
            return String(n)
        case .seconds:
            guard let n = Double(value), n >= 0, n.isFinite else {
                throw UsageError("\(source)=\(raw): expected seconds, 0 or more")
            }
            return String(n)
        case .port:
            guard let n = Int(value), (1...65535).contains(n) else {
                throw UsageError("\(source)=\(raw): expected a port number 1-65535")
            }
            return String(n)
        case .file:
            let path = absolute(value)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw UsageError("\(source)=\(raw): no such file")
            }
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw UsageError("\(source)=\(raw): file not readable")
            }
            return path
        case .directory:
            let path = absolute(value)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UsageError("\(source)=\(raw): no such directory")
            }
            return path
        case .provider:
            if value.hasSuffix(".lua") {
                guard FileManager.default.isReadableFile(atPath: expandHome(value)) else {
                    throw UsageError("\(source)=\(raw): no such file")
                }
                return (URL(fileURLWithPath: expandHome(value)).standardizedFileURL.path)
            }
            guard ["local", "ec2"].contains(value) else {
                throw UsageError("\(source)=\(raw): unknown provider (known: local, ec2, or a FILE.lua)")
            }
            return value
        case .report:
            if let problem = ReportSpec.validate(raw) { throw UsageError("\(source): \(problem)") }
            return raw
        case .environment:
            if let problem = PassedEnvironment.problem(raw) { throw UsageError("\(source)=\(raw): \(problem)") }
            return raw
        case .halt:
            let number = value.hasSuffix("%") ? String(value.dropLast()) : value
            guard let n = Double(number), n > 0, n.isFinite,
                  value.hasSuffix("%") ? n <= 100 : Int(number) != nil else {
                throw UsageError(
                    "\(source)=\(raw): expected a number of failed jobs (1 or more) or a percentage like 10%")
            }
            return value
        case .policy:
            guard HostKeyPolicy(rawValue: value) != nil else {
                let words = HostKeyPolicy.allCases.map(\.rawValue).joined(separator: ", ")
                throw UsageError("\(source)=\(raw): expected one of " + words)
            }
            return value
        case .jumps:
            do { _ = try Endpoints.jumpChain(value) } catch { throw UsageError("\(source)=\(raw): \(error)") }
            return value
        case .workers:
            let list: [WorkerAddress]
            do { list = try WorkerList.parse(value) } catch { throw UsageError("\(source): \(error)") }
            if list.isEmpty { throw UsageError("\(source)=\(raw): no worker addresses") }
            // a file is found again on --resume from elsewhere
            return WorkerList.isRegularFile(value) ? absolute(value) : value
        }
    }

    /// What ctsh's `help"--split"` prints: the option as typed, its ctsh field (type and where it is taken), its
    /// CLOUDTASK_* variable, and its help. `name` may be the option (`--ssh-identity`, `ssh-identity`, `-0`) or
    /// its ctsh field (`identity`); nil for no option of cloudtask's.
    public static func describe(_ name: String) -> String? {
        let bare = name.hasPrefix("--") ? String(name.dropFirst(2)) : name.hasPrefix("-") ? String(name.dropFirst()) : name
        guard let spec = specs.first(where: { $0.name == bare || $0.lua == bare || $0.short.map(String.init) == bare })
        else { return nil }
        var lines = [spec.flags + (spec.takesValue ? (spec.name.count == 1 ? " " : "=") + spec.value : "")]
        if let field = luaFields.first(where: { $0.option == spec.name }) {
            let type = ["boolean": "a boolean", "number": "a number", "string": "a string",
                        "list": "a list of strings, or one string"][field.type] ?? field.type
            let place = ["pool": "workers{...} and task{...}", "launch": "workers{launch = N, ...} and task{...}",
                         "task": "task{...}"][field.scope] ?? field.scope
            lines.append("ctsh: field `\(field.field)`, \(type), in \(place)")
        } else {
            lines.append("ctsh: no field (cloudtask's command line only)")
        }
        if spec.task {
            lines.append("environment: CLOUDTASK_" + spec.name.uppercased().replacingOccurrences(of: "-", with: "_"))
        }
        return (lines + wrap(spec.help, width: 76)).joined(separator: "\n")
    }

    /// `text` broken at spaces into lines of at most `width` characters (a longer word stays whole).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// cloudtask's --help text, generated from the table.
    public static func help(program: String) -> String { Command.cloudtask(named: program).help }

    /// `path` with `~/` expanded, made absolute against the current folder (a resumed run may start elsewhere).
    static func absolute(_ path: String) -> String {
        let expanded = expandHome(path)
        return expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
    }

    /// `value` made absolute, where a file (or a directory) can be written: it is one and writable, or its
    /// parent is a writable directory.
    private static func writablePath(_ value: String, directory: Bool, source: String, raw: String) throws -> String {
        let path = absolute(value)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            try requireWritableParent(of: path, source: source, raw: raw)
            return path
        }
        if isDirectory.boolValue != directory {
            throw UsageError("\(source)=\(raw): " + (directory ? "not a directory" : "is a directory"))
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw UsageError("\(source)=\(raw): " + (directory ? "directory" : "file") + " not writable")
        }
        return path
    }

    private static func requireWritableParent(of path: String, source: String, raw: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw UsageError("\(source)=\(raw): no such directory \(parent)")
        }
        guard FileManager.default.isWritableFile(atPath: parent) else {
            throw UsageError("\(source)=\(raw): directory \(parent) not writable")
        }
    }

    static func expandHome(_ path: String) -> String {
        path.hasPrefix("~/") ? NSHomeDirectory() + String(path.dropFirst(1)) : path
    }
}
