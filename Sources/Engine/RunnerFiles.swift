// The Runner's jobs that move files (--transfer, --return, --cleanup, --workdir): each gets a work folder of its
// own on the worker; its input is copied there, it runs there, its results come back, the folder goes. The end is
// journaled only once the returns have landed, so a job reported done has its files here.
import Foundation

extension Runner {
    /// Where one job that moves files is.
    enum FileStage: Equatable {
        /// The work folder being made and the input copied (`put`).
        case put
        /// The command running.
        case running
        /// The results being copied back; the command's end.
        case returning(JobState)
        /// The work folder being removed (--cleanup); the job's end so far.
        case cleaning(JobState)
        /// Everything done: `ended` journals the job.
        case done
    }

    /// One job's files on one attempt.
    struct JobFiles {
        var stage = FileStage.put
        /// The job's work folder on the worker (absolute).
        let folder: String
        /// Results to fetch: the remote path, and where it lands here.
        let returns: [FileCopy.Item]
        /// The command, run in the folder once the input is there.
        let command: RemoteCommand
        var sent: Int64 = 0
        var received: Int64 = 0
        var putSeconds = 0.0
        var returnSeconds = 0.0
        var stageStarted = monotonic()
        /// Why the job failed though its command may not have (`return x.gz: no such file on w1`).
        var problems: [String] = []
    }

    /// The session's folder on the workers, under --workdir (else $TMPDIR or /tmp): the controller's host name,
    /// the session id and a hash of the session's path keep two controllers', two users' and two sessions' folders
    /// apart; a resume finds its own again.
    var sessionFolderName: String {
        var hash: UInt32 = 0x811C_9DC5
        for byte in session.path.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        return "cloudtask-\(ProcessInfo.processInfo.hostName)-\(session.id)-" + String(hash, radix: 16)
    }

    /// This run's folder inside the session's: a resume's wipe (--cleanup) removes every other, never one that
    /// another worker of this run (on a shared file system) already works in.
    var runFolderName: String { "run-" + String(Int(started.timeIntervalSince1970), radix: 36) + "-" + String(getpid()) }

    /// The setup step's script that makes this run's folder and says its absolute path (the last line out).
    var workdirScript: String {
        let base = config.workdir.map { String(decoding: ShellQuote.quote(Array($0.utf8)), as: UTF8.self) }
            ?? "\"${TMPDIR:-/tmp}\""
        let name = String(decoding: ShellQuote.quote(Array((sessionFolderName + "/" + runFolderName).utf8)), as: UTF8.self)
        return "d=\(base)/\(name) && mkdir -p \"$d\" && cd \"$d\" && pwd -P"
    }

    /// The step that removes an earlier run's folders (`wipe`), or this run's and the session's once empty (`rmdir`).
    func workdirCleanup(_ step: Step, _ runFolder: String) -> String {
        let quote = { (path: String) in String(decoding: ShellQuote.quote(Array(path.utf8)), as: UTF8.self) }
        let session = (runFolder as NSString).deletingLastPathComponent
        if step == .rmdir { return "rmdir \(quote(runFolder)) \(quote(session)) 2>/dev/null; true" }
        return "cd \(quote(session)) && for f in *; do [ \"$f\" = \(quote(runFolderName)) ] || rm -rf \"./$f\"; done"
    }

    /// The absolute path the workdir step printed (its last line starting with `/`).
    static func workdirPath(in output: [UInt8]) -> String? {
        String(decoding: output, as: UTF8.self).split(separator: "\n").last { $0.hasPrefix("/") }.map(String.init)
    }

    /// Starts job `job` as operation `op` on `worker`: its folder made and its input copied first. Its start is
    /// journaled now: the copies count in its time.
    func startWithFiles(_ job: Job, op: Int, on worker: Worker, slot: Int, command: RemoteCommand) {
        let number = job.spec.number
        let now = monotonic()
        let out = session.spool(), err = session.spool()
        ops[op] = .files(number: number, worker: worker.id, slot: slot, started: now, out: out, err: err)
        session.record(.start(job: number, worker: worker.label, attempt: job.retried + 1,
                              at: Date().timeIntervalSince1970))
        guard let base = worker.workdir else {
            // The workdir step ran before the worker was ready; a worker without it never gets here.
            return filesFailed(op, "no work folder on \(worker.label)")
        }
        let folder = base + "/" + String(number) + "-" + String(op)
        let plan: JobFilePlan
        do {
            plan = try JobFilePlan(config: config, recipe: recipe, spec: job.spec, folder: folder)
        } catch {
            jobFiles[number] = JobFiles(folder: folder, returns: [],
                                        command: command)
            return filesFailed(op, "\(error)")
        }
        var command = command
        command.script = Array("cd \(String(decoding: ShellQuote.quote(Array(folder.utf8)), as: UTF8.self)) || exit 1\n".utf8)
            + command.script
        command.environment.append(("CLOUDTASK_WORKDIR", folder))
        jobFiles[number] = JobFiles(folder: folder, returns: plan.returns, command: command)
        transport.copy(op: op, worker: worker.id, files: plan.put)
    }

