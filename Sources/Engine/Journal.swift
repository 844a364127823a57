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
    /// The last run stopped reading its input after this line, before the input's end.
    public var inputCutAfterLine: Int?

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

/// What a journal says, read as a stream: every job's state in a compact index, the time already spent, and
/// what was wrong with its tail. Memory: the index (8 bytes a job), never the jobs' inputs.
public struct JournalScan: Sendable {
    public var index = JobIndex()
    public var seconds = 0.0
    public var notes: [String] = []
    public var generatorOpen = false
    /// Whether a run record follows the job records: without it the job list may be cut short.
    public var started = false
    /// Whether a torn last line was dropped.
    public var droppedTail = false
    /// Whether the journal's last byte is a newline (or it is empty).
    public var endsWithNewline = true
    /// Where the last whole record ends: a torn tail after it is cut off before the next append.
    public var wholeLength: Int64 = 0
    /// The last run stopped reading its input after this line, before the input's end (nil: it read to the end,
    /// or the session's jobs did not come from a stream).
    public var inputCutAfterLine: Int?

    /// How many jobs are in each state.
    public var counts: JobCounts { index.counts }
}

/// The one reading of a journal, a line at a time: Journal.replay (bytes in memory) and Journal.scan (a file,
/// streamed) both feed it. A truncated last line (power loss) is dropped with a note; any other bad line throws.
struct JournalFold {
    let name: String
    var scan = JournalScan()
    private var runStart: Double?
    private var lastAt: Double?
    private var lineNumber = 0

    init(name: String) { self.name = name }

    /// Reads one line (without its newline) that starts at `offset`; `torn` when it is the last and no newline
    /// follows it. Returns the record when it is one this version knows, nil otherwise (and for a dropped tail).
    mutating func feed(_ line: ArraySlice<UInt8>, offset: Int64, torn: Bool) throws -> JournalRecord? {
        lineNumber += 1
        let decoded: JournalRecord?
        do {
            decoded = try JournalRecord.decode(line)
        } catch .notJSON {
            if torn {
                scan.notes.append("\(name): last line \(lineNumber) is truncated "
                                  + "(the controller died while writing it); ignored")
                scan.droppedTail = true
                return nil
            }
            throw UsageError("\(name): line \(lineNumber) is not a journal record; the session is corrupt")
        } catch .noInput(let number) {
            guard number == scan.index.count + 1 else {
                throw UsageError("\(name): line \(lineNumber): job \(number) out of order")
            }
            throw UsageError("\(name): line \(lineNumber): job \(number) has no input")
        }
        scan.wholeLength = offset + Int64(line.count) + (torn ? 0 : 1)
        guard let record = decoded else { return nil }
        if let at = record.at { lastAt = at }
        if case .job(let spec) = record {
            guard spec.number == scan.index.count + 1 else {
                throw UsageError("\(name): line \(lineNumber): job \(spec.number) out of order")
            }
            scan.index.append(offset: offset)
            return record
        }
        if let number = record.job, number < 1 || number > scan.index.count {
            throw UsageError("\(name): line \(lineNumber): unknown job \(number)")
        }
        let i = (record.job ?? 0) - 1
        switch record {
        case .job: break
        case .run(let at): closeRun(); runStart = at; lastAt = at; scan.started = true
        case .start: scan.index.setState(i, .running)
        case .end(_, let state, _, _): if let state { scan.index.setState(i, state) }
        case .retry:
            scan.index.setState(i, .pending)
            scan.index.setRetried(i, scan.index.retried(i) + 1)
        case .requeue(_, let refused):
            scan.index.setState(i, .pending)
            if !refused { scan.index.setDeaths(i, scan.index.deaths(i) + 1) }
        case .abort: scan.index.setState(i, .pending)
        case .reset:
            scan.index.setState(i, .pending)
            scan.index.setRetried(i, 0)
            scan.index.setDeaths(i, 0)
        case .generator(let open): scan.generatorOpen = open
        case .inputStopped(let line, let eof): scan.inputCutAfterLine = eof ? nil : line
        case .stop: break
        }
        return record
    }

    private mutating func closeRun() {
        if let start = runStart, let end = lastAt, end > start { scan.seconds += end - start }
        runStart = nil; lastAt = nil
    }

