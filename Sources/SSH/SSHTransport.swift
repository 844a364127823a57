// The reactor: one thread, every worker connection non-blocking, one poll() over their sockets.
import CLibSSH2
import Engine
import Foundation

/// Implements the engine's Transport with libssh2. Use from one thread only (wakeDescriptor excepted).
public final class SSHTransport: Transport {
    public struct Settings {
        public var knownHosts: String
        public var hostKeyPolicy: HostKeyPolicy
        /// Key files tried when an endpoint names none and the agent fails (~/.ssh/id_ed25519, id_ecdsa).
        public var defaultIdentities: [String]
        public var useAgent: Bool
        /// The agent's socket ($SSH_AUTH_SOCK), which RSA signatures go to directly.
        public var agentSocket: String?
        /// The passphrase of encrypted key files (--ssh-passphrase-file); never saved.
        public var passphrase: String?
        /// Passphrases of single key files, by path (asked on the terminal: `KeyUnlock`); they beat `passphrase`.
        public var passphrases: [String: String] = [:]
        public var connectTimeout: Double
        public init(knownHosts: String, hostKeyPolicy: HostKeyPolicy, defaultIdentities: [String], useAgent: Bool,
                    agentSocket: String? = nil, passphrase: String? = nil, connectTimeout: Double = 30) {
            self.knownHosts = knownHosts; self.hostKeyPolicy = hostKeyPolicy; self.defaultIdentities = defaultIdentities
            self.useAgent = useAgent; self.agentSocket = agentSocket; self.passphrase = passphrase
            self.connectTimeout = connectTimeout
        }

        /// A task's settings: its known_hosts and host-key policy, the user's default keys, the agent when one runs.
        public init(_ config: TaskConfig, home: String, environment: [String: String]) {
            self.init(knownHosts: config.knownHosts ?? home + "/.ssh/known_hosts",
                      hostKeyPolicy: HostKeyPolicy(rawValue: config.hostKeyPolicy) ?? .acceptNew,
                      defaultIdentities: [home + "/.ssh/id_ed25519", home + "/.ssh/id_ecdsa", home + "/.ssh/id_rsa"],
                      useAgent: environment["SSH_AUTH_SOCK"] != nil, agentSocket: environment["SSH_AUTH_SOCK"],
                      passphrase: config.sshPassphraseFile.flatMap(Self.passphrase(in:)))
        }

        /// The passphrase to try for the key file at `path`.
        func passphrase(for path: String) -> String? { passphrases[path] ?? passphrase }

        /// The file's first line: a passphrase file may end with a newline, a passphrase cannot.
        static func passphrase(in path: String) -> String? {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        }
    }

    let settings: Settings
    private let knownHosts: KnownHosts
    private var pinnedStores: [String: KnownHosts] = [:]
    private(set) var connections: [Int: Connection] = [:]
    private var operationWorker: [Int: Int] = [:]
    /// The slot of each operation a runner has (`RemoteCommand.slot`).
    private var agentOperation: [Int: Int] = [:]
    private var dirty = Set<Int>()
    /// Jump host connections by chain (JumpLinks.swift), and those to move along before the next poll.
    var links: [String: JumpLink] = [:]
    var dirtyLinks = Set<String>()
    private var events: [TransportEvent] = []
    private var sessionIdentity: String?
    private let wakeRead: Int32
    public let wakeDescriptor: Int32

    private static let initialized: Bool = { libssh2_init(0) == 0 }()

    public init(settings: Settings) {
        _ = Self.initialized
        self.settings = settings
        self.knownHosts = KnownHosts(path: settings.knownHosts, policy: settings.hostKeyPolicy)
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakeRead = fds[0]
        wakeDescriptor = fds[1]
    }

    deinit {
        for connection in connections.values { connection.close() }
        for link in links.values { link.connection.close() }
        Foundation.close(wakeRead)
        Foundation.close(wakeDescriptor)
    }

