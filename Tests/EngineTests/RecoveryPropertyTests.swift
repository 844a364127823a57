// Crash-recovery properties of sessions: a fresh run over a FakeTransport, then the controller "dies"
// (the journal is cut at a random byte, the jobs file lost or stale), then --resume / --retry rounds,
// checking that finished results survive and are never run again, and that the session ends whole.
// A resume keeps every whole record it found byte for byte (a torn last line is cut off at its first append,
// and nothing changes on disk before that); a crash that cuts the journal before its first `run` record
// leaves a session that never started, which Session.open refuses (the batch is run again): that ends the seed.
//
// Reproduce one case: CLOUDTASK_PROP_SEED=<seed> SWIFT_DETERMINISTIC_HASHING=1 swift test --filter RecoveryPropertyTests
// (the Runner iterates dictionaries, so exact replays need deterministic hashing).
// Other knobs: CLOUDTASK_PROP_ITERATIONS (default 500), CLOUDTASK_PROP_BASE (base seed), CLOUDTASK_PROP_VERBOSE=1
// (keep the runner's stderr/stdout instead of sending them to /dev/null).
import Foundation
import XCTest
@testable import Engine

final class RecoveryPropertyTests: XCTestCase {

    // MARK: - The property

    func testCrashAndResumeKeepsFinishedResults() throws {
        let env = ProcessInfo.processInfo.environment
        let iterations = env["CLOUDTASK_PROP_ITERATIONS"].flatMap { Int($0) } ?? 500
        let base = env["CLOUDTASK_PROP_BASE"].flatMap { UInt64($0) } ?? 0xC10D_7A5C
        let seeds: [UInt64] = env["CLOUDTASK_PROP_SEED"].flatMap { UInt64($0) }.map { [$0] }
            ?? (0..<iterations).map { SplitMix64.mix(base &+ UInt64($0)) }
        XCTAssertEqual(Runner.interrupts, 0)
        let root = Self.tempRoot("ct-prop")
        defer { try? FileManager.default.removeItem(atPath: root) }

        var violations: [Violation] = []
        var stats = Stats()
        let started = Date()
        Self.quietly(env["CLOUDTASK_PROP_VERBOSE"] == nil) {
            for seed in seeds {
                let dir = root + "/" + String(seed)
                let scenario = Scenario(seed: seed, root: dir)
                scenario.run()
                violations += scenario.violations
                stats.add(scenario.stats)
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print("RecoveryPropertyTests: \(seeds.count) seeds in \(String(format: "%.1f", seconds)) s; \(stats)")

        // One failure per kind of violation, with the first few seeds, so one bug does not drown the others.
        let kinds = Dictionary(grouping: violations, by: \.kind)
        for kind in kinds.keys.sorted() {
            let list = kinds[kind]!
            let seedsText = Set(list.map(\.seed)).sorted().prefix(8).map(String.init).joined(separator: ", ")
            var message = "\(kind): \(Set(list.map(\.seed)).count) seeds (\(seedsText))"
            for violation in list.prefix(3) { message += "\n  - \(violation)" }
            XCTFail(message)
        }
    }

    // MARK: - Journal.replay and Session.open, focused

    func testReplayToleratesATruncatedLastLineWithANote() throws {
        let bytes = Array("""
        {"job":1,"input":"a","text":"echo a"}
        {"job":2,"input":"b","text":"echo b"}
        {"run":1700000000.000}
        {"start":1,"worker":"w1","attempt":1}
        {"end":1,"seconds":0.010,"at":1700000001.000,"exit":0}
        {"start":2,"wor
        """.utf8)
        let replay = try Journal.replay(bytes, name: "j")
        XCTAssertEqual(replay.jobs.count, 2)
        XCTAssertEqual(replay.jobs[0].state, .exited(0))
        XCTAssertEqual(replay.jobs[1].state, .pending, "the torn start record is ignored")
        XCTAssertEqual(replay.notes.count, 1)
        XCTAssertTrue(replay.notes.first?.contains("last line 6 is truncated") ?? false, "\(replay.notes)")
        XCTAssertEqual(replay.seconds, 1.0, accuracy: 0.001)

        // A complete last record without its newline is a record, not a truncation.
        let whole = Array("{\"job\":1,\"input\":\"a\",\"text\":\"a\"}\n{\"end\":1,\"exit\":3}".utf8)
        let replay2 = try Journal.replay(whole, name: "j")
        XCTAssertEqual(replay2.jobs[0].state, .exited(3))
        XCTAssertEqual(replay2.notes, [])
    }

    func testReplayRejectsACorruptMiddleLineNamingIt() {
        let bytes = Array("""
        {"job":1,"input":"a","text":"echo a"}
        {"run":1700000000.000}
        {"start":1,"wor
        {"end":1,"seconds":0.010,"at":1700000001.000,"exit":0}

        """.utf8)
        XCTAssertThrowsError(try Journal.replay(bytes, name: "/s/1/journal")) { error in
            XCTAssertTrue(error is UsageError, "\(type(of: error))")
            XCTAssertTrue("\(error)".contains("/s/1/journal: line 3 is not a journal record"), "\(error)")
        }
        // Unknown job numbers and out-of-order job records are corrupt too.
        XCTAssertThrowsError(try Journal.replay(Array("{\"job\":1,\"input\":\"a\",\"text\":\"a\"}\n{\"end\":2,\"exit\":0}\n".utf8), name: "j")) {
            XCTAssertTrue("\($0)".contains("line 2: unknown job 2"), "\($0)")
        }
        XCTAssertThrowsError(try Journal.replay(Array("{\"job\":2,\"input\":\"a\",\"text\":\"a\"}\n".utf8), name: "j")) {
            XCTAssertTrue("\($0)".contains("line 1: job 2 out of order"), "\($0)")
        }
    }

    func testReplayRoundTripsNonUTF8JobsAndRetryBookkeeping() throws {
        let root = Self.tempRoot("ct-replay")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let specs = [
            JobSpec(number: 1, input: [0xFF, 0x41], text: Array("run ".utf8) + [0xFF, 0x41]),
            JobSpec(number: 2, input: Array("e\u{301} \"q\" \\ \t x".utf8), text: Array("e\u{301} \"q\" \\ \t x".utf8)),
            JobSpec(number: 3, input: [0x61, 0x00, 0x62], text: Array("'a\u{0}b'".utf8)),
        ]
        var config = TaskConfig()
        config.retries = 1
        let transport = FakeTransport(seed: 7, outcomes: .perJob, failPercent: 100)
        Self.quietly(true) {
            guard let session = try? Session.create(root: root, config: config) else { return }
            _ = Runner(config: config, jobs: specs, endpoints: [Self.endpoint(0)], split: 1, transport: transport, session: session).run()
        }
        let (_, _, replay) = try Session.open(root: root, id: 1)
        XCTAssertEqual(replay.jobs.map(\.spec.input), specs.map(\.input))
        XCTAssertEqual(replay.jobs.map(\.spec.text), specs.map(\.text))
        XCTAssertEqual(replay.jobs.map(\.retried), [1, 1, 1])
        XCTAssertTrue(replay.jobs.allSatisfy { if case .exited(let c) = $0.state { return c != 0 }; return false }, "\(replay.jobs.map(\.state))")
        XCTAssertEqual(transport.jobsRun.sorted(), [1, 1, 2, 2, 3, 3])
    }

    /// A torn last line (the controller died mid-record) is ignored by the replay with a note, left alone by
    /// Session.open (a --retry or --resume that finds nothing to do changes nothing on disk), and cut off just
    /// before the first append, so the journal stays readable for every later resume.
    func testResumeAfterATornRecordLeavesAReadableJournal() throws {
        let root = Self.tempRoot("ct-torn")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let specs = (1...3).map { JobSpec(number: $0, input: Array("j\($0)".utf8), text: Array("echo j\($0)".utf8)) }
        let config = TaskConfig()
        Self.quietly(true) {
            guard let session = try? Session.create(root: root, config: config) else { return }
            _ = Runner(config: config, jobs: specs, endpoints: [Self.endpoint(0)], split: 1,
                       transport: FakeTransport(seed: 1, outcomes: .perJob, failPercent: 0), session: session).run()
        }
        let journalPath = root + "/1/journal"
        let journal = try XCTUnwrap(FileManager.default.contents(atPath: journalPath).map(Array.init))
        // Keep the job records and the run record, then 7 bytes of the next record.
        let newlines = journal.indices.filter { journal[$0] == 10 }
        let whole = Array(journal[...newlines[3]])
        let torn = Array(journal[..<(newlines[3] + 8)])
        XCTAssertEqual(truncate(journalPath, off_t(torn.count)), 0)

        // Opening (and finding nothing to do, or stopping before the run) writes nothing.
        do {
            let (session, _, replay) = try Session.open(root: root, id: 1)
            XCTAssertEqual(replay.notes.count, 1, "\(replay.notes)")
            session.writeJobs(replay.jobs.map { ($0.state, $0.spec.text) })
        }
        XCTAssertEqual(FileManager.default.contents(atPath: journalPath).map(Array.init), torn, "Session.open changed the journal")

        var summary: RunSummary?
        do {
            let (session, saved, replay) = try Session.open(root: root, id: 1)
            XCTAssertEqual(replay.notes.count, 1, "\(replay.notes)")
            XCTAssertTrue(replay.jobs.allSatisfy { !$0.state.finished })
            Self.quietly(true) {
                summary = Runner(config: saved, saved: replay.jobs, fresh: false, endpoints: [Self.endpoint(0)], split: 1,
                                 transport: FakeTransport(seed: 2, outcomes: .perJob, failPercent: 0), session: session).run()
            }
        }
        XCTAssertEqual(summary?.ok, 3)
        let after = try XCTUnwrap(FileManager.default.contents(atPath: journalPath).map(Array.init))
        XCTAssertTrue(after.starts(with: whole), "the whole records before the torn line changed")
        let next = after[whole.count...].prefix { $0 != 10 }
        XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(next)), "the torn bytes are still there: \(String(decoding: next, as: UTF8.self))")
        XCTAssertNoThrow(try Journal.replay(after, name: journalPath), "a second --resume or --retry of this session would fail")
        let (_, _, again) = try Session.open(root: root, id: 1)
        XCTAssertEqual(again.notes, [])
        XCTAssertEqual(again.jobs.map(\.state), [.exited(0), .exited(0), .exited(0)])
    }

