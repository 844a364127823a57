// Interactive line input for the REPL: libedit's readline-compatible API, with history kept in a file.
import CEditLine
import Glibc

/// Reads edited lines and keeps a bounded history, loaded from and saved to a file.
/// libedit's readline API has one global state: use one LineEditor at a time, from one thread.
public final class LineEditor {
    /// Where history is loaded from at init and saved by `saveHistory()`; nil keeps it in memory only.
    public let historyFile: String?
    private var isOpen = true

    /// Starts a fresh history holding at most `historySize` lines, loaded from `historyFile`
    /// when it exists (a missing or unreadable file just means an empty history).
    public init(historyFile: String?, historySize: Int) {
        self.historyFile = historyFile
        using_history()
        clear_history()
        stifle_history(Int32(clamping: max(historySize, 0)))
        if let historyFile { _ = read_history(historyFile) }
    }

    deinit { close() }

    /// Frees the in-memory history; later calls on this object are a programming error.
    public func close() {
        guard isOpen else { return }
        clear_history()
        isOpen = false
    }

    /// Shows `prompt` and returns the line typed, without its newline; nil at end of input.
    public func readLine(prompt: String) -> String? {
        checkOpen()
        guard let line = readline(prompt) else { return nil }
        defer { free(line) }
        return String(cString: line)
    }

    /// Appends `line` to the history (the oldest lines drop out beyond the size limit).
    public func addHistory(_ line: String) {
        checkOpen()
        _ = add_history(line)
    }

    /// The history, oldest first.
    public var history: [String] {
        checkOpen()
        return (0 ..< ct_history_length()).compactMap { offset in
            history_get(ct_history_base() + offset).flatMap { $0.pointee.line }.map { String(cString: $0) }
        }
    }

    /// Writes the history to `historyFile` (does nothing without one).
    public func saveHistory() throws {
        checkOpen()
        guard let historyFile else { return }
        let code = write_history(historyFile)
        guard code == 0 else {
            throw LineEditorError(code: code, message: String(cString: strerror(code)), context: "saving history to \(historyFile)")
        }
    }

    private func checkOpen() {
        precondition(isOpen, "LineEditor used after close()")
    }
}

/// A libedit failure: the errno it returned, its text, and what we were doing.
public struct LineEditorError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let context: String

    public var description: String { "\(context): \(message) (errno \(code))" }
}
