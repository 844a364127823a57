// A slot's runner on a worker (RemoteScript.agent): one long-lived exec channel that runs the slot's jobs in
// order, each next one already written to its stdin, and the markers around each job's output read back into
// the engine's events. Where the runner cannot start, the slot runs its jobs one channel each, still in order.
import CLibSSH2
import Engine
import Foundation

/// One job given to a slot, from `run` until its end.
final class AgentJob {
    let op: Int
    let command: RemoteCommand
    /// `\u{1}` and 32 hex digits, fresh per job: what the runner prints around the job's output.
    let marker: [UInt8]
    /// Its S marker was read; `started` once that was told (after the job before it ended).
    var startSeen = false
    var started = false
    /// Running on the worker, told or not.
    var running: Bool { startSeen || started }
    var outDone = false
    var errDone = false
    var status = 0
    /// Output read before its start was (stderr is read apart from stdout), given once it starts.
    var early: [(Engine.OutputStream, [UInt8])] = []

    init(op: Int, command: RemoteCommand) {
        self.op = op
        self.command = command
        var generator = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        marker = [1] + (0..<32).map { _ in hex[Int(generator.next() & 15)] }
    }

    var nonce: String { String(decoding: marker.dropFirst(), as: UTF8.self) }
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
    /// Channels given up (a timeout, an abort), closed as the socket allows.
    private var closing: [OpaquePointer] = []
    /// Jobs at the front of `jobs` whose request went on this channel.
    private var written = 0
    /// What stdin still has to carry, in order: the preamble, requests, verdicts.
    private var outbox: [UInt8] = []
    /// The runner waits for a verdict before its next job (the last one failed).
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

    var isEmpty: Bool { jobs.isEmpty && closing.isEmpty }

    func add(op: Int, command: RemoteCommand) {
        jobs.append(AgentJob(op: op, command: command))
        if step == .running { pump() }
    }

    /// The engine's verdict on the job after a failed one.
    func release(op: Int, run: Bool) {
        guard gate == op, let index = jobs.firstIndex(where: { $0.op == op }) else { return }
        gate = nil
        if run {
            if index < written { outbox += Array("go\n".utf8); holds = false }
        } else {
            if index < written { outbox += Array("skip\n".utf8); written -= 1 }
            jobs.remove(at: index)
        }
        if step == .running { pump() }
    }

    /// Stops `op`; false if the slot does not have it. A running job's channel is closed (the runner kills the
    /// job's group); so is one that holds its request, and a job running there besides is told `failed`.
    func cancel(op: Int, emit: (TransportEvent) -> Void) -> Bool {
        guard let index = jobs.firstIndex(where: { $0.op == op }) else { return false }
        let job = jobs.remove(at: index)
        if gate == op { gate = nil }
        if perJob {
            if let single, single.id == op { if let channel = single.takeChannel() { closing.append(channel) }; self.single = nil }
            return true
        }
        guard job.running || index < written else { return true }
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
        closing.removeAll { channel in
            guard libssh2_channel_close(channel) != LIBSSH2_ERROR_EAGAIN else { return false }
            libssh2_channel_free(channel)
            return true
        }
        if perJob { return advanceSingle(session, emit: emit) }
        while true {
            switch step {
            case .idle:
                guard let first = jobs.first, first.op != gate else { return .waiting }
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
                let request = RemoteScript.agentRequest(for: jobs[0].command)
                let rc = request.withUnsafeBufferPointer { buf in
                    buf.withMemoryRebound(to: CChar.self) { ct_channel_exec(channel, $0.baseAddress, UInt32($0.count)) }
                }
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 { return .lost(SSHError("exec", session: session, code: rc)) }
                step = .running
                outbox = jobs[0].command.preamble
                pump()
            case .running:
                if let lost = write(session) { return .lost(lost) }
                let (ended, lostError) = read(session, emit: emit)
                if let lostError { return .lost(lostError) }
                if !ended { return .waiting }
                if let broken = channelEnded(session, emit: emit) { return broken }
            }
        }
    }

    // MARK: - The runner's channel