    /// A whole last record that lost only its newline is a record to Journal.replay, so a resume trusts it (here:
    /// job 1 exited 0, so it is not run again). The resume's first append must not cut it off as if it were torn,
    /// or the journal forgets a result nobody will reproduce: the job reads as never finished, and the next
    /// resume runs it again.
    func testResumeKeepsAWholeLastRecordMissingItsNewline() throws {
        let root = Self.tempRoot("ct-whole-tail")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = TaskConfig()
        let journalPath = root + "/1/journal"
        var journal = Array("""
        {"job":1,"input":"j1","text":"echo j1"}
        {"job":2,"input":"j2","text":"echo j2"}
        {"run":1700000000.000}
        {"start":1,"worker":"w1","attempt":1}
        {"end":1,"seconds":0.010,"at":1700000001.000,"exit":0}
        """.utf8)
        XCTAssertNotEqual(journal.last, 10)
        do {
            let session = try Session.create(root: root, config: config)
            XCTAssertEqual(session.path + "/journal", journalPath)
            XCTAssertTrue(FileManager.default.createFile(atPath: journalPath, contents: Data(journal)))
        }

        let transport = FakeTransport(seed: 3, outcomes: .perJob, failPercent: 0)
        do {
            let (opened, saved, replay) = try Session.open(root: root, id: 1)
            XCTAssertEqual(replay.notes, [], "a whole record is not a truncation")
            XCTAssertEqual(replay.jobs.map(\.state), [.exited(0), .pending])
            Self.quietly(true) {
                _ = Runner(config: saved, saved: replay.jobs, fresh: false, endpoints: [Self.endpoint(0)], split: 1,
                           transport: transport, session: opened).run()
            }
        }
        XCTAssertEqual(transport.jobsRun, [2], "only the unfinished job runs")
        let after = try XCTUnwrap(FileManager.default.contents(atPath: journalPath).map(Array.init))
        journal.append(10)
        XCTAssertTrue(after.starts(with: journal), "the resume cut off job 1's end record; the journal now starts:\n\(String(decoding: after.prefix(journal.count + 60), as: UTF8.self))")
        let (_, _, again) = try Session.open(root: root, id: 1)
        XCTAssertEqual(again.jobs.map(\.state), [.exited(0), .exited(0)], "job 1's result is lost; a resume would run it again")
    }

