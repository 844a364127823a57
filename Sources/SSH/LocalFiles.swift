// The controller's side of a copy: paths as bytes (names need not be UTF-8), each system call wrapped once, its
// failure a one-line cause (`no such file`), and a get's file landing through a temp file beside it.
import Foundation

typealias PathBytes = [UInt8]
typealias FileStatus = Glibc.stat

/// A system call's failure, for a message after the file's name.
struct LocalError: Error {
    let errno: Int32
    var phrase: String { LocalError.phrase(errno) }

    static func phrase(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case EACCES, EPERM: return "permission denied"
        case ENOSPC: return "no space left on device"
        case EISDIR: return "is a folder"
        case ENOTDIR: return "not a folder"
        default: return String(cString: strerror(code)).lowercased()
        }
    }
}

enum LocalFiles {
    static func withCPath<R>(_ path: PathBytes, _ body: (UnsafePointer<CChar>) -> R) -> R {
        (path + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) } }
    }

    static func check(_ rc: Int32) throws(LocalError) { if rc != 0 { throw LocalError(errno: errno) } }

    /// stat following links, nil when nothing is there (errno says why).
    static func status(_ path: PathBytes) -> FileStatus? {
        var st = FileStatus()
        return withCPath(path) { stat($0, &st) } == 0 ? st : nil
    }

    static func open(_ path: PathBytes, _ flags: Int32, mode: mode_t = 0o600) throws(LocalError) -> Int32 {
        let fd = withCPath(path) { Foundation.open($0, flags | O_CLOEXEC, mode) }
        if fd < 0 { throw LocalError(errno: errno) }
        return fd
    }

    /// Reads what is there, up to `count`: 0 at the end.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws(LocalError) -> Int {
        while true {
            let n = Foundation.read(fd, buffer, count)
            if n >= 0 { return n }
            if errno != EINTR { throw LocalError(errno: errno) }
        }
    }

    /// Writes all `count` bytes.
    static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) throws(LocalError) {
        var done = 0
        while done < count {
            let n = Foundation.write(fd, buffer + done, count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { throw LocalError(errno: n < 0 ? errno : EIO) }
            done += n
        }
    }

    /// Makes `path` and its missing parents.
    static func makeFolders(_ path: PathBytes) throws(LocalError) {
        if path.isEmpty || status(path).map({ $0.st_mode & S_IFMT == S_IFDIR }) == true { return }
        let parent = dirname(path)
        if parent != path { try makeFolders(parent) }
        if withCPath(path, { Foundation.mkdir($0, 0o755) }) != 0 && errno != EEXIST { throw LocalError(errno: errno) }
    }

    /// The names in a folder, without `.` and `..`, sorted.
    static func entries(_ path: PathBytes) throws(LocalError) -> [PathBytes] {
        guard let dir = withCPath(path, { opendir($0) }) else { throw LocalError(errno: errno) }
        defer { closedir(dir) }
        var names: [PathBytes] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Sets a file's or folder's mode and modification time (atime too).
    static func setModeAndTime(_ path: PathBytes, mode: UInt32, mtime: Int) throws(LocalError) {
        try check(withCPath(path) { chmod($0, mode_t(mode & 0o7777)) })
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        try check(withCPath(path) { utimensat(AT_FDCWD, $0, &times, 0) })
    }

    /// Flushes a folder's entries (a rename into it) to disk.
    static func syncFolder(_ path: PathBytes) throws(LocalError) {
        let fd = try open(path.isEmpty ? [46] : path, O_RDONLY | O_DIRECTORY)
        defer { Foundation.close(fd) }
        try check(fsync(fd))
    }

    static func dirname(_ path: PathBytes) -> PathBytes {
        var trimmed = path
        while trimmed.count > 1 && trimmed.last == 47 { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: 47) else { return [46] }
        return slash == 0 ? [47] : Array(trimmed[..<slash])
    }

    static func basename(_ path: PathBytes) -> PathBytes {
        var trimmed = path
        while trimmed.count > 1 && trimmed.last == 47 { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: 47) else { return trimmed }
        return Array(trimmed[(slash + 1)...])
    }

    static func join(_ folder: PathBytes, _ name: PathBytes) -> PathBytes {
        folder.isEmpty ? name : folder.last == 47 ? folder + name : folder + [47] + name
    }

    /// Where a get writes before the rename: `.NAME.ct-partial` beside the target.
    static func partial(for path: PathBytes) -> PathBytes {
        let folder = dirname(path)
        let name = [46] + basename(path) + Array(".ct-partial".utf8)
        return path.contains(47) ? join(folder, name) : name
    }

    static func text(_ path: PathBytes) -> String { String(decoding: path, as: UTF8.self) }
}

/// A get's file being written: `.NAME.ct-partial` beside the target, synced and renamed into place by `land`,
/// removed by `discard` (a failure or a cancel leaves nothing behind).
final class LandingFile {
    let target: PathBytes
    let partial: PathBytes
    private(set) var fd: Int32

    init(_ target: PathBytes) throws(LocalError) {
        self.target = target
        partial = LocalFiles.partial(for: target)
        try LocalFiles.makeFolders(LocalFiles.dirname(target))
        fd = try LocalFiles.open(partial, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
    }

    deinit { discard() }

    func write(_ buffer: UnsafeRawPointer, _ count: Int) throws(LocalError) { try LocalFiles.write(fd, buffer, count) }

    /// Mode and time set, synced, renamed over the target, its folder synced.
    func land(mode: UInt32, mtime: Int) throws(LocalError) {
        try LocalFiles.check(fchmod(fd, mode_t(mode & 0o7777)))
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        try LocalFiles.check(futimens(fd, &times))
        try LocalFiles.check(fsync(fd))
        let rc = Foundation.close(fd)
        fd = -1
        try LocalFiles.check(rc)
        try LocalFiles.check(LocalFiles.withCPath(partial) { p in LocalFiles.withCPath(target) { rename(p, $0) } })
        try LocalFiles.syncFolder(LocalFiles.dirname(target))
    }

    /// Closes and removes the partial file, unless it landed.
    func discard() {
        guard fd >= 0 else { return }
        Foundation.close(fd)
        fd = -1
        _ = LocalFiles.withCPath(partial) { unlink($0) }
    }
}
