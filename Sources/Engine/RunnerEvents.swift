// The Runner's reactions: the transport's events (connections, output, ends, refusals), and an abort.
import Foundation

extension Runner {
    // MARK: - Events

    func handle(_ event: TransportEvent) {
        switch event {
        case .connected(let id, let viaAgent):
            connected(workers[id], viaAgent: viaAgent)
        case .connectFailed(let id, let message, let retryable):
            let worker = workers[id]
            guard worker.phase == .connecting else { return }
            connectFailed(worker, message, retryable: retryable, dropped: false)
        case .connectDropped(let id, let message):
            let worker = workers[id]
            guard worker.phase == .connecting else { return }
            connectFailed(worker, message, retryable: true, dropped: true)
        case .disconnected(let id, let message):
            let worker = workers[id]
            guard ![.done, .failed, .spare].contains(worker.phase) else { return }
            retire(worker, .failed, "worker died: \(message)")
        case .started(let op):
            jobStarted(op)
        case .copying(let op, _):
            if case .files(_, let worker, _, _, _, _)? = ops[op] { workers[worker].lastHeard = monotonic() }
        case .copied(let op, let bytes, let via):
            filesCopied(op, bytes: bytes, via: via)
        case .notice(let id, let message):
            console.status("\(workers[id].label): \(message)")
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
            case .files(_, let worker, _, _, _, _)?:
                workers[worker].lastHeard = monotonic()  // the cleanup's output is not the job's
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
            case .files?:
                cleanupFinished(op, status)
            case nil: break
            }
        case .refused(let op, let message):
            switch ops.removeValue(forKey: op) {
            case .job(let number, let id, let slot, let started, _, _, _)?:
                let worker = workers[id]
                worker.vacate(op, slot: slot)
                worker.cap = max(1, worker.running)
                jobs[number - 1].state = .pending
                queue.pushFront(number - 1)
                if started != nil { session.record(.requeue(job: number, refused: true)) }
                console.status(
                    "\(worker.label): channel refused (\(message)): running at most \(worker.cap) jobs at once")
            case .step(let worker, let step, _, let output)?:
                stepFinished(workers[worker], step, nil, output, "refused: \(message)")
            case .ping(let worker, _)?:
                answered(op, worker) // a refusal is an answer: sshd is alive
            case let kind?:
                ops[op] = kind
                filesFailed(op, "refused: \(message)")
            case nil: break
            }
        case .failed(let op, let message):
            switch ops.removeValue(forKey: op) {
            case .job(let number, let id, let slot, let started, _, _, _)?:
                let worker = workers[id]
                worker.vacate(op, slot: slot)
                console.status("\(worker.label): job \(number): \(message)")
                if started == nil { unstarted(number) } else { lostJob(number, worker) }
            case .step(let worker, let step, _, let output)?:
                stepFinished(workers[worker], step, nil, output, message)
            case .ping(let worker, _)?:
                workers[worker].pinging = false
            case let kind?:
                ops[op] = kind
                filesFailed(op, message)
            case nil: break
            }
        }
    }

    /// A connection attempt failed: tries again after the policy's delay while attempts are left.
    private func connectFailed(_ worker: Worker, _ message: String, retryable: Bool, dropped: Bool) {
        let attempts = dropped ? policy.droppedAttempts : policy.connectAttempts
        if retryable && worker.connectAttempts < attempts && !aborting {
            console.status("\(worker.label): \(message) (attempt \(worker.connectAttempts) of \(attempts))")
            worker.reconnectAt = monotonic() + policy.reconnectDelay(after: worker.connectAttempts, dropped: dropped)
        } else {
            worker.phase = .failed
            console.status("\(worker.label): unreachable: \(message)")
        }
    }

    // MARK: - Abort

    func interrupted(force: Bool, reason: String = "interrupted, stopping jobs and cleaning up (interrupt again to skip cleanup)") {
        if !aborting {
            aborting = true
            console.status("\(timestamp()) :: session \(session.id): \(reason)")
            for (op, kind) in ops {
                let number: Int, workerID: Int, slot: Int, started: Double?
                switch kind {
                case let .job(n, w, s, t, _, _, _): (number, workerID, slot, started) = (n, w, s, t)
                case let .files(n, w, s, t, _, _): (number, workerID, slot, started) = (n, w, s, t); jobFiles[n] = nil
                default: continue
                }
                transport.cancel(op: op)
                ops[op] = nil
                workers[workerID].vacate(op, slot: slot)
                jobs[number - 1].state = .pending
                guard started != nil else { continue }
                session.record(.abort(job: number))
                let text = String(decoding: jobs[number - 1].spec.text, as: UTF8.self)
                console.status("\(workers[workerID].label): aborted # \(text)")
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
        guard let tar = try? Subprocess.run(["tar", "-C", directory, "-cf", "-", "."],
                                            output: .capture, error: .inherit),
              tar.status == 0 else { return nil }
        return tar.output
    }
}
