// One-off fleet commands: the same command once on every worker, in parallel (ctsh's pool:run and pool:ping).
import Foundation

/// What one worker answered.
public struct FleetResult: Sendable {
    public let label: String
    public var status: ExitStatus?
    /// Why there is no status: unreachable, refused, timed out.
    public var error: String?
    public var stdout: [UInt8] = []
    public var stderr: [UInt8] = []
    /// Seconds from sending the command to its end (the round trip for a ping).
    public var seconds = 0.0
}

public enum Fleet {
    /// Connects to every endpoint, runs `command` (":" for a ping) once on each, and disconnects.
    /// Stops early when `Runner.interrupts` changes (Ctrl-C) or after `timeout` seconds.
    public static func run(_ endpoints: [Endpoint], command: String, transport: Transport,
                           timeout: Double) -> [FleetResult] {
        var results = endpoints.map { FleetResult(label: $0.label) }
        var sent: [Int: Double] = [:]
        var open = Set(endpoints.indices)
        for (index, endpoint) in endpoints.enumerated() { transport.connect(worker: index, to: endpoint) }
        let deadline = monotonic() + timeout
        let interrupts = Runner.interrupts
        while !open.isEmpty {
            let now = monotonic()
            if now >= deadline || Runner.interrupts != interrupts {
                for index in open {
                    results[index].error = now >= deadline ? "timed out after \(Int(timeout)) seconds" : "interrupted"
                }
                break
            }
            for event in transport.wait(timeout: min(0.5, deadline - now)) {
                switch event {
                case .connected(let worker, _):
                    sent[worker] = monotonic()
                    transport.run(op: worker, worker: worker, command: RemoteCommand(script: Array(command.utf8)))
                case .connectFailed(let worker, let message, _), .connectDropped(let worker, let message),
                     .disconnected(let worker, let message):
                    results[worker].error = message
                    open.remove(worker)
                case .output(let op, let stream, let bytes):
                    if stream == .stdout { results[op].stdout += bytes } else { results[op].stderr += bytes }
                case .finished(let op, let status):
                    results[op].status = status
                    results[op].seconds = monotonic() - (sent[op] ?? monotonic())
                    open.remove(op)
                case .refused(let op, let message), .failed(let op, let message):
                    results[op].error = message
                    open.remove(op)
                }
            }
        }
        for index in endpoints.indices { transport.disconnect(worker: index) }
        return results
    }
}
