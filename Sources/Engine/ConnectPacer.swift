// The pace of new connections (--connect-rate): many workers behind one sshd must not exceed its MaxStartups,
// the connections it accepts that have not logged in yet.

/// Lets a connection start at most every 1/rate seconds; a rate of 0 lets every one start at once.
struct ConnectPacer {
    let interval: Double
    /// The earliest time the next connection may start.
    private(set) var free = 0.0

    init(rate: Double) { interval = rate > 0 ? 1 / rate : 0 }

    /// Takes the turn at `now` when it is free; false when the caller must wait until `free`.
    mutating func take(_ now: Double) -> Bool {
        guard free <= now else { return false }
        // An idle pacer lends no burst: the next connection still waits one interval after this one.
        free = now + interval
        return true
    }
}