    /// A fresh run journals every job, then a `run` record, in one write before any job starts. If the
    /// controller dies inside that write, the journal may hold only some of the jobs: Session.open refuses the
    /// session (the batch must be run again) rather than run that prefix as if it were the whole input, and
    /// changes nothing on disk. A cut after the last job record but before the `run` record is refused the same way.
    func testCrashDuringTheFirstJournalWriteIsRefused() throws {
        let root = Self.tempRoot("ct-first-write")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let specs = (1...5).map { JobSpec(number: $0, input: Array("job\($0)".utf8), text: Array("echo job\($0)".utf8)) }
        let config = TaskConfig()
        Self.quietly(true) {
            guard let session = try? Session.create(root: root, config: config) else { return }
            _ = Runner(config: config, jobs: specs, endpoints: [Self.endpoint(0)], split: 1,
                       transport: FakeTransport(seed: 1, outcomes: .perJob, failPercent: 0), session: session).run()
        }
        let journalPath = root + "/1/journal"
        let journal = try XCTUnwrap(FileManager.default.contents(atPath: journalPath).map(Array.init))
        let lines = journal.indices.filter { journal[$0] == 10 }
        // Inside job 4's record; after job 5's record; inside the run record.
        for cut in [lines[2] + 10, lines[4] + 1, lines[4] + 5] {
            XCTAssertTrue(FileManager.default.createFile(atPath: journalPath, contents: Data(journal[..<cut])))
            XCTAssertThrowsError(try Session.open(root: root, id: 1), "cut at \(cut)") { error in
                XCTAssertTrue(error is UsageError, "\(type(of: error))")
                XCTAssertEqual("\(error)", "session 1 never started: its controller died while journaling the jobs; run the batch again")
            }
            XCTAssertEqual(FileManager.default.contents(atPath: journalPath).map(Array.init), Array(journal[..<cut]), "cut at \(cut): the refusal changed the journal")
        }
    }

    func testOpenMissingSessionSaysNoSession() {
        let root = Self.tempRoot("ct-missing")
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertThrowsError(try Session.open(root: root, id: 42)) { error in
            XCTAssertTrue("\(error)".contains("no session 42"), "\(error)")
        }
    }

    func testOpeningASessionThatIsOpenSaysInUseWithThePid() throws {
        let root = Self.tempRoot("ct-lock")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let id: Int
        do {
            let created = try Session.create(root: root, config: TaskConfig())
            id = created.id
            let journal = Array("{\"job\":1,\"input\":\"a\",\"text\":\"a\"}\n{\"run\":1700000000.000}\n".utf8)
            XCTAssertTrue(FileManager.default.createFile(atPath: created.path + "/journal", contents: Data(journal)))
            XCTAssertThrowsError(try Session.open(root: root, id: id)) { error in
                let text = "\(error)"
                XCTAssertTrue(error is UsageError, "\(type(of: error))")
                XCTAssertTrue(text.contains("in use"), text)
                XCTAssertTrue(text.contains("pid \(getpid())"), text)
            }
            withExtendedLifetime(created) {}
        }
        // Once the holder is gone the session opens, and holds the lock in turn.
        do {
            let reopened = try Session.open(root: root, id: id)
            XCTAssertEqual(reopened.2.jobs.count, 1)
            XCTAssertThrowsError(try Session.open(root: root, id: id)) { XCTAssertTrue("\($0)".contains("in use"), "\($0)") }
            withExtendedLifetime(reopened) {}
        }
    }

    // MARK: - Helpers

    static func tempRoot(_ prefix: String) -> String {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        return base + prefix + "-" + String(getpid()) + "-" + UUID().uuidString.prefix(8)
    }

    static func endpoint(_ i: Int) -> Endpoint {
        Endpoint(label: "w\(i + 1)", host: "10.0.0.\(i + 1)", port: 22, user: "u", identityFiles: [])
    }

    /// Runs `body` with fds 1 and 2 on /dev/null (the runner's status lines and job output).
    static func quietly(_ enabled: Bool, _ body: () -> Void) {
        guard enabled else { return body() }
        fflush(nil)
        let out = dup(1), err = dup(2)
        let null = open("/dev/null", O_WRONLY)
        dup2(null, 1); dup2(null, 2); close(null)
        body()
        fflush(nil)
        dup2(out, 1); dup2(err, 2); close(out); close(err)
    }
}

// MARK: - One scenario

struct Violation: CustomStringConvertible {
    let seed: UInt64
    let round: Int
    let kind: String
    let detail: String
    var description: String { "seed \(seed) round \(round): \(detail)" }
}

