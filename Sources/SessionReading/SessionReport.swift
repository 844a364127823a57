// cloudtask-logalyzer's model of a session: its folder (conf, journal, workers/<n>, instances) read back into
// what happened (job states and counts, runs, launched instances, the workers table, and the jobs the report
// lists with their last lines of output). Works on sessions that ended normally, were interrupted, crashed (no
// stop record), or were resumed. Memory does not grow with the jobs' inputs or outputs: one pass over the
// journal keeps each job in 24 bytes (its JobIndex entry and its last attempts), the workers table is summed
// per worker, and the logs are streamed for the few jobs the report lists.
// The text is ReportText.swift's; the output files ReportOutputs.swift's; reading the worker logs ReportLogs.swift's.
import Engine
import Foundation

public struct SessionReport {
    /// One attempt at a job, as the journal tells it: a `start` record and, when it ended, its `end` record.
    public struct Attempt: Sendable {
        public var worker: String
        /// The attempt number the runner journaled (1 + retries so far).
        public var number: Int
        public var seconds: Double?
        /// nil: no end record (aborted, its channel was refused, its worker died, or the controller stopped).
        public var state: JobState?
        /// Why an attempt ended without an end record: "aborted", "refused" (no channel), "its worker died".
        public var interruption: String?
    }

    /// A job the report lists: its text, final state, its last attempt and last ended one, where its output is.
    public struct Job {
        public let number: Int
        public let text: [UInt8]
        public let state: JobState
        /// The last attempt (nil: never started).
        public let last: Attempt?
        /// The last attempt that ended.
        public let lastEnd: Attempt?
        var output: LoggedOutput?
        /// The worker of the last attempt.
        public var worker: String? { last?.worker }
    }

    /// A job's block in a worker log: the bytes between its `job N:` line and its end line.
    struct LoggedOutput {
        let file: Int
        let range: Range<Int>
        let label: String
        /// The state the end line gives ("exit 1", "timeout"...); nil when the block has no end line (torn log).
        let state: String?
        /// Not the last attempt's output (the controller died between journaling the end and logging it).
        var earlier = false
        /// Its lines without trailing blank ones: how many, and the last few (each cut at `Tail.lineBytes`).
        var lineCount = 0
        var lastLines: [[UInt8]] = []
    }

    /// One run of the session (the first, then each --resume/--retry).
    public struct Run: Sendable {
        public var start: Double
        /// The last time the journal records in this run.
        public var end: Double
        /// A stop record closes it: without one the controller crashed, was killed, or is still running.
        public var stopped = false
        public var aborted = 0
    }

    /// A launched worker, from the `instances` ledger.
    public struct LaunchedInstance: Sendable {
        public var id: String
        public var provider: String
        public var host: String
        public var port: Int
        public var launched: Double?
        public var up: Double?
        public var destroyed: Double?
        /// How the runner labels the worker it becomes.
        public var label: String { "\(host):\(port)" }
    }

    /// One row of the workers table, summed as the journal streams by.
    struct WorkerRow {
        var label: String
        var instance: Int?
        var jobs = 0, ok = 0, failed = 0
        var work = 0.0
        /// (first start, last end) per run, for workers the ledger does not know.
        var spans: [Int: (Double, Double)] = [:]
        var lifetime: Double { spans.values.reduce(0) { $0 + max(0, $1.1 - $1.0) } }

        mutating func add(run: Int, state: JobState, seconds: Double, at: Double?) {
            jobs += 1
            if state == .exited(0) { ok += 1 } else { failed += 1 }
            work += seconds
            if let at {
                let span = spans[run] ?? (at - seconds, at)
                spans[run] = (min(span.0, at - seconds), max(span.1, at))
            }
        }

        mutating func merge(_ other: WorkerRow) {
            jobs += other.jobs; ok += other.ok; failed += other.failed; work += other.work
        }
    }

    /// How many jobs of each kind the report lists at most; past that it says how many more there are.
    public struct Limits: Sendable {
        public var failures = 50, timeouts = 50, pending = 100
        public init(failures: Int = 50, timeouts: Int = 50, pending: Int = 100) {
            self.failures = failures; self.timeouts = timeouts; self.pending = pending
        }
    }

    /// The jobs of one kind in the report: how many there are per worker, and the first few, in job order.
    struct Listing {
        var total = 0
        /// Per worker (of the last ended attempt), in the order of its first job: how many jobs.
        var workers: [(label: String, count: Int)] = []
        var listed: [Job] = []
    }

