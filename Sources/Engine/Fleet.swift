// One-off fleet operations: the same command once on every worker, in parallel (ctsh's pool:run and pool:ping),
// or the same copy (pool:put, pool:get, cloudtask-put/-get: FleetCopy.swift), under the runner's rules:
// --connect-rate, its reconnect policy, --sudo (checked first, as the runner's setup step does), the timeout and
// Ctrl-C. `FleetDriver` owns the connection stage both share; each operation says only how it starts and ends.
import Foundation

/// What one worker answered.
public struct FleetResult: Sendable {
    public let label: String
    public var status: ExitStatus?
    /// Why there is no status: unreachable, refused, timed out, sudo refused.
    public var error: String?
    public var stdout: [UInt8] = []
    public var stderr: [UInt8] = []
    /// Seconds from sending the command to its end (the round trip for a ping).
    public var seconds = 0.0
}

public enum Fleet {
    /// Connects to every endpoint, runs `command` (":" for a ping) once on each as `config` says (--sudo, --env,
    /// --connect-rate, --timeout; 0 means an hour), and disconnects. `environment` gives --env's values and the
    /// sudo password variable. Throws a `UsageError` for a bad --env or --sudo before connecting anywhere.
    /// Stops early when `Runner.interrupts` changes (Ctrl-C).
    public static func run(_ endpoints: [Endpoint], command: String, config: TaskConfig,
                           environment: [String: String], transport: Transport) throws -> [FleetResult] {
        let passed = try PassedEnvironment.resolve(config, environment: environment, resuming: false)
        var remote = RemoteCommand(script: Array(command.utf8),
                                   environment: passed.filter { !$0.secret }.map { ($0.name, $0.value) })
        remote.secrets = passed.filter(\.secret)
        remote.sudo = try SudoLogin.resolve(config, environment: environment)
        return run(endpoints, command: remote, transport: transport, policy: RunPolicy(config),
                   timeout: FleetDriver.timeout(config))
    }

    static func run(_ endpoints: [Endpoint], command: RemoteCommand, transport: Transport, policy: RunPolicy,
                    timeout: Double) -> [FleetResult] {
        var results = endpoints.map { FleetResult(label: $0.label) }
        var driver = FleetDriver(endpoints: endpoints, transport: transport, policy: policy, timeout: timeout,
                                 sudo: command.sudo)
        let outcome = driver.drive(start: { transport.run(op: $0, worker: $0, command: command) }) { event in
            switch event {
            case .output(let op, let stream, let bytes):
                if stream == .stdout { results[op].stdout += bytes } else { results[op].stderr += bytes }
            case .finished(let op, let status):
                results[op].status = status
                return op
            default: break
            }
            return nil
        }
        for index in results.indices {
            results[index].error = outcome[index].error
            results[index].seconds = outcome[index].seconds
        }
        return results
    }
}

/// The stage every fleet operation shares: each worker is connected (paced, retried as the runner does), its
/// sudo checked when asked, then given its one operation (op id = worker index); the driver ends each worker on
/// a failure, a lost connection, the deadline or Ctrl-C, and disconnects them all at the end.
struct FleetDriver {
    /// A fleet operation's time limit: --timeout, where 0 (none) means an hour.
    static func timeout(_ config: TaskConfig) -> Double { config.timeout > 0 ? config.timeout : 3600 }

    /// How one worker's operation ended: an error (none when it ended well) and its seconds from start to end.
    struct Outcome { var error: String?; var seconds = 0.0 }

    /// Where one worker is: waiting for its turn to connect, checking sudo, at its operation, done.
    private enum Stage { case connecting(attempt: Int, at: Double), sudo, working, done }

    let endpoints: [Endpoint]
    let transport: Transport
    let policy: RunPolicy
    let timeout: Double
    let sudo: SudoLogin?
    private var stages: [Stage]
    private var outcomes: [Outcome]
    private var started: [Double]
    private var sudoOutput: [[UInt8]]

    init(endpoints: [Endpoint], transport: Transport, policy: RunPolicy, timeout: Double, sudo: SudoLogin?) {
        self.endpoints = endpoints; self.transport = transport; self.policy = policy; self.timeout = timeout
        self.sudo = sudo
        stages = endpoints.map { _ in .connecting(attempt: 0, at: 0) }
        outcomes = endpoints.map { _ in Outcome() }
        started = endpoints.map { _ in 0 }
        sudoOutput = endpoints.map { _ in [] }
    }