    // MARK: - Transport

    public func connect(worker: Int, to endpoint: Endpoint) {
        connections[worker]?.close()
        let connection = makeConnection(worker: worker, endpoint: endpoint)
        connections[worker] = connection
        if !endpoint.jumps.isEmpty { return connectThrough(endpoint.jumps, worker: worker, connection: connection) }
        do {
            try connection.start()
            dirty.insert(worker)
        } catch {
            fail(connection, "\(error)", retryable: true)
        }
    }

    /// A connection to `endpoint` with the keys to offer: the session's, the endpoint's, else the agent and defaults.
    func makeConnection(worker: Int, endpoint: Endpoint) -> Connection {
        var identities = endpoint.identityFiles
        var agent = false
        if let sessionIdentity { identities = [sessionIdentity] + identities }
        if endpoint.identityFiles.isEmpty {
            agent = settings.useAgent && !endpoint.identitiesOnly
            identities += settings.defaultIdentities.filter { FileManager.default.fileExists(atPath: $0) }
        }
        return Connection(worker: worker, endpoint: endpoint, identities: identities, tryAgent: agent,
                          passphrase: { [settings] in settings.passphrase(for: $0) }, agentSocket: settings.agentSocket,
                          timeout: endpoint.connectTimeout ?? settings.connectTimeout)
    }

    public var pipelines: Bool { true }

    public func run(op: Int, worker: Int, command: RemoteCommand) {
        guard let connection = connections[worker], connection.phase == .ready else {
            events.append(.failed(op: op, message: "worker not connected"))
            return
        }
        operationWorker[op] = worker
        dirty.insert(worker)
        if let slot = command.slot {
            let agent = connection.agents[slot] ?? AgentSlot(worker: worker)
            agent.perJob = agent.perJob || connection.runnerBroken
            connection.agents[slot] = agent
            agent.add(op: op, command: command)
            agentOperation[op] = slot
            return
        }
        connection.operations[op] = Operation(id: op, command: command)
    }

    public func copy(op: Int, worker: Int, files: FileCopy) {
        guard let connection = connections[worker], connection.phase == .ready else {
            events.append(.failed(op: op, message: "worker not connected"))
            return
        }
        operationWorker[op] = worker
        connection.copies.add(op: op, files: files)
        dirty.insert(worker)
    }

    public func cancel(op: Int) {
        guard let worker = operationWorker.removeValue(forKey: op), let connection = connections[worker] else { return }
        dirty.insert(worker)
        if connection.copies.cancel(op: op) { return }
        if let slot = agentOperation.removeValue(forKey: op) {
            _ = connection.agents[slot]?.cancel(op: op) { self.events.append($0) }
            return
        }
        guard let operation = connection.operations.removeValue(forKey: op) else { return }
        connection.closing.append(operation)
    }

    public func release(op: Int, run: Bool) {
        guard let worker = operationWorker[op], let slot = agentOperation[op],
              let agent = connections[worker]?.agents[slot] else { return }
        agent.release(op: op, run: run)
        if !run { operationWorker[op] = nil; agentOperation[op] = nil }
        dirty.insert(worker)
    }

    public func disconnect(worker: Int) {
        guard let connection = connections.removeValue(forKey: worker) else { return }
        forget(connection)
        connection.close()
    }

    /// Drops the operations of a connection that is going away.
    private func forget(_ connection: Connection) {
        for op in connection.operations.keys { operationWorker[op] = nil }
        for op in connection.copies.ops { operationWorker[op] = nil }
        for agent in connection.agents.values {
            for job in agent.jobs { operationWorker[job.op] = nil; agentOperation[job.op] = nil }
        }
    }

    public func useIdentity(_ path: String) { sessionIdentity = path }

