// How an input record becomes a job: the input mode (shell words, literal lines or NUL records, columns), the
// command's replacement strings, and the job's shell text. Every front end makes its jobs here.
import Foundation

/// A task's way of turning input records into jobs, built once from its configuration.
///
/// Without replacement strings in the command the job is the command with the record's words (or its one literal
/// word, or its columns) appended, each quoted; with them, the command with each replaced, quoted exactly.
public struct JobRecipe: @unchecked Sendable {  // NSRegularExpression is immutable once built
    /// How a record is cut into the words `{}` and `{1}` `{2}` ... stand for.
    public enum Mode: Equatable, Sendable {
        /// The default: POSIX shell words (quotes processed, `#` comments and blank lines skipped).
        case words
        /// --lines and -0: the record is one literal word.
        case lines
        /// --colsep: the record is cut into literal columns; `{}` is the whole record as one word.
        case columns
    }

    public let mode: Mode
    public let command: [String]
    private let separator: NSRegularExpression?
    private let replace: [UInt8]?
    private let template: Template?
    /// --transfer: the job's one input word is a file copied into its work folder; the command names it there.
    private let transfer: Bool
    /// The checks of each job's files (RunnerFiles.swift); nil when the task's jobs move none.
    let files: JobFileChecks?

    /// The command cut at its replacement strings.
    private enum Template {
        /// One element holding shell characters: shell text, into which quoted values are inserted.
        case shellText([Piece])
        /// Elements each quoted: a replacement inside one gives (part of) one literal word.
        case elements([[Piece]])
    }

    /// What a record stands for: the words of `{}` and the fields of `{N}`.
    private struct Values {
        let input: [[UInt8]]
        let fields: [[UInt8]]
    }

    /// The recipe of a task: its command, --lines, -0, --colsep and -I. Throws a UsageError naming the option for
    /// a bad regular expression, an empty -I token, or --lines with --colsep.
    public init(_ config: TaskConfig) throws {
        if config.lines == true && config.colsep != nil {
            throw UsageError("--lines and --colsep cannot be used together (--colsep cuts each line into columns)")
        }
        if let pattern = config.colsep {
            do { separator = try NSRegularExpression(pattern: pattern) } catch {
                throw UsageError("--colsep=\(pattern): not a valid regular expression")
            }
            mode = .columns
        } else {
            separator = nil
            mode = config.lines == true || config.null == true ? .lines : .words
        }
        if let token = config.replace, token.isEmpty { throw UsageError("--replace: expected a non-empty replacement string") }
        let token = config.replace.map { Array($0.utf8) }
        replace = token
        command = config.command
        transfer = config.transfer == true
        files = JobFileChecks(config)
        let pieces = config.command.map { Piece.parse(Array($0.utf8), replace: token) }
        if !pieces.contains(where: Piece.holdToken) {
            template = nil
        } else if ShellQuote.isShellText(config.command) {
            template = .shellText(pieces[0])
        } else {
            template = .elements(pieces)
        }
        if config.movesFiles { try JobFileNames.check(config, self) }
    }

    /// The default recipe for `command`: shell words, GNU parallel's replacement strings.
    public init(command: [String]) {
        var config = TaskConfig()
        config.command = command
        self = try! JobRecipe(config)  // nothing in a default configuration can be invalid
    }

    // MARK: - Jobs

    /// One input record as job `number`: nil for a record that makes no job (a blank or comment line in word mode,
    /// an empty record otherwise). Throws JobLineError naming `lineNumber` for an unterminated quote, a path form or
    /// `{}` inside a word on a multi-word line (`line 7: {.} needs one word, the line has 3`), or a job no remote
    /// command can carry. The JobSpec's input keeps what `fields(of:)` needs: the record trimmed of blanks in word
    /// mode, as it is otherwise.
    public func job(_ record: [UInt8], lineNumber: Int, number: Int) throws -> JobSpec? {
        let stored: [UInt8]
        let values: Values
        switch mode {
        case .words:
            guard let words = try JobLine.words(record, lineNumber: lineNumber) else { return nil }
            stored = JobRecipe.trimmed(record)
            values = Values(input: words, fields: words)
        case .lines, .columns:
            guard !record.isEmpty else { return nil }
            stored = record
            values = self.values(stored)
        }
        let text = try self.text(stored, transfer ? try transferred(values, lineNumber) : values,
                                 number: number, lineNumber: lineNumber)
        if let problem = JobSpec.problem(text: text) {
            throw JobLineError(line: lineNumber, message: "the job " + problem)
        }
        let spec = JobSpec(number: number, input: stored, text: text)
        try files?.check(spec, recipe: self, lineNumber: lineNumber)
        return spec
    }

