// The carriage-return filter for worker logs: a progress bar redrawn with \r is logged once, in its
// last state. It is a byte-at-a-time state machine, so where the stream is cut into chunks never matters.
import Foundation

public struct OutputFilter: Sendable {
    private let maxLine: Int
    /// The current state of the line being drawn: bytes since the last newline or overwrite.
    private var line: [UInt8] = []
    /// A \r was seen: the next byte that is not \r or \n starts the line over. Kept as a flag, not
    /// acted on at once, so that "\r\n" and a trailing "\r" keep the line instead of losing it.
    private var returnPending = false
    /// Part of the current state was already written because it reached maxLine.
    private var spilled = false

    public init(maxLine: Int = 65536) {
        precondition(maxLine > 0, "maxLine must be positive")
        self.maxLine = maxLine
    }

    /// Feeds a chunk; returns bytes ready to write. A line overwritten with \r keeps only its last state
    /// ("10%\r20%\r30%\n" -> "30%\n"); "\r\n" is a newline; a chunk boundary anywhere (also between \r
    /// and \n) gives the same result as one chunk; a line longer than maxLine is flushed as is.
    public mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for byte in chunk {
            switch byte {
            case ShellByte.newline:
                out += line
                out.append(ShellByte.newline)
                line.removeAll(keepingCapacity: true)
                returnPending = false
                spilled = false
            case ShellByte.carriageReturn:
                returnPending = true
            default:
                if returnPending {
                    if spilled {
                        // The overlong state was partly written already: finish it as a line of its own
                        // rather than splice the new state onto its head.
                        out += line
                        out.append(ShellByte.newline)
                        spilled = false
                    }
                    line.removeAll(keepingCapacity: true)
                    returnPending = false
                }
                line.append(byte)
                if line.count >= maxLine {
                    // Memory stays bounded whatever a job prints without a newline.
                    out += line
                    line.removeAll(keepingCapacity: true)
                    spilled = true
                }
            }
        }
        return out
    }

    /// Flushes the partial last line (its last state), at end of stream.
    public mutating func finish() -> [UInt8] {
        let out = line
        line = []
        returnPending = false
        spilled = false
        return out
    }
}
