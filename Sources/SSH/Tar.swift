// The tar stream of a recursive copy without SFTP: written from a local tree for the worker's `tar -x`, and read
// from the worker's `tar -c` into a local tree, both a chunk at a time (a file's bytes never all in memory).
// ustar headers with GNU long names ('L'), which GNU tar and busybox tar read and write; pax path/mtime read too.
import Foundation

/// A local tree as a tar stream: `fill` gives its next bytes, 0 at the end.
final class TarWriter {
    private struct Entry { let name: PathBytes; let path: PathBytes; let st: FileStatus }
    private var entries: [Entry] = []
    private var pending: [UInt8] = []
    private var fd: Int32 = -1
    private var left: Int64 = 0
    private var padding = 0
    private var finished = false

    /// The tree under `root` (names relative to it, `./` for itself), walked now: only names are kept.
    init(root: PathBytes) throws(LocalError) {
        try walk(root, name: [46, 47])
    }

    deinit { if fd >= 0 { close(fd) } }

    private func walk(_ path: PathBytes, name: PathBytes) throws(LocalError) {
        guard let st = LocalFiles.status(path) else { throw LocalError(errno: errno) }
        entries.append(Entry(name: name, path: path, st: st))
        guard st.st_mode & S_IFMT == S_IFDIR else { return }
        for child in try LocalFiles.entries(path) {
            let childName = name + child
            if let cst = LocalFiles.status(LocalFiles.join(path, child)), cst.st_mode & S_IFMT == S_IFDIR {
                try walk(LocalFiles.join(path, child), name: childName + [47])
            } else {
                try walk(LocalFiles.join(path, child), name: childName)
            }
        }
    }

    /// Copies the stream's next bytes into `buffer`.
    func fill(_ buffer: UnsafeMutableRawPointer, _ capacity: Int) throws(LocalError) -> Int {
        var filled = 0
        while filled < capacity {
            if !pending.isEmpty {
                let n = min(pending.count, capacity - filled)
                pending.withUnsafeBytes { (buffer + filled).copyMemory(from: $0.baseAddress!, byteCount: n) }
                pending.removeFirst(n)
                filled += n
            } else if left > 0 {
                let n = try LocalFiles.read(fd, buffer + filled, Int(min(left, Int64(capacity - filled))))
                if n == 0 { throw LocalError(errno: EIO) }   // the file shrank under us
                left -= Int64(n)
                filled += n
                if left == 0 { close(fd); fd = -1; pending = [UInt8](repeating: 0, count: padding) }
            } else if let entry = entries.first {
                entries.removeFirst()
                try start(entry)
            } else if !finished {
                finished = true
                pending = [UInt8](repeating: 0, count: 1024)
            } else {
                break
            }
        }
        return filled
    }

    private func start(_ entry: Entry) throws(LocalError) {
        let kind = entry.st.st_mode & S_IFMT
        guard kind == S_IFDIR || kind == S_IFREG else { return }   // sockets, fifos: skipped, as tar warns
        let size = kind == S_IFREG ? Int64(entry.st.st_size) : 0
        if kind == S_IFREG { fd = try LocalFiles.open(entry.path, O_RDONLY) }
        if entry.name.count > 100 {
            let long = entry.name + [0]
            pending += Self.header(name: Array("././@LongLink".utf8), mode: 0, size: Int64(long.count), mtime: 0, type: 76)
            pending += long + [UInt8](repeating: 0, count: (512 - long.count % 512) % 512)
        }
        pending += Self.header(name: Array(entry.name.prefix(100)), mode: UInt32(entry.st.st_mode) & 0o7777, size: size,
                               mtime: entry.st.st_mtim.tv_sec, type: kind == S_IFDIR ? 53 : 48)
        left = size
        padding = Int((512 - size % 512) % 512)
        if size == 0 && fd >= 0 { close(fd); fd = -1 }
    }

