// AWS credentials for the ec2 provider: from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), else from the shared credentials file (~/.aws/credentials, profile $AWS_PROFILE or
// "default"). Secrets print as `***` wherever they are interpolated, so they never reach a log or a file.
import Engine
import Foundation

/// A secret string that never shows itself in `description`, `debugDescription` or a dump.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself; read it only to use it (signing), never to print it.
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "***" }
    public var debugDescription: String { "***" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// An access key, its secret, and the session token of temporary credentials.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: Secret
    public let sessionToken: Secret?
    /// Where they came from, for messages: "environment" or "~/.aws/credentials [profile]".
    public let source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "given") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = Secret(secretAccessKey)
        self.sessionToken = sessionToken.flatMap { $0.isEmpty ? nil : Secret($0) }
        self.source = source
    }

    public var description: String {
        "AWSCredentials(\(accessKeyID), secret ***\(sessionToken == nil ? "" : ", session token ***"), from \(source))"
    }

    /// The environment's keys if AWS_ACCESS_KEY_ID is set, else the profile $AWS_PROFILE (default "default")
    /// of $AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials). Errors are one line and name what to set.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> AWSCredentials {
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let key = nonEmpty("AWS_ACCESS_KEY_ID") {
            guard let secret = nonEmpty("AWS_SECRET_ACCESS_KEY") else {
                throw ProviderError("ec2: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
            }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret,
                                  sessionToken: nonEmpty("AWS_SESSION_TOKEN"), source: "environment")
        }
        let home = nonEmpty("HOME") ?? NSHomeDirectory()
        let file = nonEmpty("AWS_SHARED_CREDENTIALS_FILE").map { $0.hasPrefix("~/") ? home + $0.dropFirst(1) : $0 }
            ?? home + "/.aws/credentials"
        let profile = nonEmpty("AWS_PROFILE") ?? nonEmpty("AWS_DEFAULT_PROFILE") ?? "default"
        let shown = file.hasPrefix(home + "/") ? "~" + file.dropFirst(home.count) : file
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ProviderError("ec2: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                + "or add a [\(profile)] profile to \(shown)")
        }
        guard let section = parseINI(text)[profile] else {
            throw ProviderError("ec2: no profile [\(profile)] in \(shown) "
                                + "(set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        guard let key = section["aws_access_key_id"], !key.isEmpty,
              let secret = section["aws_secret_access_key"], !secret.isEmpty else {
            throw ProviderError(
                "ec2: profile [\(profile)] in \(shown) has no aws_access_key_id and aws_secret_access_key")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: section["aws_session_token"],
                              source: "\(shown) [\(profile)]")
    }

    /// Sections of an INI file: `[name]` headers, `key = value` lines, `#` and `;` comment lines.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        let lines = text.split(omittingEmptySubsequences: false,
                               whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        for raw in lines {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                var name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = name.dropFirst(8).trimmingCharacters(in: .whitespaces) }
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[current]?[key] = value
        }
        return sections
    }
}
