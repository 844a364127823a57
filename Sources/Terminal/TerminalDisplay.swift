// The front ends' rendering of a run: job output to stdout and stderr, status lines to stderr, and on a
// terminal a live progress line that is cleared before anything else is written. The engine only reports.
import Engine
import Foundation

/// Renders a run's events on the process's stdout and stderr. Each write is one write(2) of whole lines,
/// so lines never interleave mid-line.
public final class TerminalDisplay: RunDisplay {
    private let out = Descriptor(1)
    private let err = Descriptor(2)
    /// Whether the progress line may be drawn at all: stderr is a terminal and the run is not --quiet.
    public let progressAllowed: Bool
    /// Whether it is drawn now: ctsh turns it off for a task that runs behind its prompt (`t:start()`).
    public var showsProgress: Bool {
        didSet { if !showsProgress { clearProgress() } }
    }
    private var progressShown = false

    /// `quiet`: --quiet, which keeps the progress line away too.
    public init(quiet: Bool) {
        progressAllowed = !quiet && isatty(2) == 1
        showsProgress = true
    }

    public func output(_ bytes: [UInt8], to stream: Engine.OutputStream) {
        clearProgress()
        (stream == .stdout ? out : err).write(bytes)
    }

    public func status(_ line: String) {
        clearProgress()
        err.write(Array((line + "\n").utf8))
    }

    public var wantsProgress: Bool { progressAllowed && showsProgress }

    public func progress(_ progress: RunProgress) {
        guard wantsProgress else { return }
        err.write(Array(("\r\u{1B}[K" + TerminalDisplay.text(progress)).utf8))
        progressShown = true
    }

    public func finished() { clearProgress() }

    /// "[done/total] 3 failed, 4 running, 12.5 jobs/s, ETA 0:42, 2 workers up".
    public static func text(_ p: RunProgress) -> String {
        let eta = p.eta.map { String(format: "%d:%02d", $0 / 60, $0 % 60) } ?? "?"
        return String(format: "[%d/%d] %d failed, %d running, %.1f jobs/s, ETA %@, %d workers up",
                      p.done, p.total, p.failed, p.running, p.rate, eta, p.workersUp)
    }

    private func clearProgress() {
        guard progressShown else { return }
        err.write(Array("\r\u{1B}[K".utf8))
        progressShown = false
    }
}

/// A write loop over one of the process's standard descriptors.
struct Descriptor {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }

    /// Writes all of `bytes`; a closed or full terminal loses the rest (there is nowhere to say so). What the
    /// process wrote through C's stdio before (Lua's `print` and `io.write` in ctsh) goes out first, in order.
    func write(_ bytes: [UInt8]) {
        fflush(nil)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
