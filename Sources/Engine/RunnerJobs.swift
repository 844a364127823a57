// The Runner's jobs: dispatching them to free slots, their ends (retries, strikes, halt), lost workers'
// jobs, and deadlines.
import Foundation

extension Runner {
    // MARK: - Jobs

    func dispatch() {
        guard !aborting else { return }
        if halted { return retireIdle() }
        var assigned = true
        while assigned && !queue.isEmpty {
            assigned = false
            for worker in workers where worker.phase == .ready {
                guard worker.running < worker.cap,
                      let slot = worker.slots.firstIndex(where: { $0 == nil }) else { continue }
                guard let number = takeJob(for: worker) else { continue }
                start(number, on: worker, slot: slot)
                assigned = true
            }
        }
        if pipelining { queueAhead() }
        retireIdle()
    }

    /// Whether each slot keeps its next job queued on the worker (the transport's runner starts it at once).
    var pipelining: Bool { transport.pipelines && config.pipelined }

    /// Gives each busy slot its next job ahead of time, so that no round trip is spent between two jobs; but
    /// never a job that a free slot, or a worker still connecting, could start sooner.
    private func queueAhead() {
        guard !halted else { return }
        let coming = workers.reduce(0) { sum, worker in
            switch worker.phase {
            case .connecting, .setup: return sum + worker.cap
            case .ready: return sum + max(0, worker.cap - worker.running)
            default: return sum
            }
        }
        for worker in workers where worker.phase == .ready {
            let depth = worker.depth
            for _ in 0..<depth {
                for slot in worker.slots.indices where worker.slots[slot] != nil && worker.queued[slot].count < depth {
                    guard queue.count > coming, let number = takeJob(for: worker) else { return }
                    start(number, on: worker, slot: slot)
                }
            }
        }
    }

    /// An idle worker leaves when nothing is queued and no running job may still come back as a retry.
    func retireIdle() {
        let retriesPossible = policy.retries > 0 && ops.values.contains { op in
            switch op {
            case .job(let number, _, _, _, _, _, _), .files(let number, _, _, _, _, _):
                return jobs[number - 1].retried < policy.retries
            default: return false
            }
        }
        for worker in workers where (worker.phase == .ready || worker.phase == .retiring) && worker.running == 0 {
            if worker.phase == .retiring || halted || (queue.isEmpty && !retriesPossible && !expectingMore) {
                teardown(worker)
            }
        }
    }

    /// The next job for `worker`: the first not to be retried away from it, unless it is the only worker left.
    func takeJob(for worker: Worker) -> Int? {
        if let index = queue.firstIndex(limit: 256, where: { jobs[$0].avoid != worker.id }) {
            return queue.remove(at: index)
        }
        let others = workers.contains { $0.id != worker.id && [.connecting, .setup, .ready].contains($0.phase) }
        return others ? nil : queue.popFront()
    }

    func start(_ index: Int, on worker: Worker, slot: Int) {
        let job = jobs[index]
        let op = nextOp
        nextOp += 1
        job.state = .running
        if worker.running == 0 { worker.lastHeard = monotonic() }
        if worker.slots[slot] == nil {
            worker.slots[slot] = op
            idleSince[op] = monotonic()
        } else {
            worker.queued[slot].append(op)
        }
        let environment = [
            ("CLOUDTASK_JOB", String(job.spec.number)), ("CLOUDTASK_SLOT", String(slot + 1)),
            ("CLOUDTASK_WORKER", worker.label),
        ]
        var command = RemoteCommand(script: job.spec.text,
                                    environment: passedEnvironment.filter { !$0.secret }.map { ($0.name, $0.value) } + environment,
                                    pty: config.pty)
        command.secrets = passedEnvironment.filter(\.secret)
        command.sudo = sudo
        if config.movesFiles { return startWithFiles(job, op: op, on: worker, slot: slot, command: command) }
        // Journaled as started when the worker says so (`started`): a queued job may never start there.
        ops[op] = .job(number: job.spec.number, worker: worker.id, slot: slot, started: nil, deadline: nil,
                       out: session.spool(), err: session.spool())
        if pipelining { command.slot = slot }
        transport.run(op: op, worker: worker.id, command: command)
    }

    /// The worker started a job: journaled, and its timeout runs from now.
    func jobStarted(_ op: Int) {
        guard case let .job(number, workerID, slot, nil, _, out, err)? = ops[op] else { return }
        let now = monotonic()
        ops[op] = .job(number: number, worker: workerID, slot: slot, started: now,
                       deadline: config.timeout > 0 ? now + config.timeout : nil, out: out, err: err)
        workers[workerID].lastHeard = now
        if let given = idleSince.removeValue(forKey: op) { workers[workerID].timed(latency: now - given, seconds: nil) }
        session.record(.start(job: number, worker: workers[workerID].label, attempt: jobs[number - 1].retried + 1,
                              at: Date().timeIntervalSince1970))
    }

