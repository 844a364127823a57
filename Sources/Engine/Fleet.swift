// One-off fleet commands: the same command once on every worker, in parallel (ctsh's pool:run and pool:ping),
// under the runner's rules: --connect-rate, its reconnect policy, --sudo (checked first, as the runner's setup
// step does) and --env.
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
                   timeout: config.timeout > 0 ? config.timeout : 3600)
    }

    /// Where one worker is: waiting for its turn to connect, checking sudo, running the command, done.
    private enum Stage { case connecting(attempt: Int, at: Double), sudo, command, done }

    static func run(_ endpoints: [Endpoint], command: RemoteCommand, transport: Transport, policy: RunPolicy,
                    timeout: Double) -> [FleetResult] {
        var results = endpoints.map { FleetResult(label: $0.label) }
        var stages = endpoints.map { _ in Stage.connecting(attempt: 0, at: 0) }
        var sent: [Int: Double] = [:]
        var pacer = ConnectPacer(rate: policy.connectRate)
        var check = RemoteCommand(script: Array("true".utf8))
        check.sudo = command.sudo
        let deadline = monotonic() + timeout
        let interrupts = Runner.interrupts

        func send(_ worker: Int) {
            sent[worker] = monotonic()
            stages[worker] = .command
            transport.run(op: worker, worker: worker, command: command)
        }
        func fail(_ worker: Int, _ message: String) {
            results[worker].error = message
            stages[worker] = .done
        }
        func connectFailed(_ worker: Int, _ message: String, retryable: Bool, dropped: Bool) {
            guard case .connecting(let attempt, _) = stages[worker] else { return fail(worker, message) }
            let attempts = dropped ? policy.droppedAttempts : policy.connectAttempts
            guard retryable && attempt < attempts else { return fail(worker, message) }
            let delay = policy.reconnectDelay(after: attempt, dropped: dropped)
            stages[worker] = .connecting(attempt: attempt, at: monotonic() + delay)
        }

        while stages.contains(where: { if case .done = $0 { return false } else { return true } }) {
            let now = monotonic()
            if now >= deadline || Runner.interrupts != interrupts {
                for index in endpoints.indices {
                    if case .done = stages[index] { continue }
                    results[index].error = now >= deadline ? "timed out after \(Int(timeout)) seconds" : "interrupted"
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
                    if command.sudo != nil {
                        stages[worker] = .sudo
                        transport.run(op: worker, worker: worker, command: check)
                    } else {
                        send(worker)
                    }
                case .connectFailed(let worker, let message, let retryable):
                    connectFailed(worker, message, retryable: retryable, dropped: false)
                case .connectDropped(let worker, let message):
                    connectFailed(worker, message, retryable: true, dropped: true)
                case .disconnected(let worker, let message):
                    fail(worker, message)
                case .started, .notice, .copying, .copied:
                    continue  // one command per worker, on a channel of its own
                case .output(let op, let stream, let bytes):
                    if case .sudo = stages[op] {
                        results[op].stderr += bytes  // kept only to say why sudo refused
                    } else if stream == .stdout { results[op].stdout += bytes } else { results[op].stderr += bytes }
                case .finished(let op, let status):
                    if case .sudo = stages[op] {
                        let output = results[op].stderr
                        results[op].stderr = []
                        if status == .exited(0) { send(op); continue }
                        fail(op, "sudo: " + (SudoLogin.problem(output) ?? status.phrase))
                        continue
                    }
                    results[op].status = status
                    results[op].seconds = monotonic() - (sent[op] ?? monotonic())
                    stages[op] = .done
                case .refused(let op, let message), .failed(let op, let message):
                    if case .sudo = stages[op] { fail(op, "sudo: \(message)") } else { fail(op, message) }
                }
            }
        }
        for index in endpoints.indices { transport.disconnect(worker: index) }
        return results
    }
}
