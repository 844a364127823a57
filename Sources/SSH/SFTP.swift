// libssh2's SFTP client, non-blocking: each call answers `.wait` on EAGAIN and must then be made again with the
// same arguments (libssh2 keeps the call's state in the SFTP session), so one session runs one call at a time.
import CLibSSH2
import Foundation

/// What an SFTP call came to.
enum SFTPOutcome<T> {
    case ok(T)
    /// EAGAIN: call again, with the same arguments, when the socket is ready.
    case wait
    case failed(SFTPError)
}

/// A failed SFTP call: libssh2's code and, for the server's refusals, the SFTP status (SSH_FX_*).
struct SFTPError: Error, CustomStringConvertible {
    let code: Int32
    let status: UInt
    let message: String
    let doing: String

    /// The server answered with a status: the file's problem, not the connection's.
    var fromServer: Bool { code == LIBSSH2_ERROR_SFTP_PROTOCOL && status != 0 }
    var connectionLost: Bool { SSHError.isConnectionLost(code) || code == LIBSSH2_ERROR_CHANNEL_CLOSED
        || code == LIBSSH2_ERROR_CHANNEL_EOF_SENT }
    var missing: Bool { fromServer && (status == LIBSSH2_FX_NO_SUCH_FILE || status == LIBSSH2_FX_NO_SUCH_PATH) }

    /// The cause in a few words, as a message after the file's name says it (`no such file`).
    var phrase: String {
        guard fromServer else { return "\(doing): \(message) (libssh2 error \(code))" }
        switch Int32(status) {
        case Int32(LIBSSH2_FX_NO_SUCH_FILE), Int32(LIBSSH2_FX_NO_SUCH_PATH): return "no such file"
        case Int32(LIBSSH2_FX_PERMISSION_DENIED): return "permission denied"
        case Int32(LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM): return "no space left on device"
        case Int32(LIBSSH2_FX_QUOTA_EXCEEDED): return "disk quota exceeded"
        case Int32(LIBSSH2_FX_WRITE_PROTECT): return "read-only file system"
        case Int32(LIBSSH2_FX_FILE_ALREADY_EXISTS): return "file exists"
        case Int32(LIBSSH2_FX_NOT_A_DIRECTORY): return "not a folder"
        case Int32(LIBSSH2_FX_DIR_NOT_EMPTY): return "folder not empty"
        case Int32(LIBSSH2_FX_OP_UNSUPPORTED): return "not supported by the SFTP server (\(doing))"
        case Int32(LIBSSH2_FX_FAILURE): return "\(doing) failed on the worker"
        default: return "\(doing): SFTP status \(status)"
        }
    }

    var description: String { phrase }
}

/// A file's attributes as SFTP v3 gives them.
struct SFTPAttributes {
    var raw = LIBSSH2_SFTP_ATTRIBUTES()
    var size: Int64 { Int64(raw.filesize) }
    var permissions: UInt32 { UInt32(raw.permissions) }
    var mode: UInt32 { permissions & 0o7777 }
    var mtime: Int { Int(raw.mtime) }
    var type: UInt32 { permissions & UInt32(LIBSSH2_SFTP_S_IFMT) }
    var isFolder: Bool { type == UInt32(LIBSSH2_SFTP_S_IFDIR) }
    var isLink: Bool { type == UInt32(LIBSSH2_SFTP_S_IFLNK) }
    var isFile: Bool { type == UInt32(LIBSSH2_SFTP_S_IFREG) }

    /// Attributes that set a mode and times (and nothing else) with setstat.
    static func setting(mode: UInt32, mtime: Int) -> SFTPAttributes {
        var attributes = SFTPAttributes()
        attributes.raw.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS | LIBSSH2_SFTP_ATTR_ACMODTIME)
        attributes.raw.permissions = UInt(mode & 0o7777)
        attributes.raw.atime = UInt(max(0, mtime))
        attributes.raw.mtime = UInt(max(0, mtime))
        return attributes
    }
}