    /// Puts the requests that may go now in the outbox: in order, up to the job that waits for a verdict.
    private func pump() {
        while written < jobs.count && jobs[written].op != gate {
            let job = jobs[written]
            outbox += RemoteScript.agentRequest(nonce: job.nonce, script: job.command.script,
                                                environment: job.command.environment)
            if holds { outbox += Array("go\n".utf8); holds = false }
            written += 1
        }
    }

    /// Writes what the outbox holds; an error if the connection is lost.
    private func write(_ session: OpaquePointer) -> SSHError? {
        while !outbox.isEmpty {
            let n = outbox.withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: CChar.self) { ct_channel_write(channel, $0.baseAddress, $0.count) }
            }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { return nil }
            if n < 0 { return SSHError("write stdin", session: session, code: Int32(n)) }
            outbox.removeFirst(n)
        }
        return nil
    }

    /// Reads stdout and stderr until both would block; true when the runner's output ended.
    private func read(_ session: OpaquePointer, emit: (TransportEvent) -> Void) -> (Bool, SSHError?) {
        while true {
            var progressed = false
            for (stream, id) in [(Engine.OutputStream.stdout, Int32(0)), (.stderr, Int32(SSH_EXTENDED_DATA_STDERR))] {
                let n = buffer.withUnsafeMutableBufferPointer { ct_channel_read(channel, id, $0.baseAddress, $0.count) }
                if n > 0 {
                    let bytes = buffer.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0).prefix(n)) }
                    take(bytes, from: stream, emit: emit)
                    progressed = true
                } else if n < 0 && n != Int(LIBSSH2_ERROR_EAGAIN) {
                    let error = SSHError("read", session: session, code: Int32(n))
                    if SSHError.isConnectionLost(Int32(n)) { return (false, error) }
                    return (true, nil)
                }
            }
            if !progressed { return (libssh2_channel_eof(channel) != 0, nil) }
        }
    }

    /// Splits what a stream brought at the markers of the jobs it is reading.
    private func take(_ bytes: [UInt8], from stream: Engine.OutputStream, emit: (TransportEvent) -> Void) {
        let stdout = stream == .stdout
        var data = (stdout ? outCarry : errCarry) + bytes
        if stdout { outCarry = [] } else { errCarry = [] }
        var at = 0
        while at < data.count {
            guard let job = jobs.first(where: { stdout ? !$0.outDone : !$0.errDone }) else {
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
                job.startSeen = true
                workedHere = true
                // Told once the job before it ended (its stderr may still be on the way): events keep their order.
                if jobs.first === job { tellStart(job, emit: emit) }
            } else if kind == UInt8(ascii: "E") {
                if stdout {
                    job.status = Int(String(decoding: data[(tail + 1)..<newline], as: UTF8.self)) ?? 255
                    job.outDone = true
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
    private func give(_ job: AgentJob, _ stream: Engine.OutputStream, _ bytes: [UInt8], emit: (TransportEvent) -> Void) {
        guard !bytes.isEmpty else { return }
        if job.started { emit(.output(op: job.op, stream: stream, bytes: bytes)) } else { job.early.append((stream, bytes)) }
    }

    private func ended(_ job: AgentJob, _ status: ExitStatus, emit: (TransportEvent) -> Void) {
        guard let index = jobs.firstIndex(where: { $0 === job }) else { return }
        jobs.remove(at: index)
        if index < written { written -= 1 }
        emit(.finished(op: job.op, status: status))
        if let next = jobs.first, next.startSeen && !next.started { tellStart(next, emit: emit) }
        if status != .exited(0) {
            holds = true
            gate = jobs.first?.op
        }
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
        for job in jobs { job.early = [] }
        let said = String(decoding: stray, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "\n").last.map { ": " + $0 } ?? ""
        return .broken("the runner did not start (\(status.phrase)\(said)); jobs here use one channel each")
    }

    /// Leaves the channel (closed as the socket allows); the jobs not started go on the next one.
    private func giveUpChannel() {
        if let channel { closing.append(channel) }
        channel = nil
        step = .idle
        written = 0
        holds = false
        outbox = []
        outCarry = []
        errCarry = []
        workedHere = false
        for job in jobs where !job.running { job.startSeen = false; job.outDone = false; job.errDone = false; job.early = [] }
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
                    guard let hit = memchr(base + at, Int32(needle[0]), haystack.count - at - needle.count + 1) else { return nil }
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
