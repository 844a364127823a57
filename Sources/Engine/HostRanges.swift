// Host ranges and groups in worker lists, as ClusterShell writes them (`web[01-20]`, `rack[1-2]-node[1-3]`,
// `[1-10/2]`, `@name` from the groups file), and how a list splits into words when commas sit inside brackets.
import Foundation

public enum HostRanges {
    /// The most hosts one word (a range or a group) may expand to; more is surely a slip (`web[1-1000000]`).
    public static let limit = 65536

    /// Splits a worker list into words: whitespace separates, and so does a comma outside brackets, so
    /// `a,web[1,3]` is two words. A bracket left open runs to the end of its word.
    public static func words(_ text: some StringProtocol) -> [String] {
        var words: [String] = []
        var word = ""
        var depth = 0
        for char in text {
            if char.isWhitespace || (char == "," && depth == 0) {
                if !word.isEmpty { words.append(word) }
                word = ""
                depth = 0
                continue
            }
            if char == "[" { depth += 1 } else if char == "]" { depth = max(0, depth - 1) }
            word.append(char)
        }
        if !word.isEmpty { words.append(word) }
        return words
    }

    /// The addresses one word stands for, its ranges expanded in the order written, the first bracket
    /// outermost (`r[1-2]n[1-2]`: r1n1 r1n2 r2n1 r2n2). Only what follows a `N/` prefix and the last `@`
    /// expands (a user name may hold brackets). A bracket holding a `:` is an IPv6 address (`[::1]:22`)
    /// and stays as it is. Throws "bad range 'WORD': why".
    public static func expand(_ word: String) throws -> [String] {
        var hostStart = word.startIndex
        if let slash = word.firstIndex(of: "/"), !word[..<slash].isEmpty,
           word[..<slash].allSatisfy({ $0.isASCII && $0.isNumber }) {
            hostStart = word.index(after: slash)
        }
        if let at = word[hostStart...].lastIndex(of: "@") { hostStart = word.index(after: at) }
        let host = word[hostStart...]
        guard host.contains(where: { $0 == "[" || $0 == "]" }) else { return [word] }

        func bad(_ why: String) -> WorkerAddressError { WorkerAddressError("bad range '\(word)': \(why)") }
        // The word as fixed text and the values of each range, alternating.
        var pieces: [[String]] = [[String(word[..<hostStart])]]
        var rest = host
        var total = 1
        while let open = rest.firstIndex(where: { $0 == "[" || $0 == "]" }) {
            guard rest[open] == "[" else { throw bad("']' without '['") }
            guard let close = rest[open...].firstIndex(of: "]") else {
                // An IPv6 address left open (`[::1`): WorkerAddress names what is missing.
                if open == host.startIndex && rest.contains(":") { return [word] }
                throw bad("missing ']'")
            }
            let inside = rest[rest.index(after: open)..<close]
            if inside.contains(":") {
                pieces.append([String(rest[...close])])
            } else {
                guard !inside.contains("[") else { throw bad("'[' inside brackets") }
                pieces.append([String(rest[..<open])])
                let values = try rangeValues(inside, fail: bad)
                let (product, overflow) = total.multipliedReportingOverflow(by: values.count)
                guard !overflow, product <= limit else { throw bad("more than \(limit) hosts") }
                total = product
                pieces.append(values)
            }
            rest = rest[rest.index(after: close)...]
        }
        pieces.append([String(rest)])

        var results = [""]
        for choices in pieces {
            if choices.count == 1 {
                for index in results.indices { results[index] += choices[0] }
            } else {
                results = results.flatMap { prefix in choices.map { prefix + $0 } }
            }
        }
        return results
    }

    /// The values of a bracket's text (`01-03,7,10-20/5`); `fail` makes the error from why it is bad. A lower
    /// bound written with a leading zero sets the width (`08-10`: 08 09 10); a step follows a range after `/`.
    static func rangeValues(_ text: Substring, fail: (String) -> WorkerAddressError) throws -> [String] {
        guard !text.isEmpty else { throw fail("empty brackets") }
        var values: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let expected = "'\(item)' is not N, N-M or N-M/step (numbers only)"
            guard !item.isEmpty else { throw fail("empty item between commas in '[\(text)]'") }
            let stepParts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let bounds = stepParts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            // 18 digits: every such number fits an Int, and no one numbers hosts beyond that.
            func number(_ text: Substring) -> Int? {
                guard !text.isEmpty, text.count <= 18, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
                return Int(text)
            }
            guard let low = number(bounds[0]) else { throw fail(expected) }
            let high: Int
            if bounds.count == 2 {
                guard let value = number(bounds[1]) else { throw fail(expected) }
                high = value
            } else {
                high = low
            }
            var step = 1
            if stepParts.count == 2 {
                guard bounds.count == 2, let value = number(stepParts[1]) else { throw fail(expected) }
                guard value >= 1 else { throw fail("step 0 in '\(item)' (1 or more)") }
                step = value
            }
            guard low <= high else { throw fail("'\(item)' goes down (write \(bounds[1])-\(bounds[0]))") }
            guard (high - low) / step < limit - values.count else { throw fail("more than \(limit) hosts") }
            let width = bounds[0].hasPrefix("0") ? bounds[0].count : 0
            for value in stride(from: low, through: high, by: step) {
                let digits = String(value)
                values.append(String(repeating: "0", count: max(0, width - digits.count)) + digits)
            }
        }
        return values
    }
}

