// An in-memory Transport for engine tests: workers connect at once, commands "run" by emitting
// scripted output and exit events from a seeded generator, a few events per wait(), never blocking.
import Foundation
@testable import Engine

/// SplitMix64: a tiny, explicit, seedable generator, so a failing seed reproduces exactly.
struct SplitMix64: RandomNumberGenerator {
    private(set) var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-enough integer in `range` (modulo bias is irrelevant here; stable across toolchains).
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
}

/// FNV-1a, for outcomes that depend only on (seed, bytes).
func fnv1a(_ bytes: [UInt8], seed: UInt64) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return SplitMix64.mix(hash)
}

final class FakeTransport: Transport {
    enum Outcomes: String { case perJob, perAttempt }

    /// Probabilities of things going wrong; all zero gives a well-behaved cluster.
    struct Chaos {
        var signal = 0.0          // a job is killed by a signal
        var refuse = 0.0          // the worker refuses the job's channel
        var channelFail = 0.0     // the job's channel fails (job lost, requeued)
        var disconnect = 0.0      // the worker's connection breaks while this job runs
        var connectFail = 0.0     // a connection attempt fails for good
        var hang = 0.0            // the job never ends (only with a job timeout configured!)
        var stepFail = 0.0        // a pre/post step exits non-zero
        static let none = Chaos()
    }

    /// One command the engine started.
    struct Ran {
        let op: Int
        let worker: Int
        let command: RemoteCommand
        /// CLOUDTASK_JOB, for job commands.
        let job: Int?
    }

    let seed: UInt64
    let outcomes: Outcomes
    let failPercent: Int
    var chaos: Chaos
    private var rng: SplitMix64
    private(set) var ran: [Ran] = []
    private(set) var connects: [Int] = []
    private(set) var identities: [String] = []
    private(set) var cancelled: [Int] = []

    /// Events not tied to an op (connection results, disconnections), in order per worker.
    private var loose: [TransportEvent] = []
    /// Ops in flight, in start order (arrays, not dictionaries, so the order is reproducible).
    private var active: [(op: Int, worker: Int, events: [TransportEvent])] = []
    /// Ops that will never end by themselves.
    private var hung: [(op: Int, worker: Int)] = []
    private var up: Set<Int> = []
    private let pipe: [Int32]

    init(seed: UInt64, outcomes: Outcomes, failPercent: Int, chaos: Chaos = .none) {
        self.seed = seed
        self.outcomes = outcomes
        self.failPercent = failPercent
        self.chaos = chaos
        rng = SplitMix64(seed: seed ^ 0x5EED_F00D)
        var fds: [Int32] = [-1, -1]
        if Foundation.pipe(&fds) != 0 { fds = [-1, -1] }
        pipe = fds
    }

    deinit { for fd in pipe where fd >= 0 { close(fd) } }

    /// The job numbers of every job command run, in order (with repeats).
    /// The jobs whose commands started (their `started` event was handed to the engine), in order.
    var jobsRun: [Int] {
        let jobOf = Dictionary(ran.compactMap { ran in ran.job.map { (ran.op, $0) } }, uniquingKeysWith: { first, _ in first })
        return startedOps.compactMap { jobOf[$0] }
    }
    private(set) var startedOps: [Int] = []

    var inFlight: Int { active.count + hung.count }

    // MARK: - Transport

    func connect(worker: Int, to endpoint: Endpoint) {
        connects.append(worker)
        if unreachable.contains(worker) || rng.chance(chaos.connectFail) {
            loose.append(.connectFailed(worker: worker, message: "fake: connection refused", retryable: false))
        } else {
            up.insert(worker)
            loose.append(.connected(worker: worker, viaAgent: false))
        }
    }

