// A slot's runner on a worker (RemoteScript.agent): one long-lived exec channel that runs the slot's jobs in
// order, each next one already written to its stdin, and the markers around each job's output read back into
// the engine's events. Where the runner cannot start, the slot runs its jobs one channel each, still in order.
import CLibSSH2
import Engine
import Foundation

/// One job given to a slot, from `run` until its end.
final class AgentJob {
    enum State {
        /// Not on the runner's stdin (yet, or again after a skip or a new channel).
        case unsent
        /// Its request is on the runner's stdin.
        case sent
        /// The runner's S marker was read: it runs (`started` once that was told).
        case running
    }
    let op: Int
    let command: RemoteCommand
    /// `\u{1}` and 32 hex digits, fresh per job: what the runner prints around the job's output.
    let marker: [UInt8]
    var state = State.unsent
    /// Its start was told to the engine (after the job before it ended: events keep their order).
    var started = false
    /// The engine dropped it (halt, strikes): it never runs; gone once the runner skipped it, if it was sent.
    var withdrawn = false
    var outDone = false
    var errDone = false
    var status = 0
    /// Output read before its start was told, given once it is.
    var early: [(Engine.OutputStream, [UInt8])] = []

    init(op: Int, command: RemoteCommand) {
        self.op = op
        self.command = command
        var generator = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        marker = [1] + (0..<32).map { _ in hex[Int(generator.next() & 15)] }
    }

    var nonce: String { String(decoding: marker.dropFirst(), as: UTF8.self) }
    var running: Bool { state == .running }

    /// Back to unsent: what a new channel, or a skip, leaves of a job that did not run.
    func reset() {
        state = .unsent
        outDone = false
        errDone = false
        early = []
    }
}

final class AgentSlot {
    enum Progress {
        case waiting
        case lost(SSHError)
        /// The channel was refused (MaxSessions): none of the jobs started; the slot is empty again.
        case refused(String, [AgentJob])
        /// The runner ended before any job started on it: it cannot run here (said once; the slot runs its jobs
        /// one channel each from now on).
        case broken(String)
    }

    let worker: Int
    /// The jobs not ended, in order; the first may be running.
    private(set) var jobs: [AgentJob] = []
    /// The job after a failed one, which waits for `release`.
    private(set) var gate: Int?
    /// One channel per job, as without a runner (set where the runner cannot start).
    var perJob = false

    private enum Step { case idle, open, exec, running }
    private var step = Step.idle
    private var channel: OpaquePointer?
    /// The job whose sudo and secrets start the runner (every job of a run has the same).
    private var starter: RemoteCommand?
    /// Channels given up (a timeout, an abort): sent EOF, which makes the runner's reader kill its process
    /// group, then read to their end and closed. The server closes first: Dropbear 2022.83 asserts
    /// (`!channel->sent_close`) and drops the connection when a client closes a channel whose command then
    /// exits, or opens a new channel while an old one's command is being killed; so a slot starts its next
    /// runner only once the old one ended, or after 5 s (a process that escaped the group kill holds it).
    private var closing: [(channel: OpaquePointer, eofSent: Bool, since: Double)] = []
    /// What stdin still has to carry, in order: the preamble, requests, verdicts.
    private var outbox: [UInt8] = []
    /// The runner skips every request until `__ct_go` (its last job failed).
    private var holds = false
    private var outCarry: [UInt8] = []
    private var errCarry: [UInt8] = []
    /// A job started on this channel: the runner works here.
    private var workedHere = false
    /// stderr with no job to take it: the runner's own complaint when it cannot start.
    private var stray: [UInt8] = []
    /// The job running on its own channel (`perJob`).
    private var single: Operation?
    private var buffer = [CChar](repeating: 0, count: 65536)

    init(worker: Int) { self.worker = worker }

    /// A given-up channel is still ending: the reactor looks again soon even if the socket stays quiet.
    var draining: Bool { !closing.isEmpty }

    func add(op: Int, command: RemoteCommand) {
        jobs.append(AgentJob(op: op, command: command))
        if step == .running { pump() }
    }

    /// Forgets withdrawn jobs that the runner will not skip (never sent, or already skipped).
    private func dropWithdrawn() {
        jobs.removeAll { $0.withdrawn && $0.state == .unsent }
    }

    /// The engine's verdict on a job queued behind a failed one: run it, or drop it (it never starts).
    func release(op: Int, run: Bool) {
        guard let job = jobs.first(where: { $0.op == op }), !job.running else { return }
        if gate == op { gate = nil }
        if !run {
            job.withdrawn = true
            dropWithdrawn()
        }
        if step == .running { pump() }
    }