    public func wait(timeout: Double) -> [TransportEvent] {
        while !dirty.isEmpty || !dirtyLinks.isEmpty {
            let (workers, keys) = (dirty, dirtyLinks)
            dirty.removeAll()
            dirtyLinks.removeAll()
            for key in keys { advanceLink(key) }
            for worker in workers { advance(worker) }
        }
        if events.isEmpty {
            poll(timeout: timeout)
        }
        let out = events
        events.removeAll(keepingCapacity: true)
        return out
    }

    // MARK: - Reactor

    private func poll(timeout: Double) {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        var workers: [Int] = []
        var wait = timeout
        let now = monotonicNow()
        for (worker, connection) in connections {
            let events = connection.pollEvents
            guard events != 0 else { continue }
            fds.append(pollfd(fd: connection.socket, events: events, revents: 0))
            workers.append(worker)
            if connection.phase != .ready { wait = min(wait, max(0, connection.deadline - now)) }
        }
        // A slot waiting for an old runner to end has a deadline (AgentSlot.closing) the socket may not wake.
        let draining = connections.filter { $0.value.agents.values.contains(where: \.draining) }.map(\.key)
        if !draining.isEmpty { wait = min(wait, 0.25) }
        let linkEntries = linkPollEntries()
        for (entry, _) in linkEntries { fds.append(entry) }
        for link in links.values where link.connection.phase != .ready {
            wait = min(wait, max(0, link.connection.deadline - now))
        }
        let n = Foundation.poll(&fds, nfds_t(fds.count), Int32(max(0, wait) * 1000 + 0.999))
        if n > 0 && fds[0].revents != 0 {
            var sink = [UInt8](repeating: 0, count: 256)
            while read(wakeRead, &sink, sink.count) > 0 {}
        }
        // Links first: their pumping makes the tunnelled sessions' sockets ready.
        var movedLinks = Set<String>()
        for (index, (_, key)) in linkEntries.enumerated() where fds[1 + workers.count + index].revents != 0 {
            if movedLinks.insert(key).inserted { advanceLink(key) }
        }
        for (index, worker) in workers.enumerated() where fds[index + 1].revents != 0 || draining.contains(worker) {
            advance(worker)
        }
        // Setup deadlines are checked even when nothing happened on the socket; a jump host's first, to name it.
        let later = monotonicNow()
        expireLinks(at: later)
        for (worker, connection) in connections
        where connection.phase != .ready && connection.phase != .dead && later >= connection.deadline {
            let seconds = (connection.endpoint.connectTimeout ?? settings.connectTimeout).formatted()
            fail(connections[worker]!, "connection timed out after \(seconds) seconds",
                 retryable: true)
        }
    }

