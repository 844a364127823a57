// The Runner's output: job output to the console (grouped, tagged, kept in order, line-buffered),
// --joblog and --results, and the session's derived files (jobs, summary).
import Foundation

extension Runner {
    // MARK: - Output

    func flushCompletions() {
        if session.journalFailed { return dropUndurableCompletions() }
        for (number, line) in lostLines {
            console.status(line)
            jobs.release(number - 1)
        }
        lostLines.removeAll()
        for completion in completions {
            let worker = workers[completion.worker]
            let job = jobs[completion.number - 1]
            let log = session.workerLog(worker.id + 1)
            log.write(WorkerLog.jobLine(label: worker.label, job: completion.number, text: job.spec.text))
            for spool in [completion.out, completion.err] {
                var filter = OutputFilter()
                var last: UInt8 = 10
                spool?.forEachChunk { chunk in
                    let filtered = filter.feed(chunk)
                    if let byte = filtered.last { last = byte }
                    log.write(filtered)
                }
                let rest = filter.finish()
                if let byte = rest.last { last = byte }
                log.write(rest)
                if last != 10 { log.write([10]) }  // the next status line starts on its own line
            }
            log.write(WorkerLog.endLine(label: worker.label, state: completion.state, text: job.spec.text))
            if completion.final && !config.lineBuffer {
                let prefix = config.tag ? job.spec.input + [9] : []
                if config.keepOrder {
                    // Held on disk, not in memory, until the jobs before it have printed theirs.
                    held[completion.number] = heldOutput.keep(prefix: prefix, out: completion.out, err: completion.err)
                } else {
                    printOutput(prefix: prefix, out: completion.out, err: completion.err)
                }
            }
            if completion.final && config.lineBuffer { flushLineBuffer(completion.number) }
            if completion.final { recordResult(completion, worker: worker, job: job) }
            console.status(completion.line)
            if completion.final { jobs.release(completion.number - 1) }
        }
        completions.removeAll()
        if config.keepOrder {
            while nextToPrint <= jobs.count {
                if let entry = held.removeValue(forKey: nextToPrint) { printHeld(entry) }
                else if !jobs.state(nextToPrint - 1).finished { break }
                nextToPrint += 1
            }
        }
    }

