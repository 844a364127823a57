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

    // MARK: - Waiting, interrupts and completion

    /// Called about every 50 ms while the prompt waits for a key (background tasks run here).
    nonisolated(unsafe) public static var idle: (() -> Void)?
    /// Candidates for the word being completed (tab), given the word and the line up to the cursor (the word
    /// included); `insideString` means no space follows a unique candidate (a file name, a folder to go on in).
    nonisolated(unsafe) public static var completer: ((_ word: String, _ line: String) -> (candidates: [String], insideString: Bool))?
    /// Set by a SIGINT handler: the line being edited is dropped (readLine returns "" and `cancelled` is true).
    nonisolated(unsafe) public static var interruptPending: Int32 = 0
    nonisolated(unsafe) public private(set) static var cancelled = false
    /// Set by the SIGWINCH handler: libedit learns the new width before the next key (it catches no signals here).
    nonisolated(unsafe) static var resizePending: Int32 = 0
    nonisolated(unsafe) private static var candidates: [String] = []

    /// Installs the waiting and completion hooks; the caller handles SIGINT (see `interruptPending`).
    /// libedit reads these when it initializes, so call this before creating the LineEditor.
    public static func installHooks() {
        // libedit takes what the getc hook returns as a wide character and converts lines with the locale:
        // without a UTF-8 LC_CTYPE, non-ASCII input would be dropped.
        if setlocale(LC_CTYPE, "") == nil || String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            setlocale(LC_CTYPE, "C.UTF-8")
        }
        ct_set_catch_signals(0)
        // libedit's own, and a comma: `{a = 1,spl` completes `spl`. Kept for the life of the process.
        ct_set_word_break_characters(strdup(" \t\n\"\\'`@$><=;|&{(,"))
        signal(SIGWINCH) { _ in LineEditor.resizePending = 1 }
        ct_set_getc_function { _ in
            while true {
                if LineEditor.resizePending != 0 {
                    LineEditor.resizePending = 0
                    rl_resize_terminal()
                }
                if LineEditor.interruptPending != 0 {
                    LineEditor.interruptPending = 0
                    LineEditor.cancelled = true
                    return 10
                }
                var fds = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                let ready = poll(&fds, 1, 50)
                if ready > 0 {
                    var byte: UInt8 = 0
                    let n = read(0, &byte, 1)
                    if n == 1 { return LineEditor.character(startingWith: byte) }
                    if n == 0 { return EOF }
                    if errno != EINTR && errno != EAGAIN { return EOF }
                } else if ready == 0 {
                    LineEditor.runIdle()
                }
            }
        }
        ct_set_completion_function { text, state in
            if state == 0 {
                let word = text.map { String(cString: $0) } ?? ""
                let point = Int(max(ct_point(), 0))
                let line = ct_line_buffer().map { String(decoding: UnsafeRawBufferPointer(start: $0, count: min(point, strlen($0))), as: UTF8.self) } ?? word
                let found = LineEditor.completer?(word, line)
                LineEditor.candidates = found?.candidates ?? []
                ct_set_completion_append_character(found?.insideString == true ? 0 : 32)
            }
            guard Int(state) < LineEditor.candidates.count else { return nil }
            return strdup(LineEditor.candidates[Int(state)])
        }
    }

    /// Where output written during `idle` is held while the prompt is on screen (an unlinked file: any size).
    nonisolated(unsafe) private static var held: Int32 = -2

    /// Runs `idle`. On a terminal, whatever it prints to stdout or stderr (a background task's results) is held
    /// and then written above the prompt, which is redrawn with the line being typed, so output never lands
    /// in the middle of the input line.
    static func runIdle() {
        guard let idle else { return }
        if held == -2 {
            var template = Array("/tmp/ctsh-idle-XXXXXX".utf8CString)
            held = isatty(1) != 0 && isatty(2) != 0 ? mkstemp(&template) : -1
            if held >= 0 { unlink(template) }
        }
        guard held >= 0 else { idle(); return }
        fflush(nil)
        let savedOut = dup(1), savedErr = dup(2)
        dup2(held, 1)
        dup2(held, 2)
        idle()
        fflush(nil)
        dup2(savedOut, 1)
        dup2(savedErr, 2)
        Glibc.close(savedOut)
        Glibc.close(savedErr)
        let size = Int(lseek(held, 0, SEEK_END))
        guard size > 0 else { return }
        var bytes = [UInt8](repeating: 0, count: size)
        let count = bytes.withUnsafeMutableBytes { pread(held, $0.baseAddress, size, 0) }
        _ = ftruncate(held, 0)
        _ = lseek(held, 0, SEEK_SET)
        writeAll(Array("\r\u{1B}[K".utf8))
        writeAll(Array(bytes.prefix(max(count, 0))))
        if bytes.prefix(max(count, 0)).last != 10 { writeAll([10]) }
        rl_forced_update_display()
    }

    private static func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }

    /// The character whose UTF-8 encoding starts with `lead`, its other bytes read from stdin (libedit's
    /// readline layer takes each value the getc hook returns as one wide character). A malformed sequence
    /// gives U+FFFD.
    static func character(startingWith lead: UInt8) -> Int32 {
        let length: Int
        switch lead {
        case 0..<0x80: return Int32(lead)
        case 0xC2..<0xE0: length = 2
        case 0xE0..<0xF0: length = 3
        case 0xF0..<0xF5: length = 4
        default: return 0xFFFD
        }
        var value = Int32(lead) & (0x7F >> length)
        for _ in 1..<length {
            var fds = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            var byte: UInt8 = 0
            guard poll(&fds, 1, 100) > 0, read(0, &byte, 1) == 1, byte & 0xC0 == 0x80 else { return 0xFFFD }
            value = value << 6 | Int32(byte & 0x3F)
        }
        return value
    }

    /// Frees the in-memory history; later calls on this object are a programming error.
    public func close() {
        guard isOpen else { return }
        clear_history()
        isOpen = false
    }

    /// Shows `prompt` and returns the line typed, without its newline; nil at end of input.
    public func readLine(prompt: String) -> String? {
        checkOpen()
        LineEditor.cancelled = false
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
            throw LineEditorError(code: code, message: String(cString: strerror(code)),
                                  context: "saving history to \(historyFile)")
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
