// Worker addresses as users write them (`user@host:port`, `[v6]:port`, `4/host` for 4 slots), and the
// `--workers` value: a file of addresses or an inline list, its ranges and groups expanded by HostRanges.swift.
import Foundation

/// A bad worker address or workers file, as one printable message.
public struct WorkerAddressError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

// In an extension so the memberwise init(message:) stays too.
extension WorkerAddressError {
    public init(_ message: String) { self.message = message }
}

public struct WorkerAddress: Equatable, Hashable, CustomStringConvertible, Sendable {
    public var user: String?
    public var host: String
    public var port: Int?
    /// Jobs run at once on this worker (`N/host`, as GNU parallel's sshlogin); nil means --slots.
    public var slots: Int?

    public init(user: String? = nil, host: String, port: Int? = nil, slots: Int? = nil) {
        self.user = user
        self.host = host
        self.port = port
        self.slots = slots
    }

    /// Parses `host`, `user@host`, `host:port`, `user@host:port`, `[v6addr]:port`, `[v6addr]`, bare IPv6
    /// without port. Throws WorkerAddressError(message) naming the bad text on empty host, bad port (not
    /// 1...65535), etc.
    public init(parsing text: String) throws {
        guard !text.isEmpty else { throw WorkerAddressError("empty worker address") }
        var rest = Substring(text)
        // `N/host`: N slots on this worker. No user name or host holds a "/", so the prefix is unambiguous.
        if let slash = rest.firstIndex(of: "/"), !rest[..<slash].isEmpty,
           rest[..<slash].allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let slots = Int(rest[..<slash]), slots >= 1 else {
                throw WorkerAddressError("bad slot count '\(rest[..<slash])' in '\(text)' (N/host, N 1 or more)")
            }
            self.slots = slots
            rest = rest[rest.index(after: slash)...]
        } else {
            self.slots = nil
        }
        // The last "@" splits, as for ssh: a host never holds one.
        if let at = rest.lastIndex(of: "@") {
            let user = String(rest[..<at])
            guard !user.isEmpty else { throw WorkerAddressError("empty user in '\(text)'") }
            // A leading "-" could read as an option to some ssh client; no user name starts with one.
            guard !user.hasPrefix("-"), user.allSatisfy(Self.isUserCharacter) else {
                throw WorkerAddressError("bad user '\(user)' in '\(text)'")
            }
            self.user = user
            rest = rest[rest.index(after: at)...]
        } else {
            self.user = nil
        }

        let portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw WorkerAddressError("missing ']' in '\(text)'")
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else {
                throw WorkerAddressError("unexpected '\(after)' after ']' in '\(text)'")
            }
            guard !host.isEmpty else { throw WorkerAddressError("empty host in '\(text)'") }
            guard Self.isIPv6(host) else { throw WorkerAddressError("bad IPv6 address '\(host)' in '\(text)'") }
        } else if rest.filter({ $0 == ":" }).count > 1 {
            // Several colons: a bare IPv6 address, which cannot carry a port without brackets.
            guard Self.isIPv6(rest) else {
                throw WorkerAddressError("bad host '\(rest)' in '\(text)' (write IPv6 with a port as [addr]:port)")
            }
            host = String(rest)
            portText = nil
        } else {
            if let colon = rest.firstIndex(of: ":") {
                host = String(rest[..<colon])
                portText = rest[rest.index(after: colon)...]
            } else {
                host = String(rest)
                portText = nil
            }
            guard !host.isEmpty else { throw WorkerAddressError("empty host in '\(text)'") }
            // A leading "-" could read as an option to some ssh client.
            guard !host.hasPrefix("-"), host.allSatisfy(Self.isHostCharacter) else {
                throw WorkerAddressError("bad host '\(host)' in '\(text)'")
            }
        }

        if let portText {
            // Digits only: Int() alone would take "+22".
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
                  (1...65535).contains(port) else {
                throw WorkerAddressError("bad port '\(portText)'")
            }
            self.port = port
        } else {
            port = nil
        }
    }

    /// Back to the text form; an IPv6 host is bracketed when a port follows.
    public var description: String {
        var text = user.map { "\($0)@" } ?? ""
        if let port {
            text += host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        } else {
            text += host
        }
        return text
    }

    // MARK: - Characters

    private static func isHostCharacter(_ char: Character) -> Bool {
        char.isASCII && (char.isLetter || char.isNumber || char == "-" || char == "." || char == "_")
    }

    /// Hex digits, colons and dots (an IPv4 tail), then optionally `%zone` for a link-local address.
    /// Loose on purpose: the resolver has the last word; this only keeps other text out.
    private static func isIPv6(_ text: some StringProtocol) -> Bool {
        let parts = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts[0].contains(":"),
              parts[0].allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].allSatisfy(isHostCharacter)
    }

    private static func isUserCharacter(_ char: Character) -> Bool {
        char.isASCII && !char.isWhitespace && !char.isNewline && char != ":" && char != "/"
            && char.asciiValue.map { $0 >= 0x20 && $0 != 0x7f } == true
    }
}

public enum WorkerList {
    /// `--workers` value: if it names an existing regular file, reads it: one address per line, blank
    /// lines and `#` comments (whole-line or trailing) ignored; otherwise addresses separated by spaces
    /// and/or commas outside brackets. Either way a range (`web[01-20]`) or a group (`@name`, from `groups`)
    /// stands for its hosts (HostRanges.swift). Errors name the file and line ("workers.txt:3: bad port 'x'").
    public static func parse(_ value: String, groups: HostGroups = .current) throws -> [WorkerAddress] {
        var expander = HostExpander(groups: groups)
        guard isRegularFile(value) else {
            return try HostRanges.words(value).flatMap { try expander.expand($0).map(WorkerAddress.init(parsing:)) }
        }
        guard let data = FileManager.default.contents(atPath: value) else {
            throw WorkerAddressError("\(value): cannot read the workers file")
        }
        var addresses: [WorkerAddress] = []
        let lines = String(decoding: data, as: UTF8.self)
            .split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (index, line) in lines.enumerated() {
            let withoutComment = line.firstIndex(of: "#").map { line[..<$0] } ?? line
            let words = HostRanges.words(withoutComment)
            if words.isEmpty { continue }
            guard words.count == 1 else {
                let text = withoutComment.trimmingCharacters(in: .whitespaces)
                throw WorkerAddressError("\(value):\(index + 1): one address per line, got '\(text)'")
            }
            do {
                addresses += try expander.expand(words[0]).map(WorkerAddress.init(parsing:))
            } catch let error as WorkerAddressError {
                throw WorkerAddressError("\(value):\(index + 1): \(error.message)")
            }
        }
        return addresses
    }

    /// One word's addresses as written (`4/web[1-2]`: `4/web1`, `4/web2`; `@name`: the group's), each
    /// checked: what a ctsh pool holds for one entry.
    public static func expand(_ word: String, groups: HostGroups = .current) throws -> [String] {
        var expander = HostExpander(groups: groups)
        let addresses = try expander.expand(word)
        for address in addresses { _ = try WorkerAddress(parsing: address) }
        return addresses
    }

    /// True for a regular file, following symbolic links.
    static func isRegularFile(_ path: String) -> Bool {
        guard !path.isEmpty,
              let attributes = try? FileManager.default.attributesOfItem(
                  atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
        else { return false }
        return attributes[.type] as? FileAttributeType == .typeRegular
    }
}
