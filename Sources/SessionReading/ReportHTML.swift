// The session report as one self-contained HTML page (cloudtask-logalyzer --html): a timeline of the workers with
// a bar per job attempt (or per time slice past SessionPicture.barLimit), the launched workers' lives, the fleet's
// utilisation, a histogram of durations, the workers and failures tables, and the text report. Inline SVG and CSS
// only: no script, no network. Every byte of a job's input or output goes through `escape(display(...))`.
import Engine
import Foundation

extension SessionReport {
    /// Writes the page to `file`, replacing it whole (a temp file beside it, then rename). Throws FileError.
    public func writeHTML(to file: String, priceTable: [String: Double] = SessionReport.defaultPrices) throws {
        try replaceFile(file, with: Array(try html(priceTable: priceTable).utf8))
    }

    /// The page. Reads the journal once more (streamed) and the session log (streamed, for the workers' events).
    public func html(priceTable: [String: Double] = SessionReport.defaultPrices) throws -> String {
        let picture = try picture()
        var page = HTMLPage(report: self, picture: picture)
        return try page.render(text: text(priceTable: priceTable), events: workerEvents(picture))
    }

    /// The journal folded into a picture of [first run or launch, last known time].
    func picture() throws -> SessionPicture {
        var start = runs.first?.start ?? latest
        for instance in instances {
            for t in [instance.launched, instance.up, instance.destroyed] { if let t, t > 0 { start = min(start, t) } }
        }
        var end = latest
        if runs.isEmpty {
            // A hand-made journal: its times alone say where the picture starts.
            _ = try Journal.scan(path: path + "/journal") { record, _ in
                if let at = record.at { start = min(start, at); end = max(end, at) }
            }
        }
        // A margin, so that what happens at either end (a launch, the last destroy) is not cut off.
        let margin = max(0.2, (end - start) * 0.01)
        start -= margin
        end += margin
        var labels: [String] = []
        var seen: Set<String> = []
        for label in rows.map(\.label) + history.labels where seen.insert(label).inserted { labels.append(label) }
        var picture = SessionPicture(t0: start, t1: end, rows: labels)
        _ = try Journal.scan(path: path + "/journal") { record, _ in picture.add(record) }
        picture.finish()
        return picture
    }

    /// What the session log says of each worker (connected, done, died...), in order, a few lines each.
    func workerEvents(_ picture: SessionPicture) -> [[String]] {
        var events = [[String]](repeating: [], count: picture.rows.count)
        guard let log = try? LineFile(path + "/log") else { return events }
        let kept = ["connected", "done (", "worker died", "retired", "setup failed", "launched worker",
                    "destroyed worker", "cannot destroy", "unreachable", "cannot connect"]
        try? log.forEachLine { line, _, _ in
            // "LABEL: what", where a label is host:port, so the first ": " ends it.
            guard let colon = line.indices.first(where: { line[$0] == 58 && $0 + 1 < line.endIndex && line[$0 + 1] == 32 })
            else { return true }
            let label = String(decoding: line[..<colon], as: UTF8.self)
            guard let row = picture.rowID(label), events[row].count < 8 else { return true }
            let rest = String(decoding: line[(colon + 2)...].prefix(300), as: UTF8.self)
            if kept.contains(where: { rest.hasPrefix($0) || rest.contains(": " + $0) }) { events[row].append(rest) }
            return true
        }
        return events
    }
}

/// Text for HTML: `&<>"'` as entities (the caller has already made it valid UTF-8 without control characters).
func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Bytes for HTML: invalid UTF-8 replaced, control characters shown as escapes, then escaped; cut at `limit`
/// characters.
func escape<C: Collection>(bytes: C, limit: Int = 200) -> String where C.Element == UInt8 {
    let text = SessionReport.display(bytes)
    return escape(text.count > limit ? String(text.prefix(limit)) + "…" : text)
}

/// One rendering of the page.
struct HTMLPage {
    let report: SessionReport
    let picture: SessionPicture
    var out = ""

