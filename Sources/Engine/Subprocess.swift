// Local programs (ssh-keygen, sshd, tar, report hooks, the tests' helpers), started with posix_spawn and
// reaped with waitpid. Foundation's Process learns that its child ended only when every holder of a socket
// it hands the child has closed it, so a daemon the child leaves behind (a tmux server, a hook's `cmd &`)
// hangs its caller for as long as the daemon lives. Here the end of the child is its pid, nothing else;
// output is read until the child exits and then drained of what is already there.
import Foundation

public final class Subprocess: @unchecked Sendable {
    public enum Input: Sendable { case null, inherit, bytes([UInt8]) }
    public enum Output: Sendable { case null, inherit, capture }

    public struct Result: Sendable {
        /// The exit code, or 128 + the signal that ended the child.
        public var status: Int32
        /// The signal that ended the child, if one did.
        public var signal: Int32?
        public var output: [UInt8]
        public var error: [UInt8]
        public var timedOut: Bool
        public var outputText: String { String(decoding: output, as: UTF8.self) }
        public var errorText: String { String(decoding: error, as: UTF8.self) }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    public let pid: pid_t
    public var processIdentifier: pid_t { pid }
    private let newSession: Bool
    private var input: Int32 = -1
    private var pending: ArraySlice<UInt8> = []
    private var output: Int32 = -1
    private var error: Int32 = -1
    private let lock = NSLock()
    private var reaped: Int32?
    private var reapedBySignal: Int32?

    /// Starts `argv` (a path, or a name looked up in PATH). `environment` nil inherits ours; `directory` runs it
    /// there; `newSession` makes it a session and process-group leader, so signals reach its descendants too.
    public init(_ argv: [String], environment: [String: String]? = nil, directory: String? = nil,
                input: Input = .null, output: Output = .null, error: Output = .null, newSession: Bool = false) throws {
        precondition(!argv.isEmpty, "Subprocess needs a program")
        var argv = argv
        if let directory { argv = ["/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"", directory] + argv }
        var inputEnd: Int32 = -1, outputEnd: Int32 = -1, errorEnd: Int32 = -1, bytes: [UInt8] = []
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32] = [], childEnds: [Int32] = []
        func pipeFor(_ target: Int32, childReads: Bool) throws -> Int32 {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: " + String(cString: strerror(errno))) }
            fds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
            let (child, parent) = childReads ? (fds[0], fds[1]) : (fds[1], fds[0])
            _ = fcntl(parent, F_SETFL, fcntl(parent, F_GETFL) | O_NONBLOCK)
            posix_spawn_file_actions_adddup2(&actions, child, target)
            parentEnds.append(parent); childEnds.append(child)
            return parent
        }
        do {
            switch input {
            case .null: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            case .inherit: break
            case .bytes(let given):
                inputEnd = try pipeFor(0, childReads: true)
                bytes = given
                Glibc.signal(SIGPIPE, SIG_IGN)  // a child that stops reading must not kill us
            }
            for (choice, target) in [(output, Int32(1)), (error, Int32(2))] {
                switch choice {
                case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
                case .inherit: break
                case .capture:
                    let fd = try pipeFor(target, childReads: false)
                    if target == 1 { outputEnd = fd } else { errorEnd = fd }
                }
            }
        } catch {
            (parentEnds + childEnds).forEach { close($0) }
            throw error
        }
        if let closeFrom = Subprocess.closeFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc 2.26+), not exported to Swift
        let flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (newSession ? setsid : 0)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = (environment ?? ProcessInfo.processInfo.environment).map {
            strdup("\($0.key)=\($0.value)")
        } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        var pid: pid_t = 0
        let status = cArguments.withUnsafeBufferPointer { args in
            cEnvironment.withUnsafeBufferPointer { envp in
                argv[0].contains("/")
                    ? posix_spawn(&pid, argv[0], &actions, &attributes, args.baseAddress!, envp.baseAddress!)
                    : posix_spawnp(&pid, argv[0], &actions, &attributes, args.baseAddress!, envp.baseAddress!)
            }
        }
        childEnds.forEach { close($0) }
        guard status == 0 else {
            parentEnds.forEach { close($0) }
            throw SpawnError(description: "cannot run \(argv[0]): " + String(cString: strerror(status)))
        }
        self.pid = pid
        self.newSession = newSession
        self.input = inputEnd
        self.output = outputEnd
        self.error = errorEnd
        self.pending = bytes[...]
    }

