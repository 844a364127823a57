// Reading a session back: the journal replayed into each job's last known state, for --resume and --retry.
import Foundation

/// A job's state as the journal knows it.
public enum JobState: Equatable, Sendable {
    case pending, running, exited(Int), signaled(String), timeout, lost
    public var finished: Bool { self != .pending && self != .running }

    /// The state as status lines and worker logs write it ("exit 0", "timeout").
    public var logText: String {
        switch self {
        case .pending, .running: return "PENDING"
        case .exited(let code): return "exit \(code)"
        case .signaled(let name): return "signal \(name)"
        case .timeout: return "timeout"
        case .lost: return "lost"
        }
    }

    /// The state as the `jobs` file writes it.
    public var jobsFileText: String {
        switch self {
        case .pending, .running: return "PENDING"
        case .exited(let code): return "EXIT=\(code)"
        case .signaled(let name): return "SIGNAL=\(name)"
        case .timeout: return "TIMEOUT"
        case .lost: return "LOST"
        }
    }
}

/// One job read back from a journal.
public struct SavedJob: Sendable {
    public var spec: JobSpec
    public var state: JobState
    public var retried: Int
    public var deaths: Int
}

/// What a journal holds: the jobs, the time already spent, and what was wrong with its tail.
public struct Replay: Sendable {
    public var jobs: [SavedJob] = []
    public var seconds = 0.0
    public var notes: [String] = []
    public var generatorOpen = false
    /// Whether a run record follows the job records: without it the job list may be cut short.
    public var started = false
    /// Whether a torn last line was dropped.
    public var droppedTail = false

    /// How many jobs are in each state.
    public var counts: JobCounts { JobCounts(jobs.map(\.state)) }
}

/// How many jobs are in each state.
public struct JobCounts: Sendable, Equatable {
    public var ok = 0, failed = 0, timeouts = 0, lost = 0, running = 0, pending = 0
    /// Jobs that ended without exit 0.
    public var notOK: Int { failed + timeouts + lost }

    public init<States: Sequence>(_ states: States) where States.Element == JobState {
        for state in states {
            switch state {
            case .exited(0): ok += 1
            case .exited, .signaled: failed += 1
            case .timeout: timeouts += 1
            case .lost: lost += 1
            case .running: running += 1
            case .pending: pending += 1
            }
        }
    }
}

public enum Journal {
    /// Replays journal bytes. A truncated last line (power loss) is dropped with a note; any other bad line throws.
    /// `each` sees every record after it was checked (its job exists), in order, for readers that keep more.
    public static func replay(_ bytes: [UInt8], name: String,
                              each: (JournalRecord) -> Void = { _ in }) throws -> Replay {
        var replay = Replay()
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        if let last = lines.last, last.isEmpty { lines.removeLast() }
        var runStart: Double?
        var lastAt: Double?
        func closeRun() {
            if let start = runStart, let end = lastAt, end > start { replay.seconds += end - start }
            runStart = nil; lastAt = nil
        }
        for (index, line) in lines.enumerated() {
            let decoded: JournalRecord?
            do {
                decoded = try JournalRecord.decode(line)
            } catch .notJSON {
                if index == lines.count - 1 && bytes.last != 10 {
                    replay.notes.append(
                        "\(name): last line \(index + 1) is truncated (the controller died while writing it); ignored")
                    replay.droppedTail = true
                    break
                }
                throw UsageError("\(name): line \(index + 1) is not a journal record; the session is corrupt")
            } catch .noInput(let number) {
                guard number == replay.jobs.count + 1 else {
                    throw UsageError("\(name): line \(index + 1): job \(number) out of order")
                }
                throw UsageError("\(name): line \(index + 1): job \(number) has no input")
            }
            guard let record = decoded else { continue }
            if let at = record.at { lastAt = at }
            if case .job(let spec) = record {
                guard spec.number == replay.jobs.count + 1 else {
                    throw UsageError("\(name): line \(index + 1): job \(spec.number) out of order")
                }
                replay.jobs.append(SavedJob(spec: spec, state: .pending, retried: 0, deaths: 0))
                each(record)
                continue
            }
            if let number = record.job, number < 1 || number > replay.jobs.count {
                throw UsageError("\(name): line \(index + 1): unknown job \(number)")
            }
            let i = (record.job ?? 0) - 1
            switch record {
            case .job: break
            case .run(let at): closeRun(); runStart = at; lastAt = at; replay.started = true
            case .start: replay.jobs[i].state = .running
            case .end(_, let state, _, _): if let state { replay.jobs[i].state = state }
            case .retry:
                replay.jobs[i].state = .pending
                replay.jobs[i].retried += 1
            case .requeue(_, let refused):
                replay.jobs[i].state = .pending
                if !refused { replay.jobs[i].deaths += 1 }
            case .abort: replay.jobs[i].state = .pending
            case .reset:
                replay.jobs[i].state = .pending
                replay.jobs[i].retried = 0
                replay.jobs[i].deaths = 0
            case .generator(let open): replay.generatorOpen = open
            case .stop: break
            }
            each(record)
        }
        closeRun()
        return replay
    }
}