    init(report: SessionReport, picture: SessionPicture) {
        self.report = report
        self.picture = picture
        out.reserveCapacity(1 << 20)
    }

    // The geometry, in pixels.
    static let width = 1360.0, left = 210.0, right = 20.0
    var plot: Double { Self.width - Self.left - Self.right }
    var t0: Double { picture.t0 }
    var t1: Double { picture.t1 }
    func x(_ t: Double) -> Double { Self.left + (t - t0) / (t1 - t0) * plot }

    static func n(_ value: Double) -> String { String(format: "%.1f", value) }
    static func clock(_ t: Double) -> String { String(SessionReport.date(t).suffix(8)) }
    static func seconds(_ s: Double) -> String {
        s < 1 ? String(format: "%.0f ms", s * 1000) : s < 60 ? String(format: "%.1f s", s) : SessionReport.duration(s)
    }

    mutating func render(text: String, events: [[String]]) throws -> String {
        let name = escape(report.name)
        out += """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
        <title>cloudtask session \(name)</title>
        <style>\(Self.style)</style></head><body>

        """
        header()
        try timeline()
        utilisation()
        histogram()
        workers(events)
        failures()
        out += "<h2>The text report</h2>\n<details><summary>cloudtask-logalyzer \(name)</summary>\n<pre>"
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            out += escape(bytes: Array(line.utf8), limit: 10_000) + "\n"
        }
        out += "</pre></details>\n</body></html>\n"
        return out
    }

    static let style = """
    body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px 20px;color:#222;background:#fff}
    h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 6px}
    .facts{color:#555}.facts b{color:#222}
    svg{display:block}svg text{font:11px system-ui,sans-serif;fill:#444}
    .ok{fill:#43a047}.failed{fill:#e53935}.timeout{fill:#fb8c00}.signal{fill:#8e24aa}.lost{fill:#37474f}
    .unfinished{fill:#b0b0b0}
    rect.a,g.s rect{shape-rendering:crispEdges}rect.a:hover,g.s:hover rect{stroke:#000;stroke-width:1}
    .stripe{fill:#f6f6f6}.alive{fill:#dcecfb}.active{fill:#e8f1e4}
    .boot{stroke:#7e97a8;stroke-width:2;stroke-dasharray:3 2}.mark{fill:#455a64}
    .death{stroke:#b71c1c;stroke-width:2}.grid{stroke:#ddd}.runline{stroke:#1565c0;stroke-dasharray:4 3}
    .avail{fill:#dcecfb;stroke:#90b4d8}.busy{fill:#1e88e5;fill-opacity:.75}.hit{fill:transparent}
    .hit:hover{fill:#0002}.axis{stroke:#888}
    .key{display:inline-block;margin-right:14px}.key i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
    i.ok{background:#43a047}i.failed{background:#e53935}i.timeout{background:#fb8c00}i.signal{background:#8e24aa}
    i.lost{background:#37474f}i.unfinished{background:#b0b0b0}i.alive{background:#dcecfb;border:1px solid #90b4d8}
    i.active{background:#e8f1e4;border:1px solid #9c9}
    table{border-collapse:collapse;margin-top:4px}td,th{border:1px solid #ddd;padding:2px 7px;text-align:left;vertical-align:top}
    th{background:#f3f3f3}td.n{text-align:right}
    pre{white-space:pre-wrap;word-break:break-all;background:#f8f8f8;padding:6px;margin:2px 0;font-size:12px}
    """

    // MARK: - Header

    mutating func header() {
        let counts = report.counts
        out += "<h1>cloudtask session \(escape(report.name))</h1>\n<p class=\"facts\">"
        out += "<b>\(escape(ShellQuote.display(report.config.command)))</b><br>"
        out += "\(escape(SessionReport.date(t0))) to \(escape(SessionReport.date(t1))), "
        out += "\(SessionReport.clock(report.seconds)) elapsed over \(report.runs.count) run\(report.runs.count == 1 ? "" : "s"); "
        out += "\(report.index.count) jobs: \(counts.ok) ok, \(counts.failed) failed, \(counts.timeouts) timed out, "
        out += "\(counts.lost) lost, \(counts.pending + counts.running) pending; \(picture.attempts) attempts on "
        out += "\(picture.rows.count) worker\(picture.rows.count == 1 ? "" : "s")"
        out += report.config.slots > 1 ? ", \(report.config.slots) slots each.</p>\n" : ".</p>\n"
        for note in report.notes { out += "<p class=\"facts\">note: \(escape(note))</p>\n" }
    }

    // MARK: - Timeline

    /// Each bar's lane in its row (attempts overlap on a worker with several slots), and each row's lane count.
    func lanes() -> ([Int], [Int]) {
        var lane = [Int](repeating: 0, count: picture.bars.count)
        var counts = [Int](repeating: 1, count: picture.rows.count)
        var ends = [[Double]](repeating: [], count: picture.rows.count)
        let order = picture.bars.indices.sorted { picture.bars[$0].start < picture.bars[$1].start }
        for i in order {
            let bar = picture.bars[i], row = Int(bar.row)
            if let free = ends[row].firstIndex(where: { $0 <= bar.start }) {
                lane[i] = free; ends[row][free] = bar.end
            } else {
                lane[i] = ends[row].count; ends[row].append(bar.end)
            }
            counts[row] = max(counts[row], ends[row].count)
        }
        return (lane, counts)
    }

    mutating func timeline() throws {
        let rows = picture.rows.count
        let (lane, laneCounts) = picture.grouped ? ([], [Int](repeating: 1, count: rows)) : lanes()
        let rowHeight: [Double] = laneCounts.map { lanes in
            if picture.grouped { return rows <= 40 ? 22 : max(4, 880 / Double(rows)) }
            let lane = lanes <= 4 ? 13.0 : max(2, 52 / Double(lanes))
            return max(rows <= 40 ? 22 : max(4, 880 / Double(rows)), Double(lanes) * lane + 6)
        }
        var top = [Double](repeating: 0, count: rows)
        var y = 26.0
        for r in 0..<rows { top[r] = y; y += rowHeight[r] }
        let height = y + 22

        out += "<h2>Timeline</h2>\n<p>Attempts: "
        for outcome in Outcome.allCases {
            out += "<span class=\"key\"><i class=\"\(outcome.name)\"></i>\(outcome.name) (\(picture.outcomes[outcome.rawValue]))</span>"
        }
        out += "<span class=\"key\"><i class=\"alive\"></i>launched worker up</span>"
        out += "<span class=\"key\"><i class=\"active\"></i>given worker working</span></p>\n"
        if picture.grouped {
            let width = (t1 - t0) / Double(picture.slices)
            out += "<p class=\"facts\">\(picture.attempts) attempts: too many for a bar each, so each worker's row is cut "
                + "into \(picture.slices) slices of \(Self.seconds(width)); a slice's height is how busy its slots were, "
                + "split by outcome (hover for counts).</p>\n"
        }
        out += "<svg id=\"timeline\" width=\"\(Int(Self.width))\" height=\"\(Int(height))\">\n"
        axis(top: 20, bottom: y)
        for (k, run) in report.runs.enumerated() where k > 0 {
            out += "<line class=\"runline\" x1=\"\(Self.n(x(run.start)))\" y1=\"14\" x2=\"\(Self.n(x(run.start)))\" "
                + "y2=\"\(Self.n(y))\"><title>run \(k + 1) began \(Self.clock(run.start))</title></line>"
                + "<text x=\"\(Self.n(x(run.start) + 3))\" y=\"12\">run \(k + 1)</text>\n"
        }
        let instances = Dictionary(grouping: report.instances, by: \.label)
        for r in 0..<rows {
            let label = picture.rows[r], yTop = top[r], h = rowHeight[r]
            if r % 2 == 1 {
                out += "<rect class=\"stripe\" x=\"0\" y=\"\(Self.n(yTop))\" width=\"\(Int(Self.width))\" height=\"\(Self.n(h))\"/>"
            }
            out += "<text x=\"4\" y=\"\(Self.n(yTop + min(h, 22) / 2 + 4))\">\(escape(String(label.prefix(32))))</text>\n"
            life(instances[label] ?? [], row: r, yTop: yTop, h: h)
        }
        // Deaths under the bars: the attempt a death cut short, however short, stays visible.
        for r in 0..<rows {
            for t in picture.deaths[r] {
                out += "<line class=\"death\" x1=\"\(Self.n(x(t)))\" y1=\"\(Self.n(top[r]))\" x2=\"\(Self.n(x(t)))\" "
                    + "y2=\"\(Self.n(top[r] + rowHeight[r]))\"><title>\(escape(picture.rows[r])) died at "
                    + "\(Self.clock(t)): its running jobs went back to the queue</title></line>\n"
            }
        }
        if picture.grouped { slices(top, rowHeight) } else { try bars(lane, laneCounts, top, rowHeight) }
        out += "</svg>\n"
    }

    /// Time ticks along the top, grid lines down to `bottom`.
    mutating func axis(top: Double, bottom: Double) {
        let span = t1 - t0
        let steps: [Double] = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                               21600, 43200, 86400, 172_800, 604_800]
        let step = steps.first { span / $0 <= 12 } ?? span / 12
        var t = (t0 / step).rounded(.up) * step
        while t <= t1 {
            let label = step < 1 ? String(format: "%@.%d", Self.clock(t), Int((t * 10).rounded()) % 10) : Self.clock(t)
            out += "<line class=\"grid\" x1=\"\(Self.n(x(t)))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x(t)))\" y2=\"\(Self.n(bottom))\"/>"
                + "<text x=\"\(Self.n(x(t) - 22))\" y=\"\(Self.n(top - 4))\">\(label)</text>\n"
            t += step
        }
    }

    /// A worker's life behind its row: launched to up (booting), up to destroyed (or, for a worker the ledger does
    /// not know, from its first job to its last in each run).
    mutating func life(_ instances: [SessionReport.LaunchedInstance], row: Int, yTop: Double, h: Double) {
        let mid = yTop + h / 2
        for instance in instances {
            let what = escape("\(instance.id) (\(instance.provider))")
            let up = instance.up, gone = instance.destroyed.flatMap { $0 > 0 ? $0 : nil }
            if let launched = instance.launched {
                let to = up ?? gone ?? t1
                out += "<line class=\"boot\" x1=\"\(Self.n(x(launched)))\" y1=\"\(Self.n(mid))\" x2=\"\(Self.n(x(to)))\" "
                    + "y2=\"\(Self.n(mid))\"><title>\(what): launched \(Self.clock(launched))"
                    + (up.map { ", up \(Self.clock($0)) (\(Self.seconds($0 - launched)) to boot)" } ?? ", never up")
                    + "</title></line>"
                out += "<rect class=\"mark\" x=\"\(Self.n(x(launched) - 1))\" y=\"\(Self.n(yTop + 2))\" width=\"2\" "
                    + "height=\"\(Self.n(h - 4))\"><title>\(what) launched \(Self.clock(launched))</title></rect>"
            }
            if let up {
                let end = gone ?? t1
                out += "<rect class=\"alive\" x=\"\(Self.n(x(up)))\" y=\"\(Self.n(yTop + 1))\" "
                    + "width=\"\(Self.n(max(1, x(end) - x(up))))\" height=\"\(Self.n(h - 2))\"><title>\(what): up "
                    + "\(Self.clock(up)), " + (gone.map { "destroyed \(Self.clock($0))" } ?? "NOT DESTROYED")
                    + "</title></rect>"
            }
            if let gone {
                out += "<path class=\"mark\" d=\"M\(Self.n(x(gone) - 4)) \(Self.n(yTop + 2))h8l-4 \(Self.n(h - 4))z\">"
                    + "<title>\(what) destroyed \(Self.clock(gone))</title></path>"
            }
            out += "\n"
        }
        guard instances.isEmpty else { return }
        for (run, span) in picture.spans[row].sorted(by: { $0.key < $1.key }) {
            out += "<rect class=\"active\" x=\"\(Self.n(x(span.0)))\" y=\"\(Self.n(yTop + 1))\" "
                + "width=\"\(Self.n(max(1, x(span.1) - x(span.0))))\" height=\"\(Self.n(h - 2))\"><title>"
                + "\(escape(picture.rows[row])): first job \(Self.clock(span.0)), last \(Self.clock(span.1)) "
                + "(run \(run + 1))</title></rect>\n"
        }
    }

    /// A bar per attempt, its hover the job's number, input, worker, attempt, times and outcome.
    mutating func bars(_ lane: [Int], _ laneCounts: [Int], _ top: [Double], _ rowHeight: [Double]) throws {
        let journal = try LineFile(report.path + "/journal")
        let notes: [SessionPicture.Note: String] = [
            .retried: " (retried)", .died: ": its worker died (the job went back to the queue)",
            .refused: ": no channel (the job went back to the queue)", .aborted: ": aborted",
            .noEnd: ": no end recorded (the controller stopped or was killed)",
        ]
        for (i, bar) in picture.bars.enumerated() {
            let row = Int(bar.row), lanes = Double(laneCounts[row])
            let laneHeight = (rowHeight[row] - 6) / lanes
            // Whole pixels, 2 at least, and a gap between bars that touch: every attempt shows, crisply.
            let x0 = x(bar.start).rounded(.down), x1 = x(bar.end).rounded()
            let w = x1 - x0 > 3 ? x1 - x0 - 1 : max(bar.outcome == .ok ? 2 : 3, x1 - x0)
            let y0 = (top[row] + 3 + Double(lane[i]) * laneHeight).rounded()
            let job = Int(bar.job)
            let input = (try? Journal.job(at: report.index.offset(job), in: journal)).map { escape(bytes: $0.input) } ?? "?"
            let state = bar.state.map { $0.logText } ?? bar.outcome.name
            out += "<rect class=\"a \(bar.outcome.name)\" x=\"\(Self.n(x0))\" y=\"\(Self.n(y0))\" width=\"\(Self.n(w))\" "
                + "height=\"\(Self.n(max(1, laneHeight.rounded() - 1)))\"><title>job \(job + 1): \(input)\n"
                + "\(escape(picture.rows[row]))\(bar.attempt > 0 ? ", attempt \(bar.attempt)" : "")\n"
                + "\(Self.clock(bar.start)) to \(Self.clock(bar.end)) (\(Self.seconds(bar.end - bar.start)))\n"
                + "\(escape(state))\(notes[bar.note] ?? "")</title></rect>\n"
        }
    }

    /// Past the bar limit: per worker, per slice, a column as high as the slots were busy, split by outcome.
    mutating func slices(_ top: [Double], _ rowHeight: [Double]) {
        let kinds = Outcome.allCases.count, slices = picture.slices
        let width = (t1 - t0) / Double(slices), pixels = plot / Double(slices)
        let capacity = width * Double(max(1, report.config.slots))
        for row in 0..<picture.rows.count {
            let inner = (rowHeight[row] - 4).rounded(), bottom = (top[row] + rowHeight[row] - 2).rounded()
            for slice in 0..<slices {
                let base = slice * kinds
                let counts = (0..<kinds).map { Int(picture.ended[row][base + $0]) }
                let busy = (0..<kinds).map { Double(picture.busy[row][base + $0]) }
                guard counts.contains(where: { $0 > 0 }) || busy.contains(where: { $0 > 0 }) else { continue }
                let total = busy.reduce(0, +)
                let start = t0 + Double(slice) * width
                var hover = "\(escape(picture.rows[row])), \(Self.clock(start)) to \(Self.clock(start + width)): "
                hover += "\(counts.reduce(0, +)) attempts ended"
                for k in 0..<kinds where counts[k] > 0 { hover += ", \(counts[k]) \(Outcome(rawValue: k)!.name)" }
                hover += String(format: "; slots %.0f%% busy", min(1, total / capacity) * 100)
                out += "<g class=\"s\"><title>\(hover)</title>"
                var y = bottom
                let scale = inner / max(capacity, total)
                // Whole pixels edge to edge, so that neighbouring slices neither overlap nor leave gaps.
                let x0 = (Self.left + Double(slice) * pixels).rounded(), x1 = (Self.left + Double(slice + 1) * pixels).rounded()
                for k in 0..<kinds where busy[k] > 0 || counts[k] > 0 {
                    let h = max(1, (busy[k] * scale).rounded())
                    y -= h
                    out += "<rect class=\"\(Outcome(rawValue: k)!.name)\" x=\"\(Int(x0))\" y=\"\(Int(max(top[row] + 1, y)))\" "
                        + "width=\"\(Int(max(1, x1 - x0)))\" height=\"\(Int(h))\"/>"
                }
                out += "</g>\n"
            }
        }
    }

    // MARK: - Utilisation

    /// Slots available per bucket: launched workers from up to destroyed (or death), the others from their first
    /// job to their last in each run.
    func available() -> [Double] {
        let buckets = SessionPicture.utilisationBuckets
        var slotSeconds = [Double](repeating: 0, count: buckets)
        let slots = Double(max(1, report.config.slots))
        func add(_ from: Double, _ to: Double) {
            guard to > from else { return }
            SessionPicture.spread(from, to, t0, t1, buckets) { slotSeconds[$0] += $1 * slots }
        }
        let instances = Dictionary(grouping: report.instances, by: \.label)
        for (row, label) in picture.rows.enumerated() {
            if let launched = instances[label] {
                for instance in launched {
                    guard let up = instance.up else { continue }
                    var end = instance.destroyed.flatMap { $0 > 0 ? $0 : nil } ?? t1
                    if let death = picture.deaths[row].first(where: { $0 >= up && $0 <= end }) { end = death }
                    add(up, end)
                }
            } else {
                for span in picture.spans[row].values { add(span.0, span.1) }
            }
        }
        let width = (t1 - t0) / Double(buckets)
        return slotSeconds.map { $0 / width }
    }

    mutating func utilisation() {
        let buckets = SessionPicture.utilisationBuckets
        let width = (t1 - t0) / Double(buckets)
        let slots = available()
        let running = picture.running.map { $0 / width }
        let peak = max(1, (zip(slots, running).map { max($0, $1) }.max() ?? 1))
        let height = 150.0, top = 24.0, bottom = top + height
        let used = running.reduce(0, +), offered = slots.reduce(0, +)
        out += "<h2>Utilisation of the fleet</h2>\n<p class=\"facts\">Jobs running (blue) against the slots of the "
            + "workers that were up (light blue); overall \(offered > 0 ? String(format: "%.0f%%", min(1, used / offered) * 100) : "-") "
            + "of the available slot time was used.</p>\n"
        out += "<svg id=\"utilisation\" width=\"\(Int(Self.width))\" height=\"\(Int(bottom + 8))\">\n"
        axis(top: top, bottom: bottom)
        func y(_ value: Double) -> Double { bottom - value / peak * height }
        func area(_ values: [Double], _ cls: String) {
            var d = "M\(Self.n(Self.left)) \(Self.n(bottom))"
            for (b, v) in values.enumerated() {
                let xa = Self.left + Double(b) * plot / Double(buckets)
                d += "L\(Self.n(xa)) \(Self.n(y(v)))L\(Self.n(xa + plot / Double(buckets))) \(Self.n(y(v)))"
            }
            out += "<path class=\"\(cls)\" d=\"\(d)L\(Self.n(Self.left + plot)) \(Self.n(bottom))Z\"/>\n"
        }
        area(slots, "avail")
        area(running, "busy")
        for v in [peak / 2, peak] {
            out += "<text x=\"\(Self.n(Self.left - 8))\" y=\"\(Self.n(y(v) + 4))\" text-anchor=\"end\">"
                + String(format: v == v.rounded() ? "%.0f" : "%.1f", v) + "</text>"
        }
        out += "<text x=\"4\" y=\"\(Self.n(top + height / 2))\">jobs running / slots</text>"
        out += "<line class=\"axis\" x1=\"\(Self.n(Self.left))\" y1=\"\(Self.n(bottom))\" x2=\"\(Self.n(Self.left + plot))\" y2=\"\(Self.n(bottom))\"/>\n"
        // Hover targets, a few per chart width (a bucket each would cost more than it tells).
        let step = 4
        for b in stride(from: 0, to: buckets, by: step) {
            let run = running[b..<min(buckets, b + step)].reduce(0, +) / Double(step)
            let slot = slots[b..<min(buckets, b + step)].reduce(0, +) / Double(step)
            let from = t0 + Double(b) * width
            out += "<rect class=\"hit\" x=\"\(Self.n(Self.left + Double(b) * plot / Double(buckets)))\" y=\"\(Self.n(top))\" "
                + "width=\"\(Self.n(plot / Double(buckets) * Double(step)))\" height=\"\(Self.n(height))\"><title>"
                + "\(Self.clock(from)) to \(Self.clock(from + width * Double(step))): "
                + String(format: "%.1f jobs running, %.1f slots up", run, slot)
                + (slot > 0 ? String(format: " (%.0f%%)", min(1, run / slot) * 100) : "") + "</title></rect>\n"
        }
        out += "</svg>\n"
    }

    // MARK: - Histogram

    mutating func histogram() {
        let bins = picture.histogram
        let totals = bins.map { $0.reduce(0, +) }
        out += "<h2>Durations of the attempts that ended</h2>\n"
        guard let first = totals.firstIndex(where: { $0 > 0 }), let last = totals.lastIndex(where: { $0 > 0 }) else {
            out += "<p class=\"facts\">No attempt ended.</p>\n"
            return
        }
        let shown = max(1, last - first + 1)
        let height = 150.0, top = 10.0, bottom = top + height
        let barWidth = min(60, plot / Double(shown))
        let peak = Double(totals.max() ?? 1)
        out += "<svg id=\"histogram\" width=\"\(Int(Self.width))\" height=\"\(Int(bottom + 34))\">\n"
        out += "<text x=\"4\" y=\"\(Self.n(top + height / 2))\">attempts (\(Int(peak)) at most)</text>"
        for (k, bin) in (first...last).enumerated() {
            let x0 = Self.left + Double(k) * barWidth
            let from = SessionPicture.binStart(bin), to = SessionPicture.binStart(bin + 1)
            var hover = "\(bin == 0 ? "under \(Self.seconds(to))" : "\(Self.seconds(from)) to \(Self.seconds(to))"): "
                + "\(totals[bin]) attempts"
            for (o, count) in bins[bin].enumerated() where count > 0 { hover += ", \(count) \(Outcome(rawValue: o)!.name)" }
            out += "<g><title>\(hover)</title><rect class=\"hit\" x=\"\(Self.n(x0))\" y=\"\(Self.n(top))\" "
                + "width=\"\(Self.n(barWidth))\" height=\"\(Self.n(height))\"/>"
            var y = bottom
            for (o, count) in bins[bin].enumerated() where count > 0 {
                let h = max(1, Double(count) / peak * height)
                y -= h
                out += "<rect class=\"\(Outcome(rawValue: o)!.name)\" x=\"\(Self.n(x0 + 1))\" y=\"\(Self.n(y))\" "
                    + "width=\"\(Self.n(max(1, barWidth - 2)))\" height=\"\(Self.n(h))\"/>"
            }
            out += "</g>"
            if k % max(1, shown / 12) == 0 {
                out += "<text x=\"\(Self.n(x0))\" y=\"\(Self.n(bottom + 14))\">\(bin == 0 ? "< " + Self.seconds(to) : Self.seconds(from))</text>"
            }
            out += "\n"
        }
        out += "<line class=\"axis\" x1=\"\(Self.n(Self.left))\" y1=\"\(Self.n(bottom))\" "
            + "x2=\"\(Self.n(Self.left + Double(shown) * barWidth))\" y2=\"\(Self.n(bottom))\"/>"
        out += "<text x=\"\(Self.n(Self.left))\" y=\"\(Self.n(bottom + 30))\">duration (each bar a quarter of a decade)</text>\n"
        out += "</svg>\n"
    }

    // MARK: - Tables

    mutating func workers(_ events: [[String]]) {
        out += "<h2>Workers</h2>\n<table><tr><th>worker</th><th>instance</th><th>launched</th><th>up</th>"
            + "<th>destroyed</th><th>jobs ended</th><th>ok</th><th>not ok</th><th>work</th><th>the log says</th></tr>\n"
        var sums: [String: SessionReport.WorkerRow] = [:]
        for row in report.rows { sums[row.label, default: SessionReport.WorkerRow(label: row.label)].merge(row) }
        let instances = Dictionary(grouping: report.instances, by: \.label)
        func time(_ t: Double?) -> String { t.map { $0 > 0 ? Self.clock($0) : "yes" } ?? "" }
        for (r, label) in picture.rows.enumerated() {
            let launched = instances[label] ?? []
            let sum = sums[label]
            out += "<tr><td>\(escape(label))</td>"
            out += "<td>\(launched.map { escape("\($0.id) (\($0.provider))") }.joined(separator: "<br>"))</td>"
            out += "<td>\(launched.map { time($0.launched) }.joined(separator: "<br>"))</td>"
            out += "<td>\(launched.map { time($0.up) }.joined(separator: "<br>"))</td>"
            out += "<td>\(launched.map { $0.destroyed == nil ? "<b>NOT DESTROYED</b>" : time($0.destroyed) }.joined(separator: "<br>"))</td>"
            out += "<td class=\"n\">\(sum?.jobs ?? 0)</td><td class=\"n\">\(sum?.ok ?? 0)</td>"
            out += "<td class=\"n\">\(sum?.failed ?? 0)</td><td class=\"n\">\(SessionReport.duration(sum?.work ?? 0))</td>"
            out += "<td>\(events[r].map { escape($0) }.joined(separator: "<br>"))</td></tr>\n"
        }
        out += "</table>\n"
    }

    mutating func failures() {
        let listed = report.errors.listed + report.timedOut.listed
        let total = report.errors.total + report.timedOut.total
        out += "<h2>Jobs that did not succeed</h2>\n"
        guard !listed.isEmpty else {
            out += "<p class=\"facts\">None.</p>\n"
            return
        }
        if total > listed.count {
            out += "<p class=\"facts\">The first \(listed.count) of \(total); every job's output: "
                + "cloudtask-logalyzer \(escape(report.name)) OUTPUT_DIR.</p>\n"
        }
        out += "<table><tr><th>job</th><th>state</th><th>worker</th><th>command</th><th>last lines of output</th></tr>\n"
        for job in listed.sorted(by: { $0.number < $1.number }) {
            var facts = job.state.logText
            if let end = job.lastEnd {
                if let seconds = end.seconds { facts += ", " + SessionReport.duration(seconds) }
                if end.number > 1 { facts += ", attempt \(end.number)" }
            }
            let command = escape(bytes: job.text, limit: 400)
            out += "<tr><td class=\"n\">\(job.number)</td><td>\(escape(facts))</td>"
                + "<td>\(escape(job.lastEnd?.worker ?? job.worker ?? "?"))</td><td><code>\(command)</code></td><td>"
            if let logged = job.output, logged.lineCount > 0 {
                out += "<pre>"
                if logged.lineCount > SessionReport.Tail.lines { out += "[last \(SessionReport.Tail.lines) of \(logged.lineCount) lines]\n" }
                out += logged.lastLines.map { escape(bytes: $0, limit: 400) }.joined(separator: "\n") + "</pre>"
            } else {
                out += job.state == .lost ? "(its worker died with it running)" : "(no output)"
            }
            out += "</td></tr>\n"
        }
        out += "</table>\n"
    }
}