    /// Runs every worker to its end. `start(worker)` begins its operation once it is connected (and sudo checked);
    /// `handle` gets the events of operations under way (output, finished, copying, copied) and returns the worker
    /// whose operation that event ended well. Failures (`failed`, `refused`, `disconnected`) end a worker with
    /// their message and never reach `handle`.
    mutating func drive(start: (Int) -> Void, handle: (TransportEvent) -> Int?) -> [Outcome] {
        var pacer = ConnectPacer(rate: policy.connectRate)
        var check = RemoteCommand(script: Array("true".utf8))
        check.sudo = sudo
        let deadline = monotonic() + timeout
        let interrupts = Runner.interrupts

        while stages.contains(where: { if case .done = $0 { return false } else { return true } }) {
            let now = monotonic()
            if now >= deadline || Runner.interrupts != interrupts {
                for index in endpoints.indices {
                    if case .done = stages[index] { continue }
                    // A copy's cancel removes what it left half written; the disconnect below would only drop it.
                    if case .working = stages[index] { transport.cancel(op: index) }
                    fail(index, now >= deadline ? "timed out after \(Int(timeout)) seconds" : "interrupted")
                }
                break
            }
            var wake = deadline
            for index in endpoints.indices {
                guard case .connecting(let attempt, let at) = stages[index], at >= 0 else { continue }
                if at > now { wake = min(wake, at); continue }
                guard pacer.take(now) else {
                    stages[index] = .connecting(attempt: attempt, at: pacer.free)
                    wake = min(wake, pacer.free)
                    continue
                }
                stages[index] = .connecting(attempt: attempt + 1, at: -1)  // -1: under way
                transport.connect(worker: index, to: endpoints[index])
            }
            for event in transport.wait(timeout: max(0.01, min(0.5, wake - now))) {
                switch event {
                case .connected(let worker, _):
                    if sudo != nil {
                        stages[worker] = .sudo
                        transport.run(op: worker, worker: worker, command: check)
                    } else {
                        begin(worker, start)
                    }
                case .connectFailed(let worker, let message, let retryable):
                    connectFailed(worker, message, retryable: retryable, dropped: false)
                case .connectDropped(let worker, let message):
                    connectFailed(worker, message, retryable: true, dropped: true)
                case .disconnected(let worker, let message):
                    fail(worker, message)
                case .started, .notice:
                    continue  // one operation per worker, on a channel of its own
                case .refused(let op, let message), .failed(let op, let message):
                    if case .sudo = stages[op] { fail(op, "sudo: \(message)") } else { fail(op, message) }
                case .output(let op, _, let bytes) where isSudo(op):
                    sudoOutput[op] += bytes  // kept only to say why sudo refused
                case .finished(let op, let status) where isSudo(op):
                    if status == .exited(0) { begin(op, start); continue }
                    fail(op, "sudo: " + (SudoLogin.problem(sudoOutput[op]) ?? status.phrase))
                case .output(let op, _, _), .finished(let op, _), .copying(let op, _), .copied(let op, _, _):
                    guard case .working = stages[op], let worker = handle(event) else { continue }
                    outcomes[worker].seconds = monotonic() - started[worker]
                    stages[worker] = .done
                }
            }
        }
        for index in endpoints.indices { transport.disconnect(worker: index) }
        return outcomes
    }

    private func isSudo(_ worker: Int) -> Bool {
        if case .sudo = stages[worker] { return true } else { return false }
    }

    private mutating func begin(_ worker: Int, _ start: (Int) -> Void) {
        started[worker] = monotonic()
        stages[worker] = .working
        start(worker)
    }

    /// Ends `worker` with `message`; a worker already done keeps its result (a connection closing after its end).
    private mutating func fail(_ worker: Int, _ message: String) {
        if case .done = stages[worker] { return }
        outcomes[worker].error = message
        if case .working = stages[worker] { outcomes[worker].seconds = monotonic() - started[worker] }
        stages[worker] = .done
    }

    private mutating func connectFailed(_ worker: Int, _ message: String, retryable: Bool, dropped: Bool) {
        guard case .connecting(let attempt, _) = stages[worker] else { return fail(worker, message) }
        let attempts = dropped ? policy.droppedAttempts : policy.connectAttempts
        guard retryable && attempt < attempts else { return fail(worker, message) }
        let delay = policy.reconnectDelay(after: attempt, dropped: dropped)
        stages[worker] = .connecting(attempt: attempt, at: monotonic() + delay)
    }
}