struct Stats: CustomStringConvertible {
    var scenarios = 0, jobs = 0, rounds = 0, resumes = 0, retries = 0, skipped = 0, completions = 0
    var midLineCuts = 0, protectedJobs = 0, jobRuns = 0, chaotic = 0, aborted = 0
    var forfeitedRetries = 0
    /// Crashes that cut the journal before its first `run` record: Session.open refuses, the user runs the batch again.
    var neverStarted = 0, cutsInJobRecords = 0
    var finalStates: [String: Int] = [:]
    mutating func add(_ o: Stats) {
        forfeitedRetries += o.forfeitedRetries
        neverStarted += o.neverStarted; cutsInJobRecords += o.cutsInJobRecords
        finalStates.merge(o.finalStates, uniquingKeysWith: +)
        scenarios += o.scenarios; jobs += o.jobs; rounds += o.rounds; resumes += o.resumes; retries += o.retries
        skipped += o.skipped; completions += o.completions; midLineCuts += o.midLineCuts
        protectedJobs += o.protectedJobs; jobRuns += o.jobRuns; chaotic += o.chaotic; aborted += o.aborted
    }
    var description: String {
        "\(jobs) jobs, \(rounds) controller runs (\(resumes) resumes, \(retries) retries, \(completions) completion runs, \(skipped) found nothing to do), "
            + "\(midLineCuts) mid-line cuts, \(neverStarted) sessions refused as never started (\(cutsInJobRecords) cut inside the job records), \(protectedJobs) finished jobs carried over, \(jobRuns) job commands, \(chaotic) chaotic, \(aborted) stopped early on a violation, "
            + "\(forfeitedRetries) failures made final by a cut between their end and retry records; final states \(finalStates.sorted { $0.key < $1.key })"
    }
}

final class Scenario {
    enum Kind { case fresh, resume, retry }

    let seed: UInt64
    let root: String
    var rng: SplitMix64
    var violations: [Violation] = []
    var stats = Stats()

    var specs: [JobSpec] = []
    var config = TaskConfig()
    var endpoints: [Endpoint] = []
    var outcomes = FakeTransport.Outcomes.perJob
    var failPercent = 0
    var chaos = FakeTransport.Chaos.none
    var sessionID = 0
    var round = 0
    var lastRoundSkipped = false
    var failed = false
    /// The last crash cut the journal before its first `run` record: Session.open refuses the session
    /// (the user runs the batch again), so the story ends there.
    var neverStarted = false

    var path: String { root + "/" + String(sessionID) }
    var journalPath: String { path + "/journal" }
    var n: Int { specs.count }

    init(seed: UInt64, root: String) {
        self.seed = seed
        self.root = root
        rng = SplitMix64(seed: seed)
    }

    func violate(_ kind: String, _ detail: String) {
        violations.append(Violation(seed: seed, round: round, kind: kind, detail: detail))
    }

    // MARK: Setup

    func generate() {
        let wordPool: [[UInt8]] = [
            Array("alpha".utf8), Array("b-2".utf8), Array("x y".utf8), Array("it's".utf8), Array("$HOME".utf8),
            Array("a\tb".utf8), Array("back\\slash".utf8), Array("é".utf8), Array("e\u{301}".utf8), Array("日本".utf8),
            [0xFF, 0x41], [0xC3], [0xE9, 0x74, 0xE9], Array("q\"uote".utf8), Array("semi;colon".utf8), Array("#hash".utf8),
            [], Array("\u{2028}".utf8), Array("cr\rx".utf8), [0x7F], [0x01], Array("{\"json\":1}".utf8),
        ]
        let commands: [[String]] = [[], [], ["echo"], ["grep -c foo"], ["my tool", "--x=1"]]
        config.command = rng.pick(commands)
        let count = rng.int(1...40)
        var pool: [[UInt8]] = []
        for _ in 0..<rng.int(1...count) {
            var words: [[UInt8]] = []
            for _ in 0..<rng.int(1...3) { words.append(rng.pick(wordPool) + (rng.chance(0.5) ? Array(String(rng.int(0...99)).utf8) : [])) }
            if rng.chance(0.02) { words.append([0x61, 0x00, 0x62]) }  // a NUL: the input is journaled as base64
            var line = Array(words.map(ShellQuote.quote).joined(separator: [rng.chance(0.8) ? 32 : 9]))
            if rng.chance(0.2) { line = [32, 9] + line }
            if rng.chance(0.2) { line += [32] }
            if rng.chance(0.1) { line += [13] }
            pool.append(line)
        }
        var input: [UInt8] = []
        for _ in 0..<count {
            if rng.chance(0.05) { input += rng.chance(0.5) ? [10] : Array("# comment\n".utf8) }
            input += rng.pick(pool) + [10]
        }
        specs = Self.parseJobs(input, command: config.command)
        precondition(specs.count == count, "seed \(seed): generated \(specs.count) jobs, meant \(count)")

        let workerCount = rng.int(1...4)
        endpoints = (0..<workerCount).map(RecoveryPropertyTests.endpoint)
        config.workers = [endpoints.map(\.label).joined(separator: ",")]
        config.slots = rng.int(1...3)
        config.retries = rng.int(0...2)
        config.strikes = rng.chance(0.15) ? rng.int(1...2) : 0
        config.halt = rng.chance(0.1) ? rng.pick(["2", "30%"]) : nil
        config.pre = rng.chance(0.15) ? "true" : nil
        config.post = rng.chance(0.15) ? "true" : nil
        config.keepOrder = rng.chance(0.3)
        config.tag = rng.chance(0.3)
        config.lineBuffer = rng.chance(0.2)
        config.pty = rng.chance(0.2)
        config.sessions = root
        outcomes = rng.chance(0.5) ? .perJob : .perAttempt
        failPercent = rng.pick([0, 10, 30, 60])
        if rng.chance(0.3) {
            stats.chaotic += 1
            chaos = FakeTransport.Chaos(signal: 0.05, refuse: 0.05, channelFail: 0.05, disconnect: 0.03, connectFail: 0.05,
                                        hang: rng.chance(0.3) ? 0.03 : 0, stepFail: 0.05)
            if chaos.hang > 0 { config.timeout = 0.05 }
        }
    }

    /// The controller's parseJobs (Sources/cloudtask/main.swift), which the engine does not export.
    static func parseJobs(_ input: [UInt8], command: [String]) -> [JobSpec] {
        var specs: [JobSpec] = []
        for line in JobLine.lines(input) {
            guard let words = try! JobLine.words(line.bytes, lineNumber: line.number) else { continue }
            let text = ShellQuote.jobText(command: command, words: words, rawLine: line.bytes)
            var trimmed = Array(line.bytes.drop(while: { $0 == 32 || $0 == 9 }))
            while let last = trimmed.last, last == 32 || last == 9 { trimmed.removeLast() }
            specs.append(JobSpec(number: specs.count + 1, input: trimmed, text: text))
        }
        return specs
    }