    /// The scan, once every line was fed.
    mutating func finish() -> JournalScan {
        closeRun()
        return scan
    }
}

public enum Journal {
    /// Replays journal bytes held in memory (small journals, tests); `each` sees every record after it was
    /// checked (its job exists), in order. The jobs come back whole, inputs and all.
    public static func replay(_ bytes: [UInt8], name: String,
                              each: (JournalRecord) -> Void = { _ in }) throws -> Replay {
        var fold = JournalFold(name: name)
        var specs: [JobSpec] = []
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        if let last = lines.last, last.isEmpty { lines.removeLast() }
        var offset: Int64 = 0
        for (index, line) in lines.enumerated() {
            let torn = index == lines.count - 1 && bytes.last != 10
            if let record = try fold.feed(line, offset: offset, torn: torn) {
                if case .job(let spec) = record { specs.append(spec) }
                each(record)
            }
            if fold.scan.droppedTail { break }
            offset += Int64(line.count) + 1
        }
        let scan = fold.finish()
        var replay = Replay()
        replay.jobs = specs.enumerated().map { i, spec in
            SavedJob(spec: spec, state: scan.index.state(i),
                     retried: scan.index.retried(i), deaths: scan.index.deaths(i))
        }
        replay.seconds = scan.seconds
        replay.notes = scan.notes
        replay.generatorOpen = scan.generatorOpen
        replay.started = scan.started
        replay.droppedTail = scan.droppedTail
        replay.inputCutAfterLine = scan.inputCutAfterLine
        return replay
    }

    /// Reads the journal at `path` as a stream, a chunk at a time: memory is the index, not the journal.
    /// `each` sees every record with the offset its line starts at.
    public static func scan(path: String, name: String? = nil,
                            each: (JournalRecord, Int64) -> Void = { _, _ in }) throws -> JournalScan {
        var fold = JournalFold(name: name ?? path)
        let file = try LineFile(path)
        var endsWithNewline = true
        try file.forEachLine { line, offset, torn in
            endsWithNewline = !torn
            if let record = try fold.feed(line, offset: offset, torn: torn) { each(record, offset) }
            return !fold.scan.droppedTail
        }
        var scan = fold.finish()
        scan.endsWithNewline = endsWithNewline
        return scan
    }

    /// The job whose record starts at `offset` in the journal at `path` (a job's text, read back when needed).
    public static func job(at offset: Int64, in file: LineFile) throws -> JobSpec {
        guard let line = try file.line(at: offset), case .job(let spec)? = try? JournalRecord.decode(line) else {
            throw FileError("no job record at offset \(offset) in", file.path, errno: EINVAL)
        }
        return spec
    }
}

/// A file read line by line in chunks (the journal, streamed), or one line at an offset.
public final class LineFile {
    public let path: String
    private let fd: Int32
    private static let chunk = 1 << 20

    public init(_ path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("cannot read", path) }
    }
    deinit { close(fd) }

    /// Calls `body` with each line (without its newline), its offset, and whether it is a last line with no
    /// newline after it; `body` returns false to stop.
    public func forEachLine(_ body: (ArraySlice<UInt8>, Int64, Bool) throws -> Bool) throws {
        var buffer = [UInt8](repeating: 0, count: LineFile.chunk)
        var pending: [UInt8] = []
        var offset: Int64 = 0      // of pending's first byte
        var position: Int64 = 0    // of the next read
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FileError("cannot read", path) }
            if n == 0 { break }
            position += Int64(n)
            pending += buffer[0..<n]
            var start = 0
            while let newline = pending[start...].firstIndex(of: 10) {
                if try !body(pending[start..<newline], offset, false) { return }
                offset += Int64(newline - start + 1)
                start = newline + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { _ = try body(pending[...], offset, true) }
    }

    /// The line that starts at `offset`, without its newline; nil past the end.
    public func line(at offset: Int64) throws -> [UInt8]? {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var position = offset
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FileError("cannot read", path) }
            if n == 0 { return line.isEmpty ? nil : line }
            if let newline = buffer[0..<n].firstIndex(of: 10) { return line + buffer[0..<newline] }
            line += buffer[0..<n]
            position += Int64(n)
        }
    }
}