    deinit { [input, output, error].filter { $0 >= 0 }.forEach { close($0) } }

    /// Sends `signal` to the child (and its group when it leads one), unless it has been reaped.
    public func signal(_ signal: Int32) {
        lock.lock(); defer { lock.unlock() }
        guard reaped == nil else { return }
        kill(newSession ? -pid : pid, signal)
    }
    public func interrupt() { signal(SIGINT) }
    public func terminate() { signal(SIGTERM) }

    public var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return reaped == nil && !reap(options: WNOHANG) }

    /// Feeds the input, collects the output and reaps the child. After `timeout` seconds the child (its group,
    /// if it leads one) is killed. Call once.
    public func wait(timeout: Double? = nil) -> Result {
        var out: [UInt8] = [], err: [UInt8] = []
        var timedOut = false
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        let pidfd = Subprocess.pidfdOpen.map { $0(pid, 0) } ?? -1
        defer { if pidfd >= 0 { close(pidfd) } }
        if input >= 0 && pending.isEmpty { close(input); input = -1 }
        while true {
            lock.lock()
            let done = reaped != nil || reap(options: WNOHANG)
            lock.unlock()
            if done { break }
            if let deadline, !timedOut, Date() >= deadline {
                timedOut = true
                signal(SIGKILL)
            }
            var fds: [pollfd] = []
            if input >= 0 { fds.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
            if output >= 0 { fds.append(pollfd(fd: output, events: Int16(POLLIN), revents: 0)) }
            if error >= 0 { fds.append(pollfd(fd: error, events: Int16(POLLIN), revents: 0)) }
            if pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = pidfd >= 0 ? 1000 : 10
            if let deadline, !timedOut { wait = min(wait, max(1, Int32(deadline.timeIntervalSinceNow * 1000) + 1)) }
            _ = poll(&fds, nfds_t(fds.count), wait)
            for entry in fds where entry.revents != 0 {
                if entry.fd == input { feed() }
                else if entry.fd == output { drain(&output, into: &out) }
                else if entry.fd == error { drain(&error, into: &err) }
            }
        }
        // The child is gone; what it wrote is in the pipes. Descendants that keep them open are not waited for.
        drain(&output, into: &out)
        drain(&error, into: &err)
        [input, output, error].filter { $0 >= 0 }.forEach { close($0) }
        input = -1; output = -1; error = -1
        lock.lock(); defer { lock.unlock() }
        return Result(status: reaped ?? -1, signal: reapedBySignal, output: out, error: err, timedOut: timedOut)
    }

    /// Runs `argv` to its end: `Subprocess(...).wait(timeout:)`.
    public static func run(_ argv: [String], environment: [String: String]? = nil, directory: String? = nil,
                           input: Input = .null, output: Output = .null, error: Output = .null,
                           timeout: Double? = nil) throws -> Result {
        try Subprocess(argv, environment: environment, directory: directory, input: input, output: output, error: error)
            .wait(timeout: timeout)
    }

    /// waitpid; records the status. Caller holds the lock.
    private func reap(options: Int32) -> Bool {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, options) } while result < 0 && errno == EINTR
        if result == pid {
            reaped = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            reapedBySignal = status & 0x7f == 0 ? nil : status & 0x7f
            return true
        }
        if result < 0 { reaped = -1; return true }  // not our child any more (ECHILD): nothing to wait for
        return false
    }

    private func feed() {
        while !pending.isEmpty {
            let written = pending.withUnsafeBytes { write(input, $0.baseAddress, min($0.count, 65536)) }
            if written > 0 { pending = pending.dropFirst(written); continue }
            if written < 0 && (errno == EAGAIN || errno == EINTR) { return }
            pending = []  // EPIPE: the child stopped reading
        }
        close(input)
        input = -1
    }

    private func drain(_ fd: inout Int32, into buffer: inout [UInt8]) {
        guard fd >= 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 { buffer.append(contentsOf: chunk[0..<count]); continue }
            if count < 0 && errno == EINTR { continue }
            if count == 0 { close(fd); fd = -1 }
            return
        }
    }

    // glibc functions Swift's Glibc module does not export (GNU extensions), looked up once.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    private static let closeFrom: CloseFrom? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np").map {
            unsafeBitCast($0, to: CloseFrom.self)
        }
    private static let pidfdOpen: PidfdOpen? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open").map { unsafeBitCast($0, to: PidfdOpen.self) }
}
