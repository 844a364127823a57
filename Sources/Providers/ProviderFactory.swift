// Providers by name, for every front end: `local`, `ec2`, or a `FILE.lua`.
import Engine
import Foundation

/// The engine's ProviderCatalog: each provider made with the session's launch key.
public struct ProviderFactory: ProviderCatalog, Sendable {
    let environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    public func make(_ name: String, sessionPath: String, config: TaskConfig, ownKeys: [String]) throws -> Provider {
        let key = sessionPath + "/launch_key"
        let comment = "cloudtask-launch-" + (sessionPath as NSString).lastPathComponent
        guard LocalCommand.makeKey(at: key, comment: comment) else {
            throw ProviderError("cannot make the session's launch key with ssh-keygen")
        }
        let user = environment["USER"] ?? NSUserName()
        if name.hasSuffix(".lua") { return try LuaProvider(file: name, sessionPath: sessionPath, sessionKey: key) }
        switch name {
        case "local":
            let provider = LocalProvider(sessionPath: sessionPath, user: user, sessionKey: key)
            provider.extraAuthorizedKeys = ownKeys
            return provider
        case "ec2":
            return try EC2Provider(sessionPath: sessionPath, sessionID: ProviderFactory.sessionTag(sessionPath),
                                   sessionKey: key, config: config, environment: environment)
        default: throw ProviderError("unknown provider \(name)")
        }
    }

    /// The `cloudtask:session` tag: unique across users, machines and sessions folders sharing one cloud account.
    static func sessionTag(_ sessionPath: String) -> String {
        ProcessInfo.processInfo.hostName + ":" + sessionPath
    }
}
