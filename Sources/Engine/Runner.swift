// The scheduler's state and its loop: one shared queue of jobs that workers pull from slot by slot, steered
// from outside (ctsh adds jobs, changes the split, aborts). One thread. Its parts: RunnerJobs.swift (dispatch,
// ends, retries), RunnerEvents.swift (the transport's events, abort), RunnerWorkers.swift (worker lifecycle,
// launched workers, pings), RunnerOutput.swift (output, joblog, results, the jobs view).
import Foundation

/// One run of a task: the scheduler over the workers, the journal, and the output. Its state is
/// internal (not private) because the Runner*.swift files extend it.
public final class Runner {
    typealias Job = JobStore.Job

    enum Phase { case spare, connecting, setup, ready, retiring, teardown, done, failed }
    enum Step { case authorizeKey, sudo, overlay, workdir, wipe, pre, post, rmdir, removeKey }

    final class Worker {
        let id: Int
        let endpoint: Endpoint
        var phase = Phase.spare
        var connectAttempts = 0
        var reconnectAt: Double?
        /// Each slot's current job op, and (pipelined) the ops queued behind it on the worker, in order.
        var slots: [Int?]
        var queued: [[Int]]
        /// Pipelining: the shortest time from giving an idle slot a job to its start (about one round trip),
        /// and the jobs' mean run time, which set how many jobs each slot keeps queued (`depth`).
        var roundTrip = 0.05
        var roundTrips = 0
        var meanSeconds = 1.0
        var timedJobs = 0
        var cap: Int
        var strikes = 0
        var viaAgent = false
        var steps: [Step] = []
        var jobsDone = 0
        var lastHeard = 0.0
        var pinging = false
        /// The session's folder on the worker (absolute), where jobs that move files get theirs (RunnerFiles.swift).
        var workdir: String?
        /// How its copies go (`sftp`, `stream`), once the first is done.
        var copiesVia: String?
        init(id: Int, endpoint: Endpoint, slots: Int) {
            self.id = id; self.endpoint = endpoint; self.slots = Array(repeating: nil, count: slots); cap = slots
            queued = Array(repeating: [], count: slots)
        }
        var running: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

        /// Frees `op`'s place in `slot`: the op queued behind a current one moves up.
        func vacate(_ op: Int, slot: Int) {
            if slots[slot] == op {
                slots[slot] = queued[slot].isEmpty ? nil : queued[slot].removeFirst()
            } else {
                queued[slot].removeAll { $0 == op }
            }
        }

        /// Jobs to keep queued per busy slot: enough to cover two round trips at the jobs' mean run time, so
        /// that a slot never waits for the next job to arrive; at most 32. What a slow or dying worker holds
        /// back from the others is so bounded by time (two round trips of work per slot, at least 0.1 s) as
        /// much as by count.
        var depth: Int {
            let horizon = max(0.1, 2 * roundTrip)
            return min(32, max(1, Int((horizon / max(meanSeconds, 0.000_5)).rounded(.up))))
        }

        /// A job's start was seen `latency` after it was given to an idle slot, and one ran `seconds`.
        func timed(latency: Double?, seconds: Double?) {
            if let latency {
                roundTrip = roundTrips == 0 ? latency : min(roundTrip, latency)
                roundTrips += 1
            }
            if let seconds {
                meanSeconds = timedJobs == 0 ? seconds : 0.8 * meanSeconds + 0.2 * seconds
                timedJobs += 1
            }
        }
        var label: String { endpoint.label }
    }

    enum Op {
        /// `started` (and the deadline) once the worker said the job started; nil while it waits there.
        case job(number: Int, worker: Int, slot: Int, started: Double?, deadline: Double?, out: Spool, err: Spool)
        case step(worker: Int, step: Step, deadline: Double?, output: [UInt8])
        case ping(worker: Int, sent: Double)
        /// A job's files moving, before or after its command, or its work folder being removed (`jobFiles` says
        /// which); `started` is the job's start (journaled when the copy began).
        case files(number: Int, worker: Int, slot: Int, started: Double, out: Spool, err: Spool)
    }

    /// A finished attempt whose output and status line wait for the journal's fsync.
    struct Completion {
        let number: Int
        let worker: Int
        let line: String
        let out: Spool?
        let err: Spool?
        let final: Bool
        var state = JobState.pending
        /// Wall-clock start (Unix seconds) and run time, for --joblog and --results.
        var started = 0.0
        var seconds = 0.0
        /// What a job that moves files moved: bytes there and back, and the seconds each took.
        var files: JobFiles?
    }

