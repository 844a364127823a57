// A session folder on disk: conf, journal (append-only, fsynced), jobs (derived), log, workers/<n>.
import Foundation

/// An error about files, with the path and what we were doing.
public struct FileError: Error, CustomStringConvertible {
    public let message: String
    /// The file, and the system's text for the error ("No space left on device").
    public let path: String
    public let reason: String
    public let code: Int32
    public init(_ doing: String, _ path: String, errno code: Int32 = errno) {
        self.path = path
        self.code = code
        reason = String(cString: strerror(code))
        message = "\(doing) \(path): \(reason)"
    }
    public var description: String { message }
}

/// An append-only file written with plain write(2) calls; every call's failure is thrown with the path.
final class AppendFile {
    let path: String
    private var fd: Int32
    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("cannot open", path) }
    }
    deinit { if fd >= 0 { Foundation.close(fd) } }
    /// Closes the descriptor; a close that fails (NFS reports late write errors there) is thrown.
    func close() throws {
        guard fd >= 0 else { return }
        let result = Foundation.close(fd)
        fd = -1
        if result != 0 && errno != EINTR { throw FileError("cannot close", path) }
    }
    func write(_ bytes: [UInt8]) throws { try FileHandleWriter(fd: fd, path: path).write(bytes) }
    func truncate(to length: off_t) throws {
        guard ftruncate(fd, length) == 0 else { throw FileError("cannot truncate", path) }
    }
    func sync() throws { guard fsync(fd) == 0 else { throw FileError("cannot sync", path) } }
    /// The file's length now (where the next append lands).
    func length() throws -> off_t {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError("cannot stat", path) }
        return info.st_size
    }
}

public final class Session {
    public let id: Int
    public let path: String
    let journal: AppendFile
    let log: AppendFile
    private var workerLogs: [Int: SessionFile] = [:]
    /// The first failed write, fsync or rename of a session file: the batch stops (see RunnerFaults.swift).
    public private(set) var fault: FileError?
    /// The journal could not be appended to: nothing more is appended, and what was not synced is not durable.
    public private(set) var journalFailed = false
    /// Created by this process (not opened for a resume), and whether a journal sync has succeeded since.
    private(set) var isNew = false
    private(set) var journalSynced = false
    /// Session files that failed once are left alone, so a freed disk cannot put half-lines between whole ones.
    private var failedFiles: Set<String> = []

    /// Time spent in earlier runs of this session (from the journal).
    public private(set) var previousSeconds = 0.0
    private var lockDescriptor: Int32 = -1
    private var journalBuffer: [UInt8] = []
    private var tornLength: off_t?
    private var needsNewline = false
    /// The journal's length once what was synced (and the pending repair of its tail) is on disk: the offset
    /// the next record starts at, before `journalBuffer`.
    private var journalLength: Int64 = 0

    /// Creates the next session under `root` (ids allocated by an atomic mkdir) and locks it.
    public static func create(root: String, config: TaskConfig) throws -> Session {
        try ensureDirectory(root)
        var id = (try? FileManager.default.contentsOfDirectory(atPath: root))?.compactMap { Int($0) }.max() ?? 0
        while true {
            id += 1
            let path = root + "/" + String(id)
            if mkdir(path, 0o700) == 0 {
                let session = try Session(id: id, path: path)
                session.isNew = true
                try session.writeAtomically("conf", Array(try encodeConfig(config)))
                return session
            }
            if errno != EEXIST { throw FileError("cannot create session", path) }
        }
    }

    /// The configuration saved in session folder `path`, if it is readable.
    public static func savedConfig(_ path: String) -> TaskConfig? {
        FileManager.default.contents(atPath: path + "/conf").flatMap {
            try? JSONDecoder().decode(TaskConfig.self, from: $0)
        }
    }

