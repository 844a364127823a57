// Asking for a secret (a key's passphrase) on the controlling terminal, with echo off, as ssh does: /dev/tty, not
// stdin or stderr, so piped jobs and redirected output do not matter.
import Foundation

public enum SecretPrompt {
    /// Writes `prompt` on /dev/tty and reads one line with echo off; nil when there is no controlling terminal,
    /// at end of file, or when the terminal cannot be read. The answer is only returned, never kept.
    public static func ask(_ prompt: String) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO | ECHONL)
        quiet.c_lflag |= tcflag_t(ICANON)
        guard write(fd, prompt) else { return nil }
        guard tcsetattr(fd, TCSAFLUSH, &quiet) == 0 else { return nil }
        let line = readLine(fd)
        // The Enter the user typed was not echoed: end the prompt's line ourselves.
        _ = tcsetattr(fd, TCSAFLUSH, &saved)
        _ = write(fd, "\n")
        return line
    }

    /// Writes all of `text`; false on an error.
    private static func write(_ fd: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            bytes = bytes.dropFirst(n)
        }
        return true
    }

    /// One line without its newline; nil at end of file before any newline or on an error.
    private static func readLine(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return nil }
            if byte == 10 || byte == 13 { break }
            bytes.append(byte)
        }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        return String(decoding: bytes, as: UTF8.self)
    }
}