/// One SFTP session (its own channel on a connection). Freed with the connection's session: libssh2 frees the
/// struct when it frees the channel, so `invalidate` must be called before the session goes.
final class SFTPSession {
    private(set) var raw: OpaquePointer?
    private let session: OpaquePointer

    private init(raw: OpaquePointer, session: OpaquePointer) { self.raw = raw; self.session = session }

    /// Starts the subsystem; `.wait` until the server's version arrives.
    static func start(_ session: OpaquePointer) -> SFTPOutcome<SFTPSession> {
        if let raw = libssh2_sftp_init(session) { return .ok(SFTPSession(raw: raw, session: session)) }
        let rc = libssh2_session_last_errno(session)
        if rc == LIBSSH2_ERROR_EAGAIN { return .wait }
        return .failed(SFTPError(code: rc, status: 0, message: lastError(session), doing: "start SFTP"))
    }

    /// The session went with its connection: nothing may touch the struct again.
    func invalidate() { raw = nil }

    /// Ends the subsystem; true once done (or when there is nothing to end).
    func shutdown() -> Bool {
        guard let raw else { return true }
        if libssh2_sftp_shutdown(raw) == LIBSSH2_ERROR_EAGAIN { return false }
        self.raw = nil
        return true
    }

    // MARK: - Calls by path

    func stat(_ path: [UInt8], follow: Bool = true) -> SFTPOutcome<SFTPAttributes> {
        var attributes = SFTPAttributes()
        let rc = withPath(path) { libssh2_sftp_stat_ex(raw, $0, $1, follow ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT, &attributes.raw) }
        return outcome(rc, "stat") { attributes }
    }

    func setStat(_ path: [UInt8], _ attributes: SFTPAttributes) -> SFTPOutcome<Void> {
        var copy = attributes
        let rc = withPath(path) { libssh2_sftp_stat_ex(raw, $0, $1, LIBSSH2_SFTP_SETSTAT, &copy.raw) }
        return outcome(rc, "setstat") { () }
    }

    func mkdir(_ path: [UInt8], mode: UInt32 = 0o755) -> SFTPOutcome<Void> {
        let rc = withPath(path) { libssh2_sftp_mkdir_ex(raw, $0, $1, Int(mode)) }
        return outcome(rc, "mkdir") { () }
    }

    func rmdir(_ path: [UInt8]) -> SFTPOutcome<Void> {
        outcome(withPath(path) { libssh2_sftp_rmdir_ex(raw, $0, $1) }, "rmdir") { () }
    }

    func unlink(_ path: [UInt8]) -> SFTPOutcome<Void> {
        outcome(withPath(path) { libssh2_sftp_unlink_ex(raw, $0, $1) }, "unlink") { () }
    }

    /// Free bytes for an unprivileged user on the file system holding `path` (OpenSSH's statvfs@openssh.com).
    func freeBytes(_ path: [UInt8]) -> SFTPOutcome<Int64> {
        var st = LIBSSH2_SFTP_STATVFS()
        let rc = withPath(path) { libssh2_sftp_statvfs(raw, $0, Int($1), &st) }
        return outcome(rc, "statvfs") { Int64(st.f_bavail &* st.f_frsize) }
    }

    /// Opens a file (`flags`: LIBSSH2_FXF_*) or, with `folder`, a folder to read.
    func open(_ path: [UInt8], flags: Int32 = LIBSSH2_FXF_READ, mode: UInt32 = 0o600,
              folder: Bool = false) -> SFTPOutcome<SFTPHandle> {
        let handle = withPath(path) {
            libssh2_sftp_open_ex(raw, $0, $1, UInt(flags), Int(mode), folder ? LIBSSH2_SFTP_OPENDIR : LIBSSH2_SFTP_OPENFILE)
        }
        if let handle { return .ok(SFTPHandle(handle)) }
        return outcome(libssh2_session_last_errno(session), "open") { fatalError("unreachable") }
    }

