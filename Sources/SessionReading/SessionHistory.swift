// What the report keeps of the journal's records as they stream by: the runs, each job's last attempt and last
// ended attempt in 12 bytes, and the workers table's sums per worker. Nothing here grows with a job's input.
import Engine
import Foundation

/// Every job's last attempt and last ended attempt, packed: the report prints these for the jobs it lists,
/// and picks a job's output by them. 12 bytes a job, in pages of 65536 jobs allocated when one of their jobs
/// first starts: the jobs a halted batch never ran cost nothing.
struct AttemptTable {
    /// Per job: last attempt's worker (16 bits), last ended attempt's worker (16), its state (13), the last
    /// attempt's status (3), its number (8), the last ended attempt's number (8). Worker ids are 1-based.
    private var packed: [[UInt64]?] = []
    /// Per job: the last ended attempt's run time.
    private var seconds: [[Float]?] = []
    private static let pageBits = 16
    private(set) var count = 0

    enum Status: UInt64 { case none = 0, open, ended, aborted, refused, died }

    mutating func append() {
        if count >> Self.pageBits >= packed.count { packed.append(nil); seconds.append(nil) }
        count += 1
    }

    private func word(_ i: Int) -> UInt64 { packed[i >> Self.pageBits]?[i & (1 << Self.pageBits - 1)] ?? 0 }
    private func field(_ i: Int, _ shift: UInt64, _ bits: UInt64) -> UInt64 { word(i) >> shift & (1 << bits - 1) }
    private mutating func set(_ i: Int, _ shift: UInt64, _ bits: UInt64, _ value: UInt64) {
        let page = i >> Self.pageBits, slot = i & (1 << Self.pageBits - 1)
        if packed[page] == nil {
            packed[page] = [UInt64](repeating: 0, count: 1 << Self.pageBits)
            seconds[page] = [Float](repeating: 0, count: 1 << Self.pageBits)
        }
        let mask: UInt64 = (1 << bits - 1) << shift
        packed[page]![slot] = packed[page]![slot] & ~mask | (min(value, 1 << bits - 1) << shift)
    }

    func lastWorker(_ i: Int) -> Int { Int(field(i, 0, 16)) }
    func endWorker(_ i: Int) -> Int { Int(field(i, 16, 16)) }
    func endState(_ i: Int) -> UInt64 { field(i, 32, 13) }
    func status(_ i: Int) -> Status { Status(rawValue: field(i, 45, 3)) ?? .none }
    func lastNumber(_ i: Int) -> Int { Int(field(i, 48, 8)) }
    func endNumber(_ i: Int) -> Int { Int(field(i, 56, 8)) }
    func endSeconds(_ i: Int) -> Double { Double(seconds[i >> Self.pageBits]?[i & (1 << Self.pageBits - 1)] ?? 0) }

    /// A new attempt on `worker`, numbered `number`.
    mutating func start(_ i: Int, worker: Int, number: Int) {
        set(i, 0, 16, UInt64(worker)); set(i, 48, 8, UInt64(number)); set(i, 45, 3, Status.open.rawValue)
    }

    /// The last attempt ended with `state` (packed by `StateCodes`).
    mutating func end(_ i: Int, state: UInt64, seconds: Double?) {
        set(i, 16, 16, UInt64(lastWorker(i))); set(i, 32, 13, state); set(i, 56, 8, UInt64(lastNumber(i)))
        set(i, 45, 3, Status.ended.rawValue)
        self.seconds[i >> Self.pageBits]![i & (1 << Self.pageBits - 1)] = Float(seconds ?? 0)
    }

    mutating func interrupt(_ i: Int, _ why: Status) {
        if status(i) == .open { set(i, 45, 3, why.rawValue) }
    }
}

/// Job states in 13 bits for the attempt table (0: none): kind in 3, value in 10; signal names interned.
struct StateCodes {
    private var signals: [String] = []
    private var signalIDs: [String: Int] = [:]

    mutating func code(_ state: JobState) -> UInt64 {
        switch state {
        case .pending, .running: return 0
        case .exited(let code) where code >= 0: return 1 << 10 | UInt64(min(code, 1023))
        case .exited(let code): return 2 << 10 | UInt64(min(-code, 1023))
        case .signaled(let name):
            let id = signalIDs[name] ?? {
                signals.append(name)
                signalIDs[name] = signals.count - 1
                return signals.count - 1
            }()
            return 3 << 10 | UInt64(min(id, 1023))
        case .timeout: return 4 << 10
        case .lost: return 5 << 10
        }
    }

    func state(_ code: UInt64) -> JobState? {
        let value = Int(code & 1023)
        switch code >> 10 {
        case 1: return .exited(value)
        case 2: return .exited(-value)
        case 3: return .signaled(value < signals.count ? signals[value] : "?")
        case 4: return .timeout
        case 5: return .lost
        default: return nil
        }
    }
}

