// The subset of ~/.ssh/config we honour, resolved the way ssh does (first value wins, IdentityFile accumulates):
// Host and Match blocks, Include, HostName, User, Port, IdentityFile, IdentitiesOnly, ConnectTimeout,
// ServerAliveInterval/CountMax, HostKeyAlias, and ProxyJump/ProxyCommand (parsed into jump hosts only).
import Foundation

public struct SSHConfig: Sendable {
    /// What the config says about one host. nil and [] mean the config says nothing.
    public struct Entry: Equatable, Sendable {
        public var hostName: String?
        public var user: String?
        public var port: Int?
        public var identityFiles: [String]
        public var identitiesOnly: Bool?
        public var connectTimeout: Double?
        public var serverAliveInterval: Double?
        public var serverAliveCountMax: Int?
        public var hostKeyAlias: String?
        /// ProxyJump, or a ProxyCommand of the `ssh -W %h:%p HOST` form; nil: none (or `none`).
        public var jumps: [JumpHost]?
        /// What the front end should say once: a `Match exec` that was not run, a Match criterion not supported.
        public var warnings: [String]

        public init(hostName: String? = nil, user: String? = nil, port: Int? = nil, identityFiles: [String] = [],
                    identitiesOnly: Bool? = nil, connectTimeout: Double? = nil, serverAliveInterval: Double? = nil,
                    serverAliveCountMax: Int? = nil, hostKeyAlias: String? = nil, jumps: [JumpHost]? = nil,
                    warnings: [String] = []) {
            self.hostName = hostName
            self.user = user
            self.port = port
            self.identityFiles = identityFiles
            self.identitiesOnly = identitiesOnly
            self.connectTimeout = connectTimeout
            self.serverAliveInterval = serverAliveInterval
            self.serverAliveCountMax = serverAliveCountMax
            self.hostKeyAlias = hostKeyAlias
            self.jumps = jumps
            self.warnings = warnings
        }
    }

