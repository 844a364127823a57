// Launched workers: the provider protocol, and the session's `instances` ledger that names every
// instance before the call that creates it, so none is ever left running unnamed.
import Foundation

/// One launched worker.
public struct Instance: Sendable, Codable, Equatable {
    public var id: String
    public var provider: String
    public var host: String
    public var port: Int
    public var user: String
    public init(id: String, provider: String, host: String, port: Int, user: String) {
        self.id = id; self.provider = provider; self.host = host; self.port = port; self.user = user
    }
}

/// Why a provider could not launch, list or destroy, in its own words.
public struct ProviderError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Launches and destroys workers. Called from the runner's thread only.
public protocol Provider: AnyObject {
    var name: String { get }
    /// Where launched workers' host keys are pinned (a known_hosts file in the session folder).
    var knownHosts: String { get }
    /// The private key launched workers authorize.
    var identity: String { get }
    /// strict when the provider pins each key itself, accept-new when keys are learnt on first contact.
    var hostKeyPolicy: HostKeyPolicy { get }
    /// Starts launching `count` instances; `ledger` must record each one before the call that creates it.
    func launch(count: Int, ledger: Ledger) throws
    /// Instances that became reachable since the last call (never blocks for long).
    func ready() throws -> [Instance]
    /// Destroys instances; returns the ids that could not be destroyed, with why.
    func destroy(_ instances: [Instance]) -> [String: String]
    /// Waits until no launch is under way, so the ledger names every instance that will ever exist.
    func settle()
    /// The instances of this session the provider itself finds alive, whatever the ledger says (so one
    /// whose ledger entry was lost is destroyed too).
    func list() throws -> [Instance]
}

/// The session's `instances` file: JSON lines, fsynced; `launch` before creation, `up`, then `destroyed`.
public final class Ledger: Sendable {
    let path: String
    public init(sessionPath: String) { path = sessionPath + "/instances" }

    /// Appends one record and fsyncs it.
    public func record(_ event: String, _ instance: Instance) throws {
        var fields = try JSONSerialization.jsonObject(with: JSONEncoder().encode(instance)) as! [String: Any]
        fields["event"] = event
        fields["at"] = Date().timeIntervalSince1970
        let line = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) + Data([10])
        let file = try AppendFile(path)
        file.write(Array(line))
        file.sync()
    }

    /// Instances launched and not recorded as destroyed, in launch order.
    public func live() -> [Instance] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var order: [String] = []
        var alive: [String: Instance] = [:]
        for line in data.split(separator: 10) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let event = object["event"] as? String,
                  let instance = try? JSONDecoder().decode(Instance.self, from: JSONSerialization.data(withJSONObject: object)) else { continue }
            switch event {
            case "launch", "up":
                if alive[instance.id] == nil { order.append(instance.id) }
                alive[instance.id] = instance
            case "destroyed": alive[instance.id] = nil
            default: break
            }
        }
        return order.compactMap { alive[$0] }
    }
}

extension Provider {
    /// Cloud instances' keys are not known before first contact.
    public var hostKeyPolicy: HostKeyPolicy { .acceptNew }
    /// For providers whose launch returns once every instance is recorded.
    public func settle() {}
}