    let config: TaskConfig
    /// How input lines become jobs (checked when the task was planned; see TaskAssembly.plan).
    public let recipe: JobRecipe
    let transport: Transport
    let session: Session
    let console: Console
    /// Every job's state; in memory, only the jobs queued, running or awaiting a retry.
    var jobs: JobStore
    var queue = JobQueue()
    var workers: [Worker]
    var ops: [Int: Op] = [:]
    /// When each job given to an idle slot was given (pipelining: its start then measures a round trip).
    var idleSince: [Int: Double] = [:]
    var nextOp = 1
    /// The files of each running job that moves them, by job number.
    var jobFiles: [Int: JobFiles] = [:]
    var completions: [Completion] = []
    /// Jobs marked LOST this turn, and their status lines: said (and the jobs let go) once the journal is synced.
    var lostLines: [(job: Int, line: String)] = []
    /// --keep-order: finished jobs' output waiting for the jobs before them, on disk.
    var held: [Int: HeldOutput.Entry] = [:]
    lazy var heldOutput = HeldOutput(directory: session.path) { [unowned self] in self.session.fail($0) }
    var nextToPrint = 1
    var lineBuffers: [Int: (out: [UInt8], err: [UInt8])] = [:]
    var split: Int
    var aborting = false
    var sessionKey: String?
    /// A session key from an earlier run of this session may still be authorized: remove it everywhere.
    var staleKey = false
    let fresh: Bool
    private let reset: Bool
    var failures = 0
    var halted = false
    /// Retries, strikes, halt, deaths, reconnects and replacements: the run's limits, in one place.
    let policy: RunPolicy
    /// When the next new connection may start (--connect-rate).
    lazy var pacer = ConnectPacer(rate: policy.connectRate)
    let started = Date()
    /// --joblog, opened at start with its header (GNU parallel's format).
    var joblog: AppendFile?
    /// A --results write failed (said once).
    var resultsFailed = false
    // Launched workers: the provider, how many more to launch, and what each launched worker is.
    let provider: Provider?
    var toLaunch: Int
    /// Launches asked of the provider and not yet handed over (ready or failed).
    var launching = 0
    var replacements = 0
    let ledger: Ledger
    var launched: [Int: Instance] = [:]
    private var handledInterrupts = Runner.interrupts
    /// Jobs finished before this run (a resume), left out of its rate.
    private let initiallyDone: Int
    /// The job lines still being read (cloudtask's stdin, a template's), and how far the run took them.
    let input: JobInput?
    var inputState = InputState()
    /// Jobs already in the journal (all of them when resuming); the rest are journaled by `start`.
    var journaled = 0
    private var startedRun = false
    var results: [JobResult] = []
    /// --env: the variables every job gets (secrets on the channel's stdin).
    public var passedEnvironment: [PassedVariable] = []
    /// --sudo: how jobs, --pre, --post and the overlay become another user; nil runs them as the login user.
    public var sudo: SudoLogin?
    /// Set from a signal handler through `interrupt()`; read by the loop.
    nonisolated(unsafe) public static var interrupts: Int32 = 0

    /// A new session's run: every job is journaled before the first is dispatched; with `input`, more jobs
    /// come from its lines as they arrive (after the `jobs` of its first read, which end at input line
    /// `firstReadLines`).
    public convenience init(config: TaskConfig, jobs: [JobSpec], endpoints: [Endpoint], split: Int,
                            transport: Transport, session: Session,
                            provider: Provider? = nil, launch: Int = 0, display: RunDisplay? = nil,
                            input: JobInput? = nil, firstReadLines: Int = 0) {
        let index = JobIndex()
        for _ in jobs { index.append(offset: -1) }
        let store = JobStore(specs: jobs, index: index, journalPath: session.path + "/journal")
        self.init(config: config, store: store, fresh: true, endpoints: endpoints, split: split, transport: transport,
                  session: session, reset: false, provider: provider, launch: launch, display: display, input: input)
        inputState.lines = firstReadLines
    }

    /// A run over jobs read back whole (tests, small sessions): finished jobs keep their results.
    /// With `reset` (--retry), the jobs handed in as pending are journaled as reset when the run starts.
    public convenience init(config: TaskConfig, saved: [SavedJob], fresh: Bool, endpoints: [Endpoint], split: Int,
                            transport: Transport, session: Session,
                            reset: Bool = false, provider: Provider? = nil, launch: Int = 0,
                            display: RunDisplay? = nil) {
        let index = JobIndex(saved)
        for i in 0..<index.count where index.state(i) == .running { index.setState(i, .pending) }
        let store = JobStore(specs: saved.map(\.spec), index: index, journalPath: session.path + "/journal")
        self.init(config: config, store: store, fresh: fresh, endpoints: endpoints, split: split, transport: transport,
                  session: session, reset: reset, provider: provider, launch: launch, display: display, input: nil)
    }