    func transport(chaotic: Bool) -> FakeTransport {
        FakeTransport(seed: SplitMix64.mix(seed &+ UInt64(round) &* 0x1000_0001), outcomes: outcomes, failPercent: failPercent,
                      chaos: chaotic ? chaos : .none)
    }

    // MARK: The story

    func run() {
        stats.scenarios += 1
        generate()
        stats.jobs += n

        guard runFresh() else { return stop() }
        let crashes = rng.int(1...3)
        for _ in 0..<crashes {
            round += 1
            guard let minimum = crash() else { return stop() }
            let kind: Kind = rng.chance(0.2) ? .retry : .resume
            guard resume(kind, transport: transport(chaotic: true), crashedAt: minimum) else {
                if !neverStarted { stop() }
                return
            }
        }
        // Whatever is still pending (dead workers, strikes, halt) gets calm resumes until done.
        var rounds = 0
        let limit = n * (config.retries + 1) + 5
        while let replay = replayJournal(), replay.jobs.contains(where: { !$0.state.finished }) {
            rounds += 1
            round += 1
            guard rounds <= limit else {
                violate("session never finishes", "still \(replay.jobs.filter { !$0.state.finished }.count) jobs unfinished after \(limit) calm resumes")
                return stop()
            }
            stats.completions += 1
            let before = endRecords()
            guard resume(.resume, transport: transport(chaotic: false), crashedAt: nil) else { return stop() }
            if endRecords() == before {
                violate("resume makes no progress", "a resume over a healthy cluster ended no job attempt; journal tail:\n\(journalTail())")
                return stop()
            }
        }
        guard let final = replayJournal() else { return stop() }
        for saved in final.jobs { stats.finalStates[Self.jobsFileState(saved.state).split(separator: "=")[0].description, default: 0] += 1 }
        checkJobsFile(final, context: lastRoundSkipped ? "final (the last resume found the session finished and ran nothing)" : "final")
    }

    func stop() { stats.aborted += 1 }

    /// Round 0: a new session runs every job.
    func runFresh() -> Bool {
        let transport = transport(chaotic: true)
        var summary: RunSummary?
        do {
            let session = try Session.create(root: root, config: config)
            sessionID = session.id
            let runner = Runner(config: config, jobs: specs, endpoints: endpoints, split: min(config.split ?? endpoints.count, n),
                                transport: transport, session: session)
            summary = runner.run()
        } catch {
            violate("fresh session fails", "\(error)")
            return false
        }
        stats.rounds += 1
        return afterRound(summary: summary, transport: transport, startLength: 0, protected: [:])
    }

    /// The controller dies: the journal keeps a random prefix of what this round wrote (or all of it),
    /// the jobs file is lost or stale. Returns the length every earlier round had made durable.
    func crash() -> Int? {
        guard let journal = FileManager.default.contents(atPath: journalPath).map(Array.init) else {
            violate("journal missing", journalPath)
            return nil
        }
        // A crash loses only what the last run wrote: what earlier runs left is durable. Round 0's job records
        // are written with its `run` record, so they are not, but most cuts keep them (the interesting stories
        // start after the `run` record); the rest show that a session cut before its `run` record is refused.
        var minimum = durableLength
        if round == 1 {
            var lines = 0
            minimum = journal.count
            for (i, byte) in journal.enumerated() where byte == 10 {
                lines += 1
                if lines == n { minimum = i + 1; break }
            }
        }
        minimum = min(minimum, journal.count)
        let boundaries = [minimum] + journal.indices.filter { $0 >= minimum && journal[$0] == 10 }.map { $0 + 1 }
        var cut: Int
        switch rng.int(0...9) {
        case 0:
            cut = minimum
            // Round 0 journals its jobs and its `run` record in one write: a crash can cut inside the jobs too.
            if round == 1 && rng.chance(0.3) {
                cut = rng.int(0...minimum)
                if cut < minimum { stats.cutsInJobRecords += 1 }
            }
        case 1: cut = journal.count
        case 2, 3: cut = rng.pick(boundaries)
        default: cut = rng.int(minimum...journal.count)
        }
        if Scenario.lineCutsOnly { cut = journal[..<cut].lastIndex(of: 10).map { $0 + 1 } ?? 0 }
        if cut > 0 && journal[cut - 1] != 10 { stats.midLineCuts += 1 }
        // Informational: a failed attempt whose `retry` record was cut off becomes the job's final result.
        let kept = finalResults(Array(journal[..<cut]))
        var seen: Set<Int> = []
        for object in Self.records(Array(journal[cut...])) {
            for key in ["start", "end", "retry", "requeue", "reset", "abort"] {
                guard let number = object[key] as? Int, seen.insert(number).inserted else { continue }
                if key == "retry", let state = kept[number], state != .exited(0) { stats.forfeitedRetries += 1 }
            }
        }
        guard truncate(journalPath, off_t(cut)) == 0 else {
            violate("test harness", "truncate failed: \(String(cString: strerror(errno)))")
            return nil
        }
        let jobsPath = path + "/jobs"
        switch rng.int(0...9) {
        case 0...3: break
        case 4...6: try? FileManager.default.removeItem(atPath: jobsPath)
        default:
            // Stale: as written before any job ended.
            let stale: [UInt8] = specs.flatMap { (spec: JobSpec) -> [UInt8] in Array("PENDING\t".utf8) + JobsFileText.escape(spec.text) + [10] }
            FileManager.default.createFile(atPath: jobsPath, contents: Data(stale))
        }
        durableLength = cut
        return cut
    }

    var durableLength = 0
    /// CLOUDTASK_PROP_LINE_CUTS_ONLY=1: cut the journal only between records, to look past torn-line bugs.
    static let lineCutsOnly = ProcessInfo.processInfo.environment["CLOUDTASK_PROP_LINE_CUTS_ONLY"] == "1"

