// Just enough JSON for the session's line files (journal, instances): values written byte-exact and fast,
// and one flat object per line read back without Foundation's JSONSerialization (millions of journal lines).
import Foundation

/// A JSON value as session records hold them.
enum JSONValue: Equatable {
    case string(String)
    /// Job text: a JSON string of these bytes (valid UTF-8 is the caller's business).
    case bytes([UInt8])
    case int(Int)
    case double(Double)
    case bool(Bool)
    /// Read only: null, an array or an object (no record holds one).
    case other

    /// Appends the value's JSON: strings with `\" \\ \n \r \t` and `\u00XX` escapes, doubles with 3 decimals.
    func encode(into out: inout [UInt8]) {
        switch self {
        case .string(let s): JSONValue.encodeString(s.utf8, into: &out)
        case .bytes(let b): JSONValue.encodeString(b, into: &out)
        case .int(let n): out += Array(String(n).utf8)
        case .double(let d): out += Array(String(format: "%.3f", d).utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .other: out += Array("null".utf8)
        }
    }

    static func encodeString<Bytes: Sequence>(_ bytes: Bytes, into out: inout [UInt8]) where Bytes.Element == UInt8 {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out += [92, 34]
            case 92: out += [92, 92]
            case 10: out += [92, UInt8(ascii: "n")]
            case 13: out += [92, UInt8(ascii: "r")]
            case 9: out += [92, UInt8(ascii: "t")]
            case 0..<32, 127: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // Read back as JSONSerialization's `as?` casts did: numbers convert when exact, a bool is the number 1 or 0.

    var int: Int? {
        switch self {
        case .int(let n): return n
        case .double(let d): return d == d.rounded() && abs(d) < 9e18 ? Int(d) : nil
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    var double: Double? {
        switch self {
        case .int(let n): return Double(n)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    var bool: Bool? {
        switch self {
        case .bool(let b): return b
        case .int(let n): return n != 0
        default: return nil
        }
    }
    var string: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }
}

/// One flat JSON object read from a line: its fields in order (strings decoded, nested values skipped).
struct JSONLine {
    private(set) var fields: [(key: String, value: JSONValue)] = []

    /// The value of `key` (the last one when repeated, as JSONSerialization keeps it).
    subscript(key: String) -> JSONValue? { fields.last { $0.key == key }?.value }

    /// Parses `line`; nil when it is not one JSON object (torn, invalid UTF-8, trailing bytes...).
    init?<Line: Collection>(_ line: Line) where Line.Element == UInt8 {
        let parsed = line.withContiguousStorageIfAvailable { JSONLine.parse($0) }
            ?? Array(line).withUnsafeBufferPointer { JSONLine.parse($0) }
        guard let parsed else { return nil }
        fields = parsed
    }

    private static func parse(_ b: UnsafeBufferPointer<UInt8>) -> [(key: String, value: JSONValue)]? {
        var reader = Reader(b: b)
        reader.skipSpace()
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        var fields: [(key: String, value: JSONValue)] = []
        reader.skipSpace()
        if !reader.take(UInt8(ascii: "}")) {
            repeat {
                reader.skipSpace()
                guard let key = reader.string() else { return nil }
                reader.skipSpace()
                guard reader.take(UInt8(ascii: ":")) else { return nil }
                reader.skipSpace()
                guard let value = reader.value() else { return nil }
                fields.append((key, value))
                reader.skipSpace()
            } while reader.take(UInt8(ascii: ","))
            guard reader.take(UInt8(ascii: "}")) else { return nil }
        }
        reader.skipSpace()
        return reader.p == b.count ? fields : nil
    }

    private struct Reader {
        let b: UnsafeBufferPointer<UInt8>
        var p = 0

        mutating func skipSpace() {
            while p < b.count, b[p] == 32 || b[p] == 9 || b[p] == 10 || b[p] == 13 { p += 1 }
        }
        mutating func take(_ byte: UInt8) -> Bool {
            guard p < b.count, b[p] == byte else { return false }
            p += 1
            return true
        }
        mutating func literal(_ word: String) -> Bool {
            let bytes = Array(word.utf8)
            guard p + bytes.count <= b.count else { return false }
            for (k, byte) in bytes.enumerated() where b[p + k] != byte { return false }
            p += bytes.count
            return true
        }

        /// A value; arrays, objects and null become `.other`.
        mutating func value() -> JSONValue? {
            guard p < b.count else { return nil }
            switch b[p] {
            case UInt8(ascii: "\""): return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .other : nil
            case UInt8(ascii: "["), UInt8(ascii: "{"): return skipNested() ? .other : nil
            default: return number()
            }
        }

        /// A string: escapes decoded, raw control characters and invalid UTF-8 refused.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = p
            var plain = true
            while p < b.count, b[p] != UInt8(ascii: "\"") {
                if b[p] < 32 { return nil }
                if b[p] == 92 || b[p] >= 128 { plain = false }
                p += b[p] == 92 ? 2 : 1
            }
            guard p < b.count else { return nil }
            let end = p
            p += 1
            if plain { return String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(end - start)
            var i = start
            while i < end {
                let c = b[i]
                guard c == 92 else { bytes.append(c); i += 1; continue }
                guard i + 1 < end else { return nil }
                i += 2
                switch b[i - 1] {
                case UInt8(ascii: "\""): bytes.append(34)
                case 92: bytes.append(92)
                case UInt8(ascii: "/"): bytes.append(47)
                case UInt8(ascii: "b"): bytes.append(8)
                case UInt8(ascii: "f"): bytes.append(12)
                case UInt8(ascii: "n"): bytes.append(10)
                case UInt8(ascii: "r"): bytes.append(13)
                case UInt8(ascii: "t"): bytes.append(9)
                case UInt8(ascii: "u"):
                    guard var unit = hex(at: i, end: end) else { return nil }
                    i += 4
                    if (0xD800..<0xDC00).contains(unit) {
                        guard i + 6 <= end, b[i] == 92, b[i + 1] == UInt8(ascii: "u"),
                              let low = hex(at: i + 2, end: end),
                              (0xDC00..<0xE000).contains(low) else { return nil }
                        unit = 0x10000 + (unit - 0xD800) << 10 + (low - 0xDC00)
                        i += 6
                    }
                    guard let scalar = Unicode.Scalar(unit) else { return nil }
                    bytes += Array(String(Character(scalar)).utf8)
                default: return nil
                }
            }
            return String(validating: bytes, as: UTF8.self)
        }

        func hex(at i: Int, end: Int) -> UInt32? {
            guard i + 4 <= end else { return nil }
            var n: UInt32 = 0
            for k in 0..<4 {
                let c = b[i + k]
                switch c {
                case 48...57: n = n << 4 | UInt32(c - 48)
                case 97...102: n = n << 4 | UInt32(c - 87)
                case 65...70: n = n << 4 | UInt32(c - 55)
                default: return nil
                }
            }
            return n
        }

        /// A JSON number: an Int when it has no fraction or exponent and fits, else a Double.
        mutating func number() -> JSONValue? {
            let start = p
            var integral = true
            if p < b.count, b[p] == UInt8(ascii: "-") { p += 1 }
            let digits = p
            while p < b.count, b[p] >= 48 && b[p] <= 57 { p += 1 }
            guard p > digits, b[digits] != 48 || p == digits + 1 else { return nil }
            if p < b.count, b[p] == UInt8(ascii: ".") {
                integral = false
                p += 1
                let fraction = p
                while p < b.count, b[p] >= 48 && b[p] <= 57 { p += 1 }
                guard p > fraction else { return nil }
            }
            if p < b.count, b[p] == UInt8(ascii: "e") || b[p] == UInt8(ascii: "E") {
                integral = false
                p += 1
                if p < b.count, b[p] == UInt8(ascii: "+") || b[p] == UInt8(ascii: "-") { p += 1 }
                let exponent = p
                while p < b.count, b[p] >= 48 && b[p] <= 57 { p += 1 }
                guard p > exponent else { return nil }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<p]), as: UTF8.self)
            if integral, let n = Int(text) { return .int(n) }
            return Double(text).map(JSONValue.double)
        }

        /// Skips an array or object (no record holds one; a hand-edited line still reads).
        mutating func skipNested() -> Bool {
            var depth = 0
            repeat {
                guard p < b.count else { return false }
                switch b[p] {
                case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1; p += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1; p += 1
                case UInt8(ascii: "\""): guard string() != nil else { return false }
                default: p += 1
                }
            } while depth > 0
            return true
        }
    }
}
