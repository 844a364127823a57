// The HTML report's model of a session, folded from one more streamed pass over the journal: every job attempt as
// a bar while there are at most `barLimit` of them; past that, sums per worker per time slice, so neither memory
// nor the file grows with the batch. Also the fleet's running jobs per time bucket, and a histogram of durations.
// The page itself is ReportHTML.swift's.
import Engine
import Foundation

/// How an attempt ended, as the picture colours it (its CSS class is `name`).
enum Outcome: Int, CaseIterable {
    case ok, failed, timeout, signal, lost, unfinished
    var name: String { ["ok", "failed", "timeout", "signal", "lost", "unfinished"][rawValue] }

    init(_ state: JobState) {
        switch state {
        case .exited(0): self = .ok
        case .exited: self = .failed
        case .signaled: self = .signal
        case .timeout: self = .timeout
        case .lost: self = .lost
        case .pending, .running: self = .unfinished
        }
    }
}

struct SessionPicture {
    /// What an attempt's hover says beyond its outcome.
    enum Note: UInt8 { case none, retried, died, refused, aborted, noEnd }

    /// One attempt (kept only while there are at most `barLimit`).
    struct Bar {
        var job: Int32           // 0-based
        var row: Int32
        var attempt: Int32
        var start: Double, end: Double
        var outcome: Outcome
        var note: Note
        var state: JobState?
    }

    /// More attempts than this and the timeline shows time slices instead of bars.
    static let barLimit = 5000
    /// Cells (worker rows × slices) the grouped timeline may have: what bounds the file.
    static let cellBudget = 6000
    static let utilisationBuckets = 400
    /// Durations' histogram: 4 bins a decade from 1 ms to 10^6 s, bin 0 holds what is shorter.
    static let binsPerDecade = 4, firstDecade = -3, decades = 9
    static var bins: Int { binsPerDecade * decades + 1 }

    let t0: Double, t1: Double
    /// Worker labels, one timeline row each.
    private(set) var rows: [String]
    private var rowIDs: [String: Int] = [:]
    private(set) var bars: [Bar] = []
    /// Every attempt counted, ended or not, and how many of each outcome.
    private(set) var attempts = 0
    private(set) var outcomes = [Int](repeating: 0, count: Outcome.allCases.count)
    private(set) var grouped = false
    let slices: Int
    /// Per row, per slice, per outcome: busy seconds and attempts that ended there (grouped only).
    private(set) var busy: [[Float]] = []
    private(set) var ended: [[UInt32]] = []
    /// Running job-seconds per utilisation bucket, over all workers.
    private(set) var running = [Double](repeating: 0, count: SessionPicture.utilisationBuckets)
    /// Per bin, per outcome: ended attempts by duration.
    private(set) var histogram = [[Int]](repeating: [Int](repeating: 0, count: Outcome.allCases.count),
                                         count: SessionPicture.bins)
    /// Per row: (first start, last end) of its attempts in each run; the fleet's availability for workers the
    /// ledger does not know.
    private(set) var spans: [[Int: (Double, Double)]] = []
    /// When a worker died (its jobs requeued), per row; a few per row at most.
    private(set) var deaths: [[Double]] = []

    private struct Open { var row: Int; var attempt: Int; var start: Double }
    /// The attempts under way: as many as the fleet runs at once.
    private var open: [Int: Open] = [:]
    private var clock = 0.0
    private var run = -1
    private var lastBar: (job: Int, index: Int)?

    /// A picture of [t0, t1] whose rows start as `rows` (more are added as the journal names them).
    init(t0: Double, t1: Double, rows: [String]) {
        self.t0 = t0
        self.t1 = max(t1, t0 + 1)
        self.rows = []
        slices = min(500, max(10, Self.cellBudget / max(1, rows.count)))
        clock = t0
        for label in rows { _ = row(label) }
    }

    mutating func row(_ label: String) -> Int {
        if let id = rowIDs[label] { return id }
        rowIDs[label] = rows.count
        rows.append(label)
        spans.append([:])
        deaths.append([])
        if grouped {
            busy.append([Float](repeating: 0, count: slices * Outcome.allCases.count))
            ended.append([UInt32](repeating: 0, count: slices * Outcome.allCases.count))
        }
        return rows.count - 1
    }

    func rowID(_ label: String) -> Int? { rowIDs[label] }

    // MARK: - Folding the journal

