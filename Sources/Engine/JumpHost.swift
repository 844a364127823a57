// Jump hosts (ssh -J, ProxyJump, --jump): one hop `[user@]host[:port]`, a chain `a,b` outermost first.
// Only parsed here; the tunnel through them is the SSH adapter's.
import Foundation

/// One hop of a jump chain. nil user or port: the hop's own defaults (ssh_config, else the local user and 22).
public struct JumpHost: Codable, Equatable, Sendable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?

    public init(user: String? = nil, host: String, port: Int? = nil) {
        self.user = user; self.host = host; self.port = port
    }

    /// `[user@]host[:port]`, an IPv6 address in brackets when a port follows.
    public var description: String {
        let name = host.contains(":") && port != nil ? "[\(host)]" : host
        return (user.map { $0 + "@" } ?? "") + name + (port.map { ":\($0)" } ?? "")
    }

    /// A bad hop: the message names the hop and what is wrong with it.
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses a chain `hop[,hop...]`, each `[user@]host[:port]` or `ssh://[user@]host[:port]`; throws on an empty
    /// hop, an empty user or host, a bad port. `none` is not a chain: the callers say what it means for them.
    public static func parseChain(_ text: String) throws -> [JumpHost] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { try parse(String($0)) }
    }

    /// Parses one hop (see `parseChain`).
    public static func parse(_ text: String) throws -> JumpHost {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest.lowercased().hasPrefix("ssh://") { rest = rest.dropFirst(6) }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { throw ParseError(description: "empty jump host in '\(text)'") }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            guard !user!.isEmpty else { throw ParseError(description: "'\(text)': empty user name") }
        }
        var host = rest
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ParseError(description: "'\(text)': missing ']'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ParseError(description: "'\(text)': unexpected text after ']'") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            // One colon is a port; more are an IPv6 address without brackets (no port).
            if rest[rest.index(after: colon)...].contains(":") {
                host = rest
            } else {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            }
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw ParseError(description: "'\(text)': bad host name")
        }
        var port: Int?
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw ParseError(description: "'\(text)': bad port '\(portText)'")
            }
            port = number
        }
        return JumpHost(user: user, host: String(host), port: port)
    }
}