    static func header(name: PathBytes, mode: UInt32, size: Int64, mtime: Int, type: UInt8) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { for (i, b) in bytes.enumerated() { h[offset + i] = b } }
        func octal(_ value: Int64, _ width: Int) -> [UInt8] {
            Array(String(value, radix: 8).leftPadded(to: width - 1).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(Int64(mode), 8), at: 100)
        put(octal(0, 8), at: 108)
        put(octal(0, 8), at: 116)
        put(octal(size, 12), at: 124)
        put(octal(Int64(max(0, mtime)), 12), at: 136)
        h[156] = type
        put(Array("ustar  ".utf8) + [0], at: 257)
        put([UInt8](repeating: 32, count: 8), at: 148)
        let sum = h.reduce(0) { $0 + Int64($1) }
        put(Array(String(sum, radix: 8).leftPadded(to: 6).utf8) + [0, 32], at: 148)
        return h
    }
}

/// A tar stream from the worker landed under `root`: each file through a `.NAME.ct-partial` (synced, renamed),
/// folders' modes and times set at the end. Names leaving the root (`..`, absolute) are refused.
final class TarReader {
    private let root: PathBytes
    private var block: [UInt8] = []
    private enum State { case header, longName(Int64, [UInt8]), pax(Int64, [UInt8]), file(LandingFile?, Int64, UInt32, Int), skip(Int64), end }
    private var state = State.header
    private var padding = 0
    /// The padding after the data section under way.
    private var dataPadding = 0
    private var longName: PathBytes?
    private var paxName: PathBytes?
    private var paxTime: Int?
    private var folders: [(PathBytes, UInt32, Int)] = []
    private var zeros = 0
    private(set) var ended = false

    init(root: PathBytes) { self.root = root }

    deinit { abandon() }

    /// Partial file removed.
    func abandon() { if case .file(let landing?, _, _, _) = state { landing.discard() }; state = .end }

    /// Folders' modes and times, once every file is in.
    func finish() throws(LocalError) {
        for (path, mode, mtime) in folders.reversed() { try LocalFiles.setModeAndTime(path, mode: mode, mtime: mtime) }
        folders = []
    }

    /// Takes the stream's next bytes; throws a message for a bad stream or a local failure.
    func feed(_ bytes: UnsafeRawBufferPointer) throws(TarFailure) {
        var rest = bytes[...]
        while !rest.isEmpty {
            if padding > 0 {
                let n = min(padding, rest.count); padding -= n; rest = rest.dropFirst(n); continue
            }
            switch state {
            case .end: return
            case .header:
                let n = min(512 - block.count, rest.count)
                block += rest.prefix(n); rest = rest.dropFirst(n)
                if block.count == 512 { let h = block; block = []; try header(h) }
            case .longName(let size, let sofar), .pax(let size, let sofar):
                let n = Int(min(size - Int64(sofar.count), Int64(rest.count)))
                let got = sofar + rest.prefix(n); rest = rest.dropFirst(n)
                let isLong: Bool
                if case .longName = state { isLong = true } else { isLong = false }
                if Int64(got.count) < size { state = isLong ? .longName(size, got) : .pax(size, got); continue }
                padding = Int((512 - size % 512) % 512)
                if isLong { longName = Array(got.prefix { $0 != 0 }) } else { readPax(got) }
                state = .header
            case .file(let landing, let left, let mode, let mtime):
                let n = Int(min(left, Int64(rest.count)))
                if let landing {
                    do { try landing.write(UnsafeRawBufferPointer(rebasing: rest.prefix(n)).baseAddress!, n) }
                    catch { throw TarFailure(message: "\(LocalFiles.text(landing.target)): \(error.phrase)") }
                }
                rest = rest.dropFirst(n)
                let remaining = left - Int64(n)
                if remaining > 0 { state = .file(landing, remaining, mode, mtime); continue }
                padding = dataPadding
                if let landing {
                    do { try landing.land(mode: mode, mtime: mtime) } catch {
                        throw TarFailure(message: "\(LocalFiles.text(landing.target)): \(error.phrase)")
                    }
                }
                state = .header
            case .skip(let left):
                let n = Int(min(left, Int64(rest.count)))
                rest = rest.dropFirst(n)
                state = left - Int64(n) > 0 ? .skip(left - Int64(n)) : .header
                if case .header = state { padding = dataPadding }
            }
        }
    }