    public let path: String
    /// The session's folder name (its id for sessions under the sessions root).
    public let name: String
    public let config: TaskConfig
    /// Every job's state, retries, deaths and journal offset.
    public let index: JobIndex
    public let runs: [Run]
    /// Elapsed time summed over runs.
    public let seconds: Double
    public let instances: [LaunchedInstance]
    /// Things wrong with the files (a torn journal tail, unreadable logs...).
    public internal(set) var notes: [String]
    public let generatorOpen: Bool
    /// The pid of a controller running the session now, if any.
    public let holder: String?
    public let limits: Limits
    let history: SessionHistory
    let rows: [WorkerRow]
    let latest: Double
    var errors = Listing(), timedOut = Listing(), waiting = Listing()
    let logNames: [String]

    /// How many jobs are in each state.
    public var counts: JobCounts { index.counts }

    /// USD per hour, on-demand Linux in us-east-1; `local` instances cost nothing. Billing is per second, 60 s minimum.
    public static let defaultPrices: [String: Double] = [
        "local": 0,
        "t2.nano": 0.0058, "t2.micro": 0.0116, "t2.small": 0.023, "t2.medium": 0.0464, "t2.large": 0.0928,
        "t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
        "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
        "t3a.nano": 0.0047, "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376, "t3a.large": 0.0752,
        "t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
        "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
        "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384,
        "m7g.large": 0.0816, "m7g.xlarge": 0.1632,
        "c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
        "c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34,
        "c7g.large": 0.0725, "c7g.xlarge": 0.145,
        "r5.large": 0.126, "r5.xlarge": 0.252, "r6i.large": 0.126, "r6i.xlarge": 0.252,
    ]
    /// The shortest time EC2 bills a Linux instance for.
    public static let minimumBilledSeconds = 60.0

    // MARK: - Loading

    /// Reads session folder `path`. Throws UsageError with a one-line message when it is not a readable session.
    public static func load(path rawPath: String, limits: Limits = Limits()) throws -> SessionReport {
        var path = rawPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UsageError("\(path): no such session folder")
        }
        guard isDirectory.boolValue else { throw UsageError("\(path): not a session folder") }
        guard access(path + "/journal", R_OK) == 0, let journal = try? LineFile(path + "/journal") else {
            throw UsageError("\(path): no journal (not a cloudtask session, or unreadable)")
        }
        guard let confData = FileManager.default.contents(atPath: path + "/conf") else {
            throw UsageError("\(path)/conf is missing: not a cloudtask session")
        }
        let config = try decodeConfig(confData, path: path + "/conf")
        var notes: [String] = []
        let (instances, ledgerNote) = readLedger(Ledger(sessionPath: path))
        // What the scan does not keep: attempts, their workers and times, the runs, the workers table.
        var history = SessionHistory(instances: instances)
        let scan = try Journal.scan(path: path + "/journal") { record, _ in history.add(record) }
        notes += scan.notes

