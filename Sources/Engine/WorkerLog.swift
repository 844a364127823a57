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
    public struct Reader {
        /// Job N's text, as journaled (nil: no such job).
        let text: (Int) -> [UInt8]?

        /// `texts`: job N's text at index N - 1.
        public init(texts: [[UInt8]]) {
            self.init { n in n >= 1 && n <= texts.count ? texts[n - 1] : nil }
        }

        /// `text`: job N's text, looked up when a block names job N (from the journal, say): nothing is kept.
        public init(text: @escaping (Int) -> [UInt8]?) { self.text = text }

        /// The blocks of one worker log in memory, in file order.
        public func blocks(in data: Data) -> [Block] {
            data.withUnsafeBytes { raw -> [Block] in
                var blocks: [Block] = []
                scan(MemoryBytes(bytes: raw.bindMemory(to: UInt8.self))) { blocks.append($0) }
                return blocks
            }
        }

        /// The blocks of the worker log at `path`, in file order, read through a window of a few chunks:
        /// memory does not grow with the log. A block's range is byte offsets in the file.
        public func blocks(inFile path: String, each: (Block) throws -> Void) throws {
            let window = try FileWindow(path)
            var failure: Error?
            scan(window) { block in
                guard failure == nil else { return }
                do { try each(block) } catch { failure = error }
            }
            if let failure { throw failure }
            if let error = window.error { throw error }
        }

        /// The one parse of a log, over memory or a file window.
        private func scan<B: LogBytes>(_ b: B, each: (Block) -> Void) {
            let n = b.count
            // The text of the job a header names, the last one asked for kept (a header and its trailer ask twice).
            var cached: (job: Int, header: [UInt8], firstLine: [UInt8])?
            func lookup(_ job: Int) -> (header: [UInt8], firstLine: [UInt8])? {
                if let cached, cached.job == job { return (cached.header, cached.firstLine) }
                guard let raw = text(job) else { return nil }
                let entry = (job, Array(String(decoding: raw, as: UTF8.self).utf8), WorkerLog.firstLine(raw))
                cached = entry
                return (entry.1, entry.2)
            }
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
                return b.string((p + 2)..<(p + 21))
            }
            let jobMark = Array("] job ".utf8)
            func header(at p: Int) -> (job: Int, label: String, stamp: String, end: Int)? {
                guard let stamp = stamp(at: p) else { return nil }
                var q = p + 23
                // A label is a worker's name: a longer line is output (and is not read to its end).
                while q < n && b[q] != 10 && q - p < 1024 && !matches(jobMark, at: q) { q += 1 }
                guard q < n && b[q] != 10 && q - p < 1024 else { return nil }
                let label = b.string((p + 23)..<q)
                var r = q + jobMark.count
                var number = 0, digits = 0
                while r < n && b[r] >= 48 && b[r] <= 57 && digits < 12 {
                    number = number * 10 + Int(b[r] - 48); r += 1; digits += 1
                }
                guard digits > 0, number >= 1, r + 2 <= n, b[r] == 58, b[r + 1] == 32, let text = lookup(number)?.header else {
                    return nil
                }
                r += 2
                guard matches(text, at: r), r + text.count < n, b[r + text.count] == 10 else { return nil }
                return (number, label, stamp, r + text.count + 1)
            }
            func trailer(at p: Int, label: [UInt8], job: Int) -> (state: String, end: Int)? {
                guard stamp(at: p) != nil, matches(label, at: p + 23), p + 23 + label.count + 2 <= n,
                      b[p + 23 + label.count] == 93, b[p + 24 + label.count] == 32,
                      let first = lookup(job)?.firstLine else { return nil }
                let s = p + 25 + label.count
                let tail = Array(" # ".utf8) + first
                var k = s
                // A state is a few words ("exit 255", "signal KILL"): a longer line is output, not an end line.
                while k < n && b[k] != 10 && k - s <= 64 {
                    if b[k] == 32 && matches(tail, at: k) && (k + tail.count == n || b[k + tail.count] == 10) {
                        let state = b.string(s..<k)
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
                each(Block(job: current.job, label: current.label, stamp: current.stamp, range: range, state: state))
                open = nil
                fallback = nil
            }
            while i < n {
                b.release(before: i)
                guard let current = open else {
                    if let h = header(at: i) {
                        open = (h.job, h.label, Array(h.label.utf8), h.stamp, h.end)
                        i = h.end
                    } else {
                        i = b.next(10, from: i) + 1
                    }
                    continue
                }
                // Inside a block: its end line is the one followed by the next block or the end of the file
                // (output may hold lines that look like it); a header with no end line before it means a torn log.
                let j = b.next(35, from: i)
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
            if open != nil {
                if let f = fallback { close(open!.start..<f.at, f.state) } else { close(open!.start..<n, nil) }
            }
        }
    }
}

// MARK: - The bytes a Reader scans

/// A log's bytes by position: all of it in memory, or a file through a window.
private protocol LogBytes {
    var count: Int { get }
    subscript(_ p: Int) -> UInt8 { get }
    func string(_ range: Range<Int>) -> String
    /// The first position at or after `p` holding `byte`, else `count`.
    func next(_ byte: UInt8, from p: Int) -> Int
    /// Positions before `p` will not be asked for again.
    func release(before p: Int)
}

private struct MemoryBytes: LogBytes {
    let bytes: UnsafeBufferPointer<UInt8>
    var count: Int { bytes.count }
    subscript(_ p: Int) -> UInt8 { bytes[p] }
    func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
    func next(_ byte: UInt8, from p: Int) -> Int {
        var k = p
        while k < bytes.count && bytes[k] != byte { k += 1 }
        return k
    }
    func release(before p: Int) {}
}

/// A file read forward in chunks: holds the bytes from the last release to the furthest one asked for.
/// Lookahead is bounded (a header, an end line), so memory is a chunk or two, whatever the file's size.
private final class FileWindow: LogBytes {
    let count: Int
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var base = 0          // file offset of buffer[0]
    private static let chunk = 1 << 20
    /// The first read that failed: the scan sees the file as ending there.
    private(set) var error: FileError?

    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("cannot read", path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { let e = FileError("cannot read", path); close(fd); throw e }
        count = Int(info.st_size)
    }
    deinit { close(fd) }

    /// Makes `buffer` hold position p (p < count).
    private func load(_ p: Int) {
        while p >= base + buffer.count {
            let start = buffer.count
            let want = min(FileWindow.chunk, count - (base + start))
            guard want > 0 else { return }
            buffer += repeatElement(0, count: want)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + start, want, off_t(base + start)) }
            if n < 0 && errno == EINTR { buffer.removeLast(want); continue }
            if n <= 0 {
                // Truncated under us, or unreadable: what is left reads as zeros, and the caller is told.
                if error == nil { error = FileError("cannot read", path) }
                for k in start..<buffer.count { buffer[k] = 0 }
                return
            }
            if n < want { buffer.removeLast(want - n) }
        }
    }

    subscript(_ p: Int) -> UInt8 {
        if p >= base + buffer.count { load(p) }
        let k = p - base
        return k >= 0 && k < buffer.count ? buffer[k] : 0
    }

    func string(_ range: Range<Int>) -> String {
        if range.upperBound > base + buffer.count { load(range.upperBound - 1) }
        return String(decoding: buffer[(range.lowerBound - base)..<(range.upperBound - base)], as: UTF8.self)
    }

    func next(_ byte: UInt8, from p: Int) -> Int {
        var k = p
        while k < count {
            if k >= base + buffer.count { load(k) }
            let end = base + buffer.count
            guard k < end else { return count }
            if let found = buffer[(k - base)...].firstIndex(of: byte) { return found + base }
            k = end
        }
        return count
    }

    func release(before p: Int) {
        // Drop whole chunks only, so that a scan moving forward a line at a time copies little.
        let drop = min(p - base, buffer.count)
        if drop >= FileWindow.chunk { buffer.removeFirst(drop); base += drop }
    }
}
