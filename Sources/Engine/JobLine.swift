// Job input as bytes: splitting input into numbered lines, one line into POSIX shell words,
// and escaping a job for the session's `jobs` file.
import Foundation

/// A job line that cannot be split into words, with its 1-based line number.
public struct JobLineError: Error, Equatable, CustomStringConvertible, Sendable {
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    /// `line 7: unterminated single quote`
    public var description: String { "line \(line): \(message)" }
}

public enum JobLine {
    /// Splits one input line into shell words (POSIX sh rules): whitespace separates words; single quotes
    /// literal; double quotes where backslash escapes only $ ` " \ and newline; backslash outside quotes
    /// escapes the next byte; `#` starts a comment only at the start of a word outside quotes (so `a#b` is
    /// one word, `'#x'` a word, `a #c` is [a]). Returns nil for a blank or comment-only line. Throws
    /// JobLineError on an unterminated quote (or a trailing lone backslash), naming `lineNumber`.
    ///
    /// Only quoting is interpreted: `$`, `;`, `|`, `*` and the like are ordinary bytes, because a job
    /// line is data to be quoted again for the remote shell, never a script run on the controller.
    public static func words(_ line: [UInt8], lineNumber: Int) throws -> [[UInt8]]? {
        var words: [[UInt8]] = []
        var word: [UInt8] = []
        // A word exists once any byte or quote is seen, so `''` yields one empty word.
        var inWord = false
        var i = 0
        let n = line.count

        func fail(_ message: String) -> JobLineError { JobLineError(line: lineNumber, message: message) }

        scan: while i < n {
            let byte = line[i]
            switch byte {
            case ShellByte.space, ShellByte.tab, ShellByte.newline:
                if inWord { words.append(word); word = []; inWord = false }
                i += 1
            case ShellByte.hash where !inWord:
                break scan
            case ShellByte.backslash:
                guard i + 1 < n else { throw fail("trailing backslash") }
                // Backslash-newline is a line continuation in sh: both bytes vanish.
                if line[i + 1] != ShellByte.newline { word.append(line[i + 1]); inWord = true }
                i += 2
            case ShellByte.singleQuote:
                inWord = true
                guard let close = line[(i + 1)...].firstIndex(of: ShellByte.singleQuote) else {
                    throw fail("unterminated single quote")
                }
                word.append(contentsOf: line[(i + 1)..<close])
                i = close + 1
            case ShellByte.doubleQuote:
                inWord = true
                i += 1
                while true {
                    guard i < n else { throw fail("unterminated double quote") }
                    let inner = line[i]
                    if inner == ShellByte.doubleQuote { i += 1; break }
                    if inner == ShellByte.backslash, i + 1 < n, escapableInDoubleQuotes(line[i + 1]) {
                        if line[i + 1] != ShellByte.newline { word.append(line[i + 1]) }
                        i += 2
                    } else {
                        word.append(inner)
                        i += 1
                    }
                }
            default:
                word.append(byte)
                inWord = true
                i += 1
            }
        }
        if inWord { words.append(word) }
        return words.isEmpty ? nil : words
    }

    /// Splits input into lines on \n (a final line without \n counts; one trailing \r is stripped so
    /// CRLF files work), returns (lineNumber, bytes) of every line, numbered from 1.
    public static func lines(_ input: [UInt8]) -> [(number: Int, bytes: [UInt8])] {
        var result: [(number: Int, bytes: [UInt8])] = []
        var start = 0
        func add(_ end: Int) {
            var bytes = Array(input[start..<end])
            if bytes.last == ShellByte.carriageReturn { bytes.removeLast() }
            result.append((number: result.count + 1, bytes: bytes))
        }
        for (index, byte) in input.enumerated() where byte == ShellByte.newline {
            add(index)
            start = index + 1
        }
        if start < input.count { add(input.count) }
        return result
    }

    private static func escapableInDoubleQuotes(_ byte: UInt8) -> Bool {
        switch byte {
        case ShellByte.dollar, ShellByte.backquote, ShellByte.doubleQuote, ShellByte.backslash, ShellByte.newline: true
        default: false
        }
    }
}

/// The text form of a job in the session's `jobs` file, whose lines are `STATE<TAB>JOB`.
public enum JobsFileText {
    /// Escapes tab, newline and backslash as `\t`, `\n`, `\\`, so a job is one field of one line.
    public static func escape(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case ShellByte.tab: out += [ShellByte.backslash, UInt8(ascii: "t")]
            case ShellByte.newline: out += [ShellByte.backslash, UInt8(ascii: "n")]
            case ShellByte.backslash: out += [ShellByte.backslash, ShellByte.backslash]
            default: out.append(byte)
            }
        }
        return out
    }

    /// Reverses `escape`. An unknown or dangling escape is kept as written, so reading never fails.
    public static func unescape(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == ShellByte.backslash, i + 1 < bytes.count {
                switch bytes[i + 1] {
                case UInt8(ascii: "t"): out.append(ShellByte.tab); i += 2; continue
                case UInt8(ascii: "n"): out.append(ShellByte.newline); i += 2; continue
                case ShellByte.backslash: out.append(ShellByte.backslash); i += 2; continue
                default: break
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return out
    }
}

// Named bytes for the byte parsers in this module. A namespace rather than a UInt8 extension,
// so these names cannot collide with anyone else's in the module.
enum ShellByte {
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let hash = UInt8(ascii: "#")
    static let backslash = UInt8(ascii: "\\")
    static let singleQuote = UInt8(ascii: "'")
    static let doubleQuote = UInt8(ascii: "\"")
    static let dollar = UInt8(ascii: "$")
    static let backquote = UInt8(ascii: "`")
}