    /// Opens saved session `id` under `root` for a run (resume, retry), locks it, and reads its journal as a
    /// stream: every job's state in the scan's index, none of the jobs' texts in memory.
    public static func resume(root: String, id: Int) throws -> (Session, TaskConfig, JournalScan) {
        let (session, config) = try openFolder(root: root, id: id)
        let journalPath = session.path + "/journal"
        let scan: JournalScan
        do { scan = try Journal.scan(path: journalPath) } catch let error as FileError {
            throw UsageError("session \(id): \(error.message)")
        }
        try session.adopt(scan.index.count, started: scan.started, seconds: scan.seconds,
                          endsWithNewline: scan.endsWithNewline,
                          droppedTail: scan.droppedTail, wholeLength: scan.wholeLength)
        return (session, config, scan)
    }

    /// Opens saved session `id` under `root`, locks it, and replays its journal with every job in memory
    /// (small sessions and tests; a run uses `resume`).
    public static func open(root: String, id: Int) throws -> (Session, TaskConfig, Replay) {
        let (session, config) = try openFolder(root: root, id: id)
        let path = session.path
        guard let journal = FileManager.default.contents(atPath: path + "/journal") else {
            throw UsageError("session \(id): cannot read \(path)/journal")
        }
        let replay = try Journal.replay(Array(journal), name: path + "/journal")
        let whole = Int64((journal.lastIndex(of: 10) ?? -1) + 1)
        try session.adopt(replay.jobs.count, started: replay.started, seconds: replay.seconds,
                          endsWithNewline: journal.last == 10 || journal.isEmpty,
                          droppedTail: replay.droppedTail,
                          wholeLength: replay.droppedTail ? whole : Int64(journal.count))
        return (session, config, replay)
    }

