// --env: local variables exported to every job, as GNU parallel's --env, set inside the remote wrapper (so no
// sshd AcceptEnv is needed). Values of names that look secret travel on the channel's stdin, never in the exec
// request (a worker's process list shows that) and never in the session's conf.
import Foundation

/// One variable a job gets.
public struct PassedVariable: Sendable, Equatable {
    public let name: String
    public let value: String
    /// Sent on the channel's stdin, not in the command text; its value is not saved in the session.
    public let secret: Bool
}

public enum PassedEnvironment {
    /// Whether `name` looks secret: it holds TOKEN, SECRET, PASSWORD or KEY (any case).
    public static func isSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["TOKEN", "SECRET", "PASSWORD", "KEY"].contains { upper.contains($0) }
    }

    /// Why `entry` (`NAME` or `NAME=VALUE`) is not a variable to pass, or nil.
    static func problem(_ entry: String) -> String? {
        let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            .first.map(String.init) ?? ""
        guard let first = name.unicodeScalars.first,
              first == "_" || (first.isASCII && CharacterSet.letters.contains(first)),
              name.unicodeScalars.allSatisfy({
                  $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0))
              }) else {
            return "expected NAME or NAME=VALUE, NAME a shell variable name"
        }
        return nil
    }

    /// The variables of `config.env`: `NAME=VALUE` as given, `NAME` from `environment`. A name that is not set
    /// is a usage error; `resuming` says why a secret's value must be given again.
    public static func resolve(_ config: TaskConfig, environment: [String: String],
                               resuming: Bool) throws -> [PassedVariable] {
        try (config.env ?? []).map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let name = parts[0]
            if parts.count == 2 { return PassedVariable(name: name, value: parts[1], secret: isSecret(name)) }
            guard let value = environment[name] else {
                let why = resuming && isSecret(name)
                    ? " (a secret's value is never saved in the session: set it again to resume)" : ""
                throw UsageError("--env=\(name): \(name) is not set in the environment\(why)")
            }
            return PassedVariable(name: name, value: value, secret: isSecret(name))
        }
    }

    /// `config.env` as the session may keep it: secret names without their values.
    static func forSaving(_ entries: [String]?) -> [String]? {
        entries?.map { entry in
            let name = String(entry.prefix { $0 != "=" })
            return isSecret(name) ? name : entry
        }
    }

    /// The wrapper's lines that read the secrets from the channel's stdin, one line each (see `encoded`), and
    /// export them; they run before the watcher takes over stdin.
    public static func readingLines(_ secrets: [PassedVariable]) -> String {
        secrets.map { variable in
            "IFS= read -r __cloudtask_v; \(variable.name)=$(printf '%bx' \"$__cloudtask_v\"); "
                + "\(variable.name)=${\(variable.name)%x}; export \(variable.name)"
        }.joined(separator: "\n")
    }

    /// What the channel's stdin carries first: each secret as one line, every byte but plain ones as a `\0NNN`
    /// octal escape, so printf %b gives the exact bytes back (newlines and all).
    public static func preamble(_ secrets: [PassedVariable]) -> [UInt8] {
        secrets.flatMap { encodedLine($0.value) }
    }

    /// One value as a preamble line: every byte but plain ones as a `\0NNN` octal escape, then a newline.
    public static func encodedLine(_ value: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for byte in value.utf8 {
            let plain = (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
            if plain { bytes.append(byte) } else { bytes += Array(String(format: "\\0%03o", byte).utf8) }
        }
        bytes.append(10)
        return bytes
    }
}

extension TaskConfig {
    /// The configuration as it may be kept or shown (the session's conf, report hooks): secrets' values left out.
    public var withoutSecrets: TaskConfig {
        var config = self
        config.env = PassedEnvironment.forSaving(env)
        return config
    }
}