    /// A later controller: --resume (or --retry) of the session, as Sources/cloudtask/main.swift does it.
    /// Returns false when the story ends here: on a violation, or (with `neverStarted`) when the session was
    /// rightly refused because the crash cut its journal before the first `run` record.
    func resume(_ kind: Kind, transport: FakeTransport, crashedAt: Int?) -> Bool {
        let prefix = FileManager.default.contents(atPath: journalPath).map(Array.init) ?? []
        let expected = finalResults(prefix)
        let found = Self.records(prefix)
        let started = found.contains { $0["run"] != nil }
        let cutText = crashedAt.map { "journal cut at byte \($0)" } ?? "no crash before this run"
        var protected: [Int: JobState] = [:]
        var summary: RunSummary?
        do {
            let (session, savedConfig, replay) = try Session.open(root: root, id: sessionID)
            guard started else {
                violate("never-started session opened", "the journal has no `run` record (\(cutText)), yet Session.open returned \(replay.jobs.count) of \(n) jobs; journal tail:\n\(Self.tail(prefix))")
                return false
            }
            if savedConfig != config { violate("conf changes", "Session.open returned a different TaskConfig") }
            checkReplayAgainstJournal(replay, expected, prefix)
            var restored = replay.jobs
            var nothingToDo = false
            switch kind {
            case .retry:
                for saved in restored where saved.state == .exited(0) { protected[saved.spec.number] = saved.state }
                nothingToDo = restored.allSatisfy { $0.state == .exited(0) }   // main: "nothing to retry"
                if !nothingToDo {
                    for i in restored.indices where restored[i].state != .exited(0) {
                        restored[i].state = .pending; restored[i].retried = 0; restored[i].deaths = 0
                    }
                    stats.retries += 1
                }
            case .resume, .fresh:
                for saved in restored where saved.state.finished { protected[saved.spec.number] = saved.state }
                nothingToDo = restored.allSatisfy { $0.state.finished }   // main: "session N finished"
                if !nothingToDo { stats.resumes += 1 }
            }
            if nothingToDo {
                stats.skipped += 1
                lastRoundSkipped = true
                session.writeJobs(restored.map { ($0.state, $0.spec.text) })
                checkJournalUntouched(prefix, "a resume that found nothing to do")
                return true
            }
            let pending = restored.filter { !$0.state.finished }.count
            let runner = Runner(config: savedConfig, saved: restored, fresh: false, endpoints: endpoints,
                                split: min(savedConfig.split ?? endpoints.count, pending), transport: transport, session: session,
                                reset: kind == .retry)
            summary = runner.run()
        } catch {
            guard started else {
                // Right: the job records may be cut short, so the session cannot be trusted; the batch is run again.
                let message = "\(error)"
                let want = "session \(sessionID) never started: its controller died while journaling the jobs; run the batch again"
                // With not even one whole job record, Session.open's earlier "holds no jobs" refusal answers first.
                let alsoFine = found.contains { $0["job"] != nil } ? want : "session \(sessionID): the journal holds no jobs"
                if !(error is UsageError) || (message != want && message != alsoFine) {
                    violate("never-started session refused with the wrong error", "Session.open threw \(type(of: error)) \"\(message)\" (\(cutText)), want \"\(want)\"")
                }
                checkJournalUntouched(prefix, "a refused resume")
                neverStarted = true
                stats.neverStarted += 1
                return false
            }
            violate("resume refused", "Session.open threw \"\(error)\" (\(cutText)); journal tail:\n\(Self.tail(prefix))")
            return false
        }
        lastRoundSkipped = false
        stats.rounds += 1
        stats.protectedJobs += protected.count
        let ownStart = checkKeptPrefix(prefix)
        durableLength = ownStart
        return afterRound(summary: summary, transport: transport, startLength: ownStart, protected: protected)
    }

    // MARK: Checks

    /// Per round: the journal replays, the summary and jobs file agree with it, every command run has its
    /// start record, and no protected (already final) job ran or changed.
    func afterRound(summary: RunSummary?, transport: FakeTransport, startLength: Int, protected: [Int: JobState]) -> Bool {
        stats.jobRuns += transport.jobsRun.count
        guard let replay = replayJournal() else { return false }
        guard replay.jobs.count == n else {
            violate("jobs lost", "the journal holds \(replay.jobs.count) jobs, the input had \(n)")
            return false
        }
        for (k, saved) in replay.jobs.enumerated() where saved.spec.text != specs[k].text || saved.spec.input != specs[k].input {
            violate("job text changes", "job \(k + 1): journal has input \(saved.spec.input) text \(saved.spec.text), input was \(specs[k].input) / \(specs[k].text)")
        }
        let rerun = Set(transport.jobsRun).intersection(protected.keys)
        if !rerun.isEmpty {
            violate("finished job run again", "jobs \(rerun.sorted()) were final in the journal (\(rerun.sorted().map { "\($0): \(protected[$0]!)" })) yet the resume ran them")
        }
        for (number, state) in protected where replay.jobs[number - 1].state != state {
            violate("finished result changed", "job \(number) was \(state) in the journal before the resume, is \(replay.jobs[number - 1].state) after it")
        }
        // Each command run is journaled as a start record of this round, and vice versa.
        let journal = FileManager.default.contents(atPath: journalPath).map(Array.init) ?? []
        var starts: [Int: Int] = [:]
        for object in Self.records(Array(journal[min(startLength, journal.count)...])) {
            if let number = object["start"] as? Int { starts[number, default: 0] += 1 }
        }
        var runs: [Int: Int] = [:]
        for number in transport.jobsRun { runs[number, default: 0] += 1 }
        if starts != runs {
            violate("start records disagree with commands run", "journal starts \(starts.sorted { $0.key < $1.key }) vs commands \(runs.sorted { $0.key < $1.key })")
        }
        if transport.inFlight > 0 && replay.jobs.contains(where: { $0.state == .running }) {
            violate("run returned with jobs running", "\(transport.inFlight) ops still in flight")
        }
        if let summary { checkSummary(summary, replay) }
        checkJournalGrammar(journal)
        checkJobsFile(replay, context: "after round")
        return true
    }