    /// A job that never started goes back to the front of the queue, as it was (no attempt, no record).
    func unstarted(_ number: Int) {
        jobs[number - 1].state = .pending
        queue.pushFront(number - 1)
    }

    /// A job attempt ended with `state`: journal, retries, strikes, output.
    func ended(_ op: Int, _ state: JobState) {
        if case .job(_, _, _, nil, _, _, _)? = ops[op] { jobStarted(op) }  // a transport that did not say
        if commandEnded(op, state) { return }  // its files move first (RunnerFiles.swift)
        guard case let .job(number, workerID, slot, started?, _, out, err)? = ops.removeValue(forKey: op) else {
            return
        }
        let job = jobs[number - 1]
        let worker = workers[workerID]
        worker.vacate(op, slot: slot)
        idleSince[op] = nil
        worker.timed(latency: nil, seconds: monotonic() - started)
        defer { if state != .exited(0) { releaseQueued(worker, slot: slot) } }
        worker.jobsDone += 1
        job.state = state
        worker.lastHeard = monotonic()
        session.record(.end(job: number, state: state, seconds: monotonic() - started,
                            at: Date().timeIntervalSince1970))
        let text = String(decoding: job.spec.text, as: UTF8.self)
        var line = "\(worker.label): \(state.logText) # \(text)"
        let files = jobFiles.removeValue(forKey: number)
        for problem in files?.problems ?? [] { line += "\n\(worker.label): \(problem)" }
        var final = true
        if state == .exited(0) {
            worker.strikes = 0
        } else {
            // The wrapper (or the login shell) names a tool it needs that the worker lacks: say which, on which worker.
            if let missing = MissingTool.message(exited127: state == .exited(127), output: err.tail) {
                line += "\n\(worker.label): \(missing)"
            }
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
            if final, let limit = policy.haltLimit(jobs: jobs.count), !halted {
                failures += 1
                if failures >= limit {
                    halted = true
                    line += "\n\(timestamp()) :: session \(session.id): halting after \(failures) failed jobs"
                        + " (--halt=\(config.halt!)); running jobs finish, the rest stay pending"
                }
            }
            if policy.retires(afterStrikes: worker.strikes) && worker.phase == .ready {
                line += "\n\(worker.label): terminating worker after \(worker.strikes) strikes"
                worker.phase = .retiring
            }
        }
        let seconds = monotonic() - started
        completions.append(Completion(number: number, worker: workerID, line: line, out: out, err: err,
                                      final: final, state: state,
                                      started: Date().timeIntervalSince1970 - seconds, seconds: seconds,
                                      files: files))
        if collectResults {
            results.append(JobResult(number: number, input: job.spec.input, text: job.spec.text,
                                     state: state, final: final, worker: worker.label,
                                     seconds: monotonic() - started, attempt: job.retried + (final ? 1 : 0),
                                     tail: out.tail + err.tail))
        }
    }

    /// After a failed job, the jobs queued behind it on its slot wait on the worker: they run unless the run
    /// halted, is aborting, or the worker is being retired (strikes), when they go back to the queue unstarted.
    func releaseQueued(_ worker: Worker, slot: Int) {
        guard let next = worker.slots[slot], case .job(_, _, _, nil, _, _, _)? = ops[next] else { return }
        let run = !halted && !aborting && worker.phase == .ready
        transport.release(op: next, run: run)
        guard !run else { return }
        for op in ([next] + worker.queued[slot]).reversed() {
            guard case let .job(number, _, _, _, _, _, _)? = ops.removeValue(forKey: op) else { continue }
            if op != next { transport.release(op: op, run: false) }
            worker.vacate(op, slot: slot)
            idleSince[op] = nil
            unstarted(number)
        }
    }

    /// A running job lost its worker: back to the queue, unless that happened three times.
    func lostJob(_ number: Int, _ worker: Worker) {
        let job = jobs[number - 1]
        job.deaths += 1
        if job.deaths >= policy.deathsBeforeLost {
            job.state = .lost
            session.record(.end(job: number, state: .lost, seconds: nil, at: Date().timeIntervalSince1970))
            let text = String(decoding: job.spec.text, as: UTF8.self)
            // Said once its end record is durable, with the completions of this turn.
            lostLines.append((number, "\(worker.label): lost # \(text) (its worker died \(policy.deathsBeforeLost) times)"))
        } else {
            job.state = .pending
            session.record(.requeue(job: number, refused: false))
            queue.pushFront(number - 1)
        }
    }

    func expireDeadlines() {
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
            case .ping(let id, let sent) where now - sent >= policy.liveness(workers[id].endpoint).answerWithin:
                let worker = workers[id]
                guard ![.done, .failed, .spare].contains(worker.phase) else { ops[op] = nil; continue }
                let silent = Int((now - worker.lastHeard).rounded())
                let source = policy.liveness(worker.endpoint).source
                retire(worker, .failed, "worker died: no answer for \(silent) seconds (\(source))")
            default: break
            }
        }
    }
}