    // MARK: - Helpers

    private func withPath<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>, UInt32) -> R) -> R {
        precondition(raw != nil, "SFTP session used after it closed")
        // A NUL after the bytes: libssh2 takes the length, but an empty path still needs a valid pointer.
        return (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!, UInt32(path.count)) }
        }
    }

    /// `rc` as an outcome: `value()` on 0.
    func outcome<T>(_ rc: Int32, _ doing: String, _ value: () -> T) -> SFTPOutcome<T> {
        if rc == 0 { return .ok(value()) }
        return failure(rc, doing)
    }

    func failure<T>(_ rc: Int32, _ doing: String) -> SFTPOutcome<T> {
        if rc == LIBSSH2_ERROR_EAGAIN { return .wait }
        let status = rc == LIBSSH2_ERROR_SFTP_PROTOCOL && raw != nil ? libssh2_sftp_last_error(raw) : 0
        return .failed(SFTPError(code: rc, status: status, message: Self.lastError(session), doing: doing))
    }

    static func lastError(_ session: OpaquePointer) -> String {
        var text: UnsafeMutablePointer<CChar>? = nil
        var length: Int32 = 0
        libssh2_session_last_error(session, &text, &length, 0)
        return text.map { String(cString: $0) } ?? "unknown error"
    }
}

/// An open SFTP file or folder. Closed by `close` (non-blocking); one dropped while open is released with its
/// SFTP session.
final class SFTPHandle {
    private(set) var raw: OpaquePointer?

    init(_ raw: OpaquePointer) { self.raw = raw }

    /// Reads up to `count` bytes into `buffer`: 0 at the end of the file.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, _ sftp: SFTPSession) -> SFTPOutcome<Int> {
        let n = libssh2_sftp_read(raw, buffer.assumingMemoryBound(to: CChar.self), count)
        return n >= 0 ? .ok(n) : sftp.failure(Int32(n), "read")
    }

    /// Sends `count` bytes from `buffer`, which must start at the first byte not yet acknowledged: libssh2 keeps
    /// what it has sent and skips it when called again. Answers how many more bytes the server acknowledged.
    func write(from buffer: UnsafeRawPointer, count: Int, _ sftp: SFTPSession) -> SFTPOutcome<Int> {
        let n = libssh2_sftp_write(raw, buffer.assumingMemoryBound(to: CChar.self), count)
        return n >= 0 ? .ok(n) : sftp.failure(Int32(n), "write")
    }

    func setStat(_ attributes: SFTPAttributes, _ sftp: SFTPSession) -> SFTPOutcome<Void> {
        var copy = attributes
        return sftp.outcome(libssh2_sftp_fstat_ex(raw, &copy.raw, 1), "setstat") { () }
    }

    /// The next folder entry: its name and attributes (as lstat gives them), nil at the end.
    func readEntry(_ buffer: inout [CChar], _ sftp: SFTPSession) -> SFTPOutcome<([UInt8], SFTPAttributes)?> {
        var attributes = SFTPAttributes()
        let n = buffer.withUnsafeMutableBufferPointer {
            libssh2_sftp_readdir_ex(raw, $0.baseAddress, $0.count, nil, 0, &attributes.raw)
        }
        if n < 0 { return sftp.failure(n, "readdir") }
        if n == 0 { return .ok(nil) }
        let name = buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }
        return .ok((name, attributes))
    }

    /// Closes the handle; `.ok` once the server answered (its status is not worth a failure).
    func close(_ sftp: SFTPSession) -> SFTPOutcome<Void> {
        guard let raw else { return .ok(()) }
        let rc = libssh2_sftp_close_handle(raw)
        if rc == LIBSSH2_ERROR_EAGAIN { return .wait }
        self.raw = nil
        return .ok(())
    }
}
