// A fleet copy's progress line (cloudtask-put/-get, ctsh's pool:put and pool:get): drawn on stderr only when it is
// a terminal, only once a copy has run long enough to be worth watching, and cleared before the results print.
import Engine
import Foundation

public final class CopyProgressLine {
    /// Seconds before the first drawing: a small copy ends without a line flashing by.
    static let delay = 0.5
    /// Seconds between drawings at most.
    static let interval = 0.2

    private let verb: String
    private let err = Descriptor(2)
    private let enabled: Bool
    private let start = Date()
    private var drawn: Date?
    private var shown = false

    /// `verb` starts the line (`put`, `get`); `quiet` keeps it away as --quiet does.
    public init(verb: String, quiet: Bool) {
        self.verb = verb
        enabled = !quiet && isatty(2) == 1
    }

    /// Draws `progress` when the line is on and its time has come.
    public func update(_ progress: FleetCopyProgress) {
        guard enabled else { return }
        let now = Date()
        let seconds = now.timeIntervalSince(start)
        guard seconds >= CopyProgressLine.delay, drawn.map({ now.timeIntervalSince($0) >= CopyProgressLine.interval }) ?? true
        else { return }
        drawn = now
        err.write(Array(("\r\u{1B}[K" + CopyProgressLine.text(verb: verb, progress, seconds: seconds)).utf8))
        shown = true
    }

    /// Clears the line, if it was drawn.
    public func finish() {
        guard shown else { return }
        err.write(Array("\r\u{1B}[K".utf8))
        shown = false
    }

    /// `put: 2/4 workers done, 120.0 MB of 400.0 MB (30%), 24.0 MB/s`; a get has no whole to show.
    public static func text(verb: String, _ p: FleetCopyProgress, seconds: Double) -> String {
        var text = "\(verb): \(p.done)/\(p.workers) workers done, \(FleetCopyResult.size(p.bytes))"
        if let total = p.total, total > 0 {
            text += " of \(FleetCopyResult.size(total)) (\(min(100, Int(Double(p.bytes) * 100 / Double(total))))%)"
        }
        if seconds > 0 { text += ", \(FleetCopyResult.size(Int64(Double(p.bytes) / seconds)))/s" }
        return text
    }
}
