// The subset of ~/.ssh/config we honour: HostName, User, Port and IdentityFile under Host patterns,
// and Include, resolved the way ssh does (first value wins, IdentityFile accumulates).
import Foundation

public struct SSHConfig: Sendable {
    /// What the config says about one host. nil and [] mean the config says nothing.
    public struct Entry: Equatable, Sendable {
        public var hostName: String?
        public var user: String?
        public var port: Int?
        public var identityFiles: [String]

        public init(hostName: String? = nil, user: String? = nil, port: Int? = nil, identityFiles: [String] = []) {
            self.hostName = hostName
            self.user = user
            self.port = port
            self.identityFiles = identityFiles
        }
    }

    /// One `Host` block; the lines before the first `Host` form a block that matches every host.
    private struct Block: Sendable {
        var patterns: [String]?   // nil: the global block
        var options: [(keyword: String, value: String)] = []
    }

    private var blocks: [Block] = []
    private let home: String

    /// Parses `text`; unknown keywords are ignored; `Match` blocks are skipped entirely (unsupported).
    /// `Include` reads files (globs; relative to `~/.ssh`) as ssh does: their lines join the block the
    /// Include is in until their own `Host` lines, and the including file's block goes on after them.
    public init(text: String, home: String) {
        self.home = home
        var blocks = [Block(patterns: nil)]
        var includesLeft = 256
        Self.parse(text, home: home, into: &blocks, depth: 0, includesLeft: &includesLeft)
        self.blocks = blocks
    }

    private static func parse(_ text: String, home: String, into blocks: inout [Block], depth: Int,
                              includesLeft: inout Int) {
        var inMatch = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            guard let (keyword, arguments) = Self.parseLine(String(rawLine)) else { continue }
            switch keyword {
            case "host":
                blocks.append(Block(patterns: arguments))
                inMatch = false
            case "match":
                inMatch = true
            case "include":
                // ssh stops at 16 levels; a deeper (or circular) include is ignored here, and so is any past
                // the 256th file read, so a file that includes itself several times cannot blow up.
                guard !inMatch, depth < 16 else { continue }
                let enclosing = blocks[blocks.count - 1].patterns
                for path in arguments.flatMap({ includedFiles($0, home: home) }) {
                    guard includesLeft > 0, let data = FileManager.default.contents(atPath: path) else { continue }
                    includesLeft -= 1
                    parse(String(decoding: data, as: UTF8.self), home: home, into: &blocks, depth: depth + 1,
                          includesLeft: &includesLeft)
                    if blocks[blocks.count - 1].patterns != enclosing { blocks.append(Block(patterns: enclosing)) }
                }
            case "hostname", "user", "port", "identityfile":
                // ssh would refuse the config for a keyword without a value; we just skip the line.
                if !inMatch, let value = arguments.first {
                    blocks[blocks.count - 1].options.append((keyword, value))
                }
            default:
                continue
            }
        }
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

    /// Reads the config at `path`; a missing or unreadable file is an empty config, as for ssh.
    public static func load(path: String, home: String) -> SSHConfig {
        guard let data = FileManager.default.contents(atPath: path) else { return SSHConfig(text: "", home: home) }
        return SSHConfig(text: String(decoding: data, as: UTF8.self), home: home)
    }

    /// For `host` as given by the user: first value obtained wins (ssh semantics), IdentityFile
    /// accumulates; `Host` patterns with *, ?, negation !, several patterns per line; keywords
    /// case-insensitive, `Key value` or `Key=value`, quoted values; `~` and tokens %h (the final host
    /// name), %u (local user), %r (remote user, else the local user), %% expanded in IdentityFile.
    /// HostName may use %h (the host as given) and %%. An invalid Port is ignored.
    public func resolve(host: String, localUser: String) -> Entry {
        var entry = Entry()
        var rawIdentityFiles: [String] = []
        for block in blocks where block.patterns.map({ Self.matches(host: host, patterns: $0) }) ?? true {
            for (keyword, value) in block.options {
                switch keyword {
                case "hostname" where entry.hostName == nil:
                    entry.hostName = Self.expandTokens(value, [("h", host)])
                case "user" where entry.user == nil:
                    entry.user = value
                case "port" where entry.port == nil:
                    if let port = Int(value), (1...65535).contains(port) { entry.port = port }
                case "identityfile":
                    rawIdentityFiles.append(value)
                default:
                    continue
                }
            }
        }
        // Tokens are expanded once everything is known: %h and %r depend on later lines.
        let tokens = [
            ("h", entry.hostName ?? host), ("n", host), ("p", String(entry.port ?? 22)),
            ("r", entry.user ?? localUser), ("u", localUser), ("d", home),
        ]
        entry.identityFiles = rawIdentityFiles
            .filter { $0.lowercased() != "none" }
            .map { Self.expandTokens(expandTilde($0), tokens) }
        return entry
    }

    // MARK: - Parsing

    /// Splits a config line into a lowercased keyword and its arguments; nil for blank and comment lines.
    static func parseLine(_ line: String) -> (String, [String])? {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, !text.hasPrefix("#") else { return nil }
        // The keyword ends at whitespace or "=", and one "=" may separate it from the value.
        guard let end = text.firstIndex(where: { $0 == "=" || $0 == " " || $0 == "\t" }) else {
            return (text.lowercased(), [])
        }
        let keyword = text[..<end].lowercased()
        var rest = text[end...].drop(while: { $0 == " " || $0 == "\t" })
        if rest.first == "=" { rest = rest.dropFirst() }
        return (keyword, splitArguments(String(rest)))
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

    /// A `Host` line matches when some plain pattern matches and no negated one does (ssh's rule).
    static func matches(host: String, patterns: [String]) -> Bool {
        let name = host.lowercased()
        var matched = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if glob(pattern.dropFirst().lowercased(), name) { return false }
            } else if glob(pattern.lowercased(), name) {
                matched = true
            }
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