// MARK: - Groups

/// The groups file (`name: host ...` a line, `#` comments), whose groups worker lists name as `@name`. A
/// member is an address, a range or `@other`; groups may nest but not form a cycle.
public struct HostGroups: Sendable {
    public let path: String
    /// The path as messages show it, `~/` for the home folder.
    public let shownPath: String

    public init(path: String, home: String? = nil) {
        self.path = path
        if let home, !home.isEmpty, path.hasPrefix(home + "/") {
            shownPath = "~" + path.dropFirst(home.count)
        } else {
            shownPath = path
        }
    }

    /// `$XDG_CONFIG_HOME/cloudtask/groups`, else `~/.config/cloudtask/groups`.
    public init(environment: [String: String]) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
        self.init(path: config + "/cloudtask/groups", home: home)
    }

    /// The groups file of this process's environment: the one place every front end (the options' check,
    /// the assembly, ctsh's pools) finds it, so that they all expand `@name` alike.
    public static var current: HostGroups { HostGroups(environment: ProcessInfo.processInfo.environment) }
}

/// Expands the words of one worker list: ranges, and `@name` through the groups file, read once when a
/// group is first named.
struct HostExpander {
    let groups: HostGroups
    private var lines: [String: (number: Int, members: [String])]?
    private var fileFound = false

    init(groups: HostGroups) { self.groups = groups }

    /// The addresses `word` stands for (a group's members checked as addresses, errors naming their line).
    mutating func expand(_ word: String) throws -> [String] {
        guard word.hasPrefix("@") else { return try HostRanges.expand(word) }
        var hosts: [String] = []
        try expandGroup(String(word.dropFirst()), path: [], into: &hosts)
        return hosts
    }

    private mutating func expandGroup(_ name: String, path: [String], into hosts: inout [String]) throws {
        guard !name.isEmpty, name.allSatisfy(Self.isNameCharacter) else {
            throw WorkerAddressError("bad group name '@\(name)' (letters, digits, '-', '_', '.')")
        }
        guard !path.contains(name) else {
            let cycle = (path.drop(while: { $0 != name }) + [name]).map { "@" + $0 }.joined(separator: " -> ")
            throw WorkerAddressError("group cycle \(cycle) (in \(groups.shownPath))")
        }
        let table = try loaded()
        guard let line = table[name] else {
            let why = fileFound ? "no such line in \(groups.shownPath)" : "no file \(groups.shownPath)"
            throw WorkerAddressError("unknown group @\(name) (\(why))")
        }
        for member in line.members {
            if member.hasPrefix("@") {
                try expandGroup(String(member.dropFirst()), path: path + [name], into: &hosts)
            } else {
                do {
                    for host in try HostRanges.expand(member) {
                        _ = try WorkerAddress(parsing: host)
                        hosts.append(host)
                    }
                } catch let error as WorkerAddressError {
                    throw WorkerAddressError("\(groups.shownPath):\(line.number): \(error.message)")
                }
            }
            guard hosts.count <= HostRanges.limit else {
                throw WorkerAddressError("group @\(name) expands to more than \(HostRanges.limit) hosts")
            }
        }
    }

    /// The groups by name; a missing file is no group at all. A bad line fails whichever group is named.
    private mutating func loaded() throws -> [String: (number: Int, members: [String])] {
        if let lines { return lines }
        var table: [String: (number: Int, members: [String])] = [:]
        guard let data = FileManager.default.contents(atPath: groups.path) else {
            lines = table
            return table
        }
        fileFound = true
        let texts = String(decoding: data, as: UTF8.self)
            .split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (index, raw) in texts.enumerated() {
            let text = (raw.firstIndex(of: "#").map { raw[..<$0] } ?? raw).trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            let place = "\(groups.shownPath):\(index + 1)"
            guard let colon = text.firstIndex(of: ":"),
                  case let name = text[..<colon].trimmingCharacters(in: .whitespaces),
                  !name.isEmpty, name.allSatisfy(Self.isNameCharacter) else {
                throw WorkerAddressError("\(place): expected 'name: host ...', got '\(text)'")
            }
            if let first = table[name] {
                throw WorkerAddressError("\(place): group @\(name) defined again (first on line \(first.number))")
            }
            table[name] = (index + 1, HostRanges.words(text[text.index(after: colon)...]))
        }
        lines = table
        return table
    }

    private static func isNameCharacter(_ char: Character) -> Bool {
        char.isASCII && (char.isLetter || char.isNumber || char == "-" || char == "_" || char == ".")
    }
}
