// The Runner's workers: connecting and setting them up, launched workers from a provider, liveness pings.
import Foundation

extension Runner {
    // MARK: - Workers

    /// Brings workers in while there is work and fewer than `split` are in use.
    func ensureWorkers() {
        guard !aborting, !halted,
              !queue.isEmpty || (expectingMore && !workers.contains { $0.phase == .ready }) else { return }
        var inUse = workers.filter { [.connecting, .setup, .ready].contains($0.phase) }.count
        for worker in workers where worker.phase == .spare && inUse < split {
            worker.phase = .connecting
            worker.connectAttempts = 0
            worker.reconnectAt = 0  // at once, as --connect-rate allows: see reconnectDue
            inUse += 1
        }
        reconnectDue()
    }

    func reconnectDue() {
        let now = monotonic()
        for worker in workers where worker.phase == .connecting {
            if let at = worker.reconnectAt, at <= now {
                guard pacer.take(now) else { worker.reconnectAt = pacer.free; continue }
                worker.reconnectAt = nil
                worker.connectAttempts += 1
                transport.connect(worker: worker.id, to: worker.endpoint)
            }
        }
    }

    func connected(_ worker: Worker, viaAgent: Bool) {
        guard worker.phase == .connecting else { return }
        console.detail("\(worker.label): connected as \(worker.endpoint.user)\(viaAgent ? " (ssh-agent)" : "")")
        worker.viaAgent = viaAgent || staleKey
        worker.lastHeard = monotonic()
        if aborting { return teardown(worker) }
        worker.phase = .setup
        worker.steps = []
        if viaAgent {
            if sessionKey == nil { sessionKey = makeSessionKey() }
            if sessionKey != nil { worker.steps.append(.authorizeKey) } else { worker.viaAgent = staleKey }
        }
        if sudo != nil { worker.steps.append(.sudo) }
        if config.overlay != nil { worker.steps.append(.overlay) }
        if config.movesFiles {
            // A resume (or retry) with --cleanup first empties what a killed run left in the session's folder.
            worker.steps += [.workdir] + (!fresh && config.cleanup == true ? [.wipe] : [])
        }
        if config.pre != nil { worker.steps.append(.pre) }
        nextStep(worker)
    }

    /// Runs the worker's next setup or teardown step, or moves it on when there is none.
    private func nextStep(_ worker: Worker) {
        guard !worker.steps.isEmpty else {
            if worker.phase == .setup {
                worker.phase = .ready
            } else if worker.phase == .teardown {
                disconnect(worker)
                worker.phase = .done
                console.status("\(worker.label): done (\(worker.jobsDone) jobs)")
            }
            return
        }
        let step = worker.steps.removeFirst()
        guard let command = command(for: step, on: worker) else { return nextStep(worker) }
        console.detail("\(worker.label): \(worker.phase == .setup ? "setup" : "cleanup"): \(step)")
        let op = nextOp
        nextOp += 1
        let limit = worker.phase == .teardown && aborting ? 15 : config.timeout
        ops[op] = .step(worker: worker.id, step: step, deadline: limit > 0 ? monotonic() + limit : nil, output: [])
        transport.run(op: op, worker: worker.id, command: command)
    }

    /// The step's command; all but the session key's edits of the login user's authorized_keys, and the session
    /// folder that the login user's copies write to, run under --sudo.
    private func command(for step: Step, on worker: Worker) -> RemoteCommand? {
        var command = plainCommand(for: step, on: worker)
        if ![.authorizeKey, .removeKey, .workdir].contains(step) { command?.sudo = sudo }
        return command
    }

    private func plainCommand(for step: Step, on worker: Worker) -> RemoteCommand? {
        let tag = keyTag
        switch step {
        case .authorizeKey:
            guard let key = sessionKey,
                  let line = try? String(contentsOfFile: key + ".pub", encoding: .utf8) else { return nil }
            let pub = line.trimmingCharacters(in: .whitespacesAndNewlines)
            return RemoteCommand(script: Array(AuthorizedKeys.edit(removing: tag, adding: pub).utf8))
        case .removeKey:
            return RemoteCommand(script: Array(AuthorizedKeys.edit(removing: tag, adding: nil).utf8))
        case .sudo:
            return RemoteCommand(script: Array("true".utf8))
        case .overlay:
            guard let dir = config.overlay, let tar = Runner.tarball(of: dir) else { return nil }
            return RemoteCommand(script: Array((MissingTool.check(["tar"]) + " && tar -C / -xf -").utf8), stdin: tar)
        case .workdir: return RemoteCommand(script: Array(workdirScript.utf8))
        case .wipe, .rmdir:
            return worker.workdir.map { RemoteCommand(script: Array(workdirCleanup(step, $0).utf8)) }
        case .pre: return config.pre.map { RemoteCommand(script: Array($0.utf8)) }
        case .post: return config.post.map { RemoteCommand(script: Array($0.utf8)) }
        }
    }

