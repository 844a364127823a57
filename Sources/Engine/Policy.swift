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
    /// A busy worker silent this long gets a ping; two more intervals without an answer and it is dead.
    public var pingInterval: Double
    /// A job whose worker died under it this many times is LOST instead of requeued.
    public var deathsBeforeLost = 3
    /// Connection attempts to a worker (1 s, 2 s apart) before it is reported unreachable.
    public var connectAttempts = 3
    /// Launched workers that died are replaced up to this many times the split.
    public var replacementsPerWorker = 3

    public init(_ config: TaskConfig) {
        retries = config.retries
        strikes = config.strikes
        halt = config.halt
        pingInterval = config.pingInterval ?? 30
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
