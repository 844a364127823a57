// The Runner when a session file cannot be written (a full disk, EIO, a quota, a read-only remount): the
// batch stops as on Ctrl-C, only results whose journal records are durable are reported, and one line says why.
// The user's own files (--joblog, --results) are said once and the batch goes on.
import Foundation

extension Runner {
    // MARK: - Session faults

    /// Stops the batch once a session file failed: nothing more is dispatched, running jobs are stopped and
    /// pending again, workers run their cleanup (--post, key removal) and launched ones are destroyed.
    func stopOnFault() {
        guard let fault = session.fault, !aborting else { return }
        interrupted(force: false, reason: "cannot write \(fault.path) (\(fault.reason)), stopping jobs and cleaning up")
    }

    /// The journal could not take the records of these completions: none of them is reported (no output, no
    /// status line, no on_result, not in the counts). Their jobs are pending again and run on resume.
    func dropUndurableCompletions() {
        for completion in completions {
            jobs[completion.number - 1].state = .pending
            lineBuffers[completion.number] = nil
        }
        for (number, _) in lostLines { jobs[number - 1].state = .pending }
        lostLines.removeAll()
        // ended() adds one result per completion, and both are drained together: the last ones are these.
        if collectResults { results.removeLast(min(results.count, completions.count)) }
        completions.removeAll()
    }

    /// The jobs 1...N whose final results are all in the journal, durably: N, as the fault line says it.
    var savedUpTo: Int { (0..<jobs.count).first { !jobs.state($0).finished } ?? jobs.count }

    /// The line a stopped batch ends with, or nil when every session file was written.
    func faultLine() -> String? {
        guard let fault = session.fault else { return nil }
        var line = "cloudtask: \(fault.path): \(fault.reason); "
        if session.isNew && !session.journalSynced {
            line += "nothing was run (the jobs could not be journaled); free space and run the batch again"
        } else {
            line += "the session is saved up to job \(savedUpTo); free space and run cloudtask --resume=\(session.id)"
        }
        if session.failed(ledger.path) {
            line += "; workers launched for it may still be running: cloudtask-destroy-workers --session \(session.id) destroys"
                + " those its ledger names, the provider's own listing shows the rest (tag cloudtask:session)"
        }
        return line
    }

    /// One record of the `instances` ledger; a failure stops the batch like any session file's.
    func recordLedger(_ event: LedgerRecord.Event, _ instance: Instance) {
        do { try ledger.record(event, instance) } catch { session.fail(error) }
    }

    // MARK: - The user's files

    /// One write to --joblog: a failure is said once and the joblog left alone; the session keeps every result.
    func writeJoblog(_ bytes: [UInt8]) {
        guard let file = joblog else { return }
        do { try file.write(bytes) } catch {
            joblog = nil
            console.status("cloudtask: --joblog: \(error) (the session keeps every result)")
        }
    }
}
