// cloudtask-logalyzer's engine: a session folder (conf, journal, workers/<n>, instances) read back into a
// report of what happened (totals, failures with their last output, timeouts, pending jobs, workers, instance
// hours and cost), and each finished job's output written out under a file named by its job number only.
// Works on sessions that ended normally, were interrupted, crashed (no stop record), or were resumed.
import Foundation

public struct SessionReport {
    /// One attempt at a job, as the journal tells it: a `start` record and, when it ended, its `end` record.
    public struct Attempt: Sendable {
        public var worker: String
        /// Index into `runs` (0 for the first run).
        public var run: Int
        /// The attempt number the runner journaled (1 + retries so far).
        public var number: Int
        public var seconds: Double?
        public var at: Double?
        /// nil: no end record (aborted, its channel was refused, its worker died, or the controller stopped).
        public var state: JobState?
        /// Why an attempt ended without an end record: "aborted", "refused" (no channel), "its worker died".
        public var interruption: String?
        var closed = false
    }

    /// A job read back: its text, final state (Journal.replay's), every attempt, and where its output is logged.
    public struct Job {
        public let number: Int
        public let text: [UInt8]
        public let state: JobState
        public internal(set) var attempts: [Attempt]
        var output: LoggedOutput?
        /// The worker of the last attempt.
        public var worker: String? { attempts.last?.worker }
        /// The last attempt that ended.
        public var lastEnd: Attempt? { attempts.last { $0.state != nil } }
    }

    /// A job's block in a worker log: the bytes between its `job N:` line and its end line.
    struct LoggedOutput {
        let file: Int
        let range: Range<Int>
        let label: String
        /// The state the end line gives ("exit 1", "timeout"...); nil when the block has no end line (torn log).
        let state: String?
        /// Not the last attempt's output (the controller died between journaling the end and logging it).
        var earlier = false
    }

    /// One run of the session (the first, then each --resume/--retry).
    public struct Run: Sendable {
        public var start: Double
        /// The last time the journal records in this run.
        public var end: Double
        /// A stop record closes it: without one the controller crashed, was killed, or is still running.
        public var stopped = false
        public var aborted = 0
    }

    /// A launched worker, from the `instances` ledger.
    public struct LaunchedInstance: Sendable {
        public var id: String
        public var provider: String
        public var host: String
        public var port: Int
        public var launched: Double?
        public var up: Double?
        public var destroyed: Double?
        /// How the runner labels the worker it becomes.
        public var label: String { "\(host):\(port)" }
    }

    public let path: String
    /// The session's folder name (its id for sessions under the sessions root).
    public let name: String
    public let config: TaskConfig
    public let jobs: [Job]
    public let runs: [Run]
    /// Elapsed time summed over runs.
    public let seconds: Double
    public let instances: [LaunchedInstance]
    /// Things wrong with the files (a torn journal tail, unreadable logs...).
    public let notes: [String]
    public let generatorOpen: Bool
    /// The pid of a controller running the session now, if any.
    public let holder: String?
    let logs: [Data]
    let logNames: [String]

    /// USD per hour, on-demand Linux in us-east-1; `local` instances cost nothing. Billing is per second, 60 s minimum.
    public static let defaultPrices: [String: Double] = [
        "local": 0,
        "t2.nano": 0.0058, "t2.micro": 0.0116, "t2.small": 0.023, "t2.medium": 0.0464, "t2.large": 0.0928,
        "t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
        "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
        "t3a.nano": 0.0047, "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376, "t3a.large": 0.0752,
        "t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
        "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
        "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384,
        "m7g.large": 0.0816, "m7g.xlarge": 0.1632,
        "c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
        "c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34,
        "c7g.large": 0.0725, "c7g.xlarge": 0.145,
        "r5.large": 0.126, "r5.xlarge": 0.252, "r6i.large": 0.126, "r6i.xlarge": 0.252,
    ]
    /// The shortest time EC2 bills a Linux instance for.
    public static let minimumBilledSeconds = 60.0

    // MARK: - Loading

