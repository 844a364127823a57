// Every job of a session, compactly: its state, retries and deaths in 4 bytes and where its record starts in the
// journal in 8, whatever the size of its input. The controller, --status, resume and the report keep this
// instead of the jobs themselves, so their memory does not grow with the inputs (a job's text is read back
// from the journal when it is needed).
import Foundation

public struct JobIndex: Sendable {
    /// Per job: the state in the low 16 bits (kind in 3, value in 13), retries in the next 8, deaths in the top 8.
    private var packed: [UInt32] = []
    /// Per job: the byte offset of its `job` record in the journal; -1 when it was never written there.
    public private(set) var offsets: [Int64] = []
    /// Signal names, interned (a signaled state stores its index here).
    private var signals: [String] = []

    public init() {}

    public var count: Int { packed.count }
    public var isEmpty: Bool { packed.isEmpty }

    /// Adds job `count + 1`, pending, whose record starts at `offset`.
    public mutating func append(offset: Int64) {
        packed.append(0)
        offsets.append(offset)
    }

    public mutating func setOffset(_ i: Int, _ offset: Int64) { offsets[i] = offset }

    // MARK: - One job (0-based)

    public func state(_ i: Int) -> JobState {
        let bits = packed[i] & 0xFFFF
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

    public mutating func setState(_ i: Int, _ state: JobState) {
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
        packed[i] = packed[i] & 0xFFFF_0000 | bits
    }

    public func retried(_ i: Int) -> Int { Int(packed[i] >> 16 & 0xFF) }
    public func deaths(_ i: Int) -> Int { Int(packed[i] >> 24) }

    public mutating func setRetried(_ i: Int, _ n: Int) { packed[i] = packed[i] & 0xFF00_FFFF | UInt32(min(max(n, 0), 255)) << 16 }
    public mutating func setDeaths(_ i: Int, _ n: Int) { packed[i] = packed[i] & 0x00FF_FFFF | UInt32(min(max(n, 0), 255)) << 24 }

    /// How many jobs are in each state.
    public var counts: JobCounts { JobCounts((0..<count).lazy.map { state($0) }) }
}

extension JobIndex {
    /// The index of `jobs` (tests and small journals): offsets unknown.
    public init(_ jobs: [SavedJob]) {
        self.init()
        for (i, job) in jobs.enumerated() {
            append(offset: -1)
            setState(i, job.state)
            setRetried(i, job.retried)
            setDeaths(i, job.deaths)
        }
    }
}
