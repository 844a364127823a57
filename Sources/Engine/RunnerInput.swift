// The Runner's input: job lines taken from the stream as they arrive, each journaled (this step's group commit)
// before it is dispatched, never more than a bound ahead of the workers; and how reading stops when the run
// does: what keeps arriving without a pause is journaled as pending, then `input_stopped` says where it ended.
import Foundation

extension Runner {
    struct InputState {
        /// The last input line taken (blank and comment lines count).
        var lines = 0
        /// The run is ending early (halt, interrupt, no worker left, a bad line): lines that keep arriving are
        /// journaled as pending, not run.
        var draining = false
        /// The `input_stopped` record is journaled: no more lines are taken.
        var settled = false
        /// Whether the input had ended when reading stopped.
        var reachedEnd = false
        /// The bad line that stopped the batch.
        var failure: JobLineError?
    }

    /// How long the input must stay quiet, once the run stops early, before reading stops.
    static let drainGrace = 0.2

    /// Jobs queued ahead of the workers: enough to keep every slot busy, bounded so memory is.
    var readAhead: Int { max(256, 4 * workers.reduce(0) { $0 + $1.cap }) }

    /// Takes the lines that arrived, as the queue has room for them (all of them while draining).
    func pullInput() {
        guard let input, !inputState.settled else { return }
        if !inputState.draining && stoppingEarly {
            inputState.draining = true
            input.drain()
        }
        let draining = inputState.draining
        let room = draining ? 16384 : readAhead - queue.count
        guard room > 0 else { return }
        for line in input.take(room) {
            let spec: JobSpec?
            do {
                spec = try recipe.job(line.bytes, lineNumber: line.number, number: jobs.count + 1)
            } catch let error as JobLineError {
                if !draining { badLine(error) }
                return settleInput(reachedEnd: false)
            } catch {
                return settleInput(reachedEnd: false)
            }
            if let spec {
                if draining {
                    jobs.addUnloaded(offset: session.record(.job(spec)))
                    journaled += 1
                } else {
                    recordJob(jobs.add(spec, offset: -1))
                    queue.pushBack(spec.number - 1)
                }
            }
            inputState.lines = line.number
        }
        if input.exhausted {
            settleInput(reachedEnd: true)
        } else if draining && input.waiting == 0 && input.quietFor >= Runner.drainGrace {
            settleInput(reachedEnd: false)
        }
    }

    /// Whether the run stops before its input's end: halted, interrupted, or without any worker left.
    private var stoppingEarly: Bool {
        if halted || aborting { return true }
        let alive = workers.contains { [.spare, .connecting, .setup, .ready, .retiring].contains($0.phase) }
        return !alive && toLaunch == 0 && launching == 0 && ops.isEmpty
    }

    private func badLine(_ error: JobLineError) {
        inputState.failure = error
        halted = true
        console.status("cloudtask: stdin: \(error); no more jobs are started, running ones finish "
                       + "(the session holds input lines 1-\(inputState.lines))", always: true)
    }

    /// Stops reading: journals where the input stopped and whether it had ended.
    private func settleInput(reachedEnd: Bool) {
        inputState.settled = true
        inputState.reachedEnd = reachedEnd
        expectingMore = false
        session.record(.inputStopped(afterLine: inputState.lines, eof: reachedEnd))
        if !reachedEnd && inputState.failure == nil {
            console.status("\(timestamp()) :: session \(session.id): stopped reading input after line \(inputState.lines), "
                           + "before its end; later lines are not part of the session", always: true)
        }
    }

    /// Whether the input lets the run end: it was read to its end, or reading stopped.
    func inputDone() -> Bool { input == nil || inputState.settled }
}
