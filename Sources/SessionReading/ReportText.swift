// The session report as text, in the spirit of the original cloudtask-logalyzer: configuration, runs, totals,
// failures by worker with their last lines of output, pending jobs, workers, instance hours and cost.
// Also the body of the --report mail.
import Engine
import Foundation

extension SessionReport {
    /// The report, in the spirit of the original cloudtask-logalyzer. Prices are USD per hour by instance type.
    public func text(priceTable: [String: Double] = SessionReport.defaultPrices) -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        func header(_ s: String, _ c: Character = "=") { line(s); line(String(repeating: c, count: s.count)); line() }

        var ok = 0, pending = 0, running = 0, timeouts = 0, lost = 0
        var exits: [Int: Int] = [:], signals: [String: Int] = [:]
        for i in 0..<index.count {
            switch index.state(i) {
            case .pending: pending += 1
            case .running: pending += 1; running += 1
            case .exited(0): ok += 1
            case .exited(let code): exits[code, default: 0] += 1
            case .signaled(let name): signals[name, default: 0] += 1
            case .timeout: timeouts += 1
            case .lost: lost += 1
            }
        }
        let failed = index.count - ok - pending
        let title = "session \(name): \(Self.clock(seconds)) elapsed, \(index.count) jobs - "
            + "\(pending) pending, \(failed) failed, \(ok) completed"
        header(title)