    /// The whole journal read as a story, record by record: a job starts only when pending (a `run` record,
    /// i.e. a new controller, turns running jobs back to pending), ends only when running, is retried only
    /// after a failed end and at most `retries` times since its last reset, is declared lost only on its third
    /// death, and each start's attempt number is one more than its retries so far.
    func checkJournalGrammar(_ journal: [UInt8]) {
        enum S: Equatable { case pending, running, ended(JobState) }
        var state: [S] = []
        var retried: [Int] = []
        var deaths: [Int] = []
        func bad(_ line: Int, _ what: String) { violate("journal story broken", "record \(line + 1): \(what)") }
        for (line, object) in Self.records(journal).enumerated() {
            if object["job"] is Int { state.append(.pending); retried.append(0); deaths.append(0); continue }
            if object["run"] != nil {
                for i in state.indices where state[i] == .running { state[i] = .pending }
                continue
            }
            func number(_ key: String) -> Int? {
                guard let n = object[key] as? Int else { return nil }
                guard n >= 1 && n <= state.count else { bad(line, "\(key) of unknown job \(n)"); return nil }
                return n - 1
            }
            if let i = number("start") {
                if state[i] != .pending { bad(line, "job \(i + 1) started while \(state[i])") }
                if let attempt = object["attempt"] as? Int, attempt != retried[i] + 1 {
                    bad(line, "job \(i + 1) started as attempt \(attempt) after \(retried[i]) retries")
                }
                state[i] = .running
            } else if let i = number("end") {
                if state[i] != .running { bad(line, "job \(i + 1) ended while \(state[i])") }
                if object["lost"] != nil {
                    if deaths[i] + 1 < 3 { bad(line, "job \(i + 1) declared lost after \(deaths[i]) deaths") }
                    state[i] = .ended(.lost)
                } else if let code = object["exit"] as? Int {
                    state[i] = .ended(.exited(code))
                } else {
                    state[i] = .ended(.timeout)  // signal or timeout: a failure either way
                }
            } else if let i = number("retry") {
                guard case .ended(let result) = state[i], result != .exited(0) else { bad(line, "job \(i + 1) retried while \(state[i])"); continue }
                retried[i] += 1
                if retried[i] > config.retries { bad(line, "job \(i + 1) retried \(retried[i]) times, --retries=\(config.retries)") }
                state[i] = .pending
            } else if let i = number("requeue") {
                if state[i] != .running { bad(line, "job \(i + 1) requeued while \(state[i])") }
                if object["refused"] == nil {
                    deaths[i] += 1
                    if deaths[i] >= 3 { bad(line, "job \(i + 1) requeued after its third death instead of being lost") }
                }
                state[i] = .pending
            } else if let i = number("reset") {
                // --retry journals its resets just before its `run` record, so a job the crashed controller
                // left running is reset while "running": fine, the old controller is gone.
                if state[i] == .ended(.exited(0)) { bad(line, "job \(i + 1) reset after exiting 0") }
                state[i] = .pending; retried[i] = 0; deaths[i] = 0
            } else if let i = number("abort") {
                bad(line, "job \(i + 1) aborted, yet nothing interrupted the run")
            }
        }
    }

    func checkSummary(_ summary: RunSummary, _ replay: Replay) {
        let states = replay.jobs.map(\.state)
        let ok = states.filter { $0 == .exited(0) }.count
        let pending = states.filter { !$0.finished }.count
        let timeouts = states.filter { $0 == .timeout }.count
        let lost = states.filter { $0 == .lost }.count
        if summary.total != n || summary.ok + summary.failed + summary.timeouts + summary.pending != summary.total {
            violate("summary does not add up", "total \(summary.total) (jobs \(n)), ok \(summary.ok) failed \(summary.failed) timeouts \(summary.timeouts) pending \(summary.pending)")
        }
        if summary.ok != ok || summary.pending != pending || summary.timeouts != timeouts || summary.lost != lost {
            violate("summary disagrees with journal", "summary ok \(summary.ok) pending \(summary.pending) timeouts \(summary.timeouts) lost \(summary.lost); journal ok \(ok) pending \(pending) timeouts \(timeouts) lost \(lost)")
        }
        if (summary.exitCode == 0) != (ok == n) {
            violate("exit code wrong", "exit code \(summary.exitCode) with \(ok) of \(n) jobs exited 0")
        }
    }

    func checkJobsFile(_ replay: Replay, context: String) {
        guard let data = FileManager.default.contents(atPath: path + "/jobs") else {
            violate("jobs file missing" + (lastRoundSkipped ? " after a resume that found nothing to do" : ""), "\(context): no \(path)/jobs")
            return
        }
        var lines = Array(data).split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        if lines.last == [] { lines.removeLast() } else { violate("jobs file torn", "\(context): no final newline") }
        guard lines.count == n else {
            violate("jobs file has wrong line count", "\(context): \(lines.count) lines for \(n) jobs")
            return
        }
        for (k, line) in lines.enumerated() {
            let want = Array(Self.jobsFileState(replay.jobs[k].state).utf8) + [9] + JobsFileText.escape(specs[k].text)
            if line != want {
                let kind = lastRoundSkipped && context.hasPrefix("final") ? "jobs file stale after a resume that found nothing to do" : "jobs file line wrong"
                violate(kind, "\(context): line \(k + 1) is \(String(decoding: line, as: UTF8.self).debugDescription), want \(String(decoding: want, as: UTF8.self).debugDescription)")
                return
            }
        }
    }