    /// A copy or the cleanup of a job's files ended well (`bytes` copied); the job moves on.
    func filesCopied(_ op: Int, bytes: Int64, via: String? = nil) {
        guard case let .files(number, workerID, slot, started, out, err)? = ops[op], var files = jobFiles[number]
        else { return }
        let now = monotonic()
        let worker = workers[workerID]
        worker.lastHeard = now
        if let via, worker.copiesVia == nil {
            worker.copiesVia = via
            if via == "stream" { console.status("\(worker.label): no SFTP server: files go as a stream over exec channels") }
        }
        switch files.stage {
        case .put:
            files.sent = bytes
            files.putSeconds = now - files.stageStarted
            files.stage = .running
            jobFiles[number] = files
            // The command runs as an operation of its own; its timeout runs from now.
            ops[op] = nil
            let run = nextOp
            nextOp += 1
            workers[workerID].slots[slot] = run
            ops[run] = .job(number: number, worker: workerID, slot: slot, started: started,
                            deadline: config.timeout > 0 ? now + config.timeout : nil, out: out, err: err)
            transport.run(op: run, worker: workerID, command: files.command)
        case .returning(let state):
            files.received = bytes
            files.returnSeconds = now - files.stageStarted
            jobFiles[number] = files
            afterReturns(op, state)
        case .cleaning(let state):
            finishFiles(op, state)
        case .running, .done:
            return
        }
    }

    /// A copy failed (`message` names the file), or the cleanup could not run.
    func filesFailed(_ op: Int, _ message: String) {
        guard case let .files(number, workerID, _, _, _, _)? = ops[op] else { return }
        let label = workers[workerID].label
        guard var files = jobFiles[number] else { return }
        switch files.stage {
        case .put:
            files.problems.append("transfer \(message) (to \(label))")
            files.putSeconds = monotonic() - files.stageStarted
            jobFiles[number] = files
            afterReturns(op, Runner.filesFailedState)
        case .returning:
            files.problems.append("return \(message) on \(label)")
            files.returnSeconds = monotonic() - files.stageStarted
            jobFiles[number] = files
            afterReturns(op, Runner.filesFailedState)
        case .cleaning(let state):
            files.problems.append("cleanup: \(message)")
            jobFiles[number] = files
            finishFiles(op, state, cleanupFailed: true)
        case .running, .done:
            return
        }
    }

    /// The exit code of a job whose own command succeeded but whose files did not move: 255, as ssh(1) says
    /// that the connection, not the command, failed.
    static let filesFailedState = JobState.exited(255)

    /// The command of a job that moves files ended with `state`: its returns are fetched (from a failed job,
    /// those that are there), then its folder is cleaned. Returns false when the job has no files to move.
    func commandEnded(_ op: Int, _ state: JobState) -> Bool {
        guard case let .job(number, workerID, slot, started?, _, out, err)? = ops[op], var files = jobFiles[number],
              files.stage == .running else { return false }
        ops[op] = .files(number: number, worker: workerID, slot: slot, started: started, out: out, err: err)
        guard !files.returns.isEmpty else {
            jobFiles[number] = files
            afterReturns(op, state)
            return true
        }
        files.stage = .returning(state)
        files.stageStarted = monotonic()
        jobFiles[number] = files
        for item in files.returns {
            try? FileManager.default.createDirectory(atPath: (item.local as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true)
        }
        transport.copy(op: op, worker: workerID,
                       files: FileCopy(direction: .get, items: files.returns, missingOK: state != .exited(0)))
        return true
    }

    /// After the returns (or a failed transfer): the work folder removed if --cleanup, then the job's end.
    private func afterReturns(_ op: Int, _ state: JobState) {
        guard case let .files(number, workerID, _, _, _, _)? = ops[op], var files = jobFiles[number] else { return }
        guard config.cleanup == true else { return finishFiles(op, state) }
        files.stage = .cleaning(state)
        jobFiles[number] = files
        var remove = RemoteCommand(script: Array("rm -rf \(String(decoding: ShellQuote.quote(Array(files.folder.utf8)), as: UTF8.self))".utf8))
        remove.sudo = sudo
        transport.run(op: op, worker: workerID, command: remove)
    }

    /// The cleanup command ended.
    func cleanupFinished(_ op: Int, _ status: ExitStatus) {
        guard status != .exited(0) else { return filesCopied(op, bytes: 0) }
        filesFailed(op, "rm -rf of the work folder \(status.phrase)")
    }

    /// Everything done: the job's end goes through `ended` as any job's, which journals it.
    private func finishFiles(_ op: Int, _ state: JobState, cleanupFailed: Bool = false) {
        guard case let .files(number, workerID, slot, started, out, err)? = ops.removeValue(forKey: op) else { return }
        jobFiles[number]?.stage = .done
        let last = nextOp
        nextOp += 1
        workers[workerID].slots[slot] = last
        ops[last] = .job(number: number, worker: workerID, slot: slot, started: started, deadline: nil,
                         out: out, err: err)
        ended(last, state)
    }
}

/// What one job's files are: its work folder, the input copied into it, the results fetched from it.
struct JobFilePlan {
    let put: FileCopy
    let returns: [FileCopy.Item]

