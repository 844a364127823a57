// cloudtask-logalyzer's model of a session: its folder (conf, journal, workers/<n>, instances) read back into
// what happened (jobs and their attempts, runs, launched instances, each job's output in the worker logs).
// Works on sessions that ended normally, were interrupted, crashed (no stop record), or were resumed.
// The text is ReportText.swift's; the output files ReportOutputs.swift's.
import Engine
import Foundation

public struct SessionReport {
    /// One attempt at a job, as the journal tells it: a `start` record and, when it ended, its `end` record.
    public struct Attempt: Sendable {
        public var worker: String
        /// Index into `runs` (0 for the first run).
        public var run: Int
        /// The attempt number the runner journaled (1 + retries so far).
        public var number: Int
        public var seconds: Double?
        public var at: Double?
        /// nil: no end record (aborted, its channel was refused, its worker died, or the controller stopped).
        public var state: JobState?
        /// Why an attempt ended without an end record: "aborted", "refused" (no channel), "its worker died".
        public var interruption: String?
        var closed = false
    }

    /// A job read back: its text, final state (Journal.replay's), every attempt, and where its output is logged.
    public struct Job {
        public let number: Int
        public let text: [UInt8]
        public let state: JobState
        public internal(set) var attempts: [Attempt]
        var output: LoggedOutput?
        /// The worker of the last attempt.
        public var worker: String? { attempts.last?.worker }
        /// The last attempt that ended.
        public var lastEnd: Attempt? { attempts.last { $0.state != nil } }
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

    public let path: String
    /// The session's folder name (its id for sessions under the sessions root).
    public let name: String
    public let config: TaskConfig
    public let jobs: [Job]
    public let runs: [Run]
    /// Elapsed time summed over runs.
    public let seconds: Double
    public let instances: [LaunchedInstance]
    /// Things wrong with the files (a torn journal tail, unreadable logs...).
    public let notes: [String]
    public let generatorOpen: Bool
    /// The pid of a controller running the session now, if any.
    public let holder: String?
    let logs: [Data]
    let logNames: [String]

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
    public static func load(path rawPath: String) throws -> SessionReport {
        var path = rawPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UsageError("\(path): no such session folder")
        }
        guard isDirectory.boolValue else { throw UsageError("\(path): not a session folder") }
        guard let journalData = FileManager.default.contents(atPath: path + "/journal") else {
            throw UsageError("\(path): no journal (not a cloudtask session, or unreadable)")
        }
        guard let confData = FileManager.default.contents(atPath: path + "/conf") else {
            throw UsageError("\(path)/conf is missing: not a cloudtask session")
        }
        let config = try decodeConfig(confData, path: path + "/conf")
        // What the replay does not keep: attempts, their workers and times, the runs.
        var history = History()
        let replay = try Journal.replay(Array(journalData), name: path + "/journal") { history.add($0) }
        var notes = replay.notes

        // The worker logs, in worker order.
        var logs: [Data] = []
        var logNames: [String] = []
        let workersDir = path + "/workers"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: workersDir)) ?? []
        let names = entries.compactMap { Int($0) }.sorted()
        for n in names {
            let file = workersDir + "/" + String(n)
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: file), options: .mappedIfSafe) else {
                notes.append("\(file): unreadable; its jobs' output is missing")
                continue
            }
            logs.append(data)
            logNames.append(file)
        }
        var jobs = replay.jobs.enumerated().map { i, saved in
            Job(number: saved.spec.number, text: saved.spec.text, state: saved.state, attempts: history.attempts[i],
                output: nil)
        }
        locate(&jobs, in: logs)

        let (instances, ledgerNote) = readLedger(Ledger(sessionPath: path))
        if let ledgerNote { notes.append(ledgerNote) }
        if jobs.isEmpty { notes.append("the journal holds no jobs") }
        if !replay.started && !jobs.isEmpty {
            notes.append("the session never started: its controller died while journaling the jobs")
        }
        let name = (path as NSString).lastPathComponent
        return SessionReport(path: path, name: name, config: config, jobs: jobs, runs: history.runs,
                             seconds: replay.seconds, instances: instances, notes: notes,
                             generatorOpen: replay.generatorOpen,
                             holder: Session.holder(path), logs: logs, logNames: logNames)
    }

    /// The attempts and runs, folded from the journal's records as the replay checked them.
    struct History {
        var attempts: [[Attempt]] = []
        var runs: [Run] = []

        mutating func add(_ record: JournalRecord) {
            if let at = record.at, !runs.isEmpty { runs[runs.count - 1].end = max(runs[runs.count - 1].end, at) }
            let run = max(0, runs.count - 1)
            switch record {
            case .job: attempts.append([])
            case .run(let start): runs.append(Run(start: start, end: start))
            case .stop: if !runs.isEmpty { runs[runs.count - 1].stopped = true }
            case .start(let n, let worker, let attempt, _):
                let number = attempt ?? attempts[n - 1].count + 1
                attempts[n - 1].append(Attempt(worker: worker ?? "?", run: run, number: number))
            case .end(let n, let state?, let seconds, let at):
                let i = n - 1
                if attempts[i].last == nil || attempts[i].last!.closed {
                    attempts[i].append(Attempt(worker: "?", run: run, number: attempts[i].count + 1))
                }
                let k = attempts[i].count - 1
                attempts[i][k].state = state
                attempts[i][k].seconds = seconds
                attempts[i][k].at = at
                attempts[i][k].closed = true
            case .requeue(let n, _), .abort(let n):
                var why = "its worker died"
                if case .abort = record {
                    why = "aborted"
                    if !runs.isEmpty { runs[runs.count - 1].aborted += 1 }
                } else if case .requeue(_, true) = record {
                    why = "refused"
                }
                if let k = attempts[n - 1].indices.last, !attempts[n - 1][k].closed {
                    attempts[n - 1][k].closed = true
                    attempts[n - 1][k].interruption = why
                }
            case .end, .reset, .retry, .generator, .inputStopped: break
            }
        }
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

    // MARK: - Output in the worker logs

    /// The bytes a job's block holds in its worker log (stdout then stderr, carriage returns filtered); [] when none.
    public func output(of job: Job) -> [UInt8] {
        guard let logged = job.output else { return [] }
        return Array(logs[logged.file][logged.range])
    }

    /// Finds each job's block in the worker logs: the last one logged by the worker of its last attempt (else by any).
    static func locate(_ jobs: inout [Job], in logs: [Data]) {
        let reader = WorkerLog.Reader(texts: jobs.map(\.text))
        var found: [Int: [(block: WorkerLog.Block, file: Int, order: Int)]] = [:]
        var order = 0
        for (file, data) in logs.enumerated() {
            for block in reader.blocks(in: data) {
                found[block.job, default: []].append((block, file, order))
                order += 1
            }
        }
        for i in jobs.indices {
            guard let blocks = found[jobs[i].number] else { continue }
            let last = jobs[i].lastEnd
            let label = last?.worker ?? jobs[i].worker
            let same = blocks.filter { $0.block.label == label }
            let pool = same.isEmpty ? blocks : same
            let pick = pool.max { ($0.block.stamp, $0.order) < ($1.block.stamp, $1.order) }!
            let block = pick.block
            var logged = LoggedOutput(file: pick.file, range: block.range, label: block.label, state: block.state)
            if let state = last?.state {
                logged.earlier = block.label != label || (block.state != nil && block.state != state.logText)
            }
            jobs[i].output = logged
        }
    }
}
