// Providers by name, for every front end: `local`, `ec2`, or a `FILE.lua`.
import Engine
import Foundation
import Providers

public enum ProviderFactory {
    /// The provider `name` for session folder `sessionPath`, with the session's launch key (made if missing).
    public static func make(_ name: String, sessionPath: String, config: TaskConfig, environment: [String: String]) throws -> Provider {
        let key = sessionPath + "/launch_key"
        guard LocalCommand.makeKey(at: key, comment: "cloudtask-launch-" + (sessionPath as NSString).lastPathComponent) else {
            throw ProviderError("cannot make the session's launch key with ssh-keygen")
        }
        let user = environment["USER"] ?? NSUserName()
        if name.hasSuffix(".lua") { return try LuaProvider(file: name, sessionPath: sessionPath, sessionKey: key) }
        switch name {
        case "local": return LocalProvider(sessionPath: sessionPath, user: user, sessionKey: key)
        case "ec2":
            return try EC2Provider(sessionPath: sessionPath, sessionID: sessionTag(sessionPath), sessionKey: key, config: config,
                                   environment: environment)
        default: throw ProviderError("unknown provider \(name)")
        }
    }

    /// The `cloudtask:session` tag: unique across users, machines and sessions folders sharing one cloud account.
    static func sessionTag(_ sessionPath: String) -> String {
        ProcessInfo.processInfo.hostName + ":" + sessionPath
    }

    /// `live` (what a session's ledger holds alive) and what its provider finds alive besides.
    public static func leftovers(_ live: [Instance], provider: Provider) -> [Instance] {
        let known = Set(live.map(\.id))
        return live + ((try? provider.list()) ?? []).filter { !known.contains($0.id) }
    }

    /// Destroys the session's leftovers (see `leftovers`); returns how many were destroyed and the failures.
    public static func destroyLeftovers(sessionPath: String, provider: Provider) -> (destroyed: Int, failures: [String: String]) {
        let ledger = Ledger(sessionPath: sessionPath)
        let live = leftovers(ledger.live(), provider: provider)
        guard !live.isEmpty else { return (0, [:]) }
        let failures = provider.destroy(live)
        for instance in live where failures[instance.id] == nil { try? ledger.record("destroyed", instance) }
        return (live.count - failures.count, failures)
    }
}