    /// Throws a one-line reason when the job's input cannot be a file to transfer (several words, not UTF-8), or
    /// a return pattern cannot be expanded.
    init(config: TaskConfig, recipe: JobRecipe, spec: JobSpec, folder: String) throws {
        let here = config.localDirectory ?? FileManager.default.currentDirectoryPath
        var items: [FileCopy.Item] = []
        // Where the input lands in the work folder is what a return pattern names there.
        var place: [[UInt8]]?
        if config.transfer == true {
            let name = try recipe.inputFile(of: spec.input, lineNumber: spec.number)
            items.append(FileCopy.Item(local: JobFileNames.absolute(name, in: here),
                                       remote: folder + "/" + JobFileNames.place(name)))
            place = [Array(JobFileNames.place(name).utf8)]
        }
        put = FileCopy(direction: .put, items: items, folder: folder)
        var returns: [FileCopy.Item] = []
        for pattern in config.returns ?? [] {
            let localName = String(decoding: try recipe.expandLiteral(pattern, input: spec.input, number: spec.number,
                                                                      lineNumber: spec.number), as: UTF8.self)
            let remoteName = try place.map {
                String(decoding: try recipe.expandLiteral(pattern, fields: $0, number: spec.number, lineNumber: spec.number),
                       as: UTF8.self)
            } ?? localName
            let remote = remoteName.hasPrefix("/") ? remoteName : folder + "/" + remoteName
            let local = config.returnDir.map { $0 + "/" + JobFileNames.place(remoteName) } ?? JobFileNames.absolute(localName, in: here)
            returns.append(FileCopy.Item(local: local, remote: remote))
        }
        self.returns = returns
    }
}

/// File names for --transfer and --return.
enum JobFileNames {
    /// Refuses, before anything runs, a --return that names the same file for every job.
    static func check(_ config: TaskConfig, _ recipe: JobRecipe) throws {
        for pattern in config.returns ?? [] where !recipe.usesReplacement(pattern) {
            throw UsageError("--return=\(pattern): every job would return the same file; name it after the job "
                + "with a replacement string ({}, {.}, {/}, {#}, ...)")
        }
    }

    /// A path's place inside a work folder: relative paths keep theirs; a leading `/`, `.` and `..` parts go
    /// (`/data/a.bin` and `../data/a.bin` land as `data/a.bin`).
    static func place(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
        }
        return parts.joined(separator: "/")
    }

    static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }
}

/// Each job's files checked as its line is read: its input can be transferred (one word, a UTF-8 name), and no two
/// jobs return onto one local file. A failing job is a bad input line: refused before anything runs when it is in
/// the first read, else it stops the batch as any bad line does. Returns are kept as 64-bit hashes: 2 million
/// jobs cost some 16 MB.
public final class JobFileChecks {
    private let config: TaskConfig
    private var claimed: [Int: Int] = [:]

    /// nil when the task's jobs move no files.
    public init?(_ config: TaskConfig) {
        guard config.movesFiles else { return nil }
        self.config = config
    }

    /// Checks `spec`'s files and claims its return files, or throws naming the line (and the earlier job).
    func check(_ spec: JobSpec, recipe: JobRecipe, lineNumber: Int) throws {
        let plan: JobFilePlan
        do { plan = try JobFilePlan(config: config, recipe: recipe, spec: spec, folder: "/") } catch let error as JobLineError {
            throw JobLineError(line: lineNumber, message: error.message)
        } catch {
            throw JobLineError(line: lineNumber, message: "\(error)")
        }
        var mine = Set<Int>()
        for (item, pattern) in zip(plan.returns, config.returns ?? []) {
            let key = item.local.hashValue
            if let other = claimed[key], other != spec.number || !mine.insert(key).inserted {
                let whose = other == spec.number ? "this job's other --return" : "job \(other)'s"
                throw JobLineError(line: lineNumber, message: "--return=\(pattern) lands on \(item.local), as \(whose) does")
            }
            mine.insert(key)
            claimed[key] = spec.number
        }
    }
}