    /// The folder of session `id` with its configuration, locked.
    private static func openFolder(root: String, id: Int) throws -> (Session, TaskConfig) {
        let path = root + "/" + String(id)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw UsageError("no session \(id) in \(root)")
        }
        guard let conf = FileManager.default.contents(atPath: path + "/conf"),
              let config = try? JSONDecoder().decode(TaskConfig.self, from: conf) else {
            throw UsageError("session \(id): \(path)/conf is missing or corrupt")
        }
        return (try Session(id: id, path: path), config)
    }

    /// Takes over a read journal: refuses one with no jobs or that never started, and notes how its tail is
    /// repaired before the first append (a torn tail cut off, a whole last record that only lacks its newline
    /// ended). Nothing changes on disk here: --retry changes nothing before it runs.
    private func adopt(_ jobs: Int, started: Bool, seconds: Double, endsWithNewline: Bool, droppedTail: Bool,
                       wholeLength: Int64) throws {
        if jobs == 0 { throw UsageError("session \(id): the journal holds no jobs") }
        guard started else {
            throw UsageError("session \(id) never started: its controller died while journaling the jobs; "
                             + "run the batch again")
        }
        previousSeconds = seconds
        journalLength = wholeLength
        if !endsWithNewline {
            if droppedTail { tornLength = off_t(wholeLength) } else { needsNewline = true; journalLength += 1 }
        }
    }

    init(id: Int, path: String) throws {
        self.id = id
        self.path = path
        try Session.ensureDirectory(path + "/workers")
        journal = try AppendFile(path + "/journal")
        log = try AppendFile(path + "/log")
        try lock()
    }

    deinit { unlock() }

    /// Lets another controller (or a later resume in this process) take the session.
    public func unlock() {
        if lockDescriptor >= 0 { Foundation.close(lockDescriptor) }
        lockDescriptor = -1
    }

    /// The pid of the controller running session folder `path` now, if one does (its lock is held).
    public static func holder(_ path: String) -> String? {
        let fd = Foundation.open(path + "/lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Foundation.close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return nil }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buffer, buffer.count)
        return String(decoding: buffer.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One controller per session: an flock on `lock`, which names the holder's pid.
    private func lock() throws {
        let lockPath = path + "/lock"
        let fd = Foundation.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("cannot open", lockPath) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buffer, buffer.count)
            Foundation.close(fd)
            let holder = String(decoding: buffer.prefix(max(0, n)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw UsageError("session \(id) is in use by another cloudtask (pid \(holder.isEmpty ? "?" : holder)); "
                             + "wait for it or stop it first")
        }
        lockDescriptor = fd
        guard ftruncate(fd, 0) == 0 else { throw FileError("cannot truncate", lockPath) }
        try FileHandleWriter(fd: fd, path: lockPath).write(Array("\(getpid())\n".utf8))
    }

    static func ensureDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw UsageError("\(path): not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw UsageError("cannot create \(path): \(error.localizedDescription)")
        }
    }

    static func encodeConfig(_ config: TaskConfig) throws -> Data {
        let config = config.withoutSecrets  // a secret's value is never saved
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var saved = config
        saved.sshPassphraseFile = nil // where a secret is kept is not saved either: give it again to --resume
        return try encoder.encode(saved)
    }

    // MARK: - Journal

    /// Appends one journal record; `syncJournal` makes it durable. Returns the offset its line will start at.
    /// Nothing is kept once the journal failed.
    @discardableResult
    func record(_ record: JournalRecord) -> Int64 {
        let offset = journalLength + Int64(journalBuffer.count)
        guard !journalFailed else { return offset }
        record.encode(into: &journalBuffer)
        return offset
    }

    /// Journals whether a job generator is still producing (so a resume can say inputs may be missing).
    public func noteGenerator(open: Bool) {
        record(.generator(open: open))
    }

    /// Writes what was recorded since the last call and fsyncs it: after this, it survives a crash.
    /// Returns false when it could not: the append is cut back to the last whole record, `fault` says why,
    /// and the journal takes no more records in this process (what was buffered is not durable).
    @discardableResult
    func syncJournal() -> Bool {
        guard !journalFailed else { return false }
        guard !journalBuffer.isEmpty else { return true }
        var before: off_t?
        do {
            if let length = tornLength {
                try journal.truncate(to: length)
                tornLength = nil
            }
            before = try journal.length()
            if needsNewline {
                try journal.write([10])
                needsNewline = false
            }
            try journal.write(journalBuffer)
            try journal.sync()
            journalLength += Int64(journalBuffer.count)
            journalBuffer.removeAll(keepingCapacity: true)
            journalSynced = true
            return true
        } catch {
            journalFailed = true
            journalBuffer = []
            fail(error)
            // A torn record followed by good ones would read as corrupt: cut the append off before anything else.
            if let before { try? journal.truncate(to: before); try? journal.sync() }
            return false
        }
    }

    // MARK: - Faults

    /// Notes the first failure of a session file (later ones add nothing: the batch is stopping already).
    func fail(_ error: Error) {
        let error = error as? FileError ?? FileError("cannot write", path, errno: EIO)
        failedFiles.insert(error.path)
        if fault == nil { fault = error }
    }

    /// Whether a write of session file `path` failed in this run.
    func failed(_ path: String) -> Bool { failedFiles.contains(path) }

    /// Runs one write of session file `path`, unless it failed before; a failure is noted, not thrown.
    func guarded(_ path: String, _ body: () throws -> Void) {
        guard !failedFiles.contains(path) else { return }
        do { try body() } catch {
            failedFiles.insert(path)
            fail(error)
        }
    }

    // MARK: - Logs

    func appendLog(_ text: String) { guarded(log.path) { try log.write(Array(text.utf8)) } }

    func workerLog(_ number: Int) -> SessionFile {
        if let file = workerLogs[number] { return file }
        let path = self.path + "/workers/" + String(number)
        let file: SessionFile
        do { file = SessionFile(try AppendFile(path), session: self) } catch {
            fail(error)
            file = SessionFile(log, session: self)
        }
        workerLogs[number] = file
        return file
    }

    /// A spool for one job stream; a failed spill stops the batch but keeps the output (in memory).
    func spool() -> Spool { Spool(directory: path) { [weak self] error in self?.fail(error) } }

    /// Rewrites the `jobs` view: one `STATE<TAB>JOB` line per job, in input order. A failed rewrite keeps the old view.
    public func writeJobs(_ jobs: [(state: JobState, text: [UInt8])]) {
        var bytes: [UInt8] = []
        for job in jobs {
            bytes += Array(job.state.jobsFileText.utf8)
            bytes.append(9)
            bytes += JobsFileText.escape(job.text)
            bytes.append(10)
        }
        do { try writeAtomically("jobs", bytes) } catch { fail(error) }
    }

    /// Rewrites the `jobs` view from the journal, streamed: one `STATE<TAB>JOB` line per job in input order,
    /// its state from `index` and its text from its record. Memory: a chunk, whatever the number of jobs. A
    /// failed rewrite removes its temp file and keeps the old view; the failure is the session's fault.
    public func writeJobsView(_ index: JobIndex) {
        let target = path + "/jobs"
        let temp = target + ".tmp"
        let fd = Foundation.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return fail(FileError("cannot write", temp)) }
        var open = true
        do {
            let file = FileHandleWriter(fd: fd, path: target)
            var bytes: [UInt8] = []
            let jobPrefix = Array(#"{"job":"#.utf8)
            try LineFile(path + "/journal").forEachLine { line, _, _ in
                guard line.starts(with: jobPrefix), case .job(let spec)? = try? JournalRecord.decode(line),
                      spec.number <= index.count else { return true }
                bytes += Array(index.state(spec.number - 1).jobsFileText.utf8)
                bytes.append(9)
                bytes += JobsFileText.escape(spec.text)
                bytes.append(10)
                if bytes.count >= 1 << 16 { try file.write(bytes); bytes.removeAll(keepingCapacity: true) }
                return true
            }
            try file.write(bytes)
            guard fsync(fd) == 0 else { throw FileError("cannot sync", target) }
            open = false
            guard Foundation.close(fd) == 0 || errno == EINTR else { throw FileError("cannot close", target) }
            guard rename(temp, target) == 0 else { throw FileError("cannot rename", temp) }
        } catch {
            if open { Foundation.close(fd) }
            unlink(temp)
            fail(error)
        }
    }

    /// Replaces `name` in the session folder: temp file, fsync, rename. On any failure the temp file is
    /// removed and the old file stays as it was.
    func writeAtomically(_ name: String, _ bytes: [UInt8]) throws {
        try replaceFile(path + "/" + name, with: bytes, mode: 0o600)
    }
}

/// Replaces `target` whole: a temp file beside it (fsynced), then rename, so a reader sees the old file or the
/// new one, never half. On any failure the temp file is removed and the old file stays as it was.
public func replaceFile(_ target: String, with bytes: [UInt8], mode: mode_t = 0o644) throws {
    let temp = target + ".tmp"
    let fd = Foundation.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FileError("cannot write", temp) }
    var open = true
    do {
        try FileHandleWriter(fd: fd, path: target).write(bytes)
        guard fsync(fd) == 0 else { throw FileError("cannot sync", target) }
        open = false
        guard Foundation.close(fd) == 0 || errno == EINTR else { throw FileError("cannot close", target) }
    } catch {
        if open { Foundation.close(fd) }
        unlink(temp)
        throw error
    }
    guard rename(temp, target) == 0 else {
        let error = FileError("cannot rename", temp)
        unlink(temp)
        throw error
    }
}

/// A session log (the `log`, a worker's log) as the runner writes it: a failure stops the batch, never the caller.
struct SessionFile {
    let file: AppendFile
    unowned let session: Session
    init(_ file: AppendFile, session: Session) { self.file = file; self.session = session }
    func write(_ bytes: [UInt8]) { session.guarded(file.path) { try file.write(bytes) } }
}

/// The write loop over a raw descriptor: retries EINTR and short writes; any other failure is thrown.
struct FileHandleWriter {
    let fd: Int32
    /// The file's name in errors.
    let path: String
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        try bytes.withUnsafeBytes { buf in
            while offset < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw FileError("cannot write", path) }
                if n == 0 { throw FileError("cannot write", path, errno: ENOSPC) }
                offset += n
            }
        }
    }
}
