// The report's reading of the worker logs: each log streamed once through WorkerLog.Reader (job texts looked up
// in the journal as blocks name them), a job's block picked as the last one logged by the worker of its last
// attempt (else by any), and a block's bytes read back by range. Nothing holds a whole log.
import Engine
import Foundation

extension SessionReport {
    /// How much of a listed job's output the report keeps: the last lines it prints, each cut at `lineBytes`.
    enum Tail {
        static let lines = 5
        static let lineBytes = 4096
    }

    /// Calls `better` each time a block of job `i` (0-based, `wanted(i)`) is better than the one seen before
    /// for it: the caller keeps the last call per job. `key`/`setKey` hold each job's best so far (0: none).
    func forEachBetterBlock(_ journal: LineFile, wanted: (Int) -> Bool,
                            key: (Int) -> UInt32, setKey: (Int, UInt32) -> Void,
                            better: (Int, WorkerLog.Block, Int) throws -> Void) throws {
        let count = index.count
        let index = self.index
        let reader = WorkerLog.Reader { n in
            guard n >= 1 && n <= count,
                  let spec = try? Journal.job(at: index.offset(n - 1), in: journal) else { return nil }
            return spec.text
        }
        for (file, name) in logNames.enumerated() {
            try reader.blocks(inFile: name) { block in
                let i = block.job - 1
                guard wanted(i) else { return }
                let table = history.attempts
                let label = table.endWorker(i) != 0 ? table.endWorker(i) : table.lastWorker(i)
                let same = label != 0 && history.knownID(block.label) == label
                let k = (same ? 1 << 31 : 0) | Self.stampKey(block.stamp)
                guard k >= key(i) else { return }
                setKey(i, k)
                try better(i, block, file)
            }
        }
    }

    /// A log stamp ("2024-05-01 10:00:00") as a number that sorts as the text does (years 2000-2059), 1 or more.
    static func stampKey(_ stamp: String) -> UInt32 {
        let digits = stamp.utf8.filter { $0 >= 48 && $0 <= 57 }.map { UInt32($0 - 48) }
        guard digits.count == 14 else { return 1 }
        func number(_ range: Range<Int>) -> UInt32 { digits[range].reduce(0) { $0 * 10 + $1 } }
        let year = min(max(number(0..<4), 2000), 2059) - 2000
        let days = (year * 13 + number(4..<6)) * 32 + number(6..<8)
        return 1 + ((days * 24 + number(8..<10)) * 60 + number(10..<12)) * 60 + number(12..<14)
    }

    /// Finds the blocks of `jobs` (by 0-based index) in the worker logs and reads their last lines.
    func locate(_ jobs: inout [Int: Job], _ journal: LineFile) {
        guard !jobs.isEmpty else { return }
        var keys: [Int: UInt32] = [:]
        var found: [Int: (WorkerLog.Block, Int)] = [:]
        do {
            try forEachBetterBlock(journal, wanted: { jobs[$0] != nil },
                                   key: { keys[$0] ?? 0 }, setKey: { keys[$0] = $1 }) {
                found[$0] = ($1, $2)
            }
        } catch {
            // A log that cannot be read to its end: the blocks found before stand.
        }
        for (i, (block, file)) in found {
            let job = jobs[i]!
            var logged = LoggedOutput(file: file, range: block.range, label: block.label, state: block.state)
            if let last = job.lastEnd, let state = last.state {
                logged.earlier = block.label != last.worker || (block.state != nil && block.state != state.logText)
            }
            (logged.lineCount, logged.lastLines) = lastLines(of: logged)
            jobs[i] = Job(number: job.number, text: job.text, state: job.state, last: job.last, lastEnd: job.lastEnd,
                          output: logged)
        }
    }

    /// A block's lines without the trailing blank ones (spaces, tabs, carriage returns): how many, and the last few.
    func lastLines(of logged: LoggedOutput) -> (Int, [[UInt8]]) {
        var kept: [[UInt8]] = []      // up to Tail.lines, ending at the last line that is not blank
        var blanks: [[UInt8]] = []    // blank lines since then (the last Tail.lines of them)
        var blankCount = 0, count = 0, lines = 0
        var line: [UInt8] = []
        var isBlank = true
        func endLine() {
            lines += 1
            if isBlank {
                blankCount += 1
                blanks.append(line)
                if blanks.count > Tail.lines { blanks.removeFirst() }
            } else {
                kept += blanks + [line]
                if kept.count > Tail.lines { kept.removeFirst(kept.count - Tail.lines) }
                blanks = []; blankCount = 0
                count = lines
            }
            line = []; isBlank = true
        }
        try? forEachChunk(of: logged) { chunk in
            for byte in chunk {
                if byte == 10 { endLine(); continue }
                if line.count < Tail.lineBytes { line.append(byte) }
                if byte != 32 && byte != 9 && byte != 13 { isBlank = false }
            }
        }
        endLine()
        return (count, kept)
    }

    /// Calls `body` with a block's bytes, a chunk at a time.
    func forEachChunk(of logged: LoggedOutput, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        let name = logNames[logged.file]
        let fd = open(name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("cannot read", name) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var position = logged.range.lowerBound
        while position < logged.range.upperBound {
            let want = min(buffer.count, logged.range.upperBound - position)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(position)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FileError("cannot read", name) }
            try body(buffer[0..<n])
            position += n
        }
    }

    /// The bytes a job's block holds in its worker log (stdout then stderr, carriage returns filtered); [] when none.
    public func output(of job: Job) -> [UInt8] {
        guard let logged = job.output else { return [] }
        var bytes: [UInt8] = []
        try? forEachChunk(of: logged) { bytes += $0 }
        return bytes
    }

    /// The last `limit` bytes of each job's output, by job number, and the worker of its last attempt (hooks).
    public func outputTails(_ limit: Int) -> [Int: [UInt8]] {
        guard let journal = try? LineFile(path + "/journal") else { return [:] }
        var keys = [UInt32](repeating: 0, count: index.count)
        var tails: [Int: [UInt8]] = [:]
        try? forEachBetterBlock(journal, wanted: { _ in true },
                                key: { keys[$0] }, setKey: { keys[$0] = $1 }) { i, block, file in
            let start = max(block.range.lowerBound, block.range.upperBound - limit)
            let logged = LoggedOutput(file: file, range: start..<block.range.upperBound,
                                      label: block.label, state: block.state)
            var tail: [UInt8] = []
            try? forEachChunk(of: logged) { tail += $0 }
            tails[i + 1] = tail
        }
        return tails
    }

    /// The worker of job `number`'s last attempt, if it started.
    public func worker(ofJob number: Int) -> String? {
        guard number >= 1 && number <= history.attempts.count else { return nil }
        return history.label(history.attempts.lastWorker(number - 1))
    }
}
