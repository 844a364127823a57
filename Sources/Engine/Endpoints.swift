// Worker addresses to endpoints: user@host:port in the address beats --user/--port, which beat ~/.ssh/config.
import Foundation

public enum Endpoints {
    /// The endpoints of `config.workers` (a list or a file), with ~/.ssh/config applied.
    public static func resolve(_ config: TaskConfig, home: String, localUser: String) throws -> [Endpoint] {
        guard let value = config.workers.first else { return [] }
        let addresses = try WorkerList.parse(value)
        let sshConfig = SSHConfig.load(path: home + "/.ssh/config", home: home)
        return addresses.map { address in
            let entry = sshConfig.resolve(host: address.host, localUser: address.user ?? config.user ?? localUser)
            let user = address.user ?? config.user ?? entry.user ?? localUser
            let port = address.port ?? config.port ?? entry.port ?? 22
            var identities = config.sshIdentity.map { [$0] } ?? []
            if identities.isEmpty {
                identities = entry.identityFiles.filter { FileManager.default.fileExists(atPath: $0) }
            }
            return Endpoint(label: address.description, host: entry.hostName ?? address.host, port: port, user: user,
                            identityFiles: identities, slots: address.slots)
        }
    }
}
