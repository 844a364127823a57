// The `local` provider: each worker is a private sshd on its own loopback address (127.0.1.x) and a free
// high port, with host key, config and authorized_keys generated in the session folder, logging in as
// the current user with the session key. Needs only openssh-server; makes the whole lifecycle real.
import Engine
import Foundation

public final class LocalProvider: Provider, @unchecked Sendable {
    public let name = "local"
    let sessionPath: String
    let user: String
    let sessionKey: String
    /// The session's own known_hosts, where launched workers' keys are pinned.
    public let knownHosts: String
    public var identity: String { sessionKey }
    public let hostKeyPolicy = HostKeyPolicy.strict
    // Filled by the starting queue, emptied by ready(); guarded by `lock`.
    private var waiting: [Instance] = []
    private var errors: [String] = []
    private var nextNumber = 0
    private let lock = NSLock()
    private let starting = DispatchQueue(label: "cloudtask.local-provider", attributes: .concurrent)

    /// `sessionKey` is the private key every launched worker authorizes (its .pub beside it).
    /// Public keys authorized besides the session key (cloudtask-launch-workers: the user's own keys).
    public var extraAuthorizedKeys: [String] = []

    public init(sessionPath: String, user: String, sessionKey: String) {
        self.sessionPath = sessionPath
        self.user = user
        self.sessionKey = sessionKey
        self.knownHosts = sessionPath + "/known_hosts"
    }

    /// Starts `count` workers in the background (a few at a time); `ready()` hands them over as each is up.
    public func launch(count: Int, ledger: Ledger) throws {
        let root = sessionPath + "/local"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let sessionPublicKey = try String(contentsOfFile: sessionKey + ".pub", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let publicKey = ([sessionPublicKey] + extraAuthorizedKeys).joined(separator: "\n") + "\n"
        for _ in 0..<count {
            lock.lock()
            nextNumber = max(nextNumber, ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).count) + 1
            let number = nextNumber
            lock.unlock()
            let dir = root + "/" + String(number)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let host = "127.0.1.\(10 + (number - 1) % 240)"
            let instance = Instance(id: instanceID(number), provider: name, host: host,
                                    port: try LocalProvider.freePort(host), user: user)
            try ledger.record(.launch, instance)
            starting.async { [self] in
                do {
                    try start(instance, dir: dir, publicKey: publicKey)
                    lock.withLock { waiting.append(instance) }
                } catch {
                    lock.withLock { errors.append("\(error)") }
                }
            }
        }
    }

    /// Host key, config, authorized key, sshd; then the key pinned in the session's known_hosts.
    private func start(_ instance: Instance, dir: String, publicKey: String) throws {
        guard LocalCommand.makeKey(at: dir + "/host_key", comment: instance.id) else {
            throw ProviderError("local: ssh-keygen failed for \(instance.id)")
        }
        try publicKey.write(toFile: dir + "/authorized_keys", atomically: true, encoding: .utf8)
        try config(instance, dir).write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
        guard LocalCommand.run("/usr/sbin/sshd", ["-f", dir + "/sshd_config", "-E", dir + "/sshd.log"]) == 0 else {
            let log = (try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? ""
            let problem = log.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ProviderError("local: sshd did not start for \(instance.id): \(problem)")
        }
        let key = try String(contentsOfFile: dir + "/host_key.pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        try lock.withLock {
            let url = URL(fileURLWithPath: knownHosts, isDirectory: false).creatingIfMissing()
            let file = try FileHandle(forWritingTo: url)
            file.seekToEndOfFile()
            file.write(Data("[\(instance.host)]:\(instance.port) \(key)\n".utf8))
            try file.close()
        }
    }

    /// Workers started since the last call; a failed start is thrown once.
    public func ready() throws -> [Instance] {
        try lock.withLock {
            if let error = errors.first {
                errors.removeFirst()
                throw ProviderError(error)
            }
            defer { waiting = [] }
            return waiting
        }
    }

    /// Waits for starts still in flight.
    public func settle() { starting.sync(flags: .barrier) {} }

    /// The session's sshd workers still running: `<session>/local/<n>` folders whose pid file names a live
    /// sshd started with that folder's config.
    public func list() throws -> [Instance] {
        settle()
        let root = sessionPath + "/local"
        let numbers = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        return numbers.compactMap { number in
            let dir = root + "/" + String(number)
            guard let text = try? String(contentsOfFile: dir + "/sshd.pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), LocalProvider.alive(pid),
                  ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "")
                      .contains(dir + "/sshd_config"),
                  let config = try? String(contentsOfFile: dir + "/sshd_config", encoding: .utf8),
                  let listen = config.split(separator: "\n").first(where: { $0.hasPrefix("ListenAddress ") }),
                  let colon = listen.lastIndex(of: ":"),
                  let port = Int(listen[listen.index(after: colon)...]) else { return nil }
            let host = String(listen.dropFirst("ListenAddress ".count)[..<colon])
            return Instance(id: instanceID(number), provider: name, host: host, port: port, user: user)
        }
    }

    /// `local-<session>-<n>` for worker folder `<session>/local/<n>`.
    private func instanceID(_ number: Int) -> String {
        "local-\((sessionPath as NSString).lastPathComponent)-\(number)"
    }

    public func destroy(_ instances: [Instance]) -> [String: String] {
        settle()  // starts still in flight finish first, so none comes up after its destroy
        var failures: [String: String] = [:]
        for instance in instances {
            let dir = sessionPath + "/local/" + String(instance.id.split(separator: "-").last ?? "")
            guard let text = try? String(contentsOfFile: dir + "/sshd.pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                continue  // never started, or already gone
            }
            let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            guard command.contains(dir + "/sshd_config") else { continue }  // the pid is no longer our sshd
            let tree = LocalProvider.processTree(pid)
            for process in tree { kill(process, SIGTERM) }
            var waited = 0
            while LocalProvider.alive(pid) && waited < 50 { usleep(20_000); waited += 1 }
            if LocalProvider.alive(pid) {
                for process in tree { kill(process, SIGKILL) }
                usleep(50_000)
            }
            if LocalProvider.alive(pid) { failures[instance.id] = "sshd \(pid) did not stop" }
        }
        return failures
    }

    // MARK: - Helpers

    private func config(_ instance: Instance, _ dir: String) -> String {
        """
        ListenAddress \(instance.host):\(instance.port)
        HostKey \(dir)/host_key
        PidFile \(dir)/sshd.pid
        AuthorizedKeysFile \(dir)/authorized_keys
        AllowUsers \(user)
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password
        UsePAM no
        StrictModes no
        UseDNS no
        PrintMotd no
        PrintLastLog no
        MaxSessions 100
        MaxStartups 100:30:200
        LogLevel ERROR
        Subsystem sftp internal-sftp

        """
    }

    /// A port nothing listens on at `host` now (the kernel's pick for port 0).
    public static func freePort(_ host: String) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProviderError("local: socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw ProviderError("local: cannot bind \(host): \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether `pid` runs (a zombie, which an init that does not reap leaves behind, does not count).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    /// `pid` and all its descendants.
    static func processTree(_ pid: Int32) -> [Int32] {
        var all: [Int32] = []
        var frontier = [pid]
        while let next = frontier.popLast() {
            all.append(next)
            let children = (try? String(contentsOfFile: "/proc/\(next)/task/\(next)/children", encoding: .utf8)) ?? ""
            frontier += children.split(separator: " ").compactMap { Int32($0) }
        }
        return all
    }
}

extension URL {
    /// The URL, after creating an empty private file there if none exists.
    func creatingIfMissing() -> URL {
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        return self
    }
}
