// POSIX sh quoting, and the one place a job's shell text is built from the command and a job line.
import Foundation

public enum ShellQuote {
    /// Quotes one word for POSIX sh so the shell sees exactly these bytes: unchanged if non-empty and
    /// only [A-Za-z0-9_@%+=:,./-]; otherwise single quotes, with ' as '\'' ; empty word is ''.
    ///
    /// Any other byte, non-UTF-8 included, is safe inside single quotes. A NUL byte cannot reach a
    /// command at all (sh and exec take C strings), so it is not the quoting's to solve.
    public static func quote(_ word: [UInt8]) -> [UInt8] {
        if !word.isEmpty && word.allSatisfy(isSafe) { return word }
        var out: [UInt8] = [ShellByte.singleQuote]
        out.reserveCapacity(word.count + 2)
        for byte in word {
            if byte == ShellByte.singleQuote {
                // Close the quote, add an escaped quote, reopen: ' -> '\''
                out += [ShellByte.singleQuote, ShellByte.backslash, ShellByte.singleQuote, ShellByte.singleQuote]
            } else {
                out.append(byte)
            }
        }
        out.append(ShellByte.singleQuote)
        return out
    }

    /// Quotes one word so that every login shell we know reads the same bytes: POSIX shells (bash, dash, zsh,
    /// busybox ash) and fish, which treats `\\` and `\'` inside single quotes as escapes. Runs without `\` or `'`
    /// go in single quotes; each `\` and `'` goes outside them, escaped with a backslash, which all of them read
    /// alike. For the exec request, which the worker's login shell parses before /bin/sh does.
    public static func quoteForLoginShell(_ word: [UInt8]) -> [UInt8] {
        if !word.isEmpty && word.allSatisfy(isSafe) { return word }
        var out: [UInt8] = []
        out.reserveCapacity(word.count + 2)
        var open = false
        for byte in word {
            if byte == ShellByte.singleQuote || byte == ShellByte.backslash {
                if open { out.append(ShellByte.singleQuote); open = false }
                out += [ShellByte.backslash, byte]
            } else {
                if !open { out.append(ShellByte.singleQuote); open = true }
                out.append(byte)
            }
        }
        if open || out.isEmpty { out.append(ShellByte.singleQuote) }
        if out.count == 1 { out.append(ShellByte.singleQuote) }
        return out
    }

    /// A command's words as a user would type them again (each quoted as `quote` does), for display.
    public static func display(_ words: [String]) -> String {
        words.map { String(decoding: quote(Array($0.utf8)), as: UTF8.self) }.joined(separator: " ")
    }

    /// The job's shell text: if command is empty, the line's words are the job itself: return `rawLine`
    /// trimmed of leading/trailing blanks (the line is already shell text); if command has exactly one
    /// element that contains a space, tab or any shell metacharacter, it is shell text and the quoted
    /// words are appended after a space; otherwise every command element is quoted and the quoted words
    /// appended, all joined by single spaces.
    public static func jobText(command: [String], words: [[UInt8]], rawLine: [UInt8]) -> [UInt8] {
        if command.isEmpty { return trimmedBlanks(rawLine) }
        var parts: [[UInt8]]
        if isShellText(command) {
            // `cloudtask 'grep -c foo'` or `cloudtask 'cd /data && ./run'`: the user wrote shell text.
            parts = [Array(command[0].utf8)]
        } else {
            parts = command.map { quote(Array($0.utf8)) }
        }
        parts += words.map(quote)
        return Array(parts.joined(separator: [ShellByte.space]))
    }

    /// Whether `command` is shell text: one element holding a space, tab or shell metacharacter.
    static func isShellText(_ command: [String]) -> Bool {
        command.count == 1 && Array(command[0].utf8).contains(where: isMetacharacter)
    }

    // MARK: - Bytes

    private static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return safePunctuation.contains(byte)
        }
    }

    private static let safePunctuation: Set<UInt8> = Set("_@%+=:,./-".utf8)

    /// Bytes that make sh do something other than take them literally: POSIX's metacharacters and
    /// quotes, plus glob, tilde and comment characters.
    private static func isMetacharacter(_ byte: UInt8) -> Bool { metacharacters.contains(byte) }

    private static let metacharacters: Set<UInt8> = Set(" \t\n|&;<>()$`\\\"'*?[#~".utf8)

    private static func trimmedBlanks(_ bytes: [UInt8]) -> [UInt8] {
        let isBlank = { (byte: UInt8) in byte == ShellByte.space || byte == ShellByte.tab }
        guard let first = bytes.firstIndex(where: { !isBlank($0) }),
              let last = bytes.lastIndex(where: { !isBlank($0) }) else { return [] }
        return Array(bytes[first...last])
    }
}