    /// A run over the jobs of a saved session's journal (resume, retry), known by their index: a job's text
    /// is read back from the journal when its turn comes.
    public convenience init(config: TaskConfig, index saved: JobIndex, endpoints: [Endpoint], split: Int,
                            transport: Transport, session: Session,
                            reset: Bool = false, provider: Provider? = nil, launch: Int = 0,
                            display: RunDisplay? = nil) {
        let index = saved
        for i in 0..<index.count where index.state(i) == .running { index.setState(i, .pending) }
        let store = JobStore(specs: [], index: index, journalPath: session.path + "/journal")
        self.init(config: config, store: store, fresh: false, endpoints: endpoints, split: split, transport: transport,
                  session: session, reset: reset, provider: provider, launch: launch, display: display, input: nil)
    }

    init(config: TaskConfig, store: JobStore, fresh: Bool, endpoints: [Endpoint], split: Int,
         transport: Transport, session: Session,
         reset: Bool, provider: Provider?, launch: Int, display: RunDisplay?, input: JobInput?) {
        self.reset = reset
        self.provider = provider
        self.toLaunch = provider == nil ? 0 : launch
        self.ledger = Ledger(sessionPath: session.path)
        self.config = config
        // An invalid --colsep or -I never gets here (Options and TaskAssembly.plan refuse it); words are the fallback.
        self.recipe = (try? JobRecipe(config)) ?? JobRecipe(command: config.command)
        self.transport = transport
        self.session = session
        self.console = Console(display: display)
        self.fresh = fresh
        self.input = input
        console.session = session
        console.quiet = config.quiet == true
        console.verbose = config.verbose == true
        self.jobs = store
        self.workers = endpoints.enumerated().map {
            Worker(id: $0.offset, endpoint: $0.element, slots: $0.element.slots ?? config.slots)
        }
        self.split = split
        self.policy = RunPolicy(config)
        initiallyDone = store.counts.finished
        queue.reserve(store.counts.pending + store.counts.running)
        for i in 0..<store.count where !store.state(i).finished { queue.pushBack(i) }
        if !fresh { journaled = store.count }
        if let input {
            input.wake = transport.wakeDescriptor
            expectingMore = true
        }
        let key = session.path + "/id_ed25519"
        if FileManager.default.fileExists(atPath: key) && FileManager.default.fileExists(atPath: key + ".pub") {
            sessionKey = key
            staleKey = true
            transport.useIdentity(key)
        }
    }

    // MARK: - The loop

    /// Runs every job; returns the summary after the session files are written.
    public func run() -> RunSummary {
        start()
        while step() {}
        return finish()
    }

    /// Journals the run's beginning (and, for a new session, every job) before anything is dispatched.
    public func start() {
        startedRun = true
        console.status("\(timestamp()) :: session \(session.id) (pid \(getpid()))")
        for i in journaled..<jobs.count { recordJob(jobs[i]) }
        // The first read's jobs claim their return files, so that a later line's cannot land on them.
        if fresh, let files = recipe.files {
            for i in 0..<jobs.count { try? files.check(jobs[i].spec, recipe: recipe, lineNumber: 0) }
        }
        if reset { for i in 0..<jobs.count where !jobs.state(i).finished { session.record(.reset(job: i + 1)) } }
        session.record(.run(at: Date().timeIntervalSince1970))
        session.syncJournal()
        if let path = config.joblog {
            let fresh = !FileManager.default.fileExists(atPath: path)
            joblog = try? AppendFile(path)
            if joblog == nil { console.status("cloudtask: --joblog: cannot write \(path)") }
            if fresh {
                writeJoblog(Array("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n".utf8))
            }
        }
    }

    /// One turn of the loop: waits up to `timeout` (at most until the next deadline) for events and handles them.
    /// Returns false once the run is over (every worker done and nothing running).
    public func step(timeout: Double = 1) -> Bool {
        let interrupts = Runner.interrupts
        if interrupts != handledInterrupts {
            handledInterrupts = interrupts
            interrupted(force: interrupts > 1)
        }
        stopOnFault()
        reconnectDue()
        pingWorkers()
        launchDue()
        pullInput()
        ensureWorkers()
        dispatch()
        if done() { return false }
        console.progress(progress(), now: monotonic())
        let events = transport.wait(timeout: min(timeout, waitTimeout()))
        for event in events { handle(event) }
        expireDeadlines()
        session.syncJournal()
        flushCompletions()
        destroyReleased()
        return true
    }