    private func header(_ h: [UInt8]) throws(TarFailure) {
        if h.allSatisfy({ $0 == 0 }) {
            zeros += 1
            if zeros == 2 { state = .end; ended = true }
            return
        }
        zeros = 0
        let size = Self.number(h[124..<136])
        let mode = UInt32(truncatingIfNeeded: Self.number(h[100..<108])) & 0o7777
        let type = h[156]
        let ustar = Array(h[257..<263]) == Array("ustar".utf8) + [0]
        var name = Array(h[0..<100].prefix { $0 != 0 })
        if ustar { let prefix = Array(h[345..<500].prefix { $0 != 0 }); if !prefix.isEmpty { name = prefix + [47] + name } }
        padding = 0
        switch type {
        case 76: state = .longName(size, []); return           // 'L'
        case 120: state = .pax(size, []); return               // 'x'
        case 103, 75: state = .skip(size); dataPadding = Int((512 - size % 512) % 512); return  // 'g', 'K'
        default: break
        }
        let mtime = paxTime ?? Int(Self.number(h[136..<148]))
        name = paxName ?? longName ?? name
        (longName, paxName, paxTime) = (nil, nil, nil)
        guard let path = safePath(name) else { throw TarFailure(message: "\(LocalFiles.text(name)): refused (outside the folder)") }
        dataPadding = Int((512 - size % 512) % 512)
        do {
            switch type {
            case 53:                                           // '5'
                try LocalFiles.makeFolders(path)
                folders.append((path, mode, mtime))
                state = .skip(size)
            case 48, 0, 55:                                    // '0', NUL, '7'
                state = .file(try LandingFile(path), size, mode, mtime)
            default:                                           // links and devices: not copied
                state = .skip(size)
            }
        } catch { throw TarFailure(message: "\(LocalFiles.text(path)): \(error.phrase)") }
        if case .skip(0) = state { state = .header }
        if case .file(let landing?, 0, _, _) = state {
            do { try landing.land(mode: mode, mtime: mtime) } catch { throw TarFailure(message: "\(LocalFiles.text(path)): \(error.phrase)") }
            state = .header
        }
    }

    /// `name` under the root, without `./`; nil when it would leave the root.
    private func safePath(_ name: PathBytes) -> PathBytes? {
        let parts = name.split(separator: 47).filter { $0 != [46] }
        if parts.contains(where: { $0 == [46, 46] }) { return nil }
        return parts.reduce(root) { LocalFiles.join($0, Array($1)) }
    }

    private func readPax(_ records: [UInt8]) {
        var rest = records[...]
        while let space = rest.firstIndex(of: 32), let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)),
              length > 0, rest.count >= length {
            let record = rest.prefix(length).dropFirst(space - rest.startIndex + 1).dropLast()
            rest = rest.dropFirst(length)
            guard let eq = record.firstIndex(of: 61) else { continue }
            let key = String(decoding: record[record.startIndex..<eq], as: UTF8.self)
            let value = Array(record[(eq + 1)...])
            if key == "path" { paxName = value }
            if key == "mtime" { paxTime = Int(Double(String(decoding: value, as: UTF8.self)) ?? 0) }
        }
    }

    /// An octal field, or GNU's base-256 for big numbers.
    static func number(_ field: ArraySlice<UInt8>) -> Int64 {
        if let first = field.first, first & 0x80 != 0 {
            return field.dropFirst().reduce(Int64(first & 0x7f)) { $0 << 8 | Int64($1) }
        }
        let digits = field.drop { $0 == 32 }.prefix { $0 >= 48 && $0 <= 55 }
        return digits.reduce(0) { $0 * 8 + Int64($1 - 48) }
    }
}

struct TarFailure: Error { let message: String }

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
