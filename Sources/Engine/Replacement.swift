// GNU parallel's replacement strings: finding `{}`, `{.}`, `{/}`, `{//}`, `{/.}`, `{#}`, `{%}` and `{N}` (with the
// path forms) in a command element, and the path forms themselves.
import Foundation

/// What a replacement string stands for.
enum Replacement: Equatable, Sendable {
    /// `{}` (or -I's token) and its path forms: the job's input.
    case input(PathForm)
    /// `{N}` and its path forms: the Nth word or column (1-based).
    case field(Int, PathForm)
    /// `{#}`: the job number.
    case number
    /// `{%}`: the slot on the worker, known only there (`$CLOUDTASK_SLOT`).
    case slot

    /// The token as written by default, for messages: `{.}`, `{2/}`.
    var written: String {
        switch self {
        case .input(let form): "{" + form.suffix + "}"
        case .field(let n, let form): "{\(n)" + form.suffix + "}"
        case .number: "{#}"
        case .slot: "{%}"
        }
    }
}

/// GNU parallel's path forms of a word: whole, `.` without extension, `/` basename, `//` dirname, `/.` both.
enum PathForm: String, CaseIterable, Sendable {
    case whole = "", noExtension = ".", basename = "/", dirname = "//", basenameNoExtension = "/."

    var suffix: String { rawValue }

    /// The form applied to `word`, as GNU parallel defines it: `.` drops the last `.` after the last `/` and what
    /// follows (`s:\.[^/.]*$::`); `/` drops everything up to the last `/` (`s:.*/::`); `//` is dirname(1) (`.` for
    /// a word without `/`).
    func apply(_ word: [UInt8]) -> [UInt8] {
        switch self {
        case .whole: word
        case .noExtension: PathForm.withoutExtension(word)
        case .basename: PathForm.basename(word)
        case .dirname: PathForm.dirname(word)
        case .basenameNoExtension: PathForm.withoutExtension(PathForm.basename(word))
        }
    }

    private static let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")

    static func withoutExtension(_ word: [UInt8]) -> [UInt8] {
        guard let dot = word.lastIndex(of: dot) else { return word }
        if let slash = word.lastIndex(of: slash), slash > dot { return word }
        return Array(word[..<dot])
    }

    static func basename(_ word: [UInt8]) -> [UInt8] {
        guard let slash = word.lastIndex(of: slash) else { return word }
        return Array(word[(slash + 1)...])
    }

    /// dirname(1): trailing slashes ignored; `.` without a slash; `/` for the root.
    static func dirname(_ word: [UInt8]) -> [UInt8] {
        var end = word.count
        while end > 0 && word[end - 1] == slash { end -= 1 }
        if end == 0 { return word.isEmpty ? [dot] : [slash] }
        guard let last = word[..<end].lastIndex(of: slash) else { return [dot] }
        end = last
        while end > 0 && word[end - 1] == slash { end -= 1 }
        return end == 0 ? [slash] : Array(word[..<end])
    }
}

/// A command element (or a pattern) cut into literal bytes and replacement strings.
enum Piece: Equatable, Sendable {
    case literal([UInt8])
    case token(Replacement)

    /// Whether `pieces` hold a replacement string.
    static func holdToken(_ pieces: [Piece]) -> Bool {
        pieces.contains { if case .token = $0 { true } else { false } }
    }

    /// Cuts `text` at its replacement strings: with `replace` (-I), only that token (as `{}`); else GNU parallel's
    /// forms. Braces that form no known token (`{a,b}`, `${HOME}`, `{0}`) stay literal.
    static func parse(_ text: [UInt8], replace: [UInt8]?) -> [Piece] {
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        var i = 0
        func flush() { if !literal.isEmpty { pieces.append(.literal(literal)); literal = [] } }
        while i < text.count {
            if let replace {
                if text[i...].starts(with: replace) {
                    flush(); pieces.append(.token(.input(.whole))); i += replace.count
                    continue
                }
            } else if text[i] == UInt8(ascii: "{"), let close = text[i...].prefix(24).firstIndex(of: UInt8(ascii: "}")),
                      let token = token(text[(i + 1)..<close]) {
                flush(); pieces.append(.token(token)); i = close + 1
                continue
            }
            literal.append(text[i])
            i += 1
        }
        flush()
        return pieces
    }

    /// The replacement between braces, or nil when these bytes are no token.
    private static func token(_ inner: ArraySlice<UInt8>) -> Replacement? {
        if inner == [UInt8(ascii: "#")] { return .number }
        if inner == [UInt8(ascii: "%")] { return .slot }
        let digits = inner.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard let form = PathForm(rawValue: String(decoding: inner.dropFirst(digits.count), as: UTF8.self)) else {
            return nil
        }
        if digits.isEmpty { return .input(form) }
        guard digits.first != UInt8(ascii: "0"), digits.count <= 6, let n = Int(String(decoding: digits, as: UTF8.self)) else {
            return nil
        }
        return .field(n, form)
    }
}