    /// Stops `op`; false if the slot does not have it. A running job's channel is closed (the runner kills the
    /// job's group); so is the channel of one whose request is on it, and a job running there besides is told
    /// `failed`.
    func cancel(op: Int, emit: (TransportEvent) -> Void) -> Bool {
        guard let index = jobs.firstIndex(where: { $0.op == op }) else { return false }
        let job = jobs[index]
        if gate == op { gate = nil }
        if perJob {
            jobs.remove(at: index)
            if let single, single.id == op {
                if let channel = single.takeChannel() { closing.append((channel, false, monotonicNow())) }
                self.single = nil
            }
            return true
        }
        guard job.state != .unsent else { jobs.remove(at: index); return true }
        jobs.remove(at: index)
        if let running = jobs.first, running.running {
            jobs.removeFirst()
            emit(.failed(op: running.op, message: "its runner was stopped with another job"))
        }
        giveUpChannel()
        // The engine counts a stopped job as failed: the next one waits for its verdict.
        if job.running { gate = jobs.first?.op }
        return true
    }

    /// Moves the slot along as far as the socket allows.
    func advance(_ session: OpaquePointer, emit: (TransportEvent) -> Void) -> Progress {
        for index in closing.indices.reversed() where drain(&closing[index]) { closing.remove(at: index) }
        if perJob { return advanceSingle(session, emit: emit) }
        while true {
            switch step {
            case .idle:
                // A given-up channel ends first (see `closing`).
                guard closing.isEmpty, let first = jobs.first(where: { !$0.withdrawn }), first.op != gate else {
                    return .waiting
                }
                starter = first.command
                step = .open
            case .open:
                guard let opened = ct_channel_open_session(session) else {
                    let rc = libssh2_session_last_errno(session)
                    if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                    if rc == LIBSSH2_ERROR_CHANNEL_FAILURE {
                        step = .idle
                        let refused = jobs
                        jobs = []
                        gate = nil
                        return .refused(SSHError("open channel", session: session, code: rc).message, refused)
                    }
                    return .lost(SSHError("open channel", session: session, code: rc))
                }
                channel = opened
                step = .exec
            case .exec:
                let request = RemoteScript.agentRequest(for: starter!)
                let rc = ChannelIO.exec(channel!, request)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 {
                    let error = SSHError("exec", session: session, code: rc)
                    if SSHError.isConnectionLost(rc) { return .lost(error) }
                    // The server refused to run it: the jobs go one channel each, which says why if they fail too.
                    giveUpChannel()
                    perJob = true
                    return .broken("the runner did not start (\(error.message)); jobs here use one channel each")
                }
                step = .running
                outbox = starter!.preamble
                pump()
            case .running:
                if let lost = write(session) { return .lost(lost) }
                let (ended, lostError) = read(session, emit: emit)
                if let lostError { return .lost(lostError) }
                if !ended {
                    // What the reading put in the outbox (`__ct_go` and the requests a runner skipped) goes now: no
                    // socket event would come for it.
                    if !outbox.isEmpty, let lost = write(session) { return .lost(lost) }
                    return .waiting
                }
                if let broken = channelEnded(session, emit: emit) { return broken }
            }
        }
    }

    // MARK: - The runner's channel

    /// Puts the requests that may go now in the outbox, in order, up to the job that waits for a verdict.
    /// After a failure, once the runner skipped every request it had, `__ct_go` goes first.
    private func pump() {
        dropWithdrawn()
        if holds {
            guard !jobs.contains(where: { $0.state == .sent }),
                  let first = jobs.first(where: { $0.state == .unsent }), first.op != gate else { return }
            outbox += Array("__ct_go\n".utf8)
            holds = false
        }
        for job in jobs where job.state == .unsent {
            if job.op == gate || job.withdrawn { break }
            outbox += RemoteScript.agentRequest(nonce: job.nonce, script: job.command.script,
                                                environment: job.command.environment)
            job.state = .sent
        }
    }

    /// Writes what the outbox still holds, as the last call on the session in a pass over the connection: libssh2
    /// says which way a session is blocked only for its last call, and a write left pending under a later read
    /// would wait for the next inbound packet (a liveness ping, 30 s on).
    func flush(_ session: OpaquePointer) -> SSHError? {
        guard step == .running, !outbox.isEmpty, channel != nil else { return nil }
        return write(session)
    }

    /// Writes what the outbox holds; an error if the connection is lost.
    private func write(_ session: OpaquePointer) -> SSHError? {
        while !outbox.isEmpty {
            let n = ChannelIO.write(channel!, outbox)
            if n == Int(LIBSSH2_ERROR_EAGAIN) { return nil }
            if n < 0 { return SSHError("write stdin", session: session, code: Int32(n)) }
            outbox.removeFirst(n)
        }
        return nil
    }