        // Configuration.
        line("Configuration:")
        line()
        func field(_ name: String, _ value: String?) {
            if let value, !value.isEmpty { line("    " + Self.pad(name, 16) + " " + value) }
        }
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
        let resumed = runs.count > 1 ? " (resumed \(runs.count - 1) time\(runs.count == 2 ? "" : "s"))" : ""
        var runText = runs.isEmpty ? "Runs: none recorded" : "Runs: \(runs.count)\(resumed)"
        if let last = runs.last {
            if let holder { runText += "; the last run is still going (pid \(holder)): this is a snapshot" }
            else if !last.stopped {
                runText += "; the last run has no stop record: its controller crashed or was killed"
            }
            else if last.aborted > 0 { runText += "; the last run was interrupted" }
        }
        line(runText)
        for (i, run) in runs.enumerated() where runs.count > 1 || !run.stopped || run.aborted > 0 {
            let interrupted = "interrupted (\(run.aborted) job\(run.aborted == 1 ? "" : "s") aborted)"
            var state = run.stopped ? (run.aborted > 0 ? interrupted : "stopped") : "no stop record"
            if i == runs.count - 1, holder != nil { state = "running" }
            line("    run \(i + 1): \(Self.date(run.start)), \(Self.clock(max(0, run.end - run.start))), \(state)")
        }
        if generatorOpen {
            line("The job generator was still producing when the session stopped: more jobs may be missing.")
        }
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
        line("    " + Self.pad("pending", 16) + " \(pending)"
             + (running > 0 ? " (\(running) of them running when last recorded)" : ""))
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
            if self.errors.total > 0 {
                header("Errors", "-")
                byWorker(self.errors, &out)
            }
            if timedOut.total > 0 {
                header("Timeouts\(config.timeout > 0 ? " (after \(Self.duration(config.timeout)))" : "")", "-")
                byWorker(timedOut, &out)
            }
        }
        if waiting.total > 0 {
            header("\(waiting.total) pending")
            for job in waiting.listed {
                var what = ""
                if job.state == .running, let worker = job.worker {
                    what = holder != nil
                        ? "  (running on \(worker))"
                        : "  (was running on \(worker) when the controller stopped)"
                } else if let last = job.last, let why = last.interruption {
                    let how = why == "refused" ? "refused by" : why == "aborted" ? "aborted on" : "its worker died:"
                    what = "  (\(how) \(last.worker))"
                } else if let last = job.lastEnd, let state = last.state {
                    what = "  (last attempt: \(state.logText) on \(last.worker))"
                }
                line("    job \(job.number): " + Self.display(job.text) + what)
            }
            if waiting.total > waiting.listed.count {
                line("    ... and \(waiting.total - waiting.listed.count) more "
                     + "(the first \(limits.pending) are listed)")
            }
            line()
        }

        // Workers.
        if !rows.isEmpty {
            header("Workers")
            var table: [[String]] = [["WORKER", "JOBS", "OK", "FAILED", "WORK TIME", "LIFETIME",
                                      "EFFICIENCY", "COST", ""]]
            var instanceSeconds = 0.0, instanceWork = 0.0, cost = 0.0
            var priced = 0, unpriced: Set<String> = [], notDestroyed = 0
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
                let capacity = lifetime * Double(max(1, config.slots))
                let efficiency = lifetime > 0 ? String(format: "%.0f%%", 100 * row.work / capacity) : ""
                table.append([name, String(row.jobs), String(row.ok), String(row.failed), Self.duration(row.work),
                              lifetime > 0 || row.instance != nil ? Self.duration(lifetime) : "",
                              efficiency, costText, note])
            }
            if instances.isEmpty { table = table.map { Array($0[0..<7]) } }
            for row in Self.table(table) { line("    " + row) }
            line()
            line("JOBS: ended attempts (retries included); WORK TIME: their run times added; "
                 + "LIFETIME: first start to last end")
            line("(per run) or, for launched instances, launch to destroy; EFFICIENCY: work time / (lifetime x "
                 + "\(config.slots) slot\(config.slots == 1 ? "" : "s")).")
            line()
            if !instances.isEmpty {
                let capacity = instanceSeconds * Double(max(1, config.slots))
                let efficiency = instanceSeconds > 0
                    ? String(format: ", efficiency %.0f%%", 100 * instanceWork / capacity) : ""
                let hours = String(format: "%.2f", instanceSeconds / 3600)
                line("Instances: \(instances.count) launched, \(hours) instance hours "
                     + "(\(Self.clock(instanceSeconds)))\(efficiency)"
                     + (config.slots > 1
                        ? " (work time / (lifetime x \(config.slots) slots))"
                        : " (work time / lifetime)"))
                if priced > 0 {
                    let types = Set(instances.compactMap { priceKey($0) }).filter { priceTable[$0] != nil }.sorted()
                    let rates = types.map { "\($0) at \(Self.money(priceTable[$0]!))/hour" }.joined(separator: ", ")
                    let some = unpriced.isEmpty ? "" : " for \(priced) of \(instances.count) instances"
                    line("Cost: \(Self.money(cost))\(some) (\(rates); billed per second, "
                         + "\(Int(Self.minimumBilledSeconds)) s minimum)")
                }
                if !unpriced.isEmpty {
                    line("Cost unknown for \(unpriced.sorted().joined(separator: ", ")): no price known "
                         + "(cloudtask-logalyzer --price TYPE=USD_PER_HOUR)")
                }
                if notDestroyed > 0 {
                    line(holder != nil
                         ? "\(notDestroyed) instance\(notDestroyed == 1 ? " is" : "s are") still up "
                           + "(the session is running)"
                         : "WARNING: \(notDestroyed) instance\(notDestroyed == 1 ? " was" : "s were") NOT DESTROYED! "
                           + "(still billed?): cloudtask-destroy-workers --session \(name)")
                }
                line()
            }
        }
        return out
    }

    /// Jobs grouped by the worker of their last attempt, each with the last 5 lines of its output: every worker
    /// with its count, the listed jobs under it, and how many more it has when the list was cut short.
    private func byWorker(_ listing: Listing, _ out: inout String) {
        var listed: [String: [Job]] = [:]
        for job in listing.listed { listed[job.lastEnd?.worker ?? job.worker ?? "?", default: []].append(job) }
        var unlisted = (jobs: 0, workers: 0)
        if listing.total > listing.listed.count {
            out += "(the first \(listing.listed.count) of \(listing.total) are listed; every job's output: "
                + "cloudtask-logalyzer \(name) OUTPUT_DIR)\n\n"
        }
        for (worker, count) in listing.workers {
            guard let jobs = listed[worker] else { unlisted.jobs += count; unlisted.workers += 1; continue }
            out += "\(worker): \(count) job\(count == 1 ? "" : "s")\n\n"
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
                if logged.earlier {
                    out += "        (the last attempt's output was not logged; this is an earlier attempt's, "
                        + "\(logged.state ?? "unfinished") on \(logged.label))\n"
                }
                if logged.state == nil { out += "        (the worker log is cut short in this job's output)\n" }
                if logged.lineCount == 0 { out += "        (no output)\n" }
                if logged.lineCount > Tail.lines {
                    out += "        [last \(Tail.lines) of \(logged.lineCount) lines]\n"
                }
                for line in logged.lastLines { out += "        " + Self.display(line) + "\n" }
                out += "\n"
            }
            if count > jobs.count { out += "    ... and \(count - jobs.count) more on \(worker)\n\n" }
        }
        if unlisted.jobs > 0 {
            out += "... and \(unlisted.jobs) more on \(unlisted.workers) "
                + "other worker\(unlisted.workers == 1 ? "" : "s")\n\n"
        }
    }

    /// The key of an instance's price: `local` for the local provider, else the instance type.
    func priceKey(_ instance: LaunchedInstance) -> String? {
        if instance.provider == "local" { return "local" }
        if let type = config.instanceType, !type.isEmpty { return type }
        return instance.provider == "ec2" ? "t3.micro" : nil
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

    static func date(_ t: Double) -> String { WorkerLog.timestamp(Date(timeIntervalSince1970: t)) }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

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
            case 0x80..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                out += String(format: "\\u{%x}", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