    /// A config line ssh would refuse for this host, or one we do not support: `FILE:LINE: what`.
    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
    }

    /// One line of a block: its lowercased keyword, its arguments, the text after the keyword, and where it is.
    private struct Line: Sendable {
        var keyword: String
        var arguments: [String]
        var text: String
        var place: String   // "~/.ssh/config:12"
    }

    /// One `Match` criterion: `host a,!b`, `!user root`, `all`.
    private struct Criterion: Sendable {
        var name: String
        var patterns: [String]
        var negated: Bool
    }

    /// When a block applies.
    private enum Condition: Sendable, Equatable {
        case always                       // the lines before the first Host or Match
        case host([String])
        case match(Int)                   // an index into `matches`
    }

    private struct Block: Sendable {
        var condition: Condition
        var options: [Line] = []
    }

    private var blocks: [Block] = []
    /// Each Match line's criteria (or why it is malformed) and its place.
    private var matches: [(criteria: Result<[Criterion], ConfigError>, place: String)] = []
    private let home: String

    /// Parses `text` (named `file` in messages); unknown keywords are ignored. `Include` reads files (globs;
    /// relative to `~/.ssh`) as ssh does: their lines join the block the Include is in until their own `Host`
    /// or `Match` lines, and the including file's block goes on after them.
    public init(text: String, home: String, file: String = "~/.ssh/config") {
        self.home = home
        var parser = Parser(home: home)
        parser.parse(text, file: file, depth: 0)
        self.blocks = parser.blocks
        self.matches = parser.matches
    }

    /// Reads the config at `path`; a missing or unreadable file is an empty config, as for ssh.
    public static func load(path: String, home: String) -> SSHConfig {
        guard let data = FileManager.default.contents(atPath: path) else { return SSHConfig(text: "", home: home) }
        return SSHConfig(text: String(decoding: data, as: UTF8.self), home: home, file: display(path, home: home))
    }

    /// The names of the Host lines that name one host (no `*`, `?` or `!`), in order, each once: what a
    /// person would type as a worker address.
    public var hostNames: [String] {
        var names: [String] = []
        for block in blocks {
            guard case .host(let patterns) = block.condition else { continue }
            for name in patterns where !name.contains(where: { "*?!".contains($0) }) && !names.contains(name) {
                names.append(name)
            }
        }
        return names
    }

    /// `path` with the home folder written `~`.
    static func display(_ path: String, home: String) -> String {
        path.hasPrefix(home + "/") ? "~" + path.dropFirst(home.count) : path
    }

    // MARK: - Parsing

    private struct Parser {
        let home: String
        var blocks = [Block(condition: .always)]
        var matches: [(criteria: Result<[Criterion], ConfigError>, place: String)] = []
        var includesLeft = 256

        mutating func parse(_ text: String, file: String, depth: Int) {
            var number = 0
            for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
                number += 1
                guard let (keyword, rest) = SSHConfig.parseLine(String(rawLine)) else { continue }
                let arguments = SSHConfig.splitArguments(rest)
                let place = "\(file):\(number)"
                switch keyword {
                case "host":
                    blocks.append(Block(condition: .host(arguments)))
                case "match":
                    matches.append((SSHConfig.criteria(arguments, place: place), place))
                    blocks.append(Block(condition: .match(matches.count - 1)))
                case "include":
                    // ssh stops at 16 levels; a deeper (or circular) include is ignored here, and so is any past
                    // the 256th file read, so a file that includes itself several times cannot blow up.
                    guard depth < 16 else { continue }
                    let enclosing = blocks[blocks.count - 1].condition
                    for path in arguments.flatMap({ SSHConfig.includedFiles($0, home: home) }) {
                        guard includesLeft > 0, let data = FileManager.default.contents(atPath: path) else { continue }
                        includesLeft -= 1
                        parse(String(decoding: data, as: UTF8.self), file: SSHConfig.display(path, home: home),
                              depth: depth + 1)
                        if blocks[blocks.count - 1].condition != enclosing { blocks.append(Block(condition: enclosing)) }
                    }
                default:
                    // ssh would refuse the config for a keyword without a value; we just skip the line.
                    guard SSHConfig.keywords.contains(keyword), !arguments.isEmpty else { continue }
                    blocks[blocks.count - 1].options.append(Line(keyword: keyword, arguments: arguments, text: rest,
                                                                 place: place))
                }
            }
        }
    }

    /// The keywords whose values are kept.
    static let keywords: Set<String> = [
        "hostname", "user", "port", "identityfile", "identitiesonly", "connecttimeout", "serveraliveinterval",
        "serveralivecountmax", "hostkeyalias", "proxyjump", "proxycommand",
    ]

    /// A Match line's criteria, as ssh_config(5) has them: `all` alone (or after `canonical`/`final`), the
    /// others with one argument (a comma-separated pattern list; exec's a command); `!` negates a criterion.
    private static func criteria(_ arguments: [String], place: String) -> Result<[Criterion], ConfigError> {
        var list: [Criterion] = []
        var index = 0
        while index < arguments.count {
            var name = arguments[index].lowercased()
            index += 1
            let negated = name.hasPrefix("!")
            if negated { name.removeFirst() }
            switch name {
            case "all", "canonical", "final":
                if name == "all" && (index < arguments.count || list.contains { !["canonical", "final"].contains($0.name) }) {
                    return .failure(ConfigError(description: "\(place): Match all cannot be combined with other criteria"))
                }
                list.append(Criterion(name: name, patterns: [], negated: negated))
            default:
                let known = ["exec", "host", "originalhost", "user", "localuser", "localnetwork", "tagged", "command",
                             "version", "sessiontype"]
                guard known.contains(name) else {
                    return .failure(ConfigError(description: "\(place): unsupported Match criterion '\(name)'"))
                }
                guard index < arguments.count else {
                    return .failure(ConfigError(description: "\(place): Match \(name) needs an argument"))
                }
                let argument = arguments[index]
                index += 1
                let patterns = name == "exec" ? [argument] : argument.split(separator: ",").map(String.init)
                list.append(Criterion(name: name, patterns: patterns, negated: negated))
            }
        }
        if list.isEmpty { return .failure(ConfigError(description: "\(place): Match needs criteria")) }
        return .success(list)
    }

    /// The files an `Include` argument names: `~` expanded, relative to `~/.ssh`, globs sorted.
    private static func includedFiles(_ argument: String, home: String) -> [String] {
        var pattern = argument.hasPrefix("~/") ? home + argument.dropFirst(1) : argument
        if !pattern.hasPrefix("/") { pattern = home + "/.ssh/" + pattern }
        var found = glob_t()
        defer { globfree(&found) }
        guard Glibc.glob(pattern, 0, nil, &found) == 0 else { return [] }
        return (0..<Int(found.gl_pathc)).compactMap { found.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    // MARK: - Resolving

    /// What resolving one host has found so far.
    private struct Resolution {
        let host: String
        let givenUser: String?
        let localUser: String
        var entry = Entry()
        /// Keywords whose first value was found (`none` decides without setting a field).
        var decided = Set<String>()
        var rawIdentityFiles: [String] = []
        var wantsFinalPass = false
        /// The user and host a Match tests: the user given, else the config's so far, else ours; the HostName so far.
        var remoteUser: String { givenUser ?? entry.user ?? localUser }
        var currentHost: String { entry.hostName ?? host }

        mutating func warn(_ text: String) {
            if !entry.warnings.contains(text) { entry.warnings.append(text) }
        }
        /// True the first time `keyword` is decided (ssh: the first value obtained wins).
        mutating func decide(_ keyword: String) -> Bool { decided.insert(keyword).inserted }
    }

    /// For `host` as given by the user, with `user` the remote user given with it (the address's, --user) and
    /// `localUser` ours. First value obtained wins (ssh semantics), IdentityFile accumulates; `Host` patterns with
    /// *, ?, negation !, several patterns per line; `Match` with host, originalhost, user, localuser (pattern
    /// lists, `!`), all, canonical and final as ssh has them without canonicalization (both hold only in the
    /// final pass, which a `Match final` asks for); `Match exec` is never run and counts as not matching, with a
    /// warning. Keywords case-insensitive, `Key value` or `Key=value`, quoted values; `~` and tokens %h (the final
    /// host name), %u (local user), %r (remote user), %% expanded in IdentityFile. HostName may use %h (the host
    /// as given) and %%. An invalid value (Port, yes/no, times) is ignored. Throws, naming the file and line, for a
    /// malformed Match or ProxyJump and a ProxyCommand that is not `ssh -W %h:%p HOST` when they apply to `host`.
    public func resolve(host: String, user: String? = nil, localUser: String) throws -> Entry {
        var state = Resolution(host: host, givenUser: user, localUser: localUser)
        try walk(&state, finalPass: false)
        if state.wantsFinalPass { try walk(&state, finalPass: true) }
        // Tokens are expanded once everything is known: %h and %r depend on later lines.
        let tokens = [
            ("h", state.currentHost), ("n", host), ("p", String(state.entry.port ?? 22)),
            ("r", state.remoteUser), ("u", localUser), ("d", home),
        ]
        state.entry.identityFiles = state.rawIdentityFiles
            .filter { $0.lowercased() != "none" }
            .map { Self.expandTokens(expandTilde($0), tokens) }
        return state.entry
    }

    /// Applies every block that holds for the host, in order.
    private func walk(_ state: inout Resolution, finalPass: Bool) throws {
        for block in blocks {
            guard try holds(block.condition, &state, finalPass: finalPass) else { continue }
            for line in block.options { try Self.apply(line, to: &state) }
        }
    }

    /// Whether a block's condition holds: a Match's criteria must all hold (each negated by a leading `!`).
    private func holds(_ condition: Condition, _ state: inout Resolution, finalPass: Bool) throws -> Bool {
        let index: Int
        switch condition {
        case .always: return true
        case .host(let patterns): return Self.matches(state.host, patterns: patterns, ignoringCase: true)
        case .match(let i): index = i
        }
        let place = matches[index].place
        var result = true
        for criterion in try matches[index].criteria.get() {
            let holds: Bool
            switch criterion.name {
            case "all":
                holds = true
            case "canonical", "final":
                if criterion.name == "final" { state.wantsFinalPass = true }
                holds = finalPass
            case "host":
                holds = Self.matches(state.currentHost, patterns: criterion.patterns, ignoringCase: true)
            case "originalhost":
                holds = Self.matches(state.host, patterns: criterion.patterns, ignoringCase: true)
            case "user":
                holds = Self.matches(state.remoteUser, patterns: criterion.patterns, ignoringCase: false)
            case "localuser":
                holds = Self.matches(state.localUser, patterns: criterion.patterns, ignoringCase: false)
            case "exec":
                // ssh runs the command only when the criteria before it hold; we never run it.
                if result {
                    state.warn("\(place): Match exec is not run by cloudtask: this Match counts as not matching")
                }
                result = false
                continue
            default:
                // localnetwork, tagged, command, version, sessiontype
                state.warn("\(place): Match \(criterion.name) is not supported: this Match counts as not matching")
                result = false
                continue
            }
            if holds == criterion.negated { result = false }
        }
        return result
    }

    /// Takes one line's value into the entry unless its keyword was decided before.
    private static func apply(_ line: Line, to state: inout Resolution) throws {
        let value = line.arguments[0]
        let keyword = line.keyword
        guard !state.decided.contains(keyword) || keyword == "identityfile" else { return }
        switch keyword {
        case "hostname":
            state.entry.hostName = expandTokens(value, [("h", state.host)])
        case "user":
            state.entry.user = value
        case "port":
            guard let port = Int(value), (1...65535).contains(port) else { return }
            state.entry.port = port
        case "identityfile":
            if !state.rawIdentityFiles.contains(value) { state.rawIdentityFiles.append(value) }  // the final pass again
            return
        case "identitiesonly":
            guard let on = yesNo(value) else { return }
            state.entry.identitiesOnly = on
        case "connecttimeout":
            if value.lowercased() != "none" {
                guard let seconds = seconds(value) else { return }
                state.entry.connectTimeout = seconds
            }
        case "serveraliveinterval":
            guard let seconds = seconds(value) else { return }
            state.entry.serverAliveInterval = seconds
        case "serveralivecountmax":
            guard let count = Int(value), count >= 0 else { return }
            state.entry.serverAliveCountMax = count
        case "hostkeyalias":
            state.entry.hostKeyAlias = value
        case "proxyjump", "proxycommand":
            // The first of ProxyJump and ProxyCommand wins, as in ssh.
            guard state.decide("proxy") else { return }
            state.entry.jumps = keyword == "proxyjump" ? try proxyJump(line) : try proxyCommand(line)
        default:
            return
        }
        state.decided.insert(keyword)
    }

    /// A ProxyJump value: `none`, or a chain of `[user@]host[:port]`.
    private static func proxyJump(_ line: Line) throws -> [JumpHost]? {
        guard line.arguments.count == 1 else {
            throw ConfigError(description: "\(line.place): ProxyJump takes one argument (hops are separated by commas)")
        }
        if line.arguments[0].lowercased() == "none" { return nil }
        do { return try JumpHost.parseChain(line.arguments[0]) } catch {
            throw ConfigError(description: "\(line.place): ProxyJump \(error)")
        }
    }

    /// A ProxyCommand that is ssh forwarding to the target (`[exec] ssh [-q] [-l USER] [-p PORT] [-J CHAIN]
    /// -W %h:%p|[%h]:%p HOST`) as jump hosts, `none` as nil; anything else is refused: we run no proxy commands.
    private static func proxyCommand(_ line: Line) throws -> [JumpHost]? {
        let command = line.text.trimmingCharacters(in: .whitespaces)
        if command.lowercased() == "none" { return nil }
        let refused = ConfigError(description: "\(line.place): ProxyCommand '\(command)' is not supported: use ProxyJump")
        var words = splitArguments(command)
        if words.first == "exec" { words.removeFirst() }
        guard let program = words.first, program == "ssh" || program.hasSuffix("/ssh") else { throw refused }
        var forward: String?, user: String?, port: Int?, chain: [JumpHost] = [], destination: String?
        var index = 1
        while index < words.count {
            let word = words[index]
            index += 1
            if word == "-q" { continue }
            if ["-W", "-l", "-p", "-J"].contains(word) {
                guard index < words.count else { throw refused }
                let argument = words[index]
                index += 1
                switch word {
                case "-W": forward = argument
                case "-l": user = argument
                case "-p":
                    guard let number = Int(argument), (1...65535).contains(number) else { throw refused }
                    port = number
                default:
                    guard let hops = try? JumpHost.parseChain(argument) else { throw refused }
                    chain = hops
                }
                continue
            }
            guard destination == nil, !word.hasPrefix("-") else { throw refused }
            destination = word
        }
        guard forward == "%h:%p" || forward == "[%h]:%p", let destination, !destination.contains("%"),
              var hop = try? JumpHost.parse(destination) else { throw refused }
        hop.user = hop.user ?? user
        hop.port = hop.port ?? port
        return chain + [hop]
    }

    /// ssh's yes/no (true/false too).
    private static func yesNo(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "yes", "true": return true
        case "no", "false": return false
        default: return nil
        }
    }

    /// ssh's time format: seconds, or a sum like `1m30s` (s, m, h, d, w); nil when malformed.
    static func seconds(_ text: String) -> Double? {
        if let plain = Int(text) { return plain >= 0 ? Double(plain) : nil }
        var total = 0, digits = ""
        for char in text.lowercased() {
            if char.isASCII && char.isNumber { digits.append(char); continue }
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]
            guard let unit = units[char], let number = Int(digits) else { return nil }
            total += number * unit
            digits = ""
        }
        if !digits.isEmpty { guard let number = Int(digits) else { return nil }; total += number }
        return Double(total)
    }

    // MARK: - Lines

    /// Splits a config line into a lowercased keyword and the text of its arguments; nil for blank and comment lines.
    static func parseLine(_ line: String) -> (String, String)? {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, !text.hasPrefix("#") else { return nil }
        // The keyword ends at whitespace or "=", and one "=" may separate it from the value.
        guard let end = text.firstIndex(where: { $0 == "=" || $0 == " " || $0 == "\t" }) else {
            return (text.lowercased(), "")
        }
        let keyword = text[..<end].lowercased()
        var rest = text[end...].drop(while: { $0 == " " || $0 == "\t" })
        if rest.first == "=" { rest = rest.dropFirst().drop(while: { $0 == " " || $0 == "\t" }) }
        return (keyword, String(rest))
    }

    /// Splits arguments the way ssh's argv_split does: whitespace separates, single or double quotes
    /// group, backslash escapes a quote, backslash or space, and an unquoted `#` starting an argument
    /// ends the line.
    static func splitArguments(_ text: String) -> [String] {
        var arguments: [String] = []
        var current = ""
        var inArgument = false
        var quote: Character?
        var iterator = text.makeIterator()
        while let char = iterator.next() {
            if let open = quote {
                if char == open {
                    quote = nil
                } else if char == "\\", let next = iterator.next() {
                    if next == open || next == "\\" { current.append(next) } else { current += "\\\(next)" }
                } else {
                    current.append(char)
                }
                continue
            }
            switch char {
            case " ", "\t":
                if inArgument { arguments.append(current); current = ""; inArgument = false }
            case "#" where !inArgument:
                return arguments
            case "\"", "'":
                quote = char
                inArgument = true
            case "\\":
                inArgument = true
                if let next = iterator.next() {
                    if "\\\"' ".contains(next) { current.append(next) } else { current += "\\\(next)" }
                } else {
                    current.append(char)
                }
            default:
                current.append(char)
                inArgument = true
            }
        }
        if inArgument { arguments.append(current) }
        return arguments
    }

    // MARK: - Matching and expansion

    /// A pattern list (a `Host` line, a Match criterion's list) matches when some plain pattern matches and no
    /// negated one does (ssh's rule); host names are compared ignoring case, user names not.
    static func matches(_ text: String, patterns: [String], ignoringCase: Bool) -> Bool {
        let name = ignoringCase ? text.lowercased() : text
        var matched = false
        for pattern in patterns {
            let negated = pattern.hasPrefix("!")
            let body = negated ? String(pattern.dropFirst()) : pattern
            guard glob(ignoringCase ? body.lowercased() : body, name) else { continue }
            if negated { return false }
            matched = true
        }
        return matched
    }

    /// `*` matches any run of characters, `?` one character.
    static func glob(_ pattern: some StringProtocol, _ text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        var pi = 0, ti = 0
        var star: Int?, starText = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; starText = ti; pi += 1
            } else if let s = star {
                // Let the last star swallow one more character and retry.
                pi = s + 1; starText += 1; ti = starText
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    private func expandTilde(_ path: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst() }
        return path
    }

    /// Replaces %x tokens and %% ; an unknown token is kept as written.
    static func expandTokens(_ text: String, _ tokens: [(String, String)]) -> String {
        var out = ""
        var iterator = text.makeIterator()
        while let char = iterator.next() {
            guard char == "%" else { out.append(char); continue }
            guard let key = iterator.next() else { out.append(char); break }
            if key == "%" {
                out.append("%")
            } else if let value = tokens.first(where: { $0.0 == String(key) })?.1 {
                out += value
            } else {
                out += "%\(key)"
            }
        }
        return out
    }
}
