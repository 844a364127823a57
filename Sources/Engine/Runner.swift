// The scheduler: one shared queue of jobs, workers pulling from it slot by slot, worker lifecycle
// (connect, setup, jobs, teardown), timeouts, retries, strikes, and the journal. One thread.
import Foundation

/// One job as read from the input: its number (1-based, input order), the raw line and its shell text.
public struct JobSpec: Sendable {
    public let number: Int
    public let input: [UInt8]
    public let text: [UInt8]
    public init(number: Int, input: [UInt8], text: [UInt8]) { self.number = number; self.input = input; self.text = text }

    /// The longest job text once quoted for the remote shell: it travels in one SSH exec request, which
    /// libssh2 1.10 caps at about 34 KB (LIBSSH2_PACKET_MAXPAYLOAD less the wrapper and its environment).
    public static let maxQuotedBytes = 32_000

    /// Why `text` cannot be sent as a remote command (it holds a NUL byte, or is too long), or nil.
    public static func problem(text: [UInt8]) -> String? {
        if text.contains(0) { return "holds a NUL byte, which no shell command can carry" }
        let quoted = ShellQuote.quote(text).count
        if quoted > maxQuotedBytes {
            return "is too long: \(quoted) bytes once quoted for the remote shell, at most \(maxQuotedBytes)"
        }
        return nil
    }
}

/// One finished attempt, as on_result callbacks see it.
public struct JobResult: Sendable {
    public let number: Int
    public let input: [UInt8]
    public let text: [UInt8]
    public let state: JobState
    /// False when the job will be retried.
    public let final: Bool
    public let worker: String
    public let seconds: Double
    public let attempt: Int
    /// The last few KiB of stdout, then of stderr.
    public let tail: [UInt8]
}

/// What a run ended with.
public struct RunSummary: Sendable {
    public var total = 0, ok = 0, failed = 0, timeouts = 0, pending = 0, lost = 0
    public var seconds = 0.0
    public var exitCode: Int32 { ok == total ? 0 : 1 }
}

/// One run of a task: the scheduler over the workers, the journal, and the output. Its state is
/// internal (not private) because RunnerWorkers.swift and RunnerOutput.swift extend it.
public final class Runner {
    final class Job {
        let spec: JobSpec
        var state: JobState
        var retried: Int
        var deaths: Int
        var avoid: Int?
        init(_ saved: SavedJob) {
            spec = saved.spec
            state = saved.state == .running ? .pending : saved.state
            retried = saved.retried
            deaths = saved.deaths
        }
        var finished: Bool { state.finished }
    }

    enum Phase { case spare, connecting, setup, ready, retiring, teardown, done, failed }
    enum Step { case authorizeKey, overlay, pre, post, removeKey }

    final class Worker {
        let id: Int
        let endpoint: Endpoint
        var phase = Phase.spare
        var connectAttempts = 0
        var reconnectAt: Double?
        var slots: [Int?]
        var cap: Int
        var strikes = 0
        var viaAgent = false
        var steps: [Step] = []
        var jobsDone = 0
        var lastHeard = 0.0
        var pinging = false
        init(id: Int, endpoint: Endpoint, slots: Int) {
            self.id = id; self.endpoint = endpoint; self.slots = Array(repeating: nil, count: slots); cap = slots
        }
        var running: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
        var label: String { endpoint.label }
    }

    enum Op {
        case job(number: Int, worker: Int, slot: Int, started: Double, deadline: Double?, out: Spool, err: Spool)
        case step(worker: Int, step: Step, deadline: Double?, output: [UInt8])
        case ping(worker: Int, sent: Double)
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
    }

    let config: TaskConfig
    let transport: Transport
    let session: Session
    let console: Console
    var jobs: [Job]
    var queue = JobQueue()
    var workers: [Worker]
    var ops: [Int: Op] = [:]
    var nextOp = 1
    var completions: [Completion] = []
    var held: [Int: Completion] = [:]
    var nextToPrint = 1
    var lineBuffers: [Int: (out: [UInt8], err: [UInt8])] = [:]
    var split: Int
    var aborting = false
    var jobsFileWritten = 0.0
    var sessionKey: String?
    /// A session key from an earlier run of this session may still be authorized: remove it everywhere.
    var staleKey = false
    private let fresh: Bool
    private let reset: Bool
    private var failures = 0
    var halted = false
    /// Retries, strikes, halt, deaths, reconnects and replacements: the run's limits, in one place.
    let policy: RunPolicy
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
    private lazy var initiallyDone = jobs.filter(\.finished).count
    /// Jobs already in the journal (all of them when resuming); the rest are journaled by `start`.
    var journaled = 0
    private var startedRun = false
    private var results: [JobResult] = []
    /// Set from a signal handler through `interrupt()`; read by the loop.
    nonisolated(unsafe) public static var interrupts: Int32 = 0

