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
    public static func replay(_ bytes: [UInt8], name: String) throws -> Replay {
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
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                if index == lines.count - 1 && bytes.last != 10 {
                    replay.notes.append("\(name): last line \(index + 1) is truncated (the controller died while writing it); ignored")
                    replay.droppedTail = true
                    break
                }
                throw UsageError("\(name): line \(index + 1) is not a journal record; the session is corrupt")
            }
            if let at = object["at"] as? Double { lastAt = at }
            if let number = object["job"] as? Int {
                guard number == replay.jobs.count + 1 else { throw UsageError("\(name): line \(index + 1): job \(number) out of order") }
                let input: [UInt8], text: [UInt8]
                if let s = object["input"] as? String, let t = object["text"] as? String {
                    input = Array(s.utf8); text = Array(t.utf8)
                } else if let s = object["input64"] as? String, let t = object["text64"] as? String,
                          let i = Data(base64Encoded: s), let x = Data(base64Encoded: t) {
                    input = Array(i); text = Array(x)
                } else {
                    throw UsageError("\(name): line \(index + 1): job \(number) has no input")
                }
                replay.jobs.append(SavedJob(spec: JobSpec(number: number, input: input, text: text), state: .pending, retried: 0, deaths: 0))
                continue
            }
            if let at = object["run"] as? Double { closeRun(); runStart = at; lastAt = at; replay.started = true; continue }
            func job(_ key: String) throws -> Int? {
                guard let number = object[key] as? Int else { return nil }
                guard number >= 1 && number <= replay.jobs.count else { throw UsageError("\(name): line \(index + 1): unknown job \(number)") }
                return number - 1
            }
            if let i = try job("start") {
                replay.jobs[i].state = .running
            } else if let i = try job("end") {
                if let code = object["exit"] as? Int { replay.jobs[i].state = .exited(code) }
                else if let signal = object["signal"] as? String { replay.jobs[i].state = .signaled(signal) }
                else if object["timeout"] != nil { replay.jobs[i].state = .timeout }
                else if object["lost"] != nil { replay.jobs[i].state = .lost }
            } else if let i = try job("retry") {
                replay.jobs[i].state = .pending
                replay.jobs[i].retried += 1
            } else if let i = try job("requeue") {
                replay.jobs[i].state = .pending
                if object["refused"] == nil { replay.jobs[i].deaths += 1 }
            } else if let i = try job("abort") {
                replay.jobs[i].state = .pending
            } else if let i = try job("reset") {
                replay.jobs[i].state = .pending
                replay.jobs[i].retried = 0
                replay.jobs[i].deaths = 0
            } else if object["generator"] as? String == "open" {
                replay.generatorOpen = true
            } else if object["generator"] as? String == "done" {
                replay.generatorOpen = false
            }
        }
        closeRun()
        return replay
    }
}
