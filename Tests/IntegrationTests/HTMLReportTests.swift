// Issue 14, "a picture of every session": cloudtask-logalyzer --html on a real session (three launched workers, a
// failed job, a timeout, a retry, a worker killed mid-job, a hostile and a non-UTF-8 job), checked as text and
// rendered in headless Chromium; and on a synthetic journal of 200 000 attempts, whose page must be grouped,
// small, and made in bounded memory.
import Engine
import Foundation
import XCTest

final class HTMLReportTests: IntegrationCase {
    var logalyzer: String { Env.root + "/.build/debug/cloudtask-logalyzer" }

    /// How many times `needle` occurs in `text`.
    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    // MARK: - A real session

    func testHTMLReportOfARealSessionRendersABarPerAttemptAndEscapesJobs() throws {
        let marker = unique()
        let once = home + "/once"
        let jobs: [[UInt8]] = [
            Array("'sleep 2.5; echo $0' \(marker)-dies".utf8),           // its worker is killed under it
            Array("'sleep 0.3; echo broken >&2; exit 3'".utf8),          // fails, is retried, fails again
            Array("'if mkdir \(once) 2>/dev/null; then exit 1; fi; echo again'".utf8),  // fails, then succeeds
            Array("'sleep 30'".utf8),                                    // times out (twice)
            Array("\"echo '<script>alert(1)</script>'\"".utf8),          // a hostile name
            Array("'echo ".utf8) + [0xFF, 0xFE] + Array(" bytes'".utf8), // not UTF-8
        ] + (1...6).map { (k: Int) -> [UInt8] in Array("'sleep 0.\(k + 3)'".utf8) }
        let stdin: [UInt8] = jobs.flatMap { (line: [UInt8]) -> [UInt8] in line + [10] }
        let r = try run(["--sessions=\(sessions)", "--split=3", "--timeout=3", "--retries=1", "sh", "-c"],
                        stdin: stdin, timeout: 120) { _ in
            self.waitWhile(tries: 400, every: 0.05) { self.pids(matching: "\(marker)-dies").isEmpty }
            XCTAssertGreaterThan(self.killWorker(running: "\(marker)-dies"), 1, "the dying job's worker was not found")
        }
        XCTAssertEqual(r.status, 1, "jobs failed: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("worker died"), r.stderr)
        let journal = sessionFile(1, "journal")
        let attempts = count("{\"start\":", in: journal)
        XCTAssertTrue(journal.contains("{\"requeue\":1}"), "the killed worker's job went back to the queue: \(journal)")

        let page = home + "/report.html"
        let report = try run(["--html", page, sessions + "/1"], binary: logalyzer)
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.out.contains("session 1:"), "the text report stays on stdout: \(report.out)")
        let data = try XCTUnwrap(FileManager.default.contents(atPath: page))
        let html = try XCTUnwrap(String(data: data, encoding: .utf8), "the page is valid UTF-8")

        // Rendered: the screenshot shows the outcome colours (bar interiors are exact) on a page that is not blank.
        let shot = try screenshot(page)
        // One bar per attempt, each outcome its class; the dead worker's attempt is lost and marked.
        XCTAssertEqual(count("<rect class=\"a ", in: html), attempts, "one bar per attempt")
        XCTAssertGreaterThanOrEqual(attempts, 15)
        for outcome in ["ok", "failed", "timeout", "lost"] {
            XCTAssertGreaterThan(count("<rect class=\"a \(outcome)\"", in: html), 0, "no \(outcome) bar")
        }
        XCTAssertEqual(count("<rect class=\"a failed\"", in: html), 3, "job 2 twice and job 3 once")
        XCTAssertEqual(count("<rect class=\"a timeout\"", in: html), 2)
        XCTAssertEqual(count("<rect class=\"a lost\"", in: html), 1)
        XCTAssertTrue(html.contains("its worker died"), "the lost attempt's hover says why")
        XCTAssertTrue(html.contains("(retried)"))
        XCTAssertGreaterThan(count("class=\"death\"", in: html), 0)
        XCTAssertFalse(html.contains("class=\"s\""), "few attempts: no slices")

        // Every worker's life, from the ledger: three launched, one replaced.
        let ledger = sessionFile(1, "instances")
        let launched = Set(ledger.split(separator: "\n").compactMap { line in
            line.range(of: #"local-1-\d+"#, options: .regularExpression).map { String(line[$0]) }
        })
        XCTAssertGreaterThanOrEqual(launched.count, 4, "3 and the dead one's replacement: \(ledger)")
        for id in launched {
            XCTAssertTrue(html.contains("\(id) (local) launched"), id)
            XCTAssertTrue(html.contains("\(id) (local): up"), id)
            XCTAssertTrue(html.contains("\(id) (local) destroyed"), id)
        }
        XCTAssertTrue(html.contains("worker died: "), "the workers table shows the log's events")
        XCTAssertTrue(html.contains("id=\"utilisation\""))
        XCTAssertTrue(html.contains("id=\"histogram\""))

        // Job bytes are text: no script, the hostile name escaped, invalid UTF-8 replaced.
        XCTAssertFalse(html.lowercased().contains("<script"), "a job's text became markup")
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertTrue(html.contains("echo \u{FFFD}\u{FFFD} bytes"), "invalid UTF-8 shown as replacement characters")
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("src="),
                       "nothing is fetched from the network")

        let pixels = try pngSummary(shot)
        XCTAssertEqual(pixels.size, "1400x1000")
        XCTAssertGreaterThan(pixels.distinct, 20, "a blank or nearly blank screenshot")
        XCTAssertGreaterThan(pixels.nonWhite, 0.05, "a blank or nearly blank screenshot")
        // The timeline alone (the legend and the histogram hold the same colours): each outcome's bars are seen.
        let style = try XCTUnwrap(html.range(of: "(?s)<style>.*</style>", options: .regularExpression).map { String(html[$0]) })
        let svg = try XCTUnwrap(html.range(of: "(?s)<svg id=\"timeline\".*?</svg>", options: .regularExpression).map { String(html[$0]) })
        let timeline = home + "/timeline.html"
        try "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\(style)</head><body>\(svg)</body></html>"
            .write(toFile: timeline, atomically: true, encoding: .utf8)
        let bars = try pngSummary(try screenshot(timeline))
        for (name, rgb, least) in [("ok", "43a047", 200), ("failed", "e53935", 40), ("timeout", "fb8c00", 200), ("lost", "37474f", 10)] {
            XCTAssertGreaterThanOrEqual(bars.colours[rgb] ?? 0, least, "no \(name) bar is visible in the timeline's screenshot")
        }
        if let keep = Env.environment["CLOUDTASK_TEST_KEEP_HTML"] {  // to look at it: the page, its picture, the session
            for (from, to) in [(page, keep + ".html"), (shot, keep + ".png"), (home + "/timeline.html.png", keep + "-timeline.png"), (sessions + "/1", keep + "-session")] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
    }

    // MARK: - A big session

    func testHTMLReportOfTwoHundredThousandAttemptsIsGroupedSmallAndBoundedInMemory() throws {
        let session = home + "/big"
        try FileManager.default.createDirectory(atPath: session, withIntermediateDirectories: true)
        try #"{"command":["sh","-c"],"slots":1,"retries":1}"#.write(toFile: session + "/conf", atomically: true, encoding: .utf8)
        // 196 079 jobs, every 50th failing once and retried: 200 000 attempts on 8 workers over about an hour.
        let jobs = 196_079, workers = 8
        var out = [UInt8]()
        out.reserveCapacity(40 << 20)
        for n in 1...jobs { out += Array("{\"job\":\(n),\"input\":\"task \(n) <b>\",\"text\":\"sh -c task \(n)\"}\n".utf8) }
        let start = 1_800_000_000.0
        out += Array("{\"run\":\(start)}\n".utf8)
        var clock = [Double](repeating: start + 1, count: workers)
        var attempts = 0
        for n in 1...jobs {
            for attempt in 1...(n % 50 == 0 ? 2 : 1) {
                let w = (n + attempt) % workers
                let seconds = 0.01 + Double((n * 7919) % 1000) / 3000
                let begin = clock[w], end = begin + seconds
                clock[w] = end + 0.002
                let exit = attempt == 1 && n % 50 == 0 ? 1 : 0
                out += Array("{\"start\":\(n),\"worker\":\"10.0.0.\(w + 1)\",\"attempt\":\(attempt),\"at\":\(begin)}\n".utf8)
                out += Array("{\"end\":\(n),\"seconds\":\(seconds),\"at\":\(end),\"exit\":\(exit)}\n".utf8)
                if exit != 0 { out += Array("{\"retry\":\(n)}\n".utf8) }
                attempts += 1
            }
        }
        out += Array("{\"stop\":1,\"at\":\((clock.max() ?? start) + 1)}\n".utf8)
        XCTAssertEqual(attempts, 200_000)
        XCTAssertTrue(FileManager.default.createFile(atPath: session + "/journal", contents: Data(out)))

        let page = home + "/big.html"
        let timed = try Subprocess.run(["/usr/bin/time", "-v", logalyzer, "--html", page, session],
                                       output: .null, error: .capture, timeout: 240)
        XCTAssertEqual(timed.status, 0, timed.errorText)
        let peak = timed.errorText.split(separator: "\n")
            .first { $0.contains("Maximum resident set size") }
            .flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) } ?? 0
        let size = (try FileManager.default.attributesOfItem(atPath: page)[.size] as? Int) ?? 0
        print("HTMLReportTests: \(attempts) attempts, journal \(out.count) bytes, page \(size) bytes, peak RSS \(peak) kB")
        XCTAssertGreaterThan(peak, 0, "no peak RSS from /usr/bin/time -v: \(timed.errorText)")
        XCTAssertLessThan(peak, 120_000, "the logalyzer's memory grew with the batch")
        XCTAssertLessThan(size, 2_000_000, "the page grew with the batch")
        let html = try XCTUnwrap(String(data: try XCTUnwrap(FileManager.default.contents(atPath: page)), encoding: .utf8))
        XCTAssertEqual(count("<rect class=\"a ", in: html), 0, "no bar per attempt past the limit")
        let slices = count("<g class=\"s\">", in: html)
        XCTAssertGreaterThan(slices, workers * 100, "each worker's row is cut into slices")
        XCTAssertLessThanOrEqual(slices, 6000)
        XCTAssertTrue(html.contains("200000 attempts"), "the page says how many attempts it groups")
        XCTAssertTrue(html.contains(" failed"), "the slices' hovers count the failures")
        XCTAssertFalse(html.contains("<b>task"), "inputs are never markup")
    }

    // MARK: - Helpers

    /// Pids of processes whose command line contains `marker`.
    func pids(matching marker: String) -> [Int32] {
        output(["/usr/bin/pgrep", "-f", marker]).split(separator: "\n").compactMap { Int32($0) }
            .filter { $0 != getpid() }
    }

    /// Kills, with SIGKILL, the launched worker (its sshd listener and everything under it) that runs the
    /// process whose command line contains `marker`; returns how many processes it killed.
    func killWorker(running marker: String) -> Int {
        func parent(_ pid: Int32) -> Int32? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            return stat[stat.index(after: close)...].split(separator: " ").dropFirst().first.flatMap { Int32($0) }
        }
        func commandLine(_ pid: Int32) -> String {
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").replacingOccurrences(of: "\0", with: " ")
        }
        for pid in pids(matching: marker) {
            var p: Int32? = pid
            while let current = p, current > 1 {
                if commandLine(current).contains(sessions + "/1/local/") && commandLine(current).contains("sshd_config") {
                    var tree = [current]
                    var frontier = [current]
                    let all = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
                    let parents = Dictionary(all.compactMap { c in parent(c).map { (c, $0) } }, uniquingKeysWith: { a, _ in a })
                    while let next = frontier.popLast() {
                        let children = parents.filter { $0.value == next }.map(\.key)
                        tree += children
                        frontier += children
                    }
                    for victim in tree { kill(victim, SIGKILL) }
                    return tree.count
                }
                p = parent(current)
            }
        }
        return 0
    }

    /// Opens `page` in headless Chromium at 1400x1000 and returns the screenshot's path.
    func screenshot(_ page: String) throws -> String {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium else {
            throw HarnessError(message: "chromium is not installed (apt-get install -y chromium; scripts/deps does)")
        }
        let shot = page + ".png"
        let result = try Subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                         "--user-data-dir=\(home)/chromium", "--screenshot=\(shot)",
                                         "--window-size=1400,1000", "file://" + page],
                                        environment: ["HOME": home, "PATH": "/usr/bin:/bin"], output: .capture,
                                        error: .capture, timeout: 90)
        XCTAssertFalse(result.timedOut, "chromium hung")
        guard FileManager.default.fileExists(atPath: shot) else {
            throw HarnessError(message: "chromium wrote no screenshot: \(result.errorText)")
        }
        return shot
    }

    /// A PNG's size, distinct colours, share of pixels that are not white, and how many pixels have each colour
    /// (hex RGB), decoded with Python's zlib (8-bit RGB or RGBA, non-interlaced: what Chromium writes).
    func pngSummary(_ path: String) throws -> (size: String, distinct: Int, nonWhite: Double, colours: [String: Int]) {
        let script = #"""
        import sys, zlib, struct
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
        pos, idat = 8, b''
        while pos < len(data):
            length, kind = struct.unpack('>I4s', data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            if kind == b'IHDR':
                width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', body)
            elif kind == b'IDAT':
                idat += body
            pos += 12 + length
        assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
        bpp = 3 if colour == 2 else 4
        raw = zlib.decompress(idat)
        stride = width * bpp
        prev = bytearray(stride)
        counts = {}
        nonwhite = 0
        for y in range(height):
            f = raw[y * (stride + 1)]
            line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if f == 1: line[i] = (line[i] + a) & 255
                elif f == 2: line[i] = (line[i] + b) & 255
                elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            for x in range(0, stride, bpp):
                rgb = bytes(line[x:x + 3])
                counts[rgb] = counts.get(rgb, 0) + 1
                if rgb != b'\xff\xff\xff':
                    nonwhite += 1
            prev = line
        print('%dx%d %d %.4f' % (width, height, len(counts), nonwhite / (width * height)))
        for rgb, n in counts.items():
            if n >= 10:
                print(rgb.hex(), n)
        """#
        let result = try Subprocess.run(["/usr/bin/python3", "-c", script, path], output: .capture, error: .capture,
                                        timeout: 120)
        guard result.status == 0 else { throw HarnessError(message: "cannot decode \(path): \(result.errorText)") }
        let lines = result.outputText.split(separator: "\n")
        let head = lines.first?.split(separator: " ") ?? []
        guard head.count == 3 else { throw HarnessError(message: "cannot decode \(path): \(result.outputText)") }
        var colours: [String: Int] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ")
            if parts.count == 2 { colours[String(parts[0])] = Int(parts[1]) }
        }
        return (String(head[0]), Int(head[1]) ?? 0, Double(head[2]) ?? 0, colours)
    }
}