    mutating func add(_ record: JournalRecord) {
        if let at = record.at { clock = max(clock, at) }
        switch record {
        case .run(let at):
            closeAll(at: clock, .noEnd)
            clock = max(clock, at)
            run += 1
        case .start(let n, let worker, let attempt, let at):
            if open[n - 1] != nil { close(n - 1, at: at ?? clock, outcome: .unfinished, note: .noEnd, state: nil) }
            open[n - 1] = Open(row: row(worker ?? "?"), attempt: attempt ?? 0, start: at ?? clock)
        case .end(let n, let state?, let seconds, let at):
            let end = at ?? clock
            if open[n - 1] == nil {
                open[n - 1] = Open(row: row("?"), attempt: 0, start: end - (seconds ?? 0))
            }
            close(n - 1, at: end, outcome: Outcome(state), note: .none, state: state)
        case .retry(let n):
            if let last = lastBar, last.job == n - 1, !grouped { bars[last.index].note = .retried }
        case .requeue(let n, let refused):
            if !refused, let row = open[n - 1]?.row, deaths[row].last.map({ clock - $0 > 1 }) ?? true,
               deaths[row].count < 20 {
                deaths[row].append(clock)
            }
            close(n - 1, at: clock, outcome: refused ? .unfinished : .lost, note: refused ? .refused : .died, state: nil)
        case .abort(let n): close(n - 1, at: clock, outcome: .unfinished, note: .aborted, state: nil)
        case .stop: closeAll(at: clock, .noEnd)
        case .job, .end, .reset, .generator, .inputStopped: break
        }
    }

    /// Closes what is still open at the journal's end.
    mutating func finish() { closeAll(at: clock, .noEnd) }

    private mutating func closeAll(at time: Double, _ note: Note) {
        for job in open.keys.sorted() { close(job, at: time, outcome: .unfinished, note: note, state: nil) }
    }

    private mutating func close(_ job: Int, at time: Double, outcome: Outcome, note: Note, state: JobState?) {
        guard let attempt = open.removeValue(forKey: job) else { return }
        let start = attempt.start, end = max(time, attempt.start)
        attempts += 1
        var span = spans[attempt.row][run] ?? (start, end)
        span = (min(span.0, start), max(span.1, end))
        spans[attempt.row][run] = span
        Self.spread(start, end, t0, t1, Self.utilisationBuckets) { bucket, seconds in running[bucket] += seconds }
        if state != nil { histogram[Self.bin(end - start)][outcome.rawValue] += 1 }
        outcomes[outcome.rawValue] += 1
        let bar = Bar(job: Int32(job), row: Int32(attempt.row), attempt: Int32(attempt.attempt), start: start,
                      end: end, outcome: outcome, note: note, state: state)
        if grouped { return tally(bar) }
        bars.append(bar)
        lastBar = (job, bars.count - 1)
        if bars.count > Self.barLimit { group() }
    }

    /// From bars to slices: what was kept goes into the grid, and from now on every attempt does.
    private mutating func group() {
        grouped = true
        let cells = slices * Outcome.allCases.count
        busy = rows.map { _ in [Float](repeating: 0, count: cells) }
        ended = rows.map { _ in [UInt32](repeating: 0, count: cells) }
        for bar in bars { tally(bar) }
        bars = []
        lastBar = nil
    }

    private mutating func tally(_ bar: Bar) {
        let row = Int(bar.row), kind = bar.outcome.rawValue, kinds = Outcome.allCases.count
        Self.spread(bar.start, bar.end, t0, t1, slices) { slice, seconds in
            busy[row][slice * kinds + kind] += Float(seconds)
        }
        ended[row][Self.part(bar.end, t0, t1, slices) * kinds + kind] += 1
    }

    /// Which of `count` equal parts of [t0, t1] holds `time` (clamped).
    static func part(_ time: Double, _ t0: Double, _ t1: Double, _ count: Int) -> Int {
        min(count - 1, max(0, Int((time - t0) / (t1 - t0) * Double(count))))
    }

    /// Calls `body` with each of `count` equal parts of [t0, t1] that [start, end] overlaps, and the overlap.
    static func spread(_ start: Double, _ end: Double, _ t0: Double, _ t1: Double, _ count: Int,
                       _ body: (Int, Double) -> Void) {
        let width = (t1 - t0) / Double(count)
        for part in part(start, t0, t1, count)...part(end, t0, t1, count) {
            let low = t0 + Double(part) * width
            let overlap = min(end, low + width) - max(start, low)
            if overlap > 0 { body(part, overlap) }
        }
    }

    /// The histogram bin of a duration in seconds.
    static func bin(_ seconds: Double) -> Int {
        guard seconds > 0 else { return 0 }
        let k = Int((log10(seconds) - Double(firstDecade)) * Double(binsPerDecade)) + 1
        return min(bins - 1, max(0, k))
    }

    /// The lower edge of bin `k` in seconds (0 for the first).
    static func binStart(_ k: Int) -> Double {
        k == 0 ? 0 : pow(10, Double(firstDecade) + Double(k - 1) / Double(binsPerDecade))
    }
}