    func run(op: Int, worker: Int, command: RemoteCommand) {
        let job = command.environment.first { $0.0 == "CLOUDTASK_JOB" }.flatMap { Int($0.1) }
        ran.append(Ran(op: op, worker: worker, command: command, job: job))
        guard up.contains(worker) else {
            active.append((op, worker, [.failed(op: op, message: "fake: not connected")]))
            return
        }
        var events: [TransportEvent] = []
        guard job != nil else {
            // A setup/teardown step or a ping: succeeds unless chaos says otherwise. The work folder step says a path.
            let workdir = command.script.starts(with: Array("d=".utf8))
            events.append(.output(op: op, stream: .stdout, bytes: Array((workdir ? "/fake/work\n" : "step\n").utf8)))
            events.append(.finished(op: op, status: .exited(rng.chance(chaos.stepFail) ? 3 : 0)))
            active.append((op, worker, events))
            return
        }
        if rng.chance(chaos.refuse) { active.append((op, worker, [.refused(op: op, message: "fake: MaxSessions")])); return }
        // The job starts (the engine journals it then, and its timeout runs from then).
        events.append(.started(op: op))
        if rng.chance(chaos.hang) { active.append((op, worker, events)); hung.append((op, worker)); return }
        for _ in 0..<rng.int(0...2) {
            var bytes = Array("out \(op) ".utf8) + [0xFF, 0xFE, 0xC3] + Array("é\n".utf8)
            if rng.chance(0.3) { bytes += Array("partial line".utf8) }
            events.append(.output(op: op, stream: rng.chance(0.5) ? .stdout : .stderr, bytes: bytes))
        }
        if rng.chance(chaos.channelFail) {
            events.append(.failed(op: op, message: "fake: channel failed"))
        } else if rng.chance(chaos.disconnect) {
            events.append(.disconnected(worker: worker, message: "fake: connection reset"))
        } else {
            events.append(.finished(op: op, status: outcome(command)))
        }
        active.append((op, worker, events))
    }

    /// Copies (a job's --transfer and --return, fleet copies) succeed at once, unless the worker is down or
    /// told otherwise below; each moves `copyBytes`, half of it reported as `copying` first.
    private(set) var copies: [(op: Int, worker: Int, files: FileCopy)] = []
    /// Called with each copy as it is asked for.
    var onCopy: ((FileCopy) -> Void)?
    var copyBytes: Int64 = 0
    /// Workers whose copies fail with this message.
    var copyFailures: [Int: String] = [:]
    /// Workers whose copies never end (a stalled transfer, for timeouts and Ctrl-C).
    var copyHangs: Set<Int> = []
    /// Workers whose connections are refused for good.
    var unreachable: Set<Int> = []
    func copy(op: Int, worker: Int, files: FileCopy) {
        copies.append((op, worker, files))
        onCopy?(files)
        guard up.contains(worker) else { active.append((op, worker, [.failed(op: op, message: "fake: not connected")])); return }
        if let message = copyFailures[worker] { active.append((op, worker, [.failed(op: op, message: message)])); return }
        if copyHangs.contains(worker) { hung.append((op, worker)); return }
        active.append((op, worker, [.copying(op: op, bytes: copyBytes / 2), .copied(op: op, bytes: copyBytes, via: "fake")]))
    }

    /// Exit 0 or not: by (seed, script) for `.perJob` so reruns agree, else fresh per attempt.
    func outcome(_ command: RemoteCommand) -> ExitStatus {
        let roll: UInt64
        switch outcomes {
        case .perJob: roll = fnv1a(command.script, seed: seed)
        case .perAttempt: roll = rng.next()
        }
        if Double((roll >> 40) % 1000) / 1000 < chaos.signal { return .signaled("KILL") }
        if Int(roll % 100) < failPercent { return .exited(1 + Int((roll >> 8) % 3)) }
        return .exited(0)
    }

    func cancel(op: Int) {
        cancelled.append(op)
        active.removeAll { $0.op == op }
        hung.removeAll { $0.op == op }
    }

    func disconnect(worker: Int) {
        up.remove(worker)
        active.removeAll { $0.worker == worker }
        hung.removeAll { $0.worker == worker }
        loose.removeAll {
            switch $0 {
            case .connected(worker, _), .connectFailed(worker, _, _), .connectDropped(worker, _), .disconnected(worker, _): return true
            default: return false
            }
        }
    }

    func useIdentity(_ path: String) { identities.append(path) }

    /// Returns one to four events picked at random among the ready ones; [] when nothing can happen.
    func wait(timeout: Double) -> [TransportEvent] {
        var out: [TransportEvent] = []
        for _ in 0..<rng.int(1...4) {
            let choices = (loose.isEmpty ? 0 : 1) + active.count
            if choices == 0 { break }
            let r = rng.int(0...(choices - 1))
            if !loose.isEmpty && r == 0 {
                out.append(loose.removeFirst())
                continue
            }
            let index = r - (loose.isEmpty ? 0 : 1)
            let event = active[index].events.removeFirst()
            let worker = active[index].worker
            if active[index].events.isEmpty { active.remove(at: index) }
            if case .disconnected = event {
                // The connection is gone: its other commands vanish with it.
                up.remove(worker)
                active.removeAll { $0.worker == worker }
                hung.removeAll { $0.worker == worker }
            }
            if case .started(let op) = event { startedOps.append(op) }
            out.append(event)
        }
        return out
    }

    var wakeDescriptor: Int32 { pipe[1] }
}
