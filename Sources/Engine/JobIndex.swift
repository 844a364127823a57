// Every job of a session, compactly: its state, retries and deaths in 4 bytes and where its record starts in
// the journal in 4 more (a delta from its page's base), whatever the size of its input. The controller,
// --status, resume and the report keep this instead of the jobs themselves, so their memory does not grow
// with the inputs (a job's text is read back from the journal when it is needed).
import Foundation

/// A reference type: the plan, the runner and the readers that share one index see one set of states, and a
/// growing or changing index is never copied.
public final class JobIndex: @unchecked Sendable {
    /// Jobs are kept in pages, so a growing index never copies (or doubles) what it holds.
    private static let pageBits = 16
    private static let pageSize = 1 << pageBits
    /// Per job: the state in the low 16 bits (kind in 3, value in 13), retries in the next 8, deaths in the top 8.
    private var packed: [[UInt32]] = []
    /// Per job: the byte offset of its `job` record in the journal, as a delta from its page's base (4 bytes);
    /// a page whose deltas do not fit keeps full offsets in `wide`. UInt32.max: never written.
    private var deltas: [[UInt32]] = []
    private var bases: [Int64] = []
    private var wide: [Int: [Int64]] = [:]
    /// Signal names, interned (a signaled state stores its index here).
    private var signals: [String] = []
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// Adds job `count + 1`, pending, whose record starts at `offset` (-1: not written yet).
    public func append(offset: Int64) {
        let page = count >> JobIndex.pageBits
        if page == packed.count {
            packed.append([]); packed[page].reserveCapacity(JobIndex.pageSize)
            deltas.append([]); deltas[page].reserveCapacity(JobIndex.pageSize)
            bases.append(-1)
        }
        packed[page].append(0)
        deltas[page].append(UInt32.max)
        count += 1
        setOffset(count - 1, offset)
    }

    /// Where job `i`'s record starts in the journal; -1 when it was never written there.
    public func offset(_ i: Int) -> Int64 {
        let page = i >> JobIndex.pageBits, slot = i & (JobIndex.pageSize - 1)
        if let full = wide[page] { return full[slot] }
        let delta = deltas[page][slot]
        return delta == UInt32.max ? -1 : bases[page] + Int64(delta)
    }

    public func setOffset(_ i: Int, _ offset: Int64) {
        let page = i >> JobIndex.pageBits, slot = i & (JobIndex.pageSize - 1)
        if wide[page] != nil { wide[page]![slot] = offset; return }
        if offset < 0 { deltas[page][slot] = UInt32.max; return }
        if bases[page] < 0 { bases[page] = offset }
        let delta = offset - bases[page]
        if delta >= 0 && delta < Int64(UInt32.max) { deltas[page][slot] = UInt32(delta); return }
        // Records too large (or out of order) for 4-byte deltas: this page keeps full offsets.
        var full = (0..<deltas[page].count).map { self.offset(page << JobIndex.pageBits | $0) }
        full[slot] = offset
        wide[page] = full
        deltas[page] = []
    }

    private func bits(_ i: Int) -> UInt32 { packed[i >> JobIndex.pageBits][i & (JobIndex.pageSize - 1)] }
    private func setBits(_ i: Int, _ value: UInt32) { packed[i >> JobIndex.pageBits][i & (JobIndex.pageSize - 1)] = value }

    // MARK: - One job (0-based)

    public func state(_ i: Int) -> JobState {
        let bits = self.bits(i) & 0xFFFF
        let value = Int(bits & 0x1FFF)
        switch bits >> 13 {
        case 1: return .running
        case 2: return .exited(value)
        case 3: return .signaled(value < signals.count ? signals[value] : "?")
        case 4: return .timeout
        case 5: return .lost
        case 6: return .exited(-value)  // an exit status a hand-made journal gave as negative
        default: return .pending
        }
    }

    public func setState(_ i: Int, _ state: JobState) {
        let bits: UInt32
        switch state {
        case .pending: bits = 0
        case .running: bits = 1 << 13
        case .exited(let code) where code >= 0: bits = 2 << 13 | UInt32(min(code, 0x1FFF))
        case .exited(let code): bits = 6 << 13 | UInt32(min(-code, 0x1FFF))
        case .signaled(let name):
            let index = signals.firstIndex(of: name) ?? { signals.append(name); return signals.count - 1 }()
            bits = 3 << 13 | UInt32(min(index, 0x1FFF))
        case .timeout: bits = 4 << 13
        case .lost: bits = 5 << 13
        }
        setBits(i, self.bits(i) & 0xFFFF_0000 | bits)
    }

    public func retried(_ i: Int) -> Int { Int(bits(i) >> 16 & 0xFF) }
    public func deaths(_ i: Int) -> Int { Int(bits(i) >> 24) }

    public func setRetried(_ i: Int, _ n: Int) { setBits(i, bits(i) & 0xFF00_FFFF | UInt32(min(max(n, 0), 255)) << 16) }
    public func setDeaths(_ i: Int, _ n: Int) { setBits(i, bits(i) & 0x00FF_FFFF | UInt32(min(max(n, 0), 255)) << 24) }

    /// How many jobs are in each state.
    public var counts: JobCounts { JobCounts((0..<count).lazy.map { self.state($0) }) }
}

extension JobIndex {
    /// The index of `jobs` (tests and small journals): offsets unknown.
    public convenience init(_ jobs: [SavedJob]) {
        self.init()
        for (i, job) in jobs.enumerated() {
            append(offset: -1)
            setState(i, job.state)
            setRetried(i, job.retried)
            setDeaths(i, job.deaths)
        }
    }
}