    /// The journal's own story of the prefix: a job's `end` not followed by retry/requeue/abort/reset/start is
    /// its final result. Compared with Journal.replay, which must agree.
    func finalResults(_ prefix: [UInt8]) -> [Int: JobState] {
        var result: [Int: JobState] = [:]
        for object in Self.records(prefix) {
            if let number = object["end"] as? Int {
                if let code = object["exit"] as? Int { result[number] = .exited(code) }
                else if let signal = object["signal"] as? String { result[number] = .signaled(signal) }
                else if object["timeout"] != nil { result[number] = .timeout }
                else if object["lost"] != nil { result[number] = .lost }
                else { violate("end record without a result", "\(object)") }
            }
            for key in ["start", "retry", "requeue", "abort", "reset"] {
                if let number = object[key] as? Int { result[number] = nil }
            }
        }
        return result
    }

    func checkReplayAgainstJournal(_ replay: Replay, _ expected: [Int: JobState], _ prefix: [UInt8]) {
        for saved in replay.jobs {
            let number = saved.spec.number
            if let want = expected[number] {
                if saved.state != want { violate("replay disagrees with journal", "job \(number): replay \(saved.state), journal's final record \(want)") }
            } else if saved.state.finished {
                violate("replay disagrees with journal", "job \(number): replay says \(saved.state) but the journal has no final end for it")
            }
        }
        // A cut mid-record leaves exactly one note; a cut at a record boundary none.
        let torn = Self.tornTail(prefix) != nil
        if replay.notes.count != (torn ? 1 : 0) {
            violate("replay notes wrong", "torn last line \(torn), notes \(replay.notes)")
        }
    }

    /// Opening a session and finding nothing to do (or being refused) writes nothing to the journal:
    /// not even the torn last line is cut off, that waits for the first append.
    func checkJournalUntouched(_ before: [UInt8], _ what: String) {
        let after = FileManager.default.contents(atPath: journalPath).map(Array.init) ?? []
        if after != before {
            violate("journal changed by \(what)", "\(before.count) bytes before, \(after.count) after; tail before:\n\(Self.tail(before))\n  after:\n\(Self.tail(after))")
        }
    }

    /// A resume that ran keeps every whole record of the journal it found, byte for byte: a torn last line is
    /// cut off before its first record, while a last record missing only its newline is whole (Journal.replay
    /// counts it, so the resume trusts it) and must stay. Returns the offset where this run's own records begin.
    func checkKeptPrefix(_ prefix: [UInt8]) -> Int {
        let after = FileManager.default.contents(atPath: journalPath).map(Array.init) ?? []
        let lineStart = (prefix.lastIndex(of: 10) ?? -1) + 1
        let kept: [UInt8]
        if Self.tornTail(prefix) != nil {
            kept = Array(prefix[..<lineStart])
        } else {
            kept = prefix.last.map { $0 == 10 ? prefix : prefix + [10] } ?? prefix
        }
        if after.starts(with: kept) {
            if Self.tornTail(prefix) != nil, after.count > kept.count,
               (try? JSONSerialization.jsonObject(with: Data(after[kept.count...].prefix { $0 != 10 }))) == nil {
                violate("torn journal line kept by a resume", "the line after byte \(kept.count) does not parse:\n\(Self.tail(Array(after.prefix(kept.count + 200))))")
            }
            return kept.count
        }
        let common = zip(after, kept).prefix { $0 == $1 }.count
        let lostFrom = (kept[..<common].lastIndex(of: 10) ?? -1) + 1
        let lost = kept[lostFrom...].split(separator: 10).map { String(decoding: $0.prefix(160), as: UTF8.self) }
        violate("durable journal records lost by a resume",
                "the journal found (\(prefix.count) bytes, \(Self.tornTail(prefix) == nil ? "no torn last line" : "torn last line")) lost from byte \(lostFrom): \(lost)")
        return after.starts(with: prefix[..<lineStart]) ? lineStart : lostFrom
    }

    // MARK: Journal helpers

    /// The torn last line of a journal (the controller died while writing it): bytes after the last newline that
    /// do not parse as a record. Nil when the journal ends with a newline or with a whole record missing its newline.
    static func tornTail(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        guard let last = bytes.last, last != 10 else { return nil }
        let tail = bytes[((bytes.lastIndex(of: 10) ?? -1) + 1)...]
        return (try? JSONSerialization.jsonObject(with: Data(tail))) is [String: Any] ? nil : tail
    }

    func replayJournal() -> Replay? {
        guard let bytes = FileManager.default.contents(atPath: journalPath) else {
            violate("journal missing", journalPath)
            return nil
        }
        do {
            return try Journal.replay(Array(bytes), name: journalPath)
        } catch {
            var detail = "\(error)"
            let lines = Array(bytes).split(separator: 10, omittingEmptySubsequences: false)
            if let bad = lines.firstIndex(where: { !$0.isEmpty && (try? JSONSerialization.jsonObject(with: Data($0))) == nil }) {
                detail += "; line \(bad + 1) is \(String(decoding: lines[bad], as: UTF8.self).debugDescription)"
            }
            violate("journal unreadable after a run", detail + " (the last crash cut the journal at byte \(durableLength)); tail:\n\(Self.tail(Array(bytes)))")
            return nil
        }
    }

    func endRecords() -> Int {
        let bytes = FileManager.default.contents(atPath: journalPath).map(Array.init) ?? []
        return Self.records(bytes).filter { $0["end"] != nil }.count
    }

    func journalTail() -> String { Self.tail(FileManager.default.contents(atPath: journalPath).map(Array.init) ?? []) }

    static func tail(_ bytes: [UInt8]) -> String {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).suffix(6)
        return lines.map { "    " + String(decoding: $0.prefix(160), as: UTF8.self) }.joined(separator: "\n")
    }

    /// The complete, parseable records of a journal (a torn or corrupt line is skipped).
    static func records(_ bytes: [UInt8]) -> [[String: Any]] {
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // a torn tail stays, and fails to parse
        return lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
    }

    static func jobsFileState(_ state: JobState) -> String {
        switch state {
        case .pending, .running: return "PENDING"
        case .exited(let code): return "EXIT=\(code)"
        case .signaled(let name): return "SIGNAL=\(name)"
        case .timeout: return "TIMEOUT"
        case .lost: return "LOST"
        }
    }
}