    /// Reads session folder `path`. Throws UsageError with a one-line message when it is not a readable session.
    public static func load(path rawPath: String) throws -> SessionReport {
        var path = rawPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw UsageError("\(path): no such session folder") }
        guard isDirectory.boolValue else { throw UsageError("\(path): not a session folder") }
        guard let journalData = FileManager.default.contents(atPath: path + "/journal") else {
            throw UsageError("\(path): no journal (not a cloudtask session, or unreadable)")
        }
        guard let confData = FileManager.default.contents(atPath: path + "/conf") else {
            throw UsageError("\(path)/conf is missing: not a cloudtask session")
        }
        let config = try decodeConfig(confData, path: path + "/conf")
        let bytes = Array(journalData)
        let replay = try Journal.replay(bytes, name: path + "/journal")
        var notes = replay.notes

        // The journal again, for what the replay does not keep: attempts, their workers and times, the runs.
        var attempts = [[Attempt]](repeating: [], count: replay.jobs.count)
        var runs: [Run] = []
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        if let last = lines.last, last.isEmpty { lines.removeLast() }
        if replay.droppedTail, !lines.isEmpty { lines.removeLast() }
        var latest = 0.0
        for line in lines {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { continue }
            let at = number(object["at"])
            if let at { latest = max(latest, at); if !runs.isEmpty { runs[runs.count - 1].end = max(runs[runs.count - 1].end, at) } }
            if object["job"] != nil { continue }
            if let start = number(object["run"]) {
                runs.append(Run(start: start, end: start))
                latest = max(latest, start)
                continue
            }
            if object["stop"] != nil {
                if !runs.isEmpty { runs[runs.count - 1].stopped = true }
                continue
            }
            let run = max(0, runs.count - 1)
            func index(_ key: String) -> Int? {
                guard let n = object[key] as? Int, n >= 1, n <= attempts.count else { return nil }
                return n - 1
            }
            if let i = index("start") {
                let worker = object["worker"] as? String ?? "?"
                attempts[i].append(Attempt(worker: worker, run: run, number: object["attempt"] as? Int ?? attempts[i].count + 1))
            } else if let i = index("end") {
                let state: JobState
                if let code = object["exit"] as? Int { state = .exited(code) }
                else if let signal = object["signal"] as? String { state = .signaled(signal) }
                else if object["timeout"] != nil { state = .timeout }
                else if object["lost"] != nil { state = .lost }
                else { continue }
                if attempts[i].last == nil || attempts[i].last!.closed {
                    attempts[i].append(Attempt(worker: "?", run: run, number: attempts[i].count + 1))
                }
                let k = attempts[i].count - 1
                attempts[i][k].state = state
                attempts[i][k].seconds = number(object["seconds"])
                attempts[i][k].at = at
                attempts[i][k].closed = true
            } else if let i = index("requeue") ?? index("abort") {
                let aborted = object["abort"] != nil
                if aborted, !runs.isEmpty { runs[runs.count - 1].aborted += 1 }
                if let k = attempts[i].indices.last, !attempts[i][k].closed {
                    attempts[i][k].closed = true
                    attempts[i][k].interruption = aborted ? "aborted" : object["refused"] != nil ? "refused" : "its worker died"
                }
            }
        }

