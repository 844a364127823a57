// Launched workers: the provider protocol, and the instances it launches (recorded in the session's
// `instances` ledger, Ledger.swift, before the call that creates them, so none is ever left running unnamed).
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

extension Provider {
    /// Cloud instances' keys are not known before first contact.
    public var hostKeyPolicy: HostKeyPolicy { .acceptNew }
    /// For providers whose launch returns once every instance is recorded.
    public func settle() {}
}