        // The worker logs, in worker order.
        var logNames: [String] = []
        let workersDir = path + "/workers"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: workersDir)) ?? []
        for n in entries.compactMap({ Int($0) }).sorted() {
            let file = workersDir + "/" + String(n)
            guard access(file, R_OK) == 0 else {
                notes.append("\(file): unreadable; its jobs' output is missing")
                continue
            }
            logNames.append(file)
        }
        if let ledgerNote { notes.append(ledgerNote) }
        let (rows, latest) = history.rows()
        var report = SessionReport(path: path, name: (path as NSString).lastPathComponent,
                                   config: config, index: scan.index,
                                   runs: history.runs, seconds: scan.seconds, instances: instances, notes: notes,
                                   generatorOpen: scan.generatorOpen, holder: Session.holder(path), limits: limits,
                                   history: history, rows: rows, latest: latest, logNames: logNames)
        try report.list(journal)
        if scan.index.isEmpty { report.notes.append("the journal holds no jobs") }
        if !scan.started && !scan.index.isEmpty {
            report.notes.append("the session never started: its controller died while journaling the jobs")
        }
        return report
    }

    /// Picks the jobs the report lists (errors, timeouts, pending: the first of each in job order, up to the
    /// limits), counts the rest per worker, and reads the listed ones' texts and outputs back.
    private mutating func list(_ journal: LineFile) throws {
        var errors = Listing(), timedOut = Listing(), waiting = Listing()
        var errorWorkers: [String: Int] = [:], timeoutWorkers: [String: Int] = [:]
        var picked: [(Int, Int)] = []  // (job index, which listing)
        func tally(_ listing: inout Listing, _ byWorker: inout [String: Int], _ i: Int, _ limit: Int, _ kind: Int) {
            listing.total += 1
            let worker = history.label(history.attempts.endWorker(i))
                ?? history.label(history.attempts.lastWorker(i)) ?? "?"
            if let k = byWorker[worker] { listing.workers[k].count += 1 } else {
                byWorker[worker] = listing.workers.count
                listing.workers.append((worker, 1))
            }
            if listing.total <= limit { picked.append((i, kind)) }
        }
        for i in 0..<index.count {
            switch index.state(i) {
            case .exited(0): break
            case .pending, .running:
                waiting.total += 1
                if waiting.total <= limits.pending { picked.append((i, 2)) }
            case .timeout: tally(&timedOut, &timeoutWorkers, i, limits.timeouts, 1)
            default: tally(&errors, &errorWorkers, i, limits.failures, 0)
            }
        }
        var jobs: [Int: Job] = [:]
        for (i, _) in picked { jobs[i] = try job(i, journal) }
        locate(&jobs, journal)
        for (i, kind) in picked {
            switch kind {
            case 0: errors.listed.append(jobs[i]!)
            case 1: timedOut.listed.append(jobs[i]!)
            default: waiting.listed.append(jobs[i]!)
            }
        }
        self.errors = errors; self.timedOut = timedOut; self.waiting = waiting
    }

    /// Job `i` (0-based) read back: its text from the journal, its attempts from the history.
    func job(_ i: Int, _ journal: LineFile) throws -> Job {
        let table = history.attempts
        let spec = try Journal.job(at: index.offset(i), in: journal)
        var last: Attempt?, lastEnd: Attempt?
        if table.endWorker(i) != 0 {
            lastEnd = Attempt(worker: history.label(table.endWorker(i)) ?? "?", number: table.endNumber(i),
                              seconds: table.endSeconds(i), state: history.states.state(table.endState(i)))
        }
        if table.lastWorker(i) != 0 {
            let status = table.status(i)
            let why: [AttemptTable.Status: String] = [.aborted: "aborted", .refused: "refused",
                                                      .died: "its worker died"]
            last = status == .ended ? lastEnd
                : Attempt(worker: history.label(table.lastWorker(i)) ?? "?", number: table.lastNumber(i),
                          interruption: why[status])
        }
        return Job(number: i + 1, text: spec.text, state: index.state(i), last: last, lastEnd: lastEnd)
    }

    /// Jobs by number, read back from the journal, with their output found in the worker logs (tests, hooks).
    public func jobs<Numbers: Sequence>(_ numbers: Numbers) throws -> [Job] where Numbers.Element == Int {
        let journal = try LineFile(path + "/journal")
        var jobs: [Int: Job] = [:]
        let wanted = numbers.filter { $0 >= 1 && $0 <= index.count }
        for n in wanted { jobs[n - 1] = try job(n - 1, journal) }
        locate(&jobs, journal)
        return wanted.map { jobs[$0 - 1]! }
    }

    /// `conf` as the runner writes it; an older or hand-made one with missing keys still gives what it has.
    static func decodeConfig(_ data: Data, path: String) throws -> TaskConfig {
        if let config = try? JSONDecoder().decode(TaskConfig.self, from: data) { return config }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw UsageError("\(path) is corrupt (not JSON): not a readable cloudtask session")
        }
        var config = TaskConfig()
        if let command = object["command"] as? [String] { config.command = command }
        else if let command = object["command"] as? String { config.command = [command] }
        if let workers = object["workers"] as? [String] { config.workers = workers }
        config.split = object["split"] as? Int
        if let slots = object["slots"] as? Int { config.slots = slots }
        if let timeout = object["timeout"] as? Double ?? (object["timeout"] as? Int).map(Double.init) {
            config.timeout = timeout
        }
        if let retries = object["retries"] as? Int { config.retries = retries }
        if let strikes = object["strikes"] as? Int { config.strikes = strikes }
        config.provider = object["provider"] as? String
        config.instanceType = object["instanceType"] as? String
        config.region = object["region"] as? String
        config.pre = object["pre"] as? String
        config.post = object["post"] as? String
        config.overlay = object["overlay"] as? String
        config.halt = object["halt"] as? String
        return config
    }

    /// The ledger's instances in launch order; bad lines are skipped with a note.
    static func readLedger(_ ledger: Ledger) -> ([LaunchedInstance], String?) {
        let (records, bad) = ledger.records()
        var order: [String] = []
        var byID: [String: LaunchedInstance] = [:]
        for record in records {
            let id = record.id
            var instance = byID[id] ?? LaunchedInstance(id: id, provider: record.provider ?? "?",
                                                         host: record.host ?? "?", port: record.port ?? 22)
            if byID[id] == nil { order.append(id) }
            if let host = record.host { instance.host = host }
            if let port = record.port { instance.port = port }
            switch record.event {
            case .launch?: instance.launched = instance.launched ?? record.at
            case .up?: instance.up = record.at ?? instance.up
            case .destroyed?: instance.destroyed = record.at ?? instance.destroyed ?? 0
            case nil: break
            }
            byID[id] = instance
        }
        let note = bad > 0 ? "\(ledger.path): \(bad) unreadable line\(bad == 1 ? "" : "s") skipped" : nil
        return (order.compactMap { byID[$0] }, note)
    }
}