    /// A new session's run: every job is journaled first.
    public convenience init(config: TaskConfig, jobs: [JobSpec], endpoints: [Endpoint], split: Int, transport: Transport, session: Session,
                            provider: Provider? = nil, launch: Int = 0, display: RunDisplay? = nil) {
        let saved = jobs.map { SavedJob(spec: $0, state: .pending, retried: 0, deaths: 0) }
        self.init(config: config, saved: saved, fresh: true, endpoints: endpoints, split: split, transport: transport, session: session,
                  provider: provider, launch: launch, display: display)
    }

    /// A run over jobs the journal already holds (resume, retry): finished jobs keep their results.
    /// With `reset` (--retry), the jobs handed in as pending are journaled as reset when the run starts.
    public init(config: TaskConfig, saved: [SavedJob], fresh: Bool, endpoints: [Endpoint], split: Int, transport: Transport, session: Session,
                reset: Bool = false, provider: Provider? = nil, launch: Int = 0, display: RunDisplay? = nil) {
        self.reset = reset
        self.provider = provider
        self.toLaunch = provider == nil ? 0 : launch
        self.ledger = Ledger(sessionPath: session.path)
        self.config = config
        self.transport = transport
        self.session = session
        self.console = Console(display: display)
        self.fresh = fresh
        console.session = session
        console.quiet = config.quiet == true
        console.verbose = config.verbose == true
        self.jobs = saved.map(Job.init)
        self.workers = endpoints.enumerated().map { Worker(id: $0.offset, endpoint: $0.element, slots: $0.element.slots ?? config.slots) }
        self.split = split
        self.policy = RunPolicy(config, jobs: saved.count)
        for job in self.jobs where !job.finished { queue.pushBack(job.spec.number - 1) }
        if !fresh { journaled = self.jobs.count }
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
        for job in jobs[journaled...] { recordJob(job) }
        if reset { for job in jobs where !job.finished { session.record(.reset(job: job.spec.number)) } }
        session.record(.run(at: Date().timeIntervalSince1970))
        session.syncJournal()
        if let path = config.joblog {
            let fresh = !FileManager.default.fileExists(atPath: path)
            joblog = try? AppendFile(path)
            if joblog == nil { console.status("cloudtask: --joblog: cannot write \(path)") }
            if fresh { joblog?.write(Array("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n".utf8)) }
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
        reconnectDue()
        pingWorkers()
        launchDue()
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
        if Date().timeIntervalSince1970 - jobsFileWritten >= 1 { writeJobsFile() }
        return true
    }

    /// How far the run is, for the display's progress line.
    private func progress() -> RunProgress {
        var progress = RunProgress()
        progress.total = jobs.count
        for job in jobs where job.finished {
            progress.done += 1
            if job.state != .exited(0) { progress.failed += 1 }
        }
        progress.running = ops.values.filter { if case .job = $0 { return true }; return false }.count
        let elapsed = Date().timeIntervalSince(started)
        progress.rate = elapsed > 0 ? Double(max(0, progress.done - initiallyDone)) / elapsed : 0
        progress.eta = progress.rate > 0 ? Int(Double(progress.total - progress.done) / progress.rate) : nil
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
        let job = Job(SavedJob(spec: JobSpec(number: jobs.count + 1, input: input, text: text), state: .pending, retried: 0, deaths: 0))
        jobs.append(job)
        if startedRun || !fresh { recordJob(job) }
        queue.pushBack(job.spec.number - 1)
        return job.spec.number
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

    private func done() -> Bool {
        if !ops.isEmpty { return false }
        // Launches are waited for only while there is work for them; at the end they are settled and destroyed.
        let wanted = !aborting && !halted && (!queue.isEmpty || expectingMore)
        if wanted && (toLaunch > 0 || launching > 0) { return false }
        return !workers.contains { [.connecting, .setup, .ready, .retiring, .teardown].contains($0.phase) }
    }

    private func waitTimeout() -> Double {
        let now = monotonic()
        var wait = launching > 0 ? 0.02 : 1.0
        for op in ops.values {
            switch op {
            case .job(_, _, _, _, let deadline?, _, _), .step(_, _, let deadline?, _): wait = min(wait, deadline - now)
            case .ping(_, let sent): wait = min(wait, sent + 2 * policy.pingInterval - now)
            default: break
            }
        }
        for worker in workers where (worker.phase == .ready || worker.phase == .retiring) && worker.running > 0 && !worker.pinging {
            wait = min(wait, worker.lastHeard + policy.pingInterval - now)
        }
        for worker in workers { if let at = worker.reconnectAt { wait = min(wait, at - now) } }
        return max(0, wait)
    }

    // MARK: - Jobs

    private func dispatch() {
        guard !aborting else { return }
        if halted { return retireIdle() }
        var assigned = true
        while assigned && !queue.isEmpty {
            assigned = false
            for worker in workers where worker.phase == .ready {
                guard worker.running < worker.cap, let slot = worker.slots.firstIndex(where: { $0 == nil }) else { continue }
                guard let number = takeJob(for: worker) else { continue }
                start(number, on: worker, slot: slot)
                assigned = true
            }
        }
        retireIdle()
    }

    /// An idle worker leaves when nothing is queued and no running job may still come back as a retry.
    private func retireIdle() {
        let retriesPossible = policy.retries > 0 && ops.values.contains { op in
            if case let .job(number, _, _, _, _, _, _) = op { return jobs[number - 1].retried < policy.retries }
            return false
        }
        for worker in workers where (worker.phase == .ready || worker.phase == .retiring) && worker.running == 0 {
            if worker.phase == .retiring || halted || (queue.isEmpty && !retriesPossible && !expectingMore) { teardown(worker) }
        }
    }

    /// The next job for `worker`: the first not to be retried away from it, unless it is the only worker left.
    private func takeJob(for worker: Worker) -> Int? {
        if let index = queue.firstIndex(limit: 256, where: { jobs[$0].avoid != worker.id }) { return queue.remove(at: index) }
        let others = workers.contains { $0.id != worker.id && [.connecting, .setup, .ready].contains($0.phase) }
        return others ? nil : queue.popFront()
    }

    private func start(_ index: Int, on worker: Worker, slot: Int) {
        let job = jobs[index]
        let op = nextOp
        nextOp += 1
        job.state = .running
        if worker.running == 0 { worker.lastHeard = monotonic() }
        worker.slots[slot] = op
        let dir = session.path
        ops[op] = .job(number: job.spec.number, worker: worker.id, slot: slot, started: monotonic(),
                       deadline: config.timeout > 0 ? monotonic() + config.timeout : nil, out: Spool(directory: dir), err: Spool(directory: dir))
        session.record(.start(job: job.spec.number, worker: worker.label, attempt: job.retried + 1,
                              at: Date().timeIntervalSince1970))
        let environment = [("CLOUDTASK_JOB", String(job.spec.number)), ("CLOUDTASK_SLOT", String(slot + 1)), ("CLOUDTASK_WORKER", worker.label)]
        transport.run(op: op, worker: worker.id, command: RemoteCommand(script: job.spec.text, environment: environment, pty: config.pty))
    }

    /// A job attempt ended with `state`: journal, retries, strikes, output.
    private func ended(_ op: Int, _ state: JobState) {
        guard case let .job(number, workerID, slot, started, _, out, err)? = ops.removeValue(forKey: op) else { return }
        let job = jobs[number - 1]
        let worker = workers[workerID]
        worker.slots[slot] = nil
        worker.jobsDone += 1
        job.state = state
        worker.lastHeard = monotonic()
        session.record(.end(job: number, state: state, seconds: monotonic() - started, at: Date().timeIntervalSince1970))
        let text = String(decoding: job.spec.text, as: UTF8.self)
        var line = "\(worker.label): \(state.logText) # \(text)"
        var final = true
        if state == .exited(0) {
            worker.strikes = 0
        } else {
            worker.strikes += 1
            if job.retried < policy.retries && !halted {
                job.retried += 1
                job.state = .pending
                job.avoid = worker.id
                queue.pushBack(number - 1)
                session.record(.retry(job: number))
                line += "\n\(worker.label): will retry (\(job.retried) of \(policy.retries))"
                final = false
            }
            if final, let limit = policy.haltLimit, !halted {
                failures += 1
                if failures >= limit {
                    halted = true
                    line += "\n\(timestamp()) :: session \(session.id): halting after \(failures) failed jobs (--halt=\(config.halt!)); running jobs finish, the rest stay pending"
                }
            }
            if policy.retires(afterStrikes: worker.strikes) && worker.phase == .ready {
                line += "\n\(worker.label): terminating worker after \(worker.strikes) strikes"
                worker.phase = .retiring
            }
        }
        let seconds = monotonic() - started
        completions.append(Completion(number: number, worker: workerID, line: line, out: out, err: err, final: final, state: state,
                                      started: Date().timeIntervalSince1970 - seconds, seconds: seconds))
        if collectResults {
            results.append(JobResult(number: number, input: job.spec.input, text: job.spec.text, state: state, final: final,
                                     worker: worker.label, seconds: monotonic() - started, attempt: job.retried + (final ? 1 : 0),
                                     tail: out.tail + err.tail))
        }
    }

    /// A running job lost its worker: back to the queue, unless that happened three times.
    func lostJob(_ number: Int, _ worker: Worker) {
        let job = jobs[number - 1]
        job.deaths += 1
        if job.deaths >= policy.deathsBeforeLost {
            job.state = .lost
            session.record(.end(job: number, state: .lost, seconds: nil, at: Date().timeIntervalSince1970))
            console.status("\(worker.label): lost # \(String(decoding: job.spec.text, as: UTF8.self)) (its worker died \(policy.deathsBeforeLost) times)")
        } else {
            job.state = .pending
            session.record(.requeue(job: number, refused: false))
            queue.pushFront(number - 1)
        }
    }

    private func expireDeadlines() {
        let now = monotonic()
        for (op, kind) in ops {
            switch kind {
            case .job(_, _, _, _, let deadline?, _, _) where deadline <= now:
                transport.cancel(op: op)
                ended(op, .timeout)
            case .step(let worker, let step, let deadline?, let output) where deadline <= now:
                transport.cancel(op: op)
                ops[op] = nil
                stepFinished(workers[worker], step, nil, output, "timed out")
            case .ping(let id, let sent) where now - sent >= 2 * policy.pingInterval:
                let worker = workers[id]
                guard ![.done, .failed, .spare].contains(worker.phase) else { ops[op] = nil; continue }
                retire(worker, .failed, "worker died: no answer for \(Int((now - worker.lastHeard).rounded())) seconds (--ping-interval=\(policy.pingInterval.formatted()))")
            default: break
            }
        }
    }

    // MARK: - Events

    private func handle(_ event: TransportEvent) {
        switch event {
        case .connected(let id, let viaAgent):
            connected(workers[id], viaAgent: viaAgent)
        case .connectFailed(let id, let message, let retryable):
            let worker = workers[id]
            guard worker.phase == .connecting else { return }
            if retryable && worker.connectAttempts < policy.connectAttempts && !aborting {
                console.status("\(worker.label): \(message) (attempt \(worker.connectAttempts) of \(policy.connectAttempts))")
                worker.reconnectAt = monotonic() + Double(worker.connectAttempts)
            } else {
                worker.phase = .failed
                console.status("\(worker.label): unreachable: \(message)")
            }
        case .disconnected(let id, let message):
            let worker = workers[id]
            guard ![.done, .failed, .spare].contains(worker.phase) else { return }
            retire(worker, .failed, "worker died: \(message)")
        case .output(let op, let stream, let bytes):
            switch ops[op] {
            case .job(let number, let worker, _, _, _, let out, let err)?:
                workers[worker].lastHeard = monotonic()
                (stream == .stdout ? out : err).append(bytes)
                if config.lineBuffer { streamLines(number, stream, bytes) }
            case .step(let worker, let step, let deadline, var output)?:
                output += bytes
                if output.count > 4096 { output.removeFirst(output.count - 4096) }
                ops[op] = .step(worker: worker, step: step, deadline: deadline, output: output)
            case .ping?, nil: break
            }
        case .finished(let op, let status):
            switch ops[op] {
            case .job?:
                switch status {
                case .exited(let code): ended(op, .exited(code))
                case .signaled(let name): ended(op, .signaled(name))
                }
            case .step(let worker, let step, _, let output)?:
                ops[op] = nil
                stepFinished(workers[worker], step, status, output)
            case .ping(let worker, _)?:
                answered(op, worker)
            case nil: break
            }
        case .refused(let op, let message):
            switch ops.removeValue(forKey: op) {
            case .job(let number, let id, let slot, _, _, _, _)?:
                let worker = workers[id]
                worker.slots[slot] = nil
                worker.cap = max(1, worker.running)
                jobs[number - 1].state = .pending
                queue.pushFront(number - 1)
                session.record(.requeue(job: number, refused: true))
                console.status("\(worker.label): channel refused (\(message)): running at most \(worker.cap) jobs at once")
            case .step(let worker, let step, _, let output)?:
                stepFinished(workers[worker], step, nil, output, "refused: \(message)")
            case .ping(let worker, _)?:
                answered(op, worker) // a refusal is an answer: sshd is alive
            case nil: break
            }
        case .failed(let op, let message):
            switch ops.removeValue(forKey: op) {
            case .job(let number, let id, let slot, _, _, _, _)?:
                let worker = workers[id]
                worker.slots[slot] = nil
                console.status("\(worker.label): job \(number): \(message)")
                lostJob(number, worker)
            case .step(let worker, let step, _, let output)?:
                stepFinished(workers[worker], step, nil, output, message)
            case .ping(let worker, _)?:
                workers[worker].pinging = false
            case nil: break
            }
        }
    }

    // MARK: - Abort

    private func interrupted(force: Bool) {
        if !aborting {
            aborting = true
            console.status("\(timestamp()) :: session \(session.id): interrupted, stopping jobs and cleaning up (interrupt again to skip cleanup)")
            for (op, kind) in ops {
                guard case let .job(number, workerID, slot, _, _, _, _) = kind else { continue }
                transport.cancel(op: op)
                ops[op] = nil
                workers[workerID].slots[slot] = nil
                jobs[number - 1].state = .pending
                session.record(.abort(job: number))
                console.status("\(workers[workerID].label): aborted # \(String(decoding: jobs[number - 1].spec.text, as: UTF8.self))")
            }
            for worker in workers { teardown(worker) }
        } else if force {
            for (op, _) in ops { transport.cancel(op: op) }
            ops = [:]
            for worker in workers where ![.spare, .done, .failed].contains(worker.phase) {
                transport.disconnect(worker: worker.id)
                worker.phase = .done
            }
        }
    }

    // MARK: - Helpers

    func makeSessionKey() -> String? {
        let path = session.path + "/id_ed25519"
        guard LocalCommand.makeKey(at: path, comment: keyTag) else {
            console.status("cloudtask: cannot make a session key with ssh-keygen; workers keep using the agent")
            return nil
        }
        transport.useIdentity(path)
        return path
    }

    static func tarball(of directory: String) -> [UInt8]? {
        guard let tar = try? Subprocess.run(["tar", "-C", directory, "-cf", "-", "."], output: .capture, error: .inherit),
              tar.status == 0 else { return nil }
        return tar.output
    }
}

/// A FIFO of job indices with cheap pops at the front and requeues at either end.
struct JobQueue {
    private var items: [Int] = []
    private var head = 0
    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    mutating func pushBack(_ index: Int) { items.append(index) }
    mutating func pushFront(_ index: Int) {
        if head > 0 { head -= 1; items[head] = index } else { items.insert(index, at: 0) }
    }
    mutating func popFront() -> Int? {
        guard !isEmpty else { return nil }
        defer { head += 1; if head > 4096 && head * 2 > items.count { items.removeFirst(head); head = 0 } }
        return items[head]
    }
    func firstIndex(limit: Int, where match: (Int) -> Bool) -> Int? {
        var i = head
        while i < items.count && i < head + limit { if match(items[i]) { return i }; i += 1 }
        return nil
    }
    mutating func remove(at position: Int) -> Int {
        if position == head { return popFront()! }
        return items.remove(at: position)
    }
}

/// Seconds on a monotonic clock.
func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The shell edits of authorized_keys: atomic (temp file and rename), locked against concurrent runs,
/// touching only the lines tagged with this session.
enum AuthorizedKeys {
    static func edit(removing tag: String, adding key: String?) -> String {
        let q = { (s: String) in String(decoding: ShellQuote.quote(Array(s.utf8)), as: UTF8.self) }
        let add = key.map { "; printf '%s\\n' \(q($0))" } ?? ""
        return """
        umask 077; d="$HOME/.ssh"; f="$d/authorized_keys"; mkdir -p "$d" && touch "$f" && \
        ( flock 9 && { grep -v -F -e \(q(tag)) "$f" || true\(add); } > "$f.cloudtask.$$" && mv -f "$f.cloudtask.$$" "$f" ) 9>"$d/.cloudtask.lock"
        """
    }
}
