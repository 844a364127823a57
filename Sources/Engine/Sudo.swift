// --sudo: the wrapper, --pre, --post and the overlay run as another user (root by default) through sudo on the
// worker; a password, when the host asks for one, travels first on the channel's stdin, never in a command line.
import Foundation

/// How commands become another user on a worker. It prints its password as `***`.
public struct SudoLogin: Sendable, Equatable, CustomStringConvertible {
    /// sudo's `-u`.
    public let user: String
    /// Fed to `sudo -S` on the channel's stdin; nil: `sudo -n` only, a host that asks is a setup error.
    public let password: String?

    public var description: String { "sudo -u \(user)" + (password == nil ? "" : " (password ***)") }

    /// The variable that gives the password when no --sudo-password-file does; hooks never see it.
    public static let passwordVariable = "CLOUDTASK_SUDO_PASSWORD"

    /// The sudo login `config` asks for, or nil. The password is the file's first line, else the variable's value.
    public static func resolve(_ config: TaskConfig, environment: [String: String]) throws -> SudoLogin? {
        guard config.sudo else {
            if config.sudoUser != nil || config.sudoPasswordFile != nil {
                throw UsageError("--sudo-user and --sudo-password-file need --sudo")
            }
            return nil
        }
        var password: String?
        if let file = config.sudoPasswordFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw UsageError("--sudo-password-file=\(file): cannot read it")
            }
            password = String(text.prefix { $0 != "\n" && $0 != "\r" })
        } else if let value = environment[passwordVariable], !value.isEmpty {
            password = value
        }
        return SudoLogin(user: config.sudoUser ?? "root", password: password)
    }

    /// What the sudo check's output says went wrong, as a short phrase: `a password is required`,
    /// `incorrect password`, else sudo's last message.
    static func problem(_ output: [UInt8]) -> String? {
        let lines = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.contains(where: { $0.contains("incorrect password attempt") }) { return "incorrect password" }
        guard let last = lines.last(where: { $0.hasPrefix("sudo: ") }) else { return nil }
        return String(last.dropFirst("sudo: ".count))
    }
}