        // The worker logs, in worker order.
        var logs: [Data] = []
        var logNames: [String] = []
        let workersDir = path + "/workers"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: workersDir)) ?? []).compactMap { Int($0) }.sorted()
        for n in names {
            let file = workersDir + "/" + String(n)
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: file), options: .mappedIfSafe) else {
                notes.append("\(file): unreadable; its jobs' output is missing")
                continue
            }
            logs.append(data)
            logNames.append(file)
        }
        var jobs = replay.jobs.enumerated().map { i, saved in
            Job(number: saved.spec.number, text: saved.spec.text, state: saved.state, attempts: attempts[i], output: nil)
        }
        WorkerLogParser.locate(&jobs, in: logs)

        let (instances, ledgerNote) = readLedger(path + "/instances")
        if let ledgerNote { notes.append(ledgerNote) }
        if jobs.isEmpty { notes.append("the journal holds no jobs") }
        if !replay.started && !jobs.isEmpty { notes.append("the session never started: its controller died while journaling the jobs") }
        let name = (path as NSString).lastPathComponent
        return SessionReport(path: path, name: name, config: config, jobs: jobs, runs: runs, seconds: replay.seconds, instances: instances,
                             notes: notes, generatorOpen: replay.generatorOpen, holder: Session.holder(path), logs: logs, logNames: logNames)
    }

    /// `conf` as the runner writes it; an older or hand-made one with missing keys still gives what it has.
    static func decodeConfig(_ data: Data, path: String) throws -> TaskConfig {
        if let config = try? JSONDecoder().decode(TaskConfig.self, from: data) { return config }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw UsageError("\(path) is corrupt (not JSON): not a readable cloudtask session")
        }
        var config = TaskConfig()
        if let command = object["command"] as? [String] { config.command = command } else if let command = object["command"] as? String { config.command = [command] }
        if let workers = object["workers"] as? [String] { config.workers = workers }
        config.split = object["split"] as? Int
        if let slots = object["slots"] as? Int { config.slots = slots }
        if let timeout = number(object["timeout"]) { config.timeout = timeout }
        if let retries = object["retries"] as? Int { config.retries = retries }
        if let strikes = object["strikes"] as? Int { config.strikes = strikes }
        config.provider = object["provider"] as? String
        config.instanceType = object["instanceType"] as? String
        config.region = object["region"] as? String
        config.pre = object["pre"] as? String
        config.post = object["post"] as? String
        config.overlay = object["overlay"] as? String
        config.halt = object["halt"] as? String
        return config
    }

    static func number(_ value: Any?) -> Double? {
        if let d = value as? Double { return d }
        if let i = value as? Int { return Double(i) }
        return nil
    }

    /// The ledger's instances in launch order; bad lines are skipped with a note.
    static func readLedger(_ path: String) -> ([LaunchedInstance], String?) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], nil) }
        var order: [String] = []
        var byID: [String: LaunchedInstance] = [:]
        var bad = 0
        for line in data.split(separator: 10) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let event = object["event"] as? String, let id = object["id"] as? String else { bad += 1; continue }
            var instance = byID[id] ?? LaunchedInstance(id: id, provider: object["provider"] as? String ?? "?",
                                                         host: object["host"] as? String ?? "?", port: object["port"] as? Int ?? 22)
            if byID[id] == nil { order.append(id) }
            if let host = object["host"] as? String { instance.host = host }
            if let port = object["port"] as? Int { instance.port = port }
            let at = number(object["at"])
            switch event {
            case "launch": instance.launched = instance.launched ?? at
            case "up": instance.up = at ?? instance.up
            case "destroyed": instance.destroyed = at ?? instance.destroyed ?? 0
            default: break
            }
            byID[id] = instance
        }
        return (order.compactMap { byID[$0] }, bad > 0 ? "\(path): \(bad) unreadable line\(bad == 1 ? "" : "s") skipped" : nil)
    }

    // MARK: - Outputs

    /// The bytes a job's block holds in its worker log (stdout then stderr, carriage returns filtered); [] when none.
    public func output(of job: Job) -> [UInt8] {
        guard let logged = job.output else { return [] }
        return Array(logs[logged.file][logged.range])
    }

    /// Writes each finished job's command line and output to `directory`/failures/N or `directory`/succeeded/N,
    /// N being the job number: nothing from a job's text ever becomes part of a path. Existing files are replaced
    /// (never written through: a symlink in their place is removed); a job's file in the other folder is removed.
    public func writeOutputs(to directory: String) throws {
        // mkdir -p, for messages that say what went wrong.
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for part in directory.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            if mkdir(prefix, 0o777) != 0 && errno != EEXIST { throw FileError("cannot create", prefix) }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileError("cannot create", directory, errno: ENOTDIR)
        }
        for sub in ["failures", "succeeded"] {
            let dir = directory + "/" + sub
            var info = stat()
            if lstat(dir, &info) != 0 {
                guard mkdir(dir, 0o777) == 0 || errno == EEXIST else { throw FileError("cannot create", dir) }
                guard lstat(dir, &info) == 0 else { throw FileError("cannot read", dir) }
            }
            guard info.st_mode & S_IFMT == S_IFDIR else { throw UsageError("\(dir) exists and is not a directory (a symlink is not followed)") }
        }
        for job in jobs where job.state.finished {
            let ok = job.state == .exited(0)
            let name = String(job.number)
            let target = directory + (ok ? "/succeeded/" : "/failures/") + name
            let other = directory + (ok ? "/failures/" : "/succeeded/") + name
            for file in [target, other] where unlink(file) != 0 && errno != ENOENT { throw FileError("cannot replace", file) }
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileError("cannot write", target) }
            var written = true
            for chunk in [job.text + [10], output(of: job)] where written {
                written = chunk.withUnsafeBytes { buffer in
                    var offset = 0
                    while offset < buffer.count {
                        let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { return false }
                        offset += n
                    }
                    return true
                }
            }
            let code = errno
            close(fd)
            guard written else { throw FileError("cannot write", target, errno: code) }
        }
    }

    // MARK: - The report

    /// One row of the workers table.
    struct WorkerRow {
        var label: String
        var instance: Int?
        var jobs = 0, ok = 0, failed = 0
        var work = 0.0
        /// (run, first start, last end) per run, for workers the ledger does not know.
        var spans: [Int: (Double, Double)] = [:]
        var lifetime: Double {
            spans.values.reduce(0) { $0 + max(0, $1.1 - $1.0) }
        }
    }

    /// The report, in the spirit of the original cloudtask-logalyzer. Prices are USD per hour by instance type.
    public func text(priceTable: [String: Double] = SessionReport.defaultPrices) -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        func header(_ s: String, _ c: Character = "=") { line(s); line(String(repeating: c, count: s.count)); line() }

        var ok = 0, pending = 0, running = 0, timeouts = 0, lost = 0
        var exits: [Int: Int] = [:], signals: [String: Int] = [:]
        for job in jobs {
            switch job.state {
            case .pending: pending += 1
            case .running: pending += 1; running += 1
            case .exited(0): ok += 1
            case .exited(let code): exits[code, default: 0] += 1
            case .signaled(let name): signals[name, default: 0] += 1
            case .timeout: timeouts += 1
            case .lost: lost += 1
            }
        }
        let failed = jobs.count - ok - pending
        let title = "session \(name): \(Self.clock(seconds)) elapsed, \(jobs.count) jobs - \(pending) pending, \(failed) failed, \(ok) completed"
        header(title)

        // Configuration.
        line("Configuration:")
        line()
        func field(_ name: String, _ value: String?) { if let value, !value.isEmpty { line("    " + Self.pad(name, 16) + " " + value) } }
        field("command", ShellQuote.display(config.command))
        field("workers", config.workers.isEmpty ? nil : config.workers.joined(separator: ", "))
        if let provider = config.provider {
            let type = config.instanceType ?? (provider == "ec2" ? "t3.micro" : nil)
            field("provider", provider + (type.map { " (\($0)\(config.region.map { ", " + $0 } ?? ""))" } ?? ""))
        }
        field("split", config.split.map(String.init))
        field("slots", config.slots == 1 ? nil : String(config.slots))
        field("timeout", config.timeout > 0 ? Self.duration(config.timeout) : "none")
        field("retries", config.retries > 0 ? String(config.retries) : nil)
        field("strikes", config.strikes > 0 ? String(config.strikes) : nil)
        field("halt", config.halt)
        field("pre", config.pre)
        field("post", config.post)
        field("overlay", config.overlay)
        line()

        // How the runs went.
        var runText = runs.isEmpty ? "Runs: none recorded" : "Runs: \(runs.count)\(runs.count > 1 ? " (resumed \(runs.count - 1) time\(runs.count == 2 ? "" : "s"))" : "")"
        if let last = runs.last {
            if let holder { runText += "; the last run is still going (pid \(holder)): this is a snapshot" }
            else if !last.stopped { runText += "; the last run has no stop record: its controller crashed or was killed" }
            else if last.aborted > 0 { runText += "; the last run was interrupted" }
        }
        line(runText)
        for (i, run) in runs.enumerated() where runs.count > 1 || !run.stopped || run.aborted > 0 {
            var state = run.stopped ? (run.aborted > 0 ? "interrupted (\(run.aborted) job\(run.aborted == 1 ? "" : "s") aborted)" : "stopped") : "no stop record"
            if i == runs.count - 1, holder != nil { state = "running" }
            line("    run \(i + 1): \(Self.date(run.start)), \(Self.clock(max(0, run.end - run.start))), \(state)")
        }
        if generatorOpen { line("The job generator was still producing when the session stopped: more jobs may be missing.") }
        for note in notes { line("Note: " + note) }
        line()

        // Totals.
        line("Totals:")
        line()
        func total(_ name: String, _ count: Int) { line("    " + Self.pad(name, 16) + " " + String(count)) }
        total("OK", ok)
        for code in exits.keys.sorted() { total("exit \(code)", exits[code]!) }
        for name in signals.keys.sorted() { total("signal \(name)", signals[name]!) }
        total("timeouts", timeouts)
        total("lost", lost)
        line("    " + Self.pad("pending", 16) + " \(pending)" + (running > 0 ? " (\(running) of them running when last recorded)" : ""))
        line()

        // Failures by worker, each with the last lines of its output: errors, signals and lost jobs, then timeouts.
        if failed > 0 {
            var parts: [String] = []
            let errors = exits.values.reduce(0, +)
            if errors > 0 { parts.append("errors: \(errors)") }
            if !signals.isEmpty { parts.append("signals: \(signals.values.reduce(0, +))") }
            if lost > 0 { parts.append("lost: \(lost)") }
            if timeouts > 0 { parts.append("timeouts: \(timeouts)") }
            header("\(failed) failed - " + parts.joined(separator: ", "))
            let failures = jobs.filter { $0.state.finished && $0.state != .exited(0) && $0.state != .timeout }
            if !failures.isEmpty {
                header("Errors", "-")
                byWorker(failures, &out)
            }
            let timedOut = jobs.filter { $0.state == .timeout }
            if !timedOut.isEmpty {
                header("Timeouts\(config.timeout > 0 ? " (after \(Self.duration(config.timeout)))" : "")", "-")
                byWorker(timedOut, &out)
            }
        }
        let waiting = jobs.filter { !$0.state.finished }
        if !waiting.isEmpty {
            header("\(waiting.count) pending")
            for job in waiting {
                var what = ""
                if job.state == .running, let worker = job.worker {
                    what = holder != nil ? "  (running on \(worker))" : "  (was running on \(worker) when the controller stopped)"
                } else if let last = job.attempts.last, let why = last.interruption {
                    what = "  (\(why == "refused" ? "refused by" : why == "aborted" ? "aborted on" : "its worker died:") \(last.worker))"
                } else if let last = job.lastEnd, let state = last.state {
                    what = "  (last attempt: \(state.logText) on \(last.worker))"
                }
                line("    job \(job.number): " + Self.display(job.text) + what)
            }
            line()
        }

        // Workers.
        let (rows, latest) = workerRows()
        if !rows.isEmpty {
            header("Workers")
            var table: [[String]] = [["WORKER", "JOBS", "OK", "FAILED", "WORK TIME", "LIFETIME", "EFFICIENCY", "COST", ""]]
            var instanceSeconds = 0.0, instanceWork = 0.0, cost = 0.0, priced = 0, unpriced: Set<String> = [], notDestroyed = 0
            for row in rows {
                var lifetime = row.lifetime
                var costText = "", note = ""
                var name = row.label
                if let i = row.instance {
                    let instance = instances[i]
                    name += " (\(instance.id))"
                    let from = instance.launched ?? instance.up ?? row.spans.values.map(\.0).min() ?? latest
                    lifetime = max(0, (instance.destroyed ?? latest) - from)
                    if instance.destroyed == nil { note = "NOT DESTROYED!"; notDestroyed += 1 }
                    instanceSeconds += lifetime
                    instanceWork += row.work
                    if let key = priceKey(instance), let price = priceTable[key] {
                        let c = max(Self.minimumBilledSeconds, lifetime) / 3600 * price
                        cost += c
                        priced += 1
                        costText = Self.money(c)
                    } else {
                        unpriced.insert(priceKey(instance) ?? instance.provider)
                        costText = "?"
                    }
                }
                let efficiency = lifetime > 0 ? String(format: "%.0f%%", 100 * row.work / (lifetime * Double(max(1, config.slots)))) : ""
                table.append([name, String(row.jobs), String(row.ok), String(row.failed), Self.duration(row.work),
                              lifetime > 0 || row.instance != nil ? Self.duration(lifetime) : "", efficiency, costText, note])
            }
            if instances.isEmpty { table = table.map { Array($0[0..<7]) } }
            for row in Self.table(table) { line("    " + row) }
            line()
            line("JOBS: ended attempts (retries included); WORK TIME: their run times added; LIFETIME: first start to last end")
            line("(per run) or, for launched instances, launch to destroy; EFFICIENCY: work time / (lifetime x \(config.slots) slot\(config.slots == 1 ? "" : "s")).")
            line()
            if !instances.isEmpty {
                let efficiency = instanceSeconds > 0 ? String(format: ", efficiency %.0f%%", 100 * instanceWork / (instanceSeconds * Double(max(1, config.slots)))) : ""
                line("Instances: \(instances.count) launched, \(String(format: "%.2f", instanceSeconds / 3600)) instance hours (\(Self.clock(instanceSeconds)))\(efficiency)"
                     + (config.slots > 1 ? " (work time / (lifetime x \(config.slots) slots))" : " (work time / lifetime)"))
                if priced > 0 {
                    let types = Set(instances.compactMap { priceKey($0) }).filter { priceTable[$0] != nil }.sorted()
                    let rates = types.map { "\($0) at \(Self.money(priceTable[$0]!))/hour" }.joined(separator: ", ")
                    line("Cost: \(Self.money(cost))\(unpriced.isEmpty ? "" : " for \(priced) of \(instances.count) instances") (\(rates); billed per second, \(Int(Self.minimumBilledSeconds)) s minimum)")
                }
                if !unpriced.isEmpty { line("Cost unknown for \(unpriced.sorted().joined(separator: ", ")): no price known (cloudtask-logalyzer --price TYPE=USD_PER_HOUR)") }
                if notDestroyed > 0 {
                    line(holder != nil
                         ? "\(notDestroyed) instance\(notDestroyed == 1 ? " is" : "s are") still up (the session is running)"
                         : "WARNING: \(notDestroyed) instance\(notDestroyed == 1 ? " was" : "s were") NOT DESTROYED! (still billed?): cloudtask-destroy-workers --session \(name)")
                }
                line()
            }
        }
        return out
    }

    /// Jobs grouped by the worker of their last attempt, each with the last 5 lines of its output.
    private func byWorker(_ list: [Job], _ out: inout String) {
        var order: [String] = []
        var groups: [String: [Job]] = [:]
        for job in list {
            let worker = job.lastEnd?.worker ?? job.worker ?? "?"
            if groups[worker] == nil { order.append(worker) }
            groups[worker, default: []].append(job)
        }
        for worker in order {
            let jobs = groups[worker]!
            out += "\(worker): \(jobs.count) job\(jobs.count == 1 ? "" : "s")\n\n"
            for job in jobs {
                var facts = [job.state.logText]
                if let end = job.lastEnd {
                    if let seconds = end.seconds { facts.append(Self.duration(seconds)) }
                    if end.number > 1 { facts.append("attempt \(end.number)") }
                }
                out += "    job \(job.number) (\(facts.joined(separator: ", "))): \(Self.display(job.text))\n"
                if job.state == .lost {
                    out += "        (no output: its worker died with it running)\n\n"
                    continue
                }
                guard let logged = job.output else {
                    out += "        (no output logged)\n\n"
                    continue
                }
                if logged.earlier { out += "        (the last attempt's output was not logged; this is an earlier attempt's, \(logged.state ?? "unfinished") on \(logged.label))\n" }
                if logged.state == nil { out += "        (the worker log is cut short in this job's output)\n" }
                var lines = output(of: job).split(separator: 10, omittingEmptySubsequences: false)
                while let last = lines.last, last.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { lines.removeLast() }
                if lines.isEmpty { out += "        (no output)\n" }
                if lines.count > 5 { out += "        [last 5 of \(lines.count) lines]\n" }
                for line in lines.suffix(5) { out += "        " + Self.display(line) + "\n" }
                out += "\n"
            }
        }
    }

    /// The key of an instance's price: `local` for the local provider, else the instance type.
    func priceKey(_ instance: LaunchedInstance) -> String? {
        if instance.provider == "local" { return "local" }
        if let type = config.instanceType, !type.isEmpty { return type }
        return instance.provider == "ec2" ? "t3.micro" : nil
    }

    /// One row per worker the journal names (static ones first) and per launched instance; and the last known time.
    func workerRows() -> ([WorkerRow], Double) {
        var latest = runs.map(\.end).max() ?? 0
        for instance in instances { for t in [instance.launched, instance.up, instance.destroyed] { if let t { latest = max(latest, t) } } }
        var byLabel: [String: [Int]] = [:]
        for (i, instance) in instances.enumerated() { byLabel[instance.label, default: []].append(i) }
        var rows: [WorkerRow] = []
        var staticRow: [String: Int] = [:]
        var instanceRow: [Int: Int] = [:]
        for (i, instance) in instances.enumerated() {
            instanceRow[i] = rows.count
            rows.append(WorkerRow(label: instance.label, instance: i))
        }
        var staticRows: [WorkerRow] = []
        for job in jobs {
            for attempt in job.attempts {
                let time = attempt.at ?? runs[safe: attempt.run]?.end ?? latest
                var row: Int?
                if let candidates = byLabel[attempt.worker] {
                    // The instance that was up at the time, else the last launched before it.
                    let pick = candidates.last { i in
                        let instance = instances[i]
                        return (instance.launched ?? instance.up ?? 0) <= time && time <= (instance.destroyed ?? .infinity)
                    } ?? candidates.last { (instances[$0].launched ?? 0) <= time } ?? candidates[0]
                    row = instanceRow[pick]
                }
                func update(_ r: inout WorkerRow) {
                    guard let state = attempt.state else { return }
                    r.jobs += 1
                    if state == .exited(0) { r.ok += 1 } else { r.failed += 1 }
                    let seconds = attempt.seconds ?? 0
                    r.work += seconds
                    if let at = attempt.at {
                        let span = r.spans[attempt.run] ?? (at - seconds, at)
                        r.spans[attempt.run] = (min(span.0, at - seconds), max(span.1, at))
                    }
                }
                if let row { update(&rows[row]) } else {
                    if staticRow[attempt.worker] == nil {
                        staticRow[attempt.worker] = staticRows.count
                        staticRows.append(WorkerRow(label: attempt.worker))
                    }
                    update(&staticRows[staticRow[attempt.worker]!])
                }
            }
        }
        return (staticRows + rows, latest)
    }

    // MARK: - Formatting

    /// HH:MM:SS, hours unbounded.
    static func clock(_ seconds: Double) -> String {
        let total = Int(max(0, seconds).rounded())
        return String(format: "%02d:%02d:%02d", total / 3600, total % 3600 / 60, total % 60)
    }

    /// A short duration: 4.2s, 3m05s, 2h03m10s.
    static func duration(_ seconds: Double) -> String {
        if seconds < 59.95 { return String(format: "%.1fs", max(0, seconds)) }
        let total = Int(seconds.rounded())
        if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
        return String(format: "%dh%02dm%02ds", total / 3600, total % 3600 / 60, total % 60)
    }

    static func money(_ usd: Double) -> String { String(format: usd < 1 ? "$%.4f" : "$%.2f", usd) }

    static func date(_ t: Double) -> String { timestamp(Date(timeIntervalSince1970: t)) }

    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }

    /// Left-aligned columns; trailing blanks trimmed.
    static func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            var text = ""
            for (i, cell) in row.enumerated() { text += i == row.count - 1 ? cell : pad(cell, widths[i] + 2) }
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
    }

    /// Text for one report line: invalid UTF-8 replaced, control characters (newlines, escapes) shown as escapes.
    static func display<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar.value {
            case 9: out += "\t"
            case 10: out += "\\n"
            case 13: out += "\\r"
            case 0..<32, 127: out += String(format: "\\x%02x", scalar.value)
            case 0x80..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: out += String(format: "\\u{%x}", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

/// Finds each job's block in the worker logs. A block is `# TIMESTAMP [label] job N: TEXT\n` (TEXT as journaled,
/// so it may span lines), the output, then `# TIMESTAMP [label] STATE # FIRST-LINE-OF-TEXT\n`, which follows the
/// output directly even when that does not end with a newline.
enum WorkerLogParser {
    struct Block {
        let job: Int
        let label: String
        let stamp: String
        let file: Int
        let range: Range<Int>
        let state: String?
    }

    static func locate(_ jobs: inout [SessionReport.Job], in logs: [Data]) {
        let headers = jobs.map { Array(String(decoding: $0.text, as: UTF8.self).utf8) }
        let firstLines = jobs.map { job -> [UInt8] in
            // As the runner cuts its status line: the first line, split on Characters (so "\r\n" is not a break).
            let line = "x # " + String(decoding: job.text, as: UTF8.self)
            return Array(Array(String(line.split(separator: "\n")[0]).utf8).dropFirst(4))
        }
        var found: [Int: [(block: Block, order: Int)]] = [:]
        var order = 0
        for (file, data) in logs.enumerated() {
            for block in parse(data, file: file, headers: headers, firstLines: firstLines) {
                found[block.job, default: []].append((block, order))
                order += 1
            }
        }
        for i in jobs.indices {
            guard let blocks = found[jobs[i].number] else { continue }
            let last = jobs[i].lastEnd
            let label = last?.worker ?? jobs[i].worker
            let same = blocks.filter { $0.block.label == label }
            let pool = same.isEmpty ? blocks : same
            let pick = pool.max { ($0.block.stamp, $0.order) < ($1.block.stamp, $1.order) }!.block
            var logged = SessionReport.LoggedOutput(file: pick.file, range: pick.range, label: pick.label, state: pick.state)
            if let state = last?.state {
                logged.earlier = pick.label != label || (pick.state != nil && pick.state != state.logText)
            }
            jobs[i].output = logged
        }
    }

    static func parse(_ data: Data, file: Int, headers: [[UInt8]], firstLines: [[UInt8]]) -> [Block] {
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
                while r < n && b[r] >= 48 && b[r] <= 57 && digits < 12 { number = number * 10 + Int(b[r] - 48); r += 1; digits += 1 }
                guard digits > 0, number >= 1, number <= headers.count, r + 2 <= n, b[r] == 58, b[r + 1] == 32 else { return nil }
                r += 2
                guard matches(headers[number - 1], at: r), r + headers[number - 1].count < n, b[r + headers[number - 1].count] == 10 else { return nil }
                return (number, label, stamp, r + headers[number - 1].count + 1)
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
                        guard state.hasPrefix("exit ") || state.hasPrefix("signal ") || ["timeout", "lost", "PENDING"].contains(state) else { return nil }
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
                blocks.append(Block(job: current.job, label: current.label, stamp: current.stamp, file: file, range: range, state: state))
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
                // Inside a block: its end line is the one followed by the next block or the end of the file (output may
                // hold lines that look like it); a header with no end line before it means a torn log.
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
                    if let f = fallback { close(current.start..<f.at, f.state) } else { close(current.start..<j, nil) }
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