    /// How far the run is, for the display's progress line.
    func progress() -> RunProgress {
        var progress = RunProgress()
        progress.total = jobs.count
        progress.done = jobs.counts.finished
        progress.failed = jobs.counts.notOK
        // Started ones: a job queued behind another on its worker is not running yet.
        progress.running = ops.values.filter {
            switch $0 {
            case .job(_, _, _, _?, _, _, _), .files: return true
            default: return false
            }
        }.count
        let elapsed = Date().timeIntervalSince(started)
        progress.rate = elapsed > 0 ? Double(max(0, progress.done - initiallyDone)) / elapsed : 0
        // While the input is still being read, the total is not known: no ETA.
        let totalKnown = input == nil || inputState.settled || input!.exhausted
        progress.eta = progress.rate > 0 && totalKnown
            ? Int(Double(progress.total - progress.done) / progress.rate) : nil
        progress.workersUp = workers.filter { $0.phase == .ready || $0.phase == .retiring }.count
        return progress
    }

    /// Closes the run: journal, remaining output, the jobs view, the summary line.
    public func finish() -> RunSummary {
        console.finished()
        destroyReleased(all: true)
        destroyUnhanded()
        session.record(.stop(pid: Int(getpid()), at: Date().timeIntervalSince1970))
        session.syncJournal()
        flushCompletions()
        flushHeld()
        writeJobsFile()
        return summarize()
    }

    // MARK: - Steering from outside (ctsh)

    /// Adds a job while the run goes on (a generator, or an on_result callback); it is journaled before dispatch.
    @discardableResult
    public func add(input: [UInt8], text: [UInt8]) -> Int {
        let job = jobs.add(JobSpec(number: jobs.count + 1, input: input, text: text), offset: -1)
        if startedRun || !fresh { recordJob(job) }
        queue.pushBack(job.spec.number - 1)
        return job.spec.number
    }

    /// Adds the job the recipe makes of `record` (ctsh's t:add and generators), as `add(input:text:)`; nil for a
    /// record that makes no job (blank, comment). Throws the recipe's JobLineError, naming line 1.
    @discardableResult
    public func add(record: [UInt8]) throws -> Int? {
        guard let spec = try recipe.job(record, lineNumber: 1, number: jobs.count + 1) else { return nil }
        return add(input: spec.input, text: spec.text)
    }

    /// While true, idle workers wait for more jobs instead of leaving (a generator is still producing).
    public var expectingMore = false

    /// Jobs queued and not yet started.
    public var queued: Int { queue.count }

    /// Workers used at once; raising it brings spares in, lowering it retires workers after their current job.
    public var workersInUse: Int {
        get { split }
        set {
            split = max(1, newValue)
            var active = workers.filter { [.connecting, .setup, .ready].contains($0.phase) }
            while active.count > split, let worker = active.popLast() {
                if worker.phase == .ready { worker.phase = .retiring } else { teardown(worker) }
            }
        }
    }

    /// Stops the run as Ctrl-C does: running jobs stopped and pending again, workers cleaned up.
    public func abort() { interrupted(force: false) }

    /// Finished attempts since the last call, for on_result callbacks (collected only when `collectResults`).
    public var collectResults = false
    public func takeResults() -> [JobResult] {
        defer { results.removeAll() }
        return results
    }

    func done() -> Bool {
        if !inputDone() { return false }
        if !ops.isEmpty { return false }
        // Launches are waited for only while there is work for them; at the end they are settled and destroyed.
        let wanted = !aborting && !halted && (!queue.isEmpty || expectingMore)
        if wanted && (toLaunch > 0 || launching > 0) { return false }
        return !workers.contains { [.connecting, .setup, .ready, .retiring, .teardown].contains($0.phase) }
    }

    func waitTimeout() -> Double {
        let now = monotonic()
        var wait = launching > 0 || inputState.draining ? 0.02 : 1.0
        for op in ops.values {
            switch op {
            case .job(_, _, _, _, let deadline?, _, _), .step(_, _, let deadline?, _): wait = min(wait, deadline - now)
            case .ping(let worker, let sent):
                wait = min(wait, sent + policy.liveness(workers[worker].endpoint).answerWithin - now)
            default: break
            }
        }
        for worker in workers
        where (worker.phase == .ready || worker.phase == .retiring) && worker.running > 0 && !worker.pinging {
            wait = min(wait, worker.lastHeard + policy.liveness(worker.endpoint).interval - now)
        }
        for worker in workers where worker.phase == .connecting {
            if let at = worker.reconnectAt { wait = min(wait, at - now) }
        }
        return max(0, wait)
    }
}
