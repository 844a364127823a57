// Job lines streamed from a descriptor (cloudtask's stdin, a task template's): read on a thread of their own as
// they arrive, so the first job starts as soon as its line is here, and never read further ahead than a bound
// unless the run drains what keeps arriving before it stops reading.
import Foundation

/// One input record as read: its 1-based number among all records (blank ones too) and its bytes (no newline, or
/// no NUL with -0).
public struct InputLine: Sendable {
    public let number: Int
    public let bytes: [UInt8]
}

/// The reader of one stream of job lines. `take` never waits; the reader wakes the runner's loop through
/// `wake` (a descriptor written one byte) when lines arrive.
public final class JobInput: @unchecked Sendable {
    private let fd: Int32
    private let condition = NSCondition()
    // Under `condition`:
    private var lines: [InputLine] = []
    private var head = 0
    private var eof = false
    private var failure: String?
    private var draining = false
    /// The reader waits for the runner to take lines: the input is not quiet, the runner is behind.
    private var blocked = false
    private var lastArrival = monotonic()
    private var started = false
    /// Lines the reader may hold before it waits for the runner to take some (unless draining).
    private let bound: Int
    /// The byte that ends a record: newline (one `\r` before it is dropped too), or NUL for -0 (where `\n` and
    /// `\r` are ordinary bytes).
    private let separator: UInt8
    /// Written one byte when lines arrive into an empty buffer, or at the end (the transport's wake descriptor).
    public var wake: Int32 = -1

    public init(fd: Int32 = 0, bound: Int = 4096, separator: UInt8 = 10) {
        self.fd = fd
        self.bound = bound
        self.separator = separator
    }

    /// Starts the reading thread (once).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        started = true
        let thread = Thread { [self] in read() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func read() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var partial: [UInt8] = []
        var number = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let why = n < 0 ? String(cString: strerror(errno)) : nil
                var last: [InputLine] = []
                if !partial.isEmpty {
                    number += 1
                    last.append(InputLine(number: number, bytes: record(partial)))
                }
                deliver(last, end: true, failure: why)
                return
            }
            var found: [InputLine] = []
            var start = 0
            for i in 0..<n where buffer[i] == separator {
                number += 1
                found.append(InputLine(number: number, bytes: record(partial + buffer[start..<i])))
                partial = []
                start = i + 1
            }
            partial += buffer[start..<n]
            deliver(found, end: false, failure: nil)
        }
    }

    /// Hands lines to the runner, waiting while the buffer is full (unless draining).
    private func deliver(_ found: [InputLine], end: Bool, failure why: String?) {
        condition.lock()
        let wasEmpty = head == lines.count
        if !found.isEmpty || end { lastArrival = monotonic() }
        lines += found
        if end { eof = true; failure = why }
        condition.broadcast()
        let wakeNow = wasEmpty && (!found.isEmpty || end)
        // Draining takes more at a time, but is bounded too: a fast writer never fills memory.
        while !end && lines.count - head >= (draining ? 4 * bound : bound) {
            blocked = true
            condition.wait()
        }
        blocked = false
        condition.unlock()
        if wakeNow && wake >= 0 {
            var byte: UInt8 = 1
            _ = Foundation.write(wake, &byte, 1)
        }
    }

    /// A record's bytes: a newline-ended one without its trailing `\r` (CRLF files).
    private func record(_ bytes: [UInt8]) -> [UInt8] {
        separator == 10 && bytes.last == 13 ? Array(bytes.dropLast()) : bytes
    }

    // MARK: - The runner's side

    /// Up to `count` lines that have arrived, in order (never waits).
    public func take(_ count: Int) -> [InputLine] {
        condition.lock()
        defer { condition.unlock() }
        let taken = Array(lines[head..<min(lines.count, head + max(0, count))])
        head += taken.count
        if head > 4096 && head * 2 > lines.count { lines.removeFirst(head); head = 0 }
        if blocked && !taken.isEmpty { lastArrival = monotonic() }  // it was held back, not quiet
        condition.broadcast()
        return taken
    }

    /// Waits until the input ends, `limit` lines are here, or no byte has come for `pause` seconds: the first
    /// read, which is checked whole before anything runs.
    public func waitForFirstRead(pause: Double = 0.05, limit: Int = 4096) {
        start()
        condition.lock()
        defer { condition.unlock() }
        while !eof && lines.count - head < limit && (lines.count == head || monotonic() - lastArrival < pause) {
            _ = condition.wait(until: Date().addingTimeInterval(pause / 2))
        }
    }

    /// True once the stream has ended (EOF or a read error); lines may still wait to be taken.
    public var ended: Bool { condition.lock(); defer { condition.unlock() }; return eof }

    /// True when the stream has ended and every line was taken.
    public var exhausted: Bool { condition.lock(); defer { condition.unlock() }; return eof && head == lines.count }

    /// Lines read and not yet taken.
    public var waiting: Int { condition.lock(); defer { condition.unlock() }; return lines.count - head }

    /// Why the stream ended early (a read error), if it did.
    public var readFailure: String? { condition.lock(); defer { condition.unlock() }; return failure }

    /// Seconds since the last bytes (or the end) arrived.
    public var quietFor: Double { condition.lock(); defer { condition.unlock() }; return monotonic() - lastArrival }

    /// Raises the read-ahead bound: the run is stopping and takes whatever keeps arriving, fast.
    public func drain() {
        condition.lock()
        draining = true
        condition.broadcast()
        condition.unlock()
    }
}
