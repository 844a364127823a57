// The descriptor limit: each worker costs a socket and its log file, so the front ends raise the soft
// RLIMIT_NOFILE to the hard one at start.
import Foundation

public enum FileLimit {
    /// Descriptors a run holds whatever its size: stdio, session files (journal, log, lock, jobs), the reactor's
    /// wake pipe, the agent, the input thread, libraries. Counted generously.
    public static let fixed = 32
    /// Descriptors per worker: its socket and its log (`workers/<n>`, kept open). A running job's output
    /// past 1 MiB per stream adds one more each (its spool file).
    public static let perWorker = 2

    /// Raises the soft limit as far as the hard limit allows; returns the soft limit now in force.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(clamping: raised.rlim_cur) }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// How many workers `limit` descriptors permit with `slots` jobs each, when every job spills both streams.
    public static func workers(within limit: Int, slots: Int = 0) -> Int {
        max(0, (limit - fixed) / (perWorker + 2 * slots))
    }

    /// The warning for a run of `workers` at once when `limit` descriptors may not hold them; nil when they fit.
    public static func warning(workers: Int, limit: Int) -> String? {
        let needed = fixed + perWorker * workers
        guard needed > limit else { return nil }
        return "\(workers) workers need about \(needed) file descriptors and the limit is \(limit): some will fail "
            + "with \"Too many open files\"; raise the hard limit (ulimit -Hn, LimitNOFILE) or use "
            + "--split=\(FileLimit.workers(within: limit))"
    }
}
