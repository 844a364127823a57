// The run's jobs: every job's state in a JobIndex (8 bytes a job), and in memory only the jobs that are queued,
// running or awaiting a retry; a resumed job's text is read back from the journal when its turn comes. The
// counts the progress line and the summary show are kept as states change, never recounted.
import Foundation

final class JobStore {
    /// A job the run holds in memory: its spec, and its state, retries and deaths (kept in the index).
    final class Job {
        let spec: JobSpec
        /// The worker a failed attempt ran on, which its retry avoids.
        var avoid: Int?
        private unowned let store: JobStore
        private var i: Int { spec.number - 1 }

        init(_ spec: JobSpec, store: JobStore) { self.spec = spec; self.store = store }

        var state: JobState {
            get { store.state(i) }
            set { store.setState(i, newValue) }
        }
        var retried: Int {
            get { store.index.retried(i) }
            set { store.index.setRetried(i, newValue) }
        }
        var deaths: Int {
            get { store.index.deaths(i) }
            set { store.index.setDeaths(i, newValue) }
        }
        var finished: Bool { state.finished }
    }

    private(set) var index: JobIndex
    private var live: [Int: Job] = [:]
    private let journalPath: String
    private var journal: LineFile?
    /// How many jobs are in each state, kept as states change.
    private(set) var counts: JobCounts

    /// Jobs whose specs are all at hand (a new batch, or jobs read back whole); `index` holds their states.
    init(specs: [JobSpec], index: JobIndex, journalPath: String) {
        self.index = index
        self.journalPath = journalPath
        counts = index.counts
        for spec in specs { live[spec.number - 1] = Job(spec, store: self) }
    }

    var count: Int { index.count }

    /// Job `i` (0-based): the one in memory, or read back from the journal (and kept until released).
    subscript(_ i: Int) -> Job {
        if let job = live[i] { return job }
        let job = Job(loadSpec(i), store: self)
        live[i] = job
        return job
    }

    private func loadSpec(_ i: Int) -> JobSpec {
        do {
            if journal == nil { journal = try LineFile(journalPath) }
            return try Journal.job(at: index.offset(i), in: journal!)
        } catch {
            // The journal held this record when the run began; losing it now is a broken disk, and the job
            // cannot run without its text: it runs as a command that says so, and fails.
            let text = Array("echo 'cloudtask: job \(i + 1): its record cannot be read back from the journal' >&2; exit 125".utf8)
            return JobSpec(number: i + 1, input: [], text: text)
        }
    }

    /// Adds the next job (its number is `count + 1`), pending, in memory; `offset`: where its record starts.
    @discardableResult
    func add(_ spec: JobSpec, offset: Int64) -> Job {
        index.append(offset: offset)
        counts.pending += 1
        let job = Job(spec, store: self)
        live[spec.number - 1] = job
        return job
    }

    /// Adds the next job, pending, known only by its journal record (read, journaled, not to run in this run).
    func addUnloaded(offset: Int64) {
        index.append(offset: offset)
        counts.pending += 1
    }

    func setOffset(_ i: Int, _ offset: Int64) { index.setOffset(i, offset) }

    /// Lets job `i` go from memory: it is finished and reported.
    func release(_ i: Int) { live[i] = nil }

    /// Jobs held in memory now.
    var inMemory: Int { live.count }

    func state(_ i: Int) -> JobState { index.state(i) }

    func setState(_ i: Int, _ state: JobState) {
        counts.remove(index.state(i))
        counts.add(state)
        index.setState(i, state)
    }

    /// The avoided worker of job `i`, without reading the job back.
    func avoid(_ i: Int) -> Int? { live[i]?.avoid }
}

extension JobCounts {
    mutating func add(_ state: JobState) { change(state, by: 1) }
    mutating func remove(_ state: JobState) { change(state, by: -1) }

    private mutating func change(_ state: JobState, by delta: Int) {
        switch state {
        case .exited(0): ok += delta
        case .exited, .signaled: failed += delta
        case .timeout: timeouts += delta
        case .lost: lost += delta
        case .running: running += delta
        case .pending: pending += delta
        }
    }

    /// Jobs that ended (whatever their outcome).
    var finished: Int { ok + notOK }
}
