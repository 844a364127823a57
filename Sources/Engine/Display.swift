// What a run shows, as events the front end renders: the engine writes no terminal and draws nothing.
// cloudtask and ctsh render them with the Terminal module; a run without a display shows nothing (the
// session log still has every status line).

/// Where a run's output, status lines and progress go. Called from the runner's thread only.
public protocol RunDisplay: AnyObject {
    /// Job output for the user's stdout or stderr: whole lines of one job at a time (or one job's
    /// whole output), never interleaved with another job's.
    func output(_ bytes: [UInt8], to stream: OutputStream)
    /// A status line of the live log, without its newline (it is in the session log too).
    func status(_ line: String)
    /// Whether `progress` is wanted now: the runner computes it only then, a few times a second.
    var wantsProgress: Bool { get }
    /// How far the run is.
    func progress(_ progress: RunProgress)
    /// The run is over: anything transient (a progress line) is taken away.
    func finished()
}

/// How far a run is, for a progress line.
public struct RunProgress: Sendable, Equatable {
    public var done = 0, total = 0, failed = 0, running = 0, workersUp = 0
    /// Jobs per second in this run (jobs finished by earlier runs of the session left out).
    public var rate = 0.0
    /// Seconds left at this rate; nil when it cannot be told yet.
    public var eta: Int?
    public init() {}
}
