// A worker's log, `workers/<n>`: for each job attempt a `# TIMESTAMP [label] job N: TEXT` line, the job's output
// (stdout then stderr, carriage-return progress filtered), then `# TIMESTAMP [label] STATE # FIRST-LINE-OF-TEXT`.
// Written (by the runner) and read back (by the session report) here only.
import Foundation

public enum WorkerLog {
    /// The line that opens a job's block; TEXT as journaled, so it may span lines.
    static func jobLine(label: String, job: Int, text: [UInt8]) -> [UInt8] {
        Array("# \(timestamp()) [\(label)] job \(job): \(String(decoding: text, as: UTF8.self))\n".utf8)
    }

    /// The line that closes it, directly after the output (which the writer ends with a newline).
    static func endLine(label: String, state: JobState, text: [UInt8]) -> [UInt8] {
        Array("# \(timestamp()) [\(label)] \(state.logText) # ".utf8) + firstLine(text) + [10]
    }

    /// The job text's first line as the end line holds it: split on Characters (so "\r\n" is not a break).
    static func firstLine(_ text: [UInt8]) -> [UInt8] {
        let line = "x # " + String(decoding: text, as: UTF8.self)
        return Array(Array(String(line.split(separator: "\n")[0]).utf8).dropFirst(4))
    }

    /// Local time as the logs write it: "2026-11-29 08:40:01".
    public static func timestamp(_ date: Date = Date()) -> String { Engine.timestamp(date) }

    // MARK: - Reading

    /// A job's block: the bytes between its `job N:` line and its end line.
    public struct Block: Sendable {
        public let job: Int
        public let label: String
        public let stamp: String
        public let range: Range<Int>
        /// The end line's state ("exit 1", "timeout"...); nil when the block has no end line (a torn log).
        public let state: String?
    }

    /// Finds the blocks of the jobs a journal holds (a block's `job N:` line must give job N's text).
    public struct Reader: Sendable {
        let headers: [[UInt8]]
        let firstLines: [[UInt8]]

        /// `texts`: job N's text at index N - 1.
        public init(texts: [[UInt8]]) {
            headers = texts.map { Array(String(decoding: $0, as: UTF8.self).utf8) }
            firstLines = texts.map(WorkerLog.firstLine)
        }

        /// The blocks of one worker log, in file order.
        public func blocks(in data: Data) -> [Block] {
            data.withUnsafeBytes { raw -> [Block] in
                let b = raw.bindMemory(to: UInt8.self)
                let n = b.count
                var blocks: [Block] = []
                func matches(_ bytes: [UInt8], at p: Int) -> Bool {
                    guard p + bytes.count <= n else { return false }
                    for (k, byte) in bytes.enumerated() where b[p + k] != byte { return false }
                    return true
                }
                /// `# YYYY-MM-DD HH:MM:SS [` at p: returns the stamp.
                func stamp(at p: Int) -> String? {
                    guard p + 23 <= n, b[p] == 35, b[p + 1] == 32, b[p + 21] == 32, b[p + 22] == 91 else { return nil }
                    for k in 0..<19 {
                        let c = b[p + 2 + k]
                        switch k {
                        case 4, 7: if c != 45 { return nil }
                        case 10: if c != 32 { return nil }
                        case 13, 16: if c != 58 { return nil }
                        default: if c < 48 || c > 57 { return nil }
                        }
                    }
                    return String(decoding: UnsafeBufferPointer(rebasing: b[(p + 2)..<(p + 21)]), as: UTF8.self)
                }
                let jobMark = Array("] job ".utf8)
                func header(at p: Int) -> (job: Int, label: String, stamp: String, end: Int)? {
                    guard let stamp = stamp(at: p) else { return nil }
                    var q = p + 23
                    while q < n && b[q] != 10 && !matches(jobMark, at: q) { q += 1 }
                    guard q < n && b[q] != 10 else { return nil }
                    let label = String(decoding: UnsafeBufferPointer(rebasing: b[(p + 23)..<q]), as: UTF8.self)
                    var r = q + jobMark.count
                    var number = 0, digits = 0
                    while r < n && b[r] >= 48 && b[r] <= 57 && digits < 12 {
                        number = number * 10 + Int(b[r] - 48); r += 1; digits += 1
                    }
                    guard digits > 0, number >= 1, number <= headers.count,
                          r + 2 <= n, b[r] == 58, b[r + 1] == 32 else {
                        return nil
                    }
                    r += 2
                    let text = headers[number - 1]
                    guard matches(text, at: r), r + text.count < n, b[r + text.count] == 10 else { return nil }
                    return (number, label, stamp, r + text.count + 1)
                }
                func trailer(at p: Int, label: [UInt8], job: Int) -> (state: String, end: Int)? {
                    guard stamp(at: p) != nil, matches(label, at: p + 23), p + 23 + label.count + 2 <= n,
                          b[p + 23 + label.count] == 93, b[p + 24 + label.count] == 32 else { return nil }
                    let s = p + 25 + label.count
                    let tail = Array(" # ".utf8) + firstLines[job - 1]
                    var k = s
                    while k < n && b[k] != 10 {
                        if b[k] == 32 && matches(tail, at: k) && (k + tail.count == n || b[k + tail.count] == 10) {
                            let state = String(decoding: UnsafeBufferPointer(rebasing: b[s..<k]), as: UTF8.self)
                            guard state.hasPrefix("exit ") || state.hasPrefix("signal ")
                                    || ["timeout", "lost", "PENDING"].contains(state) else { return nil }
                            return (state, min(n, k + tail.count + 1))
                        }
                        k += 1
                    }
                    return nil
                }
                var i = 0
                var open: (job: Int, label: String, labelBytes: [UInt8], stamp: String, start: Int)?
                // An end line followed by more output, not by the next block: kept in case no better one comes.
                var fallback: (at: Int, state: String, end: Int)?
                func close(_ range: Range<Int>, _ state: String?) {
                    guard let current = open else { return }
                    blocks.append(Block(job: current.job, label: current.label, stamp: current.stamp, range: range,
                                        state: state))
                    open = nil
                    fallback = nil
                }
                while i < n {
                    guard let current = open else {
                        if let h = header(at: i) {
                            open = (h.job, h.label, Array(h.label.utf8), h.stamp, h.end)
                            i = h.end
                        } else {
                            while i < n && b[i] != 10 { i += 1 }
                            i += 1
                        }
                        continue
                    }
                    // Inside a block: its end line is the one followed by the next block or the end of the file
                    // (output may hold lines that look like it); a header with no end line before it means a torn log.
                    var j = i
                    while j < n && b[j] != 35 { j += 1 }
                    guard j < n else { break }
                    if let t = trailer(at: j, label: current.labelBytes, job: current.job) {
                        if t.end >= n || header(at: t.end) != nil {
                            close(current.start..<j, t.state)
                            i = t.end
                        } else {
                            if fallback == nil { fallback = (j, t.state, t.end) }
                            i = j + 1
                        }
                    } else if let h = header(at: j) {
                        if let f = fallback {
                            close(current.start..<f.at, f.state)
                        } else {
                            close(current.start..<j, nil)
                        }
                        open = (h.job, h.label, Array(h.label.utf8), h.stamp, h.end)
                        i = h.end
                    } else {
                        i = j + 1
                    }
                }
                if let current = open {
                    if let f = fallback { close(current.start..<f.at, f.state) } else { close(current.start..<n, nil) }
                }
                return blocks
            }
        }
    }
}
