// Worker addresses to endpoints. Each setting has one precedence: user@host:port in the address beats the
// command line (--user, --port, --ssh-identity, --connect-timeout, --jump), which beats ~/.ssh/config, which
// beats the defaults. Jump hosts are resolved against ~/.ssh/config too, as ssh does for each hop.
import Foundation

public enum Endpoints {
    /// The endpoints of `config.workers` (a list or a file), with ~/.ssh/config applied; throws a bad --jump or
    /// an ssh_config line that applies to a worker or a hop and is refused (`~/.ssh/config:12: ...`).
    public static func resolve(_ config: TaskConfig, home: String, localUser: String) throws -> [Endpoint] {
        guard let value = config.workers.first else { return [] }
        let addresses = try WorkerList.parse(value)
        let sshConfig = SSHConfig.load(path: home + "/.ssh/config", home: home)
        let jumps = try config.jump.map(jumpChain)
        let hops = Hops(config: config, sshConfig: sshConfig, localUser: localUser)
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
            let chain: [Endpoint]
            do { chain = try hops.resolve(jumps ?? entry.jumps ?? []) } catch {
                throw UsageError("\(address.description): \(error)")
            }
            return Endpoint(label: address.description, host: entry.hostName ?? address.host,
                            port: address.port ?? config.port ?? entry.port ?? 22,
                            user: given ?? entry.user ?? localUser, identityFiles: identities, slots: address.slots,
                            connectTimeout: config.connectTimeout ?? entry.connectTimeout,
                            aliveInterval: entry.serverAliveInterval, aliveCountMax: entry.serverAliveCountMax,
                            hostKeyAlias: entry.hostKeyAlias, identitiesOnly: entry.identitiesOnly ?? false,
                            jumps: chain, configWarnings: entry.warnings + chain.flatMap(\.configWarnings))
        }
    }

    /// A --jump value: `none` (a direct connection, whatever ssh_config says), or a chain `[user@]host[:port],...`.
    public static func jumpChain(_ text: String) throws -> [JumpHost] {
        text.lowercased() == "none" ? [] : try JumpHost.parseChain(text)
    }

    /// Jump hosts to endpoints, each hop looked up in ssh_config as `ssh -J` does: `user@` and `:port` in the hop
    /// beat its config, which beats the local user and 22; --user and --port are the workers' only, while
    /// --connect-timeout holds for every connection. A hop's keys are its own IdentityFiles, then --ssh-identity;
    /// with neither, the agent and the default keys (never the worker's own IdentityFiles).
    struct Hops {
        let config: TaskConfig
        let sshConfig: SSHConfig
        let localUser: String
        /// ssh stops a ProxyJump recursion far sooner than any real chain would need.
        static let longest = 16

        /// The chain `hops` with the first hop's own ProxyJump put before it, and so on (in `ssh -J a,b`, only `a`
        /// is reached directly, so only its ProxyJump counts); throws a loop or a chain past `longest`.
        func resolve(_ hops: [JumpHost]) throws -> [Endpoint] {
            var chain: [Endpoint] = []
            var next = hops
            var seen: [String] = []
            while !next.isEmpty {
                let names = next.map(\.description)
                if let again = names.first(where: seen.contains) {
                    throw SSHConfig.ConfigError(description: "jump host \(chain.first?.label ?? names[0]): ProxyJump loops back to \(again)")
                }
                seen += names
                guard seen.count <= Self.longest else {
                    throw SSHConfig.ConfigError(description: "jump host \(chain.first?.label ?? names[0]): ProxyJump chain longer than \(Self.longest) hops")
                }
                let resolved = try next.map(endpoint)
                chain = resolved.map(\.hop) + chain
                next = resolved[0].jumps ?? []
            }
            return chain
        }

        /// One hop with its config, and the hop's own ProxyJump.
        private func endpoint(_ hop: JumpHost) throws -> (hop: Endpoint, jumps: [JumpHost]?) {
            let entry: SSHConfig.Entry
            do { entry = try sshConfig.resolve(host: hop.host, user: hop.user, localUser: localUser) } catch {
                throw SSHConfig.ConfigError(description: "jump host \(hop): \(error)")
            }
            var identities = entry.identityFiles.filter { FileManager.default.fileExists(atPath: $0) }
            if let given = config.sshIdentity, !identities.contains(given) { identities.append(given) }
            let endpoint = Endpoint(label: hop.description, host: entry.hostName ?? hop.host,
                                    port: hop.port ?? entry.port ?? 22, user: hop.user ?? entry.user ?? localUser,
                                    identityFiles: identities, connectTimeout: config.connectTimeout ?? entry.connectTimeout,
                                    aliveInterval: entry.serverAliveInterval, aliveCountMax: entry.serverAliveCountMax,
                                    hostKeyAlias: entry.hostKeyAlias, identitiesOnly: entry.identitiesOnly ?? false,
                                    configWarnings: entry.warnings)
            return (endpoint, entry.jumps)
        }
    }
}
