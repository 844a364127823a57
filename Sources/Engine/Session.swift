// A session folder on disk: conf, journal (append-only, fsynced), jobs (derived), log, workers/<n>.
import Foundation

/// An error about files, with the path and what we were doing.
public struct FileError: Error, CustomStringConvertible {
    public let message: String
    public init(_ doing: String, _ path: String, errno code: Int32 = errno) {
        message = "\(doing) \(path): \(String(cString: strerror(code)))"
    }
    public var description: String { message }
}

/// An append-only file written with plain write(2) calls.
final class AppendFile {
    let path: String
    private var fd: Int32
    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("cannot open", path) }
    }
    deinit { close() }
    func close() { if fd >= 0 { Foundation.close(fd); fd = -1 } }
    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
    func sync() { _ = fsync(fd) }
}

public final class Session {
    public let id: Int
    public let path: String
    let journal: AppendFile
    let log: AppendFile
    private var workerLogs: [Int: AppendFile] = [:]
    private var journalDirty = false

    /// Creates the next session under `root` (ids allocated by an atomic mkdir).
    public static func create(root: String, config: TaskConfig) throws -> Session {
        try ensureDirectory(root)
        var id = (try? FileManager.default.contentsOfDirectory(atPath: root))?.compactMap { Int($0) }.max() ?? 0
        while true {
            id += 1
            let path = root + "/" + String(id)
            if mkdir(path, 0o700) == 0 {
                let session = try Session(id: id, path: path)
                try session.writeAtomically("conf", Array(try encodeConfig(config)))
                return session
            }
            if errno != EEXIST { throw FileError("cannot create session", path) }
        }
    }

    init(id: Int, path: String) throws {
        self.id = id
        self.path = path
        try Session.ensureDirectory(path + "/workers")
        journal = try AppendFile(path + "/journal")
        log = try AppendFile(path + "/log")
    }

    static func ensureDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw UsageError("\(path): not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw UsageError("cannot create \(path): \(error.localizedDescription)")
        }
    }

    static func encodeConfig(_ config: TaskConfig) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(config)
    }

    // MARK: - Journal

    /// Appends one journal record; `syncJournal` makes it durable.
    func record(_ fields: [(String, JSONValue)]) {
        var line: [UInt8] = [UInt8(ascii: "{")]
        for (i, (key, value)) in fields.enumerated() {
            if i > 0 { line.append(UInt8(ascii: ",")) }
            JSONValue.string(key).encode(into: &line)
            line.append(UInt8(ascii: ":"))
            value.encode(into: &line)
        }
        line += [UInt8(ascii: "}"), 10]
        journal.write(line)
        journalDirty = true
    }

    /// fsyncs the journal if anything was appended since the last call.
    func syncJournal() {
        guard journalDirty else { return }
        journal.sync()
        journalDirty = false
    }

    // MARK: - Logs

    func appendLog(_ text: String) { log.write(Array(text.utf8)) }

    func workerLog(_ number: Int) -> AppendFile {
        if let file = workerLogs[number] { return file }
        let file = (try? AppendFile(path + "/workers/" + String(number))) ?? log
        workerLogs[number] = file
        return file
    }

    /// Replaces `name` in the session folder: temp file, fsync, rename.
    func writeAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let target = path + "/" + name
        let temp = target + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("cannot write", temp) }
        let file = FileHandleWriter(fd: fd)
        file.write(bytes)
        fsync(fd)
        Foundation.close(fd)
        guard rename(temp, target) == 0 else { throw FileError("cannot rename", temp) }
    }
}

/// Minimal write loop over a raw descriptor.
struct FileHandleWriter {
    let fd: Int32
    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

/// Just enough JSON to write journal lines fast and byte-exact.
enum JSONValue {
    case string(String)
    case bytes([UInt8])     // job text: a JSON string when UTF-8, else {"b64": ...} is written by the caller
    case int(Int)
    case double(Double)
    case bool(Bool)

    func encode(into out: inout [UInt8]) {
        switch self {
        case .string(let s): JSONValue.bytes(Array(s.utf8)).encode(into: &out)
        case .bytes(let b):
            out.append(UInt8(ascii: "\""))
            for byte in b {
                switch byte {
                case UInt8(ascii: "\""): out += [92, 34]
                case 92: out += [92, 92]
                case 10: out += [92, UInt8(ascii: "n")]
                case 13: out += [92, UInt8(ascii: "r")]
                case 9: out += [92, UInt8(ascii: "t")]
                case 0..<32, 127:
                    out += Array(String(format: "\\u%04x", byte).utf8)
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        case .int(let n): out += Array(String(n).utf8)
        case .double(let d): out += Array(String(format: "%.3f", d).utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        }
    }
}
