// One worker's SSH connection: non-blocking TCP connect, handshake, host key, authentication, then
// exec channels. Every step is retried by `advance()` when the reactor sees the socket ready.
import CLibSSH2
import Engine
import Foundation

final class Connection {
    enum Phase { case connecting, handshake, authenticating, ready, dead }

    let worker: Int
    let endpoint: Endpoint
    let deadline: Double
    private(set) var phase = Phase.connecting
    private(set) var socket: Int32 = -1
    private(set) var session: OpaquePointer?
    var operations: [Int: Operation] = [:]
    /// Channels being closed after a cancel; kept until libssh2 lets them go.
    var closing: [Operation] = []
    /// The slots' runners (RemoteScript.agent), by slot.
    var agents: [Int: AgentSlot] = [:]
    /// File copies (Transport.copy), one at a time over the connection's SFTP session or exec channels.
    let copies = CopyQueue()
    /// The runner could not start here: said once, and every slot runs its jobs one channel each.
    var runnerBroken = false

    // Authentication state: identity files left to try, then the agent; `attempts` are the ones under way.
    private var identities: [String]
    private var tryAgent: Bool
    /// The passphrase of each encrypted key file, by path (asked on the terminal, or --ssh-passphrase-file's for all).
    private let passphrase: (String) -> String?
    private let agentSocket: String?
    private var agent: OpaquePointer?
    private var agentIdentity: UnsafeMutablePointer<libssh2_agent_publickey>?
    private var attempts: [Attempt] = []
    private(set) var viaAgent = false
    private var authErrors: [String] = []
    /// Key files that are encrypted and have no passphrase; named in the error if nothing else gets in.
    private var lockedKeys: [String] = []
    /// libssh2's `abstract` for the RSA sign callback: points at the attempt being signed.
    private let signContext = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)

    init(worker: Int, endpoint: Endpoint, identities: [String], tryAgent: Bool, passphrase: @escaping (String) -> String?, agentSocket: String?,
         timeout: Double) {
        self.worker = worker
        self.endpoint = endpoint
        self.identities = identities
        self.tryAgent = tryAgent
        self.passphrase = passphrase
        self.agentSocket = agentSocket
        self.deadline = monotonicNow() + timeout
        signContext.initialize(to: nil)
    }

    deinit {
        close()
        signContext.deallocate()
    }

    func close() {
        // libssh2_session_free releases the channels; freeing them first could block.
        operations = [:]
        closing = []
        copies.invalidate()
        agents = [:]
        if let agent {
            libssh2_agent_disconnect(agent)
            libssh2_agent_free(agent)
            self.agent = nil
        }
        if let session {
            libssh2_session_set_blocking(session, 0)
            _ = ct_session_disconnect(session, "bye")
            libssh2_session_free(session)
            self.session = nil
        }
        if socket >= 0 { Foundation.close(socket); socket = -1 }
        phase = .dead
    }

    /// The poll events this connection waits for.
    var pollEvents: Int16 {
        switch phase {
        case .connecting: return Int16(POLLOUT)
        case .dead: return 0
        default:
            guard let session else { return 0 }
            let directions = libssh2_session_block_directions(session)
            var events = Int16(POLLIN)
            if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
            return events
        }
    }

    // MARK: - Setting up

    /// Starts the TCP connection; throws when the address cannot be resolved or the socket not made.
    func start() throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard status == 0, let first = list else {
            throw SSHError("resolve \(endpoint.host)", message: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        socket = Foundation.socket(first.pointee.ai_family, type, 0)
        guard socket >= 0 else { throw SSHError("socket", message: String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if Foundation.connect(socket, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            throw SSHError("connect", message: String(cString: strerror(errno)))
        }
    }

    /// Starts over a socket that is already connected (a tunnel's end, which this connection now owns).
    func start(over connected: Int32) throws {
        socket = connected
        try openSession()
    }

    /// Makes the libssh2 session once the socket is connected; the handshake comes next.
    private func openSession() throws {
        session = ct_session_init()
        guard let session else { throw SSHError("session", message: "libssh2_session_init failed") }
        libssh2_session_set_blocking(session, 0)
        phase = .handshake
    }

    /// Moves the setup along; returns true when it reached `ready`. Throws a refusal or failure.
    func advanceSetup() throws -> Bool {
        while true {
            switch phase {
            case .connecting:
                var pfd = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, 0) == 0 { return false }
                var error: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &size)
                if error != 0 { throw SSHError("connect", message: String(cString: strerror(error))) }
                try openSession()
            case .handshake:
                let rc = libssh2_session_handshake(session, libssh2_socket_t(socket))
                if rc == LIBSSH2_ERROR_EAGAIN { return false }
                if rc != 0 { var error = SSHError("handshake", session: session, code: rc); error.dropped = SSHError.isDrop(rc); throw error }
                phase = .authenticating
                return false // host key check happens in the transport, which owns known_hosts
            case .authenticating:
                if try authenticate() { phase = .ready; return true }
                return false
            case .ready: return true
            case .dead: throw SSHError("connect", message: "connection closed")
            }
        }
    }

    /// Whether the handshake finished and the host key still needs checking.
    var awaitingHostKey = true

    /// Tries identity files, then the agent. Returns true once authenticated.
    private func authenticate() throws -> Bool {
        while let attempt = currentAttempt() {
            let rc = attempt.run(session: session, user: endpoint.user, context: signContext)
            if rc == LIBSSH2_ERROR_EAGAIN { return false }
            if rc == 0 { viaAgent = attempt.viaAgent; return true }
            if SSHError.isConnectionLost(rc) { throw SSHError("authenticate", session: session, code: rc) }
            attempts.removeFirst()
            // An RSA key is offered twice (rsa-sha2-256, then ssh-rsa); its error is told once.
            if attempts.first?.label != attempt.label {
                authErrors.append("\(attempt.label): \(attempt.failure ?? SSHError("", session: session, code: rc).message)")
            }
        }
        if let key = lockedKeys.first {
            throw SSHError("\(key) is encrypted", message: "give its passphrase with --ssh-passphrase-file or add it to ssh-agent",
                           refused: true)
        }
        let tried = authErrors.isEmpty
            ? "no key to try (give --ssh-identity or start ssh-agent)"
            : authErrors.joined(separator: "; ")
        throw SSHError("authentication as \(endpoint.user) failed", message: tried, refused: true)
    }

    /// The attempt under way, else the first for the next key; nil when every key was tried.
    private func currentAttempt() -> Attempt? {
        while attempts.isEmpty {
            guard nextAttempts() else { return nil }
        }
        return attempts[0]
    }

    /// Queues the attempts for the next key file or agent key (none when it cannot be used); false when no key is left.
    private func nextAttempts() -> Bool {
        if let file = identities.first {
            identities.removeFirst()
            let passphrase = self.passphrase(file)
            switch RSAKey.read(path: file, passphrase: passphrase) {
            case .key(let key):
                attempts = [true, false].map { Attempt(file: file, key: key, sha256: $0) }
            case .other:
                attempts = [Attempt(file: file, passphrase: passphrase)]
            case .encrypted:
                lockedKeys.append(file)
                authErrors.append("\(file): encrypted, no passphrase")
            case .failed(let why):
                authErrors.append("\(file): \(why)")
            }
            return true
        }
        guard tryAgent else { return false }
        if agent == nil {
            agent = libssh2_agent_init(session)
            guard let agent, libssh2_agent_connect(agent) == 0, libssh2_agent_list_identities(agent) == 0 else {
                tryAgent = false
                authErrors.append("ssh-agent: not reachable")
                return true
            }
        }
        var next: UnsafeMutablePointer<libssh2_agent_publickey>? = nil
        guard libssh2_agent_get_identity(agent, &next, agentIdentity) == 0, let identity = next else {
            if agentIdentity == nil { authErrors.append("ssh-agent: no keys") }
            tryAgent = false
            return true
        }
        agentIdentity = identity
        let blob = Array(UnsafeBufferPointer(start: identity.pointee.blob, count: identity.pointee.blob_len))
        if blobKeyType(blob) == "ssh-rsa", let agentSocket {
            let label = "ssh-agent key " + (identity.pointee.comment.map { String(cString: $0) } ?? "")
            attempts = [true, false].map { Attempt(agent: agentSocket, blob: blob, label: label, sha256: $0) }
        } else {
            attempts = [Attempt(agent: agent, identity: identity)]
        }
        return true
    }

    func markDead() { close() }
}

/// Seconds on a monotonic clock.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
