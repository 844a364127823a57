// Where job output and status lines go: per-job spools (memory, then a temp file past 1 MiB), and the
// console, which logs status lines and hands output and status to the front end's display.
import Foundation

/// One stream of one job: kept in memory up to a limit, then spilled to an unlinked temp file. A spill that
/// fails is reported once and the rest stays in memory: the output is never cut, the batch stops.
final class Spool {
    static let memoryLimit = 1 << 20
    private var memory: [UInt8] = []
    private var fd: Int32 = -1
    /// Bytes in the temp file before `memory`'s; the file past them holds nothing to read (a failed write).
    private var fileCount = 0
    private var spillFailed = false
    private let directory: String
    private let onFailure: ((FileError) -> Void)?
    private(set) var count = 0
    /// The last bytes written, for reports and callbacks.
    private(set) var tail: [UInt8] = []
    static let tailLimit = 2048

    init(directory: String, onFailure: ((FileError) -> Void)? = nil) {
        self.directory = directory; self.onFailure = onFailure
    }
    deinit { if fd >= 0 { close(fd) } }

    func append(_ bytes: [UInt8]) {
        count += bytes.count
        tail += bytes.suffix(Spool.tailLimit)
        if tail.count > 2 * Spool.tailLimit { tail.removeFirst(tail.count - Spool.tailLimit) }
        if spillFailed || (fd < 0 && memory.count + bytes.count <= Spool.memoryLimit) {
            memory += bytes
            return
        }
        do {
            if fd < 0 {
                var template = Array((directory + "/spool.XXXXXX").utf8CString)
                fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                guard fd >= 0 else { throw FileError("cannot create", directory + "/spool.XXXXXX") }
                unlink(String(cString: template))
                try FileHandleWriter(fd: fd, path: directory + "/spool").write(memory)
                fileCount = memory.count
                memory = []
            }
            try FileHandleWriter(fd: fd, path: directory + "/spool").write(bytes)
            fileCount += bytes.count
        } catch {
            spillFailed = true
            memory += bytes
            onFailure?(error as? FileError ?? FileError("cannot write", directory + "/spool", errno: EIO))
        }
    }

    /// Calls `body` with the contents in chunks, in order.
    func forEachChunk(_ body: ([UInt8]) throws -> Void) rethrows {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var offset = 0
        while fd >= 0 && offset < fileCount {
            let n = buffer.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress, min($0.count, fileCount - offset), off_t(offset))
            }
            if n <= 0 { break }
            try body(Array(buffer[0..<n]))
            offset += n
        }
        if !memory.isEmpty { try body(memory) }
    }
}

/// --keep-order's held output: every held job's stdout and stderr appended to one unlinked file in the session
/// folder, so a slow first job holding back a million others costs disk, not memory. Where that file cannot
/// be written, the output is held in memory instead (and the failure stops the batch, as for any session file).
final class HeldOutput {
    struct Entry {
        let prefix: [UInt8]
        let offset: off_t
        let outCount: Int
        let errCount: Int
        /// The output itself, when the file could not take it.
        var memory: (out: [UInt8], err: [UInt8])?
    }
    private var fd: Int32 = -1
    private var end: off_t = 0
    private var broken = false
    private let directory: String
    private let failed: (Error) -> Void

    init(directory: String, failed: @escaping (Error) -> Void) { self.directory = directory; self.failed = failed }
    deinit { if fd >= 0 { close(fd) } }

    /// Keeps the job's output; returns where it is.
    func keep(prefix: [UInt8], out: Spool?, err: Spool?) -> Entry {
        if fd < 0 && !broken {
            var template = Array((directory + "/held.XXXXXX").utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd >= 0 {
                unlink(String(cString: template))
            } else {
                fail(FileError("cannot create", directory + "/held.*"))
            }
        }
        func bytes(_ spool: Spool?) -> [UInt8] {
            var all: [UInt8] = []
            spool?.forEachChunk { all += $0 }
            return all
        }
        if !broken {
            let entry = Entry(prefix: prefix, offset: end, outCount: out?.count ?? 0, errCount: err?.count ?? 0)
            let start = end
            do {
                for spool in [out, err] {
                    try spool?.forEachChunk { chunk in
                        try FileHandleWriter(fd: fd, path: directory + "/held").write(chunk)
                        end += off_t(chunk.count)
                    }
                }
                return entry
            } catch {
                end = start
                fail(error)
            }
        }
        return Entry(prefix: prefix, offset: 0, outCount: 0, errCount: 0, memory: (bytes(out), bytes(err)))
    }

    private func fail(_ error: Error) {
        broken = true
        failed(error)
    }

    /// Calls `body` with one stream of a held job's output, in chunks.
    func forEachChunk(_ entry: Entry, _ stream: OutputStream, _ body: ([UInt8]) -> Void) {
        if let memory = entry.memory {
            let bytes = stream == .stdout ? memory.out : memory.err
            if !bytes.isEmpty { body(bytes) }
            return
        }
        guard fd >= 0 else { return }
        var offset = entry.offset + (stream == .stdout ? 0 : off_t(entry.outCount))
        var left = stream == .stdout ? entry.outCount : entry.errCount
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while left > 0 {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, left), offset) }
            if n <= 0 { break }
            body(Array(buffer[0..<n]))
            offset += off_t(n)
            left -= n
        }
    }
}

/// Splits a stream into lines and prefixes each one (for --tag).
struct LinePrefixer {
    let prefix: [UInt8]
    private var atLineStart = true
    init(prefix: [UInt8]) { self.prefix = prefix }

    mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        guard !prefix.isEmpty else { return chunk }
        var out: [UInt8] = []
        out.reserveCapacity(chunk.count + prefix.count)
        for byte in chunk {
            if atLineStart { out += prefix; atLineStart = false }
            out.append(byte)
            if byte == 10 { atLineStart = true }
        }
        return out
    }
}

/// A run's output and status lines: each status line to the session log, and to the front end's display
/// unless --quiet keeps it in the log only; job output to the display.
final class Console {
    let display: RunDisplay?
    var session: Session?
    /// --quiet: per-job status lines go to the session log only.
    var quiet = false
    /// --verbose: connection and setup steps are shown too.
    var verbose = false
    private var lastProgress = 0.0

    init(display: RunDisplay?) { self.display = display }

    /// Job output for stdout.
    func stdout(_ bytes: [UInt8]) { display?.output(bytes, to: .stdout) }

    /// Job output for stderr.
    func stderr(_ bytes: [UInt8]) { display?.output(bytes, to: .stderr) }

    /// A status line: shown (unless quiet and not `always`) and in the session log.
    func status(_ line: String, always: Bool = false) {
        if !quiet || always { display?.status(line) }
        session?.appendLog(line + "\n")
    }

    /// A detail shown with --verbose; always in the session log.
    func detail(_ line: String) {
        if verbose { status(line) } else { logOnly(line) }
    }

    /// A line for the session log only.
    func logOnly(_ line: String) { session?.appendLog(line + "\n") }

    /// Hands the display the run's progress, at most five times a second, when it wants it.
    func progress(_ progress: @autoclosure () -> RunProgress, now: Double) {
        guard let display, display.wantsProgress, now - lastProgress >= 0.2 else { return }
        lastProgress = now
        display.progress(progress())
    }

    func finished() { display?.finished() }
}

/// "2026-11-29 08:40:01" in local time.
func timestamp(_ date: Date = Date()) -> String {
    var t = time_t(date.timeIntervalSince1970)
    var parts = tm()
    localtime_r(&t, &parts)
    return String(format: "%04d-%02d-%02d %02d:%02d:%02d",
                  parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
}