    /// The job's one input word (`{}`) read back from its stored input: the file --transfer copies. Throws
    /// JobLineError naming `lineNumber` when the input is several words, or no UTF-8 file name.
    public func inputFile(of input: [UInt8], lineNumber: Int) throws -> String {
        let values = values(input)
        guard values.input.count == 1 else {
            throw JobLineError(line: lineNumber, message: "--transfer needs one file name, the line has \(values.input.count) words")
        }
        guard let name = String(validatingUTF8: values.input[0].map { CChar(bitPattern: $0) } + [0]), !name.isEmpty else {
            throw JobLineError(line: lineNumber, message: "--transfer: the input is no UTF-8 file name")
        }
        return name
    }

    /// With --transfer the command sees the input where it lands in the work folder (JobFileNames.place).
    private func transferred(_ values: Values, _ lineNumber: Int) throws -> Values {
        guard values.input.count == 1 else {
            throw JobLineError(line: lineNumber, message: "--transfer needs one file name, the line has \(values.input.count) words")
        }
        guard let name = String(validatingUTF8: values.input[0].map { CChar(bitPattern: $0) } + [0]) else {
            throw JobLineError(line: lineNumber, message: "--transfer: the input is no UTF-8 file name")
        }
        let place = Array(JobFileNames.place(name).utf8)
        guard !place.isEmpty else { throw JobLineError(line: lineNumber, message: "--transfer: \(name) is no file") }
        return Values(input: [place], fields: mode == .columns ? values.fields : [place])
    }

    /// The words (word mode), the one word (--lines, -0) or the columns (--colsep) of a job's stored
    /// `JobSpec.input`, as `{1}` `{2}` ... see them. A stored input that no longer splits gives none.
    public func fields(of input: [UInt8]) -> [[UInt8]] { values(input).fields }

    /// `pattern` (e.g. `{}.gz`, `out/{/.}.txt`) with its replacement strings expanded and nothing quoted, for file
    /// names. Every value must be one word: `{}` or a path form on a multi-word input throws JobLineError naming
    /// `lineNumber`; `{%}` throws a UsageError (the slot is known only on the worker). With --colsep, `{}` here
    /// needs a one-column line (see `expandLiteral(_:input:number:lineNumber:)` for the whole line).
    public func expandLiteral(_ pattern: String, fields: [[UInt8]], number: Int, lineNumber: Int) throws -> [UInt8] {
        try literal(pattern, Values(input: fields, fields: fields), number: number, lineNumber: lineNumber)
    }

    /// `expandLiteral` over a job's stored `JobSpec.input`: `{}` is the whole record in --colsep mode too.
    public func expandLiteral(_ pattern: String, input: [UInt8], number: Int, lineNumber: Int) throws -> [UInt8] {
        try literal(pattern, values(input), number: number, lineNumber: lineNumber)
    }

    /// Whether `pattern` holds a per-job replacement string (with -I, its token only).
    public func usesReplacement(_ pattern: String) -> Bool {
        Piece.holdToken(Piece.parse(Array(pattern.utf8), replace: replace))
    }

    // MARK: - Expansion

    private func values(_ input: [UInt8]) -> Values {
        switch mode {
        case .words:
            let words = (try? JobLine.words(input, lineNumber: 0)) ?? nil
            return Values(input: words ?? [], fields: words ?? [])
        case .lines: return Values(input: [input], fields: [input])
        case .columns: return Values(input: [input], fields: columns(input))
        }
    }

