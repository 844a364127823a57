// Jump hosts: one SSH connection per hop (keyed by the chain up to it), shared by every worker behind it, each
// worker's session carried by a Tunnel on it. A hop of a chain `a,b` is itself tunnelled through the link to `a`.
import CLibSSH2
import Engine
import Foundation

/// The connection to one jump host and the tunnels it carries.
final class JumpLink {
    /// The chain up to and including this hop, `user@host:port,...`.
    let key: String
    /// This hop, as messages name it (`root@127.0.1.1:22`).
    let hop: String
    let connection: Connection
    var tunnels: [Tunnel] = []
    /// Set when the connection could not even start; reported on the next advance.
    var failure: String?

    init(key: String, hop: String, connection: Connection) {
        self.key = key; self.hop = hop; self.connection = connection
    }
}

extension SSHTransport {
    /// How messages and link keys name a hop: `user@host:port` as connected to, with the alias it was given
    /// when ssh_config's HostName changed it (`root@10.0.0.1:22 (bastion)`).
    static func name(_ hop: Endpoint) -> String {
        let reached = JumpHost(user: hop.user, host: hop.host, port: hop.port).description
        let given = (try? JumpHost.parse(hop.label))?.host ?? hop.label
        return given.lowercased() == hop.host.lowercased() ? reached : "\(reached) (\(given))"
    }

    /// Connects `connection` (worker `worker`'s) through the jump chain of its endpoint.
    func connectThrough(_ chain: [Endpoint], worker: Int, connection: Connection) {
        let link = self.link(for: chain[...])
        do {
            let tunnel = try Tunnel(consumer: .worker(worker), host: connection.endpoint.host, port: connection.endpoint.port)
            try connection.start(over: tunnel.handOver())
            tunnel.owner = connection
            link.tunnels.append(tunnel)
            dirtyLinks.insert(link.key)
        } catch {
            fail(connection, "jump host \(link.hop): \(error)", retryable: true)
        }
    }

    /// The live link for the last hop of `chain`, made (with the links before it) when there is none.
    private func link(for chain: ArraySlice<Endpoint>) -> JumpLink {
        let hop = chain.last!
        let key = chain.map(Self.name).joined(separator: ",")
        if let existing = links[key], existing.connection.phase != .dead { return existing }
        let link = JumpLink(key: key, hop: Self.name(hop), connection: makeConnection(worker: -1, endpoint: hop))
        links[key] = link
        dirtyLinks.insert(key)
        do {
            if chain.count > 1 {
                let before = self.link(for: chain.dropLast())
                let tunnel = try Tunnel(consumer: .link(key), host: hop.host, port: hop.port)
                try link.connection.start(over: tunnel.handOver())
                before.tunnels.append(tunnel)
            } else {
                try link.connection.start()
            }
        } catch {
            link.failure = "\(error)"
        }
        return link
    }

    /// Moves one link along: its own setup, then every tunnel until nothing moves.
    func advanceLink(_ key: String) {
        guard let link = links[key] else { return }
        if let failure = link.failure { return kill(link, "jump host \(link.hop): \(failure)", retryable: true) }
        let connection = link.connection
        if connection.phase != .ready {
            switch setUp(connection) {
            case .waiting: return
            case .failed(let message, let retryable, _): return kill(link, "jump host \(link.hop): \(message)", retryable: retryable)
            case .ready: break
            }
        }
        guard let session = connection.session else { return }
        // libssh2 may read one channel's data while serving another, so go round until quiet.
        var again = true
        while again {
            again = false
            for tunnel in link.tunnels {
                switch tunnel.pump(session) {
                case .idle: continue
                case .moved: again = true
                case .closed:
                    link.tunnels.removeAll { $0 === tunnel }
                    again = true
                case .failed(let message):
                    link.tunnels.removeAll { $0 === tunnel }
                    tunnel.abandon()
                    report(tunnel, "jump host \(link.hop): \(message)", retryable: true)
                    again = true
                case .lost(let error):
                    return kill(link, "jump host \(link.hop): \(error)", retryable: true)
                }
            }
        }
        if link.tunnels.isEmpty {
            // The last worker behind it has gone; a tunnel carrying this link closes when its end does.
            links[key] = nil
            connection.close()
        }
    }

    /// A link is dead: everything behind it is told why (unreachable, or disconnected when it was up).
    func kill(_ link: JumpLink, _ message: String, retryable: Bool) {
        guard links[link.key] === link else { return }
        links[link.key] = nil
        let tunnels = link.tunnels
        link.tunnels = []
        for tunnel in tunnels { tunnel.abandon() }
        link.connection.close()
        for tunnel in tunnels { report(tunnel, message, retryable: retryable) }
    }

    /// Tells a tunnel's consumer that it is cut off (a worker's connection only if it is still the one tunnelled).
    private func report(_ tunnel: Tunnel, _ message: String, retryable: Bool) {
        switch tunnel.consumer {
        case .worker(let worker):
            guard let connection = connections[worker], connection === tunnel.owner else { return }
            if connection.phase == .ready { lose(connection, message) } else { fail(connection, message, retryable: retryable) }
        case .link(let key):
            if let link = links[key] { kill(link, message, retryable: retryable) }
        }
    }

    /// Poll entries for every link: its own socket and its tunnels' ends.
    func linkPollEntries() -> [(pollfd, String)] {
        var entries: [(pollfd, String)] = []
        for (key, link) in links {
            let events = link.connection.pollEvents
            if events != 0 { entries.append((pollfd(fd: link.connection.socket, events: events, revents: 0), key)) }
            for tunnel in link.tunnels where tunnel.pollEvents != 0 {
                entries.append((pollfd(fd: tunnel.local, events: tunnel.pollEvents, revents: 0), key))
            }
        }
        return entries
    }

    /// Links whose setup is past its deadline are dead, naming the hop.
    func expireLinks(at now: Double) {
        for link in Array(links.values) where link.connection.phase != .ready && now >= link.connection.deadline {
            let seconds = (link.connection.endpoint.connectTimeout ?? settings.connectTimeout).formatted()
            kill(link, "jump host \(link.hop): connection timed out after \(seconds) seconds", retryable: true)
        }
    }
}