    /// Moves everything on one connection along until nothing progresses.
    private func advance(_ worker: Int) {
        guard let connection = connections[worker] else { return }
        if connection.phase != .ready {
            switch setUp(connection) {
            case .waiting: return
            case .failed(let message, let retryable, let dropped):
                return fail(connection, message, retryable: retryable, dropped: dropped)
            case .ready: events.append(.connected(worker: worker, viaAgent: connection.viaAgent))
            }
        }
        guard let session = connection.session else { return }
        // libssh2 may pull another channel's data into its buffers while reading one, so loop until quiet.
        var again = true
        while again {
            again = false
            connection.closing.removeAll { $0.cancelStep() }
            for (op, operation) in connection.operations {
                var produced = false
                // `started` before the command's output and end: the engine journals the start first.
                func tellStart() {
                    guard operation.execAccepted && !operation.startTold else { return }
                    operation.startTold = true
                    events.append(.started(op: op))
                }
                let progress = operation.advance(session) { stream, bytes in
                    produced = true
                    tellStart()
                    events.append(.output(op: op, stream: stream, bytes: bytes))
                }
                if produced { again = true }
                tellStart()
                switch progress {
                case .waiting: continue
                case .finished(let status):
                    finish(connection, op, .finished(op: op, status: status))
                case .refused(let message):
                    finish(connection, op, .refused(op: op, message: message))
                case .failed(let message):
                    operation.free()
                    finish(connection, op, .failed(op: op, message: message))
                case .connectionLost(let error):
                    lose(connection, error.description)
                    return
                }
                again = true
            }
            var copied = false
            if let error = connection.copies.advance(session, emit: { event in
                copied = true
                switch event {
                case .copied(let op, _, _), .failed(let op, _): operationWorker[op] = nil
                default: break
                }
                events.append(event)
            }) {
                lose(connection, error.description)
                return
            }
            if copied { again = true }
            for agent in connection.agents.values {
                var produced = false
                let progress = agent.advance(session) { event in
                    produced = true
                    self.events.append(event)
                    switch event {
                    case .finished(let op, _), .failed(let op, _):
                        operationWorker[op] = nil
                        agentOperation[op] = nil
                    default: break
                    }
                }
                if produced { again = true }
                switch progress {
                case .waiting: break
                case .lost(let error):
                    lose(connection, error.description)
                    return
                case .refused(let message, let jobs):
                    for job in jobs {
                        operationWorker[job.op] = nil
                        agentOperation[job.op] = nil
                        events.append(.refused(op: job.op, message: message))
                    }
                case .broken(let message):
                    if !connection.runnerBroken { events.append(.notice(worker: worker, message: message)) }
                    connection.runnerBroken = true
                    for other in connection.agents.values { other.perJob = true }
                    again = true
                }
            }
        }
        for agent in connection.agents.values {
            if let lost = agent.flush(session) { return lose(connection, lost.description) }
        }
    }

    enum Setup { case waiting, ready, failed(String, retryable: Bool, dropped: Bool = false) }

    /// Moves a connection's setup along, its host key checked against known_hosts once the handshake is done.
    func setUp(_ connection: Connection) -> Setup {
        do {
            while true {
                if connection.phase == .authenticating && connection.awaitingHostKey {
                    connection.awaitingHostKey = false
                    let endpoint = connection.endpoint
                    let store = endpoint.pinnedKnownHosts.map { pinned($0, endpoint.pinnedPolicy) } ?? knownHosts
                    // HostKeyAlias replaces the host and its port in the lookup, as in ssh.
                    if let refusal = store.check(session: connection.session!, host: endpoint.hostKeyAlias ?? endpoint.host,
                                                 port: endpoint.hostKeyAlias == nil ? endpoint.port : 22) {
                        return .failed(refusal, retryable: false)
                    }
                }
                let ready = try connection.advanceSetup()
                if connection.phase == .authenticating && connection.awaitingHostKey { continue }
                return ready ? .ready : .waiting
            }
        } catch let error as SSHError {
            return .failed(error.description, retryable: !error.refused, dropped: error.dropped)
        } catch {
            return .failed("\(error)", retryable: true)
        }
    }

    /// The strict store of a pinned known_hosts file (re-read when it grows: launched workers add keys).
    private func pinned(_ path: String, _ policy: HostKeyPolicy) -> KnownHosts {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        if let store = pinnedStores[path], store.loadedSize == size, store.policy == policy { return store }
        let store = KnownHosts(path: path, policy: policy)
        store.loadedSize = size
        pinnedStores[path] = store
        return store
    }

    private func finish(_ connection: Connection, _ op: Int, _ event: TransportEvent) {
        connection.operations[op] = nil
        operationWorker[op] = nil
        events.append(event)
    }

    func fail(_ connection: Connection, _ message: String, retryable: Bool, dropped: Bool = false) {
        connections[connection.worker] = nil
        connection.close()
        events.append(dropped ? .connectDropped(worker: connection.worker, message: message)
                              : .connectFailed(worker: connection.worker, message: message, retryable: retryable))
    }

    func lose(_ connection: Connection, _ message: String) {
        connections[connection.worker] = nil
        forget(connection)
        connection.close()
        events.append(.disconnected(worker: connection.worker, message: message))
    }
}