/// The journal's records folded as they stream by (Journal.scan's `each`).
struct SessionHistory {
    var attempts = AttemptTable()
    var states = StateCodes()
    var runs: [SessionReport.Run] = []
    /// Worker labels by id - 1; ids past 65535 share the last one.
    var labels: [String] = []
    private var labelIDs: [String: Int] = [:]
    /// The workers table's sums: static workers by label, launched instances by index.
    var staticRows: [String: SessionReport.WorkerRow] = [:]
    /// Where a static worker first appears in job order (job, then record): the table lists them so.
    var staticFirst: [String: (job: Int, record: Int)] = [:]
    var instanceRows: [SessionReport.WorkerRow]
    /// Ended attempts with no time, on a launched instance's label: placed once the runs' ends are known.
    var untimed: [String: [Int: SessionReport.WorkerRow]] = [:]
    private let instances: [SessionReport.LaunchedInstance]
    private let byLabel: [String: [Int]]
    private var record = 0

    init(instances: [SessionReport.LaunchedInstance]) {
        self.instances = instances
        var byLabel: [String: [Int]] = [:]
        for (i, instance) in instances.enumerated() { byLabel[instance.label, default: []].append(i) }
        self.byLabel = byLabel
        instanceRows = instances.enumerated().map { SessionReport.WorkerRow(label: $1.label, instance: $0) }
    }

    /// The id of worker `label` (1-based).
    mutating func id(_ label: String) -> Int {
        if let id = labelIDs[label] { return id }
        guard labels.count < 0xFFFF else { return 0xFFFF }
        labels.append(label)
        labelIDs[label] = labels.count
        return labels.count
    }

    func label(_ id: Int) -> String? { id >= 1 && id <= labels.count ? labels[id - 1] : nil }
    func knownID(_ label: String) -> Int? { labelIDs[label] }

    mutating func add(_ record: JournalRecord) {
        self.record += 1
        if let at = record.at, !runs.isEmpty { runs[runs.count - 1].end = max(runs[runs.count - 1].end, at) }
        let run = max(0, runs.count - 1)
        switch record {
        case .job: attempts.append()
        case .run(let start): runs.append(SessionReport.Run(start: start, end: start))
        case .stop: if !runs.isEmpty { runs[runs.count - 1].stopped = true }
        case .start(let n, let worker, let attempt, _):
            let label = worker ?? "?"
            attempts.start(n - 1, worker: id(label), number: attempt ?? attempts.lastNumber(n - 1) + 1)
            appears(label, job: n)
        case .end(let n, let state?, let seconds, let at):
            let i = n - 1
            if attempts.status(i) != .open {
                attempts.start(i, worker: id("?"), number: attempts.lastNumber(i) + 1)
                appears("?", job: n)
            }
            attempts.end(i, state: states.code(state), seconds: seconds)
            count(label(attempts.lastWorker(i)) ?? "?", run: run, state: state, seconds: seconds ?? 0, at: at)
        case .requeue(let n, let refused): attempts.interrupt(n - 1, refused ? .refused : .died)
        case .abort(let n):
            if !runs.isEmpty { runs[runs.count - 1].aborted += 1 }
            attempts.interrupt(n - 1, .aborted)
        case .end, .reset, .retry, .generator, .inputStopped: break
        }
    }

    private mutating func appears(_ label: String, job: Int) {
        guard byLabel[label] == nil else { return }
        if staticRows[label] == nil { staticRows[label] = SessionReport.WorkerRow(label: label) }
        if let first = staticFirst[label], first.job <= job { return }
        staticFirst[label] = (job, record)
    }

    /// One ended attempt into its worker's row.
    private mutating func count(_ label: String, run: Int, state: JobState, seconds: Double, at: Double?) {
        guard let candidates = byLabel[label] else {
            staticRows[label, default: SessionReport.WorkerRow(label: label)]
                .add(run: run, state: state, seconds: seconds, at: at)
            return
        }
        guard let at else {
            untimed[label, default: [:]][run, default: SessionReport.WorkerRow(label: label)]
                .add(run: run, state: state, seconds: seconds, at: nil)
            return
        }
        instanceRows[pick(candidates, at)].add(run: run, state: state, seconds: seconds, at: at)
    }

    /// The instance that was up at `time`, else the last launched before it.
    private func pick(_ candidates: [Int], _ time: Double) -> Int {
        candidates.last { i in
            let instance = instances[i]
            return (instance.launched ?? instance.up ?? 0) <= time && time <= (instance.destroyed ?? .infinity)
        } ?? candidates.last { (instances[$0].launched ?? 0) <= time } ?? candidates[0]
    }

    /// The workers table's rows (static workers first, in job order) and the last known time.
    mutating func rows() -> ([SessionReport.WorkerRow], Double) {
        var latest = runs.map(\.end).max() ?? 0
        for instance in instances {
            for t in [instance.launched, instance.up, instance.destroyed] { if let t { latest = max(latest, t) } }
        }
        for (label, byRun) in untimed {
            for (run, sums) in byRun.sorted(by: { $0.key < $1.key }) {
                instanceRows[pick(byLabel[label]!, runs.indices.contains(run) ? runs[run].end : latest)].merge(sums)
            }
        }
        untimed = [:]
        let order = staticFirst.sorted { ($0.value.job, $0.value.record) < ($1.value.job, $1.value.record) }.map(\.key)
        return (order.compactMap { staticRows[$0] } + instanceRows, latest)
    }
}
