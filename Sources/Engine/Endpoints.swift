// Worker addresses to endpoints. Each setting has one precedence: user@host:port in the address beats the
// command line (--user, --port, --ssh-identity, --connect-timeout, --jump), which beats ~/.ssh/config, which
// beats the defaults.
import Foundation

public enum Endpoints {
    /// The endpoints of `config.workers` (a list or a file), with ~/.ssh/config applied; throws a bad --jump or
    /// an ssh_config line that applies to a worker and is refused (`~/.ssh/config:12: ...`).
    public static func resolve(_ config: TaskConfig, home: String, localUser: String) throws -> [Endpoint] {
        guard let value = config.workers.first else { return [] }
        let addresses = try WorkerList.parse(value)
        let sshConfig = SSHConfig.load(path: home + "/.ssh/config", home: home)
        let jumps = try config.jump.map(jumpChain)
        return try addresses.map { address in
            let given = address.user ?? config.user
            let entry: SSHConfig.Entry
            do { entry = try sshConfig.resolve(host: address.host, user: given, localUser: localUser) } catch {
                throw UsageError("\(address.description): \(error)")
            }
            var identities = config.sshIdentity.map { [$0] } ?? []
            if identities.isEmpty {
                identities = entry.identityFiles.filter { FileManager.default.fileExists(atPath: $0) }
            }
            return Endpoint(label: address.description, host: entry.hostName ?? address.host,
                            port: address.port ?? config.port ?? entry.port ?? 22,
                            user: given ?? entry.user ?? localUser, identityFiles: identities, slots: address.slots,
                            connectTimeout: config.connectTimeout ?? entry.connectTimeout,
                            aliveInterval: entry.serverAliveInterval, aliveCountMax: entry.serverAliveCountMax,
                            hostKeyAlias: entry.hostKeyAlias, identitiesOnly: entry.identitiesOnly ?? false,
                            jumps: jumps ?? entry.jumps ?? [], configWarnings: entry.warnings)
        }
    }

    /// A --jump value: `none` (a direct connection, whatever ssh_config says), or a chain `[user@]host[:port],...`.
    public static func jumpChain(_ text: String) throws -> [JumpHost] {
        text.lowercased() == "none" ? [] : try JumpHost.parseChain(text)
    }
}
