// Encrypted key files unlocked before a run starts: which of a plan's keys need a passphrase, and whether an
// answer opens them. Asking is the front end's (a terminal, Terminal/SecretPrompt.swift); nothing here is saved.
import Engine
import Foundation

/// The passphrases asked so far in this process, by key file: each key is asked for once, in a run or in a shell.
public final class Keyring {
    private var passphrases: [String: String] = [:]
    private let ask: (String) -> String?

    /// `ask` takes the prompt and gives the answer; nil when there is none (no terminal, end of file).
    public init(ask: @escaping (String) -> String?) { self.ask = ask }

    /// A transport for `config`, with the keys that `endpoints` would offer unlocked: those asked before, and
    /// those still locked asked now.
    public func transport(_ config: TaskConfig, unlocking endpoints: [Endpoint], home: String,
                          environment: [String: String]) -> SSHTransport {
        var settings = SSHTransport.Settings(config, home: home, environment: environment)
        settings.passphrases.merge(passphrases) { given, _ in given }
        KeyUnlock.unlock(endpoints, settings: &settings, ask: ask)
        passphrases.merge(settings.passphrases) { _, new in new }
        return SSHTransport(settings: settings)
    }
}

public enum KeyUnlock {
    /// Tries per key before the run goes on without it (and fails with the usual "is encrypted" error).
    public static let tries = 3

    /// The key files that `endpoints` and their jump hosts would offer, encrypted and without a passphrase in
    /// `settings`, each once, in the order met.
    public static func locked(_ endpoints: [Endpoint], settings: SSHTransport.Settings) -> [String] {
        var files: [String] = []
        for endpoint in endpoints.flatMap({ $0.jumps + [$0] }) {
            let offered = endpoint.identityFiles.isEmpty
                ? settings.defaultIdentities.filter { FileManager.default.fileExists(atPath: $0) }
                : endpoint.identityFiles
            for file in offered where !files.contains(file) { files.append(file) }
        }
        return files.filter { settings.passphrase(for: $0) == nil && isEncrypted($0) }
    }

    /// Asks for the passphrase of each locked key (`ask` takes the prompt and gives the answer, nil when there is
    /// none, as at end of file), again while the answer does not open the key, up to `tries` times; keeps those
    /// that do in `settings.passphrases`.
    public static func unlock(_ endpoints: [Endpoint], settings: inout SSHTransport.Settings,
                              ask: (String) -> String?) {
        for file in locked(endpoints, settings: settings) {
            for _ in 0..<tries {
                guard let answer = ask("Enter passphrase for \(file): ") else { break }
                if opens(file, passphrase: answer) { settings.passphrases[file] = answer; break }
            }
        }
    }

    /// Whether the key file at `path` needs a passphrase to be read.
    static func isEncrypted(_ path: String) -> Bool {
        if case .encrypted = RSAKey.read(path: path, passphrase: nil) { return true }
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let text = String(decoding: data, as: UTF8.self)
        // A non-RSA key reads as `.other` however it is stored: look at its envelope.
        return text.contains("Proc-Type: 4,ENCRYPTED") || OpenSSHKeyFile.sealed(text) != nil
    }

    /// Whether `passphrase` opens the key file at `path`.
    static func opens(_ path: String, passphrase: String) -> Bool {
        switch RSAKey.read(path: path, passphrase: passphrase) {
        case .key: return true
        case .encrypted, .failed: return false
        case .other:
            // An ed25519 or ECDSA key: OpenSSH's format is checked here; a PEM one is left for libssh2 to judge.
            let text = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return OpenSSHKeyFile.opens(text, passphrase: passphrase) ?? true
        }
    }
}
