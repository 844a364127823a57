// The engine's view of the network: connections to workers and commands run on them.
// The SSH adapter implements it; the engine drives it from one thread (the runner loop).

/// Where and how to reach one worker, resolved from the user's address, options and ~/.ssh/config.
public struct Endpoint: Sendable, Equatable {
    public var label: String          // how logs name the worker, e.g. "127.0.1.1" or "web:2222"
    public var host: String           // name or address to connect to (HostName applied)
    public var port: Int
    public var user: String
    public var identityFiles: [String] // tried in order; empty means agent, then default keys
    /// A known_hosts file of its own (launched workers: in the session folder, never the user's).
    public var pinnedKnownHosts: String?
    /// How that file is used: strict when the provider wrote the key, accept-new when it is learnt on first contact.
    public var pinnedPolicy: HostKeyPolicy
    /// Jobs at once on this worker, when its address said (`N/host`); nil means --slots.
    public var slots: Int?
    /// `N/` when the address gave the worker its own slot count, for listings; else empty.
    public var slotsPrefix: String { slots.map { "\($0)/" } ?? "" }
    /// Seconds to connect, shake hands and authenticate (--connect-timeout, else ConnectTimeout); nil: the transport's.
    public var connectTimeout: Double?
    /// ssh_config's ServerAliveInterval and ServerAliveCountMax, which the run's liveness pings follow unless
    /// --ping-interval is given (see `RunPolicy.liveness`).
    public var aliveInterval: Double?
    public var aliveCountMax: Int?
    /// The name looked up in known_hosts instead of the host (HostKeyAlias).
    public var hostKeyAlias: String?
    /// Only the identity files are tried, never the agent (IdentitiesOnly).
    public var identitiesOnly: Bool
    /// Jump hosts to tunnel through, outermost first (--jump, ProxyJump), each resolved with ~/.ssh/config as a
    /// worker is (its label the hop as written); empty: a direct connection.
    public var jumps: [Endpoint]
    /// ssh_config warnings met while resolving the endpoint (a Match exec not run), said once per run.
    public var configWarnings: [String]
    public init(label: String, host: String, port: Int, user: String, identityFiles: [String],
                pinnedKnownHosts: String? = nil, pinnedPolicy: HostKeyPolicy = .strict, slots: Int? = nil,
                connectTimeout: Double? = nil, aliveInterval: Double? = nil, aliveCountMax: Int? = nil,
                hostKeyAlias: String? = nil, identitiesOnly: Bool = false, jumps: [Endpoint] = [],
                configWarnings: [String] = []) {
        self.label = label; self.host = host; self.port = port; self.user = user; self.identityFiles = identityFiles
        self.pinnedKnownHosts = pinnedKnownHosts; self.pinnedPolicy = pinnedPolicy; self.slots = slots
        self.connectTimeout = connectTimeout; self.aliveInterval = aliveInterval; self.aliveCountMax = aliveCountMax
        self.hostKeyAlias = hostKeyAlias; self.identitiesOnly = identitiesOnly; self.jumps = jumps
        self.configWarnings = configWarnings
    }
}

/// One command to run on a worker.
public struct RemoteCommand: Sendable {
    /// Shell text run under /bin/sh on the worker.
    public var script: [UInt8]
    /// Variables exported to the command.
    public var environment: [(String, String)]
    /// Merge stdout and stderr through a terminal, as the original did.
    public var pty: Bool
    /// Bytes written to the command's stdin (then EOF); nil gives it /dev/null.
    public var stdin: [UInt8]?
    /// Variables whose values travel on the channel's stdin before the command starts (--env secrets); the
    /// transport writes them and the wrapper reads them, so they never show in the worker's process list.
    public var secrets: [PassedVariable] = []
    /// Run the wrapper (and so the command) through sudo; its password, if any, is the first line on stdin.
    public var sudo: SudoLogin?
    /// The worker's slot whose runner (a long-lived shell there) runs the command, after the slot's earlier
    /// ones; nil: a channel of its own. Only for transports that `pipeline`.
    public var slot: Int?
    public init(script: [UInt8], environment: [(String, String)] = [], pty: Bool = false, stdin: [UInt8]? = nil) {
        self.script = script; self.environment = environment; self.pty = pty; self.stdin = stdin
    }
}

