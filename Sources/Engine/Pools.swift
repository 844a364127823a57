// Launched workers outside a run: pools launched ahead (ctsh's `workers{launch = N}`,
// cloudtask-launch-workers) and what a session left alive, destroyed (resume, destroy-workers, pool:destroy).
import Foundation

/// A pool launched into a session of its own, before any task uses it.
public struct LaunchedPool {
    public let session: Session
    public let provider: Provider
    /// The instances that came up, in the order they did.
    public let instances: [Instance]
    /// Why the others did not (one entry per instance that will not come), or "timed out".
    public let problems: [String]
}

public enum PoolLaunch {
    /// Launches `count` workers with `config.provider` (default `local`) into a new session and waits for them
    /// within --boot-timeout, calling `up` as each becomes reachable and `problem` for each that will not come
    /// (a provider's error; an empty one is not worth saying); `ownKeys` are authorized besides the
    /// session's launch key. The session is unlocked when it returns; what came up is in its ledger.
    public static func run(count: Int, config base: TaskConfig, context: TaskContext, ownKeys: [String] = [],
                           up: (Instance) -> Void = { _ in },
                           problem: (String) -> Void = { _ in }) throws -> LaunchedPool {
        var config = base
        config.provider = config.provider ?? "local"
        config.command = []
        let session = try TaskAssembly.createSession(config, context: context)
        defer { session.unlock() }
        let provider: Provider
        do {
            provider = try context.providers.make(config.provider!, sessionPath: session.path, config: config,
                                                  ownKeys: ownKeys)
        } catch {
            throw UsageError("--provider=\(config.provider!): \(error)")
        }
        let ledger = Ledger(sessionPath: session.path)
        do { try provider.launch(count: count, ledger: ledger) } catch {
            _ = Leftovers.destroy(sessionPath: session.path, provider: provider)  // what it recorded before failing
            throw error
        }
        var instances: [Instance] = []
        var problems: [String] = []
        let deadline = Date().addingTimeInterval(config.bootTimeout ?? 600)
        while instances.count + problems.count < count && Date() < deadline {
            do {
                for instance in try provider.ready() {
                    try? ledger.record(.up, instance)
                    instances.append(instance)
                    up(instance)
                }
            } catch {
                problems.append("\(error)")
                problem("\(error)")
            }
            if instances.count + problems.count < count { usleep(20_000) }
        }
        if instances.count + problems.count < count {
            let missing = count - instances.count - problems.count
            problems.append("\(missing) of \(count) workers not up within the boot timeout")
        }
        return LaunchedPool(session: session, provider: provider, instances: instances, problems: problems)
    }
}

public enum Leftovers {
    /// `live` (what a session's ledger holds alive) and what its provider finds alive besides (an
    /// instance whose ledger entry was lost).
    public static func find(_ live: [Instance], provider: Provider) -> [Instance] {
        let known = Set(live.map(\.id))
        return live + ((try? provider.list()) ?? []).filter { !known.contains($0.id) }
    }

    /// Destroys the session's leftovers (see `find`); returns how many were destroyed and the failures.
    public static func destroy(sessionPath: String, provider: Provider)
        -> (destroyed: Int, failures: [String: String]) {
        let ledger = Ledger(sessionPath: sessionPath)
        let live = find(ledger.live(), provider: provider)
        guard !live.isEmpty else { return (0, [:]) }
        let failures = provider.destroy(live)
        for instance in live where failures[instance.id] == nil { try? ledger.record(.destroyed, instance) }
        return (live.count - failures.count, failures)
    }
}