    var keyTag: String { "cloudtask-session-\(ProcessInfo.processInfo.hostName)-\(session.id)" }

    func stepFinished(_ worker: Worker, _ step: Step, _ status: ExitStatus?, _ output: [UInt8],
                      _ problem: String? = nil) {
        let name: String
        switch step {
        case .authorizeKey: name = "authorize session key"
        case .removeKey: name = "remove session key"
        case .sudo: name = "sudo"
        case .overlay: name = "overlay"
        case .workdir: name = "work folder"
        case .wipe: name = "remove leftover work folders"
        case .rmdir: name = "remove the session's work folder"
        case .pre: name = "pre command"
        case .post: name = "post command"
        }
        if status == .exited(0) {
            if step == .workdir {
                guard let path = Runner.workdirPath(in: output) else {
                    console.status("\(worker.label): setup failed: \(name): no path in its output")
                    return stepFailed(worker, step)
                }
                worker.workdir = path
            }
            return nextStep(worker)
        }
        if problem == nil, let missing = MissingTool.message(exited127: status == .exited(127), output: output) {
            console.status("\(worker.label): \(worker.phase == .setup ? "setup" : "cleanup"): \(name): \(missing)")
            return stepFailed(worker, step)
        }
        let what = problem ?? describe(status!)
        let detail = String(decoding: output.suffix(400), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let tail = detail.isEmpty ? "" : ": " + detail.replacingOccurrences(of: "\n", with: " | ")
        if worker.phase == .setup {
            if step == .sudo, let problem = SudoLogin.problem(output) {
                console.status("\(worker.label): setup: sudo: \(problem)")
            } else {
                console.status("\(worker.label): setup failed: \(name) \(what)\(tail)")
            }
        } else {
            console.status("\(worker.label): cleanup: \(name) \(what)\(tail)")
        }
        stepFailed(worker, step)
    }

    /// After a failed step: a setup ends in teardown (the session key removed if it was added), a cleanup goes on.
    private func stepFailed(_ worker: Worker, _ step: Step) {
        if worker.phase == .setup {
            worker.steps = []
            worker.phase = .teardown
            if worker.viaAgent && step != .authorizeKey { worker.steps = [.removeKey] }
            nextStep(worker)
            if worker.phase == .done { worker.phase = .failed }
        } else {
            nextStep(worker)
        }
    }

    /// Ends a worker's work: post command, key removal, disconnect.
    func teardown(_ worker: Worker) {
        switch worker.phase {
        case .connecting, .spare:
            transport.disconnect(worker: worker.id)
            worker.phase = worker.phase == .spare ? .spare : .done
            return
        case .setup, .ready, .retiring:
            worker.phase = .teardown
            worker.steps = (config.post != nil ? [.post] : [])
                + (config.cleanup == true && worker.workdir != nil ? [.rmdir] : [])
                + (worker.viaAgent ? [.removeKey] : [])
            // A running setup step finishes first; its completion continues the teardown.
            let stepRunning = ops.values.contains {
                if case .step(worker.id, _, _, _) = $0 { return true }
                return false
            }
            if !stepRunning { nextStep(worker) }
        default:
            return
        }
    }

    /// Closes the worker's connection; a ping on its way there is answered by nothing now, and holds nothing up.
    func disconnect(_ worker: Worker) {
        transport.disconnect(worker: worker.id)
        for (op, kind) in ops { if case .ping(worker.id, _) = kind { ops[op] = nil } }
        worker.pinging = false
    }

    func retire(_ worker: Worker, _ phase: Phase, _ message: String) {
        console.status("\(worker.label): \(message)")
        disconnect(worker)
        worker.phase = phase
        for (op, kind) in ops {
            switch kind {
            case .job(let number, worker.id, _, let started, _, _, _):
                ops[op] = nil
                if started == nil { unstarted(number) } else { lostJob(number, worker) }
            case .files(let number, worker.id, _, _, _, _):
                ops[op] = nil
                jobFiles[number] = nil
                lostJob(number, worker)
            case .step(worker.id, _, _, _), .ping(worker.id, _):
                ops[op] = nil
            default: break
            }
        }
        worker.slots = worker.slots.map { _ in nil }
        worker.queued = worker.queued.map { _ in [] }
        worker.pinging = false
    }

    // MARK: - Launched workers

    /// Launches what is still wanted while there is work, and turns reachable instances into workers.
    func launchDue() {
        guard let provider else { return }
        if toLaunch > 0 && !aborting && !halted && (!queue.isEmpty || expectingMore) {
            let count = toLaunch
            toLaunch = 0
            launching += count
            do { try provider.launch(count: count, ledger: ledger) } catch {
                if let error = error as? FileError, error.path == ledger.path { session.fail(error) }
                console.status("\(provider.name): launch failed: \(error)")
                launching = 0
            }
        }
        do {
            for instance in try provider.ready() {
                launching -= 1
                recordLedger(.up, instance)
                let endpoint = Endpoint(label: "\(instance.host):\(instance.port)",
                                        host: instance.host, port: instance.port, user: instance.user,
                                        identityFiles: [provider.identity] + (config.sshIdentity.map { [$0] } ?? []),
                                        pinnedKnownHosts: provider.knownHosts,
                                        pinnedPolicy: provider.hostKeyPolicy, connectTimeout: config.connectTimeout)
                let worker = Worker(id: workers.count, endpoint: endpoint, slots: config.slots)
                workers.append(worker)
                launched[worker.id] = instance
                console.status("\(endpoint.label): launched worker \(instance.id)")
            }
        } catch {
            launching -= 1
            if !"\(error)".isEmpty { console.status("\(provider.name): \(error)") }
        }
    }

    /// Destroys launched workers that are done or dead (all of them at the end); a dead one is replaced while
    /// work remains.
    func destroyReleased(all: Bool = false) {
        guard let provider else { return }
        for (id, instance) in launched where all || workers[id].phase == .done || workers[id].phase == .failed {
            if workers[id].phase != .done && workers[id].phase != .failed {
                transport.disconnect(worker: id)
                workers[id].phase = .done
            }
            let failed = provider.destroy([instance])
            if let why = failed[instance.id] {
                console.status("\(workers[id].label): cannot destroy worker \(instance.id): \(why); "
                               + "run cloudtask-destroy-workers --session \(session.id)")
            } else {
                recordLedger(.destroyed, instance)
                console.status("\(workers[id].label): destroyed worker \(instance.id)")
            }
            launched[id] = nil
            if workers[id].phase == .failed && !all && !aborting && !halted && !queue.isEmpty
                && replacements < policy.replacements(split: split) {
                replacements += 1
                toLaunch += 1
            }
        }
    }

    /// Instances the ledger holds alive that never became workers (still booting, or a launch whose answer was
    /// lost).
    func destroyUnhanded() {
        guard let provider else { return }
        provider.settle()  // a launch still under way (the run ends, or was aborted, without waiting for it)
        let live = ledger.live()
        guard !live.isEmpty else { return }
        let failures = provider.destroy(live)
        for instance in live {
            if let why = failures[instance.id] {
                console.status("\(provider.name): cannot destroy \(instance.id): \(why); "
                               + "run cloudtask-destroy-workers --session \(session.id)", always: true)
            } else {
                recordLedger(.destroyed, instance)
                console.status("\(provider.name): destroyed \(instance.id), launched but never used")
            }
        }
    }

    // MARK: - Liveness

    /// libssh2 1.10 does not report keepalive replies, so a worker not heard from for a ping interval
    /// gets a cheap command; without its answer in time (`RunPolicy.liveness`) the worker is declared dead.
    func pingWorkers() {
        let now = monotonic()
        for worker in workers where (worker.phase == .ready || worker.phase == .retiring) && !worker.pinging {
            guard worker.running > 0, now - worker.lastHeard >= policy.liveness(worker.endpoint).interval else { continue }
            let op = nextOp
            nextOp += 1
            worker.pinging = true
            ops[op] = .ping(worker: worker.id, sent: now)
            transport.run(op: op, worker: worker.id, command: RemoteCommand(script: Array(":".utf8)))
        }
    }

    func answered(_ op: Int, _ worker: Int) {
        ops[op] = nil
        workers[worker].pinging = false
        workers[worker].lastHeard = monotonic()
    }
}
