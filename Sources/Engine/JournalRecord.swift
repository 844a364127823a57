// The journal's records: one JSON object per line, written here byte for byte as every version wrote them
// and read back here, for Journal.replay and the session report alike. Nobody else builds or parses them.
import Foundation

/// One line of a session's journal.
public enum JournalRecord: Sendable {
    /// `{"job":N,"input":...,"text":...}`; `input64`/`text64` (base64) when the input is not NUL-free UTF-8.
    case job(JobSpec)
    /// `{"reset":N}`: --retry made the job pending again, its retries and deaths forgotten.
    case reset(job: Int)
    /// `{"run":T}`: a run (the first, or a --resume/--retry) begins.
    case run(at: Double)
    /// `{"start":N,"worker":L,"attempt":A,"at":T}`; hand-made journals may leave out all but the job.
    case start(job: Int, worker: String?, attempt: Int?, at: Double?)
    /// `{"end":N,"seconds":S,"at":T,"exit":C}` (or `"signal":NAME`, `"timeout":true`); a lost job is
    /// `{"end":N,"lost":true,"at":T}`. `state` nil: an end record that says no outcome (ignored).
    case end(job: Int, state: JobState?, seconds: Double?, at: Double?)
    /// `{"retry":N}`: the job failed and goes back to the queue.
    case retry(job: Int)
    /// `{"requeue":N}`: its worker died (a death); with `"refused":true` its channel was refused (no death).
    case requeue(job: Int, refused: Bool)
    /// `{"abort":N}`: stopped by an interrupt, pending again.
    case abort(job: Int)
    /// `{"generator":"open"}` / `"done"`: whether a job generator was still producing.
    case generator(open: Bool)
    /// `{"stop":PID,"at":T}`: the run closed normally (its controller was not killed).
    case stop(pid: Int?, at: Double?)
    /// `{"input_stopped":N,"eof":B}`: the run read its job lines up to input line N, and no further; `eof`
    /// tells whether the input had ended there. Lines after N are not part of the session.
    case inputStopped(afterLine: Int, eof: Bool)

    /// The time the record carries, if any (a run's start is its own field).
    public var at: Double? {
        switch self {
        case .start(_, _, _, let at), .end(_, _, _, let at), .stop(_, let at): return at
        default: return nil
        }
    }

    /// The job the record is about, for records about one job.
    public var job: Int? {
        switch self {
        case .job(let spec): return spec.number
        case .reset(let n), .start(let n, _, _, _), .end(let n, _, _, _), .retry(let n), .requeue(let n, _),
             .abort(let n):
            return n
        case .run, .generator, .stop, .inputStopped: return nil
        }
    }

    // MARK: - Writing

    /// Appends the record's line (with its newline) to `out`.
    func encode(into out: inout [UInt8]) {
        func open(_ key: StaticString, _ value: JSONValue) {
            out.append(UInt8(ascii: "{"))
            field(key, value, first: true)
        }
        func field(_ key: StaticString, _ value: JSONValue, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            key.withUTF8Buffer { out += $0 }
            out += [UInt8(ascii: "\""), UInt8(ascii: ":")]
            value.encode(into: &out)
        }
        switch self {
        case .job(let spec):
            open("job", .int(spec.number))
            let input = spec.input.contains(0)
                ? nil
                : String(validatingUTF8: spec.input.map { CChar(bitPattern: $0) } + [0])
            if let input {
                field("input", .string(input))
                field("text", .bytes(spec.text))
            } else {
                field("input64", .string(Data(spec.input).base64EncodedString()))
                field("text64", .string(Data(spec.text).base64EncodedString()))
            }
        case .reset(let n): open("reset", .int(n))
        case .run(let at): open("run", .double(at))
        case .start(let n, let worker, let attempt, let at):
            open("start", .int(n))
            if let worker { field("worker", .string(worker)) }
            if let attempt { field("attempt", .int(attempt)) }
            if let at { field("at", .double(at)) }
        case .end(let n, let state, let seconds, let at):
            open("end", .int(n))
            if state == .lost { field("lost", .bool(true)) }
            if let seconds { field("seconds", .double(seconds)) }
            if let at { field("at", .double(at)) }
            switch state {
            case .exited(let code)?: field("exit", .int(code))
            case .signaled(let name)?: field("signal", .string(name))
            case .timeout?: field("timeout", .bool(true))
            default: break
            }
        case .retry(let n): open("retry", .int(n))
        case .requeue(let n, let refused):
            open("requeue", .int(n))
            if refused { field("refused", .bool(true)) }
        case .abort(let n): open("abort", .int(n))
        case .generator(let isOpen): open("generator", .string(isOpen ? "open" : "done"))
        case .stop(let pid, let at):
            open("stop", pid.map(JSONValue.int) ?? .other)
            if let at { field("at", .double(at)) }
        case .inputStopped(let line, let eof):
            open("input_stopped", .int(line))
            field("eof", .bool(eof))
        }
        out += [UInt8(ascii: "}"), 10]
    }

    // MARK: - Reading

    /// Why a line is not a record.
    enum DecodeError: Error {
        /// Not one JSON object (a torn write, or corruption).
        case notJSON
        /// A job record without a readable input and text.
        case noInput(job: Int)
    }

    /// Reads one line (without its newline). nil: a JSON object that is no record this version knows.
    /// Keys are tried in the order every reader tried them, and `lost`, `timeout` and `refused` count by
    /// their presence alone.
    static func decode<Line: Collection>(_ line: Line) throws(DecodeError) -> JournalRecord?
    where Line.Element == UInt8 {
        guard let object = JSONLine(line) else { throw .notJSON }
        if let number = object["job"]?.int {
            if let input = object["input"]?.string, let text = object["text"]?.string {
                return .job(JobSpec(number: number, input: Array(input.utf8), text: Array(text.utf8)))
            }
            if let input = object["input64"]?.string.flatMap({ Data(base64Encoded: $0) }),
               let text = object["text64"]?.string.flatMap({ Data(base64Encoded: $0) }) {
                return .job(JobSpec(number: number, input: Array(input), text: Array(text)))
            }
            throw .noInput(job: number)
        }
        if let at = object["run"]?.double { return .run(at: at) }
        let at = object["at"]?.double
        if let stop = object["stop"] { return .stop(pid: stop.int, at: at) }
        if let n = object["start"]?.int {
            return .start(job: n, worker: object["worker"]?.string, attempt: object["attempt"]?.int, at: at)
        }
        if let n = object["end"]?.int {
            var state: JobState?
            if let code = object["exit"]?.int { state = .exited(code) }
            else if let signal = object["signal"]?.string { state = .signaled(signal) }
            else if object["timeout"] != nil { state = .timeout }
            else if object["lost"] != nil { state = .lost }
            return .end(job: n, state: state, seconds: object["seconds"]?.double, at: at)
        }
        if let n = object["retry"]?.int { return .retry(job: n) }
        if let n = object["requeue"]?.int { return .requeue(job: n, refused: object["refused"] != nil) }
        if let n = object["abort"]?.int { return .abort(job: n) }
        if let n = object["reset"]?.int { return .reset(job: n) }
        if let n = object["input_stopped"]?.int { return .inputStopped(afterLine: n, eof: object["eof"]?.bool ?? false) }
        switch object["generator"]?.string {
        case "open": return .generator(open: true)
        case "done": return .generator(open: false)
        default: return nil
        }
    }
}