    /// Reads stdout and stderr until both would block; true when the runner's output ended.
    private func read(_ session: OpaquePointer, emit: (TransportEvent) -> Void) -> (Bool, SSHError?) {
        guard let rc = ChannelIO.read(channel!, &buffer, { take($1, from: $0, emit: emit) }) else {
            return (libssh2_channel_eof(channel) != 0, nil)
        }
        if SSHError.isConnectionLost(rc) { return (false, SSHError("read", session: session, code: rc)) }
        return (true, nil)
    }

    /// Splits what a stream brought at the markers of the jobs it is reading.
    private func take(_ bytes: [UInt8], from stream: Engine.OutputStream, emit: (TransportEvent) -> Void) {
        let stdout = stream == .stdout
        var data = (stdout ? outCarry : errCarry) + bytes
        if stdout { outCarry = [] } else { errCarry = [] }
        var at = 0
        while at < data.count {
            guard let job = jobs.first(where: { $0.state != .unsent && (stdout ? !$0.outDone : !$0.errDone) }) else {
                if !stdout { stray = Array((stray + data[at...]).suffix(2000)) }
                return  // a leftover of an ended job, with no job to take it
            }
            guard let found = Self.find(job.marker, in: data, from: at) else {
                let keep = Self.markerStart(job.marker, in: data, from: at)
                give(job, stream, Array(data[at..<(data.count - keep)]), emit: emit)
                data = Array(data.suffix(keep))
                if stdout { outCarry = data } else { errCarry = data }
                return
            }
            give(job, stream, Array(data[at..<found]), emit: emit)
            let tail = found + job.marker.count
            guard let newline = data[tail...].firstIndex(of: 10) else {
                if stdout { outCarry = Array(data[found...]) } else { errCarry = Array(data[found...]) }
                return
            }
            let kind = tail < newline ? data[tail] : 0
            if stdout && kind == UInt8(ascii: "S") {
                job.state = .running
                workedHere = true
                // Told once the job before it ended (its stderr may still be on the way): events keep their order.
                if jobs.first === job { tellStart(job, emit: emit) }
            } else if stdout && kind == UInt8(ascii: "K") {
                // Skipped after a failure: sent again after `__ct_go` if it is still wanted.
                job.reset()
                dropWithdrawn()
                pump()
            } else if kind == UInt8(ascii: "E") {
                if stdout {
                    job.status = Int(String(decoding: data[(tail + 1)..<newline], as: UTF8.self)) ?? 255
                    job.outDone = true
                    // The runner skips what it has from now on, until `__ct_go`.
                    if job.status != 0 { failedAhead(of: job) }
                } else {
                    job.errDone = true
                }
                if job.outDone && job.errDone { ended(job, .exited(job.status), emit: emit) }
            }
            at = newline + 1
        }
    }

    private func tellStart(_ job: AgentJob, emit: (TransportEvent) -> Void) {
        job.started = true
        emit(.started(op: job.op))
        for (stream, early) in job.early { emit(.output(op: job.op, stream: stream, bytes: early)) }
        job.early = []
    }

    /// Output of `job`: told now if it started, else kept until it does.
    private func give(_ job: AgentJob, _ stream: Engine.OutputStream, _ bytes: [UInt8],
                      emit: (TransportEvent) -> Void) {
        guard !bytes.isEmpty else { return }
        if job.started {
            emit(.output(op: job.op, stream: stream, bytes: bytes))
        } else {
            job.early.append((stream, bytes))
        }
    }

    private func ended(_ job: AgentJob, _ status: ExitStatus, emit: (TransportEvent) -> Void) {
        guard let index = jobs.firstIndex(where: { $0 === job }) else { return }
        jobs.remove(at: index)
        emit(.finished(op: job.op, status: status))
        if let next = jobs.first, next.running && !next.started { tellStart(next, emit: emit) }
        if status != .exited(0) { failedAhead(of: nil) }
    }

    /// A job failed (`job`, still in the list, or one just removed): the runner holds, and the job after it
    /// waits for the engine's verdict.
    private func failedAhead(of job: AgentJob?) {
        guard !holds || gate == nil else { return }
        holds = true
        let after = job.flatMap { job in jobs.firstIndex { $0 === job } }.map { $0 + 1 } ?? 0
        gate = jobs[after...].first { !$0.withdrawn }?.op
    }

