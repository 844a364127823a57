// The limits a run keeps, named in one place: retries, strikes, halt, worker deaths, reconnects,
// replacements of launched workers and the liveness ping.
import Foundation

/// What the scheduler does on failure, and how often it tries again.
public struct RunPolicy: Sendable, Equatable {
    /// A failed attempt (non-zero exit, signal, timeout) is run again this many times (--retries).
    public var retries: Int
    /// A worker is retired after this many consecutive failed jobs; 0 = never (--strikes).
    public var strikes: Int
    /// --halt: N failed jobs, or N% of the jobs; nil = never.
    public var halt: String?
    /// A busy worker silent this long gets a ping; two more intervals without an answer and it is dead. A worker's
    /// ssh_config may say otherwise when --ping-interval is not given: see `liveness`.
    public var pingInterval: Double
    /// Whether --ping-interval was given (it then beats ssh_config's ServerAliveInterval).
    public var pingIntervalGiven: Bool
    /// A job whose worker died under it this many times is LOST instead of requeued.
    public var deathsBeforeLost = 3
    /// Connection attempts to a worker (1 s, 2 s apart) before it is reported unreachable.
    public var connectAttempts = 3
    /// Attempts when the server drops the connection before the handshake (sshd's MaxStartups): the server is
    /// up but busy, so it gets more tries, backing off 1, 2, 4, 8... s (at most 16), each ±25% so that
    /// workers dropped together do not come back together.
    public var droppedAttempts = 8
    /// New connections started per second (--connect-rate); 0: no limit.
    public var connectRate: Double
    /// Launched workers that died are replaced up to this many times the split.
    public var replacementsPerWorker = 3

    public init(_ config: TaskConfig) {
        retries = config.retries
        strikes = config.strikes
        halt = config.halt
        pingInterval = config.pingInterval ?? 30
        pingIntervalGiven = config.pingInterval != nil
        connectRate = Double(config.connectRate ?? RunPolicy.defaultConnectRate)
    }

    /// --connect-rate's default: see README ("Many workers on one sshd") for how it was measured.
    public static let defaultConnectRate = 20

    /// Seconds before connection attempt `attempt` + 1 after a failure: 1 s, 2 s for a refused or timed-out
    /// connection; doubling (at most 16 s) with ±25% jitter after a drop.
    public func reconnectDelay(after attempt: Int, dropped: Bool) -> Double {
        guard dropped else { return Double(attempt) }
        return min(16, Double(1 << min(attempt - 1, 4))) * Double.random(in: 0.75...1.25)
    }

    /// When a busy worker that was silent is pinged, and how long it has to answer.
    public struct Liveness: Sendable, Equatable {
        /// Silence before a ping.
        public var interval: Double
        /// Intervals after the ping without an answer before the worker is dead (ssh's ServerAliveCountMax: it
        /// gives up after that many unanswered probes, so a worker is dead after CountMax+1 silent intervals).
        public var intervalsToAnswer: Int
        /// Where the numbers come from, for the message that declares a worker dead.
        public var source: String
        public var answerWithin: Double { interval * Double(intervalsToAnswer) }
    }

    /// The liveness rule for a worker: the interval is --ping-interval, else its ssh_config ServerAliveInterval
    /// (0 there, which turns ssh's probes off, is taken as not given: we always ping), else 30 s; the intervals to
    /// answer are its ServerAliveCountMax (at least 1), else 2 (3 when ServerAliveInterval is used, ssh's default).
    public func liveness(_ endpoint: Endpoint) -> Liveness {
        let alive = endpoint.aliveInterval.flatMap { $0 > 0 ? $0 : nil }
        let fromConfig = !pingIntervalGiven && alive != nil
        let interval = fromConfig ? alive! : pingInterval
        let count = max(1, endpoint.aliveCountMax ?? (fromConfig ? 3 : 2))
        var source = fromConfig ? ["ServerAliveInterval \(interval.formatted())"] : ["--ping-interval=\(interval.formatted())"]
        if let max = endpoint.aliveCountMax { source.append("ServerAliveCountMax \(max)") }
        return Liveness(interval: interval, intervalsToAnswer: count, source: source.joined(separator: ", "))
    }

    /// Whether a worker with `count` consecutive failures is retired.
    public func retires(afterStrikes count: Int) -> Bool { strikes > 0 && count >= strikes }

    /// After how many failed jobs the run stops starting jobs, with `jobs` jobs known so far (a stream's
    /// percentage is of the jobs read so far); nil: --halt is not set.
    public func haltLimit(jobs: Int) -> Int? { halt.map { RunPolicy.haltLimit($0, total: jobs) } }

    /// How many dead launched workers may be replaced in a run of `split` workers.
    public func replacements(split: Int) -> Int { replacementsPerWorker * max(1, split) }

    /// `--halt` as a number of failed jobs: "N", or "N%" of `total` jobs (at least 1).
    public static func haltLimit(_ value: String, total: Int) -> Int {
        if value.hasSuffix("%"), let percent = Double(value.dropLast()) {
            return max(1, Int((percent * Double(total) / 100).rounded(.up)))
        }
        return max(1, Int(value) ?? 1)
    }
}
