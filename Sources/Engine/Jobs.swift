// What the engine says of jobs to its callers: a job as read from the input, one finished attempt, a run's summary.
import Foundation

/// One job as read from the input: its number (1-based, input order), the raw line and its shell text.
public struct JobSpec: Sendable {
    public let number: Int
    public let input: [UInt8]
    public let text: [UInt8]
    public init(number: Int, input: [UInt8], text: [UInt8]) {
        self.number = number; self.input = input; self.text = text
    }

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
    /// A bad input line stopped the batch (jobs before it ran; the session holds them).
    public var badInput = false
    /// Set when a session file could not be written and the batch stopped: the one line that says so.
    public var fault: String?
    /// 0 every job exited 0; 2 a bad input line stopped the batch; 1 anything else (a full disk too).
    public var exitCode: Int32 { fault != nil ? 1 : badInput ? 2 : ok == total ? 0 : 1 }
}