    private func text(_ record: [UInt8], _ values: Values, number: Int, lineNumber: Int) throws -> [UInt8] {
        guard let template else {
            if command.isEmpty && mode != .words { return record }  // the record is itself the job's shell text
            return ShellQuote.jobText(command: command, words: values.fields, rawLine: record)
        }
        let space = [ShellByte.space]
        switch template {
        case .shellText(let pieces):
            var out: [UInt8] = []
            for piece in pieces {
                switch piece {
                case .literal(let bytes): out += bytes
                case .token(.slot): out += JobRecipe.slot
                case .token(let token):
                    let words = try value(token, values, number: number, lineNumber: lineNumber)
                    out += Array(words.map(ShellQuote.quote).joined(separator: space))
                }
            }
            return out
        case .elements(let elements):
            var parts: [[UInt8]] = []
            for pieces in elements {
                if pieces == [.token(.input(.whole))] {
                    // `{}` as a whole element: each word its own, as appended words always were.
                    parts += values.input.map(ShellQuote.quote)
                    continue
                }
                var word: [UInt8] = []
                for piece in pieces {
                    switch piece {
                    case .literal(let bytes): word += ShellQuote.quote(bytes)
                    case .token(.slot): word += JobRecipe.slot
                    case .token(let token):
                        // Inside a word the value is part of that one word: several words join with spaces.
                        let words = try value(token, values, number: number, lineNumber: lineNumber)
                        word += ShellQuote.quote(Array(words.joined(separator: space)))
                    }
                }
                parts.append(word.isEmpty ? ShellQuote.quote([]) : word)
            }
            return Array(parts.joined(separator: space))
        }
    }

    private func literal(_ pattern: String, _ values: Values, number: Int, lineNumber: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        for piece in Piece.parse(Array(pattern.utf8), replace: replace) {
            switch piece {
            case .literal(let bytes): out += bytes
            case .token(.slot):
                throw UsageError("\(pattern): {%} (the job's slot) is known only on the worker")
            case .token(.input(.whole)):
                guard values.input.count == 1 else { throw oneWord(written(.input(.whole)), values, lineNumber) }
                out += values.input[0]
            case .token(let token):
                out += try value(token, values, number: number, lineNumber: lineNumber).first ?? []
            }
        }
        return out
    }

    /// The words a replacement stands for (`{}` in word mode: all the line's; otherwise one).
    private func value(_ token: Replacement, _ values: Values, number: Int, lineNumber: Int) throws -> [[UInt8]] {
        switch token {
        case .input(.whole): return values.input
        case .input(let form):
            guard values.input.count == 1 else { throw oneWord(token.written, values, lineNumber) }
            return [form.apply(values.input[0])]
        case .field(let n, let form):
            return [n <= values.fields.count ? form.apply(values.fields[n - 1]) : []]
        case .number: return [Array(String(number).utf8)]
        case .slot: return [JobRecipe.slot]
        }
    }

    private func written(_ token: Replacement) -> String {
        replace.map { String(decoding: $0, as: UTF8.self) } ?? token.written
    }

    private func oneWord(_ token: String, _ values: Values, _ lineNumber: Int) -> JobLineError {
        JobLineError(line: lineNumber, message: "\(token) needs one word, the line has \(values.input.count)")
    }

    /// `{%}` in the shell text: the worker exports CLOUDTASK_SLOT to every job.
    private static let slot = Array(#""$CLOUDTASK_SLOT""#.utf8)

    // MARK: - Columns

    /// `line` cut at the separator's matches (empty matches ignored), each column literal. A line that is not
    /// UTF-8 is matched byte for byte (each byte one character), so it is cut all the same.
    private func columns(_ line: [UInt8]) -> [[UInt8]] {
        guard let separator else { return [line] }
        if let string = String(bytes: line, encoding: .utf8) {
            var columns: [[UInt8]] = []
            var start = string.startIndex
            for match in separator.matches(in: string, range: NSRange(string.startIndex..., in: string))
            where match.range.length > 0 {
                guard let range = Range(match.range, in: string) else { continue }
                columns.append(Array(string[start..<range.lowerBound].utf8))
                start = range.upperBound
            }
            columns.append(Array(string[start...].utf8))
            return columns
        }
        let latin = String(String.UnicodeScalarView(line.map { Unicode.Scalar($0) }))
        var columns: [[UInt8]] = []
        var start = 0
        for match in separator.matches(in: latin, range: NSRange(location: 0, length: line.count))
        where match.range.length > 0 {
            columns.append(Array(line[start..<match.range.location]))
            start = match.range.location + match.range.length
        }
        columns.append(Array(line[start...]))
        return columns
    }

    static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0, end = bytes.count
        while start < end && (bytes[start] == ShellByte.space || bytes[start] == ShellByte.tab) { start += 1 }
        while end > start && (bytes[end - 1] == ShellByte.space || bytes[end - 1] == ShellByte.tab) { end -= 1 }
        return Array(bytes[start..<end])
    }
}