    /// --joblog (GNU parallel's format) and --results (a folder per job, named by its number only).
    private func recordResult(_ completion: Completion, worker: Worker, job: Job) {
        var exit = 0, signal = 0
        switch completion.state {
        case .exited(let code): exit = code
        case .signaled(let name): exit = -1; signal = Runner.signalNumbers[name] ?? 0
        case .timeout: exit = -1; signal = 15
        default: exit = -1
        }
        // As GNU parallel's: bytes of files transferred to the worker and returned from it.
        let sent = completion.files?.sent ?? 0, received = completion.files?.received ?? 0
        if joblog != nil {
            let command = String(decoding: job.spec.text, as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            let row = String(format: "%d\t%@\t%.3f\t%.3f\t%lld\t%lld\t%d\t%d\t%@\n",
                             completion.number, worker.label, completion.started, completion.seconds,
                             sent, received, exit, signal, command)
            writeJoblog(Array(row.utf8))
        }
        if let results = config.results {
            let dir = results + "/" + String(completion.number)
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var written = true
            for (name, spool) in [("stdout", completion.out), ("stderr", completion.err)] {
                written = FileManager.default.createFile(atPath: dir + "/" + name, contents: nil) && written
                guard let file = FileHandle(forWritingAtPath: dir + "/" + name) else { continue }
                var ok = true  // FileHandle.write(_:) cannot report a failure; write(contentsOf:) throws it
                spool?.forEachChunk { chunk in if ok { do { try file.write(contentsOf: Data(chunk)) } catch { ok = false } } }
                do { try file.close() } catch { ok = false }
                written = ok && written
            }
            let facts: [(String, [UInt8])] = [
                ("exit", Array(completion.state.jobsFileText.utf8) + [10]), ("input", job.spec.input + [10]),
                ("command", job.spec.text + [10]), ("worker", Array(worker.label.utf8) + [10]),
                ("timing",
                 Array((String(format: "start %.3f\nseconds %.3f\n", completion.started, completion.seconds)
                        + (completion.files.map {
                            String(format: "transfer %.3f\nreturn %.3f\nsent %lld\nreceived %lld\n",
                                   $0.putSeconds, $0.returnSeconds, $0.sent, $0.received)
                        } ?? "")).utf8)),
            ]
            for (name, bytes) in facts {
                written = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)) && written
            }
            if !written && !resultsFailed {
                resultsFailed = true
                console.status("cloudtask: --results: cannot write \(dir) (the session keeps every result)")
            }
        }
    }

    static let signalNumbers = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8,
        "KILL": 9, "SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15,
    ]

    func flushHeld() {
        for number in held.keys.sorted() { printHeld(held[number]!) }
        held = [:]
    }

    private func printOutput(prefix: [UInt8], out: Spool?, err: Spool?) {
        for (spool, toStdout) in [(out, true), (err, false)] {
            guard let spool, spool.count > 0 else { continue }
            var prefixer = LinePrefixer(prefix: prefix)
            spool.forEachChunk { toStdout ? console.stdout(prefixer.feed($0)) : console.stderr(prefixer.feed($0)) }
        }
    }

    private func printHeld(_ entry: HeldOutput.Entry) {
        var prefixer = LinePrefixer(prefix: entry.prefix)
        heldOutput.forEachChunk(entry, .stdout) { console.stdout(prefixer.feed($0)) }
        prefixer = LinePrefixer(prefix: entry.prefix)
        heldOutput.forEachChunk(entry, .stderr) { console.stderr(prefixer.feed($0)) }
    }

    /// --line-buffer: complete lines go out as they arrive.
    func streamLines(_ number: Int, _ stream: OutputStream, _ bytes: [UInt8]) {
        var buffers = lineBuffers[number] ?? ([], [])
        var pending = (stream == .stdout ? buffers.out : buffers.err) + bytes
        if let last = pending.lastIndex(of: 10) {
            let lines = Array(pending[...last])
            pending.removeFirst(last + 1)
            var prefixer = LinePrefixer(prefix: config.tag ? jobs[number - 1].spec.input + [9] : [])
            if stream == .stdout { console.stdout(prefixer.feed(lines)) } else { console.stderr(prefixer.feed(lines)) }
        }
        if stream == .stdout { buffers.out = pending } else { buffers.err = pending }
        lineBuffers[number] = buffers
    }

    private func flushLineBuffer(_ number: Int) {
        guard let buffers = lineBuffers.removeValue(forKey: number) else { return }
        var prefixer = LinePrefixer(prefix: config.tag ? jobs[number - 1].spec.input + [9] : [])
        if !buffers.out.isEmpty { console.stdout(prefixer.feed(buffers.out)) }
        prefixer = LinePrefixer(prefix: config.tag ? jobs[number - 1].spec.input + [9] : [])
        if !buffers.err.isEmpty { console.stderr(prefixer.feed(buffers.err)) }
    }

    // MARK: - Session files

    func recordJob(_ job: Job) {
        journaled += 1
        jobs.setOffset(job.spec.number - 1, session.record(.job(job.spec)))
    }

    /// The `jobs` view, rewritten from the journal: at the end of a run (not while it goes on).
    func writeJobsFile() {
        session.writeJobsView(jobs.index)
    }

    func describe(_ status: ExitStatus) -> String { status.phrase }

    func summarize() -> RunSummary {
        var summary = RunSummary()
        summary.fault = faultLine()
        if let line = summary.fault { console.status(line, always: true) }
        summary.total = jobs.count
        let counts = jobs.counts
        summary.pending = counts.pending + counts.running
        summary.ok = counts.ok
        summary.timeouts = counts.timeouts
        summary.lost = counts.lost
        summary.failed = counts.failed + counts.lost
        summary.seconds = session.previousSeconds + Date().timeIntervalSince(started)
        summary.badInput = inputState.failure != nil
        let bad = summary.total - summary.ok
        let seconds = Int(summary.seconds.rounded())
        console.status("\(timestamp()) :: session \(session.id) (\(seconds) seconds): \(bad)/\(summary.total) !OK - "
                       + "\(summary.pending) pending, \(summary.timeouts) timeouts, \(summary.failed) errors, "
                       + "\(summary.ok) OK", always: true)
        if summary.pending > 0 {
            let reason = inputState.failure != nil ? " (stopped at a bad input line)" : halted ? " (halted)"
                : workers.contains { $0.phase == .done || $0.phase == .ready } || aborting ? "" : " (no worker left)"
            console.status("\(summary.pending) jobs pending\(reason); to run them: cloudtask --resume=\(session.id)",
                           always: true)
        }
        return summary
    }
}