    /// The runner's channel ended: a job it was running ends with the channel's status, the jobs it held go
    /// on a new channel (after the verdict, when one ended so). `.broken` when no job ever started on it.
    private func channelEnded(_ session: OpaquePointer, emit: (TransportEvent) -> Void) -> Progress? {
        let status = Operation.exitStatus(of: channel!, session)
        let workedHere = self.workedHere
        if let running = jobs.first, running.running {
            if !running.started { tellStart(running, emit: emit) }
            if !outCarry.isEmpty { give(running, .stdout, outCarry, emit: emit) }
            if !errCarry.isEmpty { give(running, .stderr, errCarry, emit: emit) }
            ended(running, status, emit: emit)
            holds = false
        }
        giveUpChannel()
        guard !workedHere && !jobs.isEmpty else { return nil }
        perJob = true
        let said = String(decoding: stray, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "\n").last.map { ": " + $0 } ?? ""
        return .broken("the runner did not start (\(status.phrase)\(said)); jobs here use one channel each")
    }

    /// Leaves the channel (closed as the socket allows); the jobs not started go on the next one.
    private func giveUpChannel() {
        if let channel { closing.append((channel, false, monotonicNow())) }
        channel = nil
        step = .idle
        holds = false
        outbox = []
        outCarry = []
        errCarry = []
        workedHere = false
        for job in jobs where !job.running { job.reset() }
        dropWithdrawn()
    }

    /// Moves a given-up channel along: EOF, then its output read and dropped until it ends, then closed and
    /// freed. True when it is gone.
    private func drain(_ closing: inout (channel: OpaquePointer, eofSent: Bool, since: Double)) -> Bool {
        let channel = closing.channel
        if monotonicNow() - closing.since > 5 {
            if libssh2_channel_close(channel) == LIBSSH2_ERROR_EAGAIN { return false }
            libssh2_channel_free(channel)
            return true
        }
        if !closing.eofSent {
            let rc = libssh2_channel_send_eof(channel)
            if rc == LIBSSH2_ERROR_EAGAIN { return false }
            closing.eofSent = true
            if rc != 0 { libssh2_channel_free(channel); return true }
        }
        if ChannelIO.read(channel, &buffer, { _, _ in }) != nil { libssh2_channel_free(channel); return true }
        if libssh2_channel_eof(channel) == 0 { return false }
        if libssh2_channel_close(channel) == LIBSSH2_ERROR_EAGAIN { return false }
        libssh2_channel_free(channel)
        return true
    }

    // MARK: - One channel per job

    private func advanceSingle(_ session: OpaquePointer, emit: (TransportEvent) -> Void) -> Progress {
        while true {
            if single == nil {
                guard let first = jobs.first, first.op != gate else { return .waiting }
                single = Operation(id: first.op, command: first.command)
            }
            guard let operation = single, let job = jobs.first else { return .waiting }
            let progress = operation.advance(session) { stream, bytes in
                if !job.started { job.started = true; emit(.started(op: job.op)) }
                emit(.output(op: job.op, stream: stream, bytes: bytes))
            }
            if operation.execAccepted && !job.started { job.started = true; emit(.started(op: job.op)) }
            switch progress {
            case .waiting: return .waiting
            case .connectionLost(let error): return .lost(error)
            case .finished(let status):
                single = nil
                ended(job, status, emit: emit)
            case .refused(let message):
                single = nil
                let refused = jobs
                jobs = []
                gate = nil
                return .refused(message, refused)
            case .failed(let message):
                operation.free()
                single = nil
                jobs.removeFirst()
                emit(.failed(op: job.op, message: message))
            }
        }
    }

    // MARK: - Helpers

    /// Where `marker` first occurs in `data` at or after `from`: memchr for its first byte (\1, rare in output),
    /// memcmp for the rest.
    static func find(_ marker: [UInt8], in data: [UInt8], from: Int) -> Int? {
        guard data.count - from >= marker.count else { return nil }
        return data.withUnsafeBytes { haystack in
            marker.withUnsafeBytes { needle in
                let base = haystack.baseAddress!
                var at = from
                while haystack.count - at >= needle.count {
                    let span = haystack.count - at - needle.count + 1
                    guard let hit = memchr(base + at, Int32(needle[0]), span) else { return nil }
                    let offset = UnsafeRawPointer(hit) - base
                    if memcmp(hit, needle.baseAddress!, needle.count) == 0 { return offset }
                    at = offset + 1
                }
                return nil
            }
        }
    }

    /// How many bytes at the end of `data` could begin `marker` (kept back until the next read).
    static func markerStart(_ marker: [UInt8], in data: [UInt8], from: Int) -> Int {
        let lowest = max(from, data.count - marker.count + 1)
        var start = data.count - 1
        while start >= lowest {
            if data[start] == marker[0] && data[start...].elementsEqual(marker.prefix(data.count - start)) {
                return data.count - start
            }
            start -= 1
        }
        return 0
    }
}