/// Files copied between the controller and one worker as one operation (`Transport.copy`): a job's input
/// (--transfer) and results (--return), or a fleet copy (ctsh's pool:put and pool:get, cloudtask-put/-get).
public struct FileCopy: Sendable, Equatable {
    public enum Direction: Sendable, Equatable { case put, get }
    public struct Item: Sendable, Equatable {
        /// A path on the controller.
        public var local: String
        /// A path on the worker: absolute, or relative to the login user's home.
        public var remote: String
        public init(local: String, remote: String) { self.local = local; self.remote = remote }
    }
    public var direction: Direction
    public var items: [Item]
    /// put: a folder made first (with its parents) and emptied if it is there; each item's missing parent folders
    /// are made too.
    public var folder: String?
    /// Folders are copied whole (a get lands the remote folder's tree at `local`); without it an item is one file.
    /// Modes and modification times are kept either way.
    public var recursive: Bool
    /// get: an item missing on the worker is skipped, not a failure (its job failed anyway).
    public var missingOK: Bool
    public init(direction: Direction, items: [Item], folder: String? = nil, recursive: Bool = false,
                missingOK: Bool = false) {
        self.direction = direction; self.items = items; self.folder = folder; self.recursive = recursive
        self.missingOK = missingOK
    }
}

/// How a remote command ended.
public enum ExitStatus: Sendable, Equatable {
    case exited(Int)
    case signaled(String)

    /// As a status line says it: `exited 2`, `killed by signal TERM`.
    public var phrase: String {
        switch self {
        case .exited(let code): return "exited \(code)"
        case .signaled(let name): return "killed by signal \(name)"
        }
    }
}

public enum OutputStream: Sendable { case stdout, stderr }

/// What the transport reports back.
public enum TransportEvent: Sendable {
    /// The connection is up and authenticated; `viaAgent` tells whether the ssh-agent did it.
    case connected(worker: Int, viaAgent: Bool)
    /// The connection could not be made (or broke before it was up); `retryable` is false for
    /// refusals that would not change on a retry (host key, authentication).
    case connectFailed(worker: Int, message: String, retryable: Bool)
    /// The server closed the connection before the handshake finished: what sshd does past `MaxStartups`
    /// (too many connections not yet logged in). Worth more attempts, further apart, than other failures.
    case connectDropped(worker: Int, message: String)
    /// An established connection broke; its running commands are gone.
    case disconnected(worker: Int, message: String)
    /// The command started on the worker (a slot's queued command waits for the one before it).
    case started(op: Int)
    case output(op: Int, stream: OutputStream, bytes: [UInt8])
    case finished(op: Int, status: ExitStatus)
    /// The worker refused a new channel (e.g. OpenSSH MaxSessions): the command never started.
    case refused(op: Int, message: String)
    /// The command could not be started or its channel failed.
    case failed(op: Int, message: String)
    /// A copy's bytes so far, at most a few times a second (a terminal's progress for big files).
    case copying(op: Int, bytes: Int64)
    /// A copy ended well: every file is in place (a get's files written, synced and renamed into place).
    /// `via`: how (`sftp`, or `stream` where the worker has no SFTP server).
    case copied(op: Int, bytes: Int64, via: String)
    /// Something the worker's log should say once (a runner that could not start, and what is used instead).
    case notice(worker: Int, message: String)
}

/// A set of worker connections driven by `wait`.
public protocol Transport: AnyObject {
    /// Starts connecting `worker` (an id chosen by the engine) to `endpoint`.
    func connect(worker: Int, to endpoint: Endpoint)
    /// Starts `command` on `worker` as operation `op` (an id chosen by the engine).
    func run(op: Int, worker: Int, command: RemoteCommand)
    /// Starts copying `files` to or from `worker` as operation `op`: `copying` as it goes, then `copied`, or `failed`
    /// with a message naming the file and what was wrong (`x.gz: no such file`); a broken connection is `disconnected`.
    /// `cancel` stops it (a get leaves no partial file behind).
    func copy(op: Int, worker: Int, files: FileCopy)
    /// Stops an operation: its channel is closed and the remote process group killed.
    func cancel(op: Int)
    /// Closes a worker's connection; its operations are dropped without events.
    func disconnect(worker: Int)
    /// Uses this private key for later connections (the session's temporary key).
    func useIdentity(_ path: String)
    /// Waits up to `timeout` seconds for something to happen and returns what did.
    func wait(timeout: Double) -> [TransportEvent]
    /// A file descriptor whose write end, when written, wakes `wait` (async-signal-safe).
    var wakeDescriptor: Int32 { get }
    /// Whether a slot's next command may be given while its current one runs (`RemoteCommand.slot`): the worker
    /// then starts it without a round trip.
    var pipelines: Bool { get }
    /// After a slot's command failed, the one queued behind it does not start until this says: `run`, or drop
    /// it (it never started, and no event comes for it).
    func release(op: Int, run: Bool)
}

extension Transport {
    public var pipelines: Bool { false }
    public func release(op: Int, run: Bool) {}
}

/// How host keys are checked against known_hosts.
public enum HostKeyPolicy: String, Sendable, CaseIterable {
    /// Unknown keys are recorded, mismatches refused.
    case acceptNew = "accept-new"
    /// Unknown and mismatched keys are refused.
    case strict
    /// No check (a warning is logged).
    case off
}
