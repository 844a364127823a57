// Copies over exec channels, for workers without an SFTP server (Dropbear, busybox, sshd without sftp-server):
// a put streams the file to `cat` (a tree to `tar -x`) on stdin, a get reads `cat` (a tree: `tar -c`) on stdout.
// One channel per item; the worker's stderr is the failure's message. Remote text is POSIX sh under /bin/sh,
// sent through the login shell as RemoteScript does; paths quoted with ShellQuote.
import CLibSSH2
import Engine
import Foundation

final class StreamCopy: ActiveCopy {
    let files: FileCopy
    private var finished: Int64 = 0
    var bytes: Int64 { finished + (current?.transferred ?? 0) }
    private var steps: [StreamStep] = []
    private var current: ExecChannel?

    init(files: FileCopy) {
        self.files = files
        switch files.direction {
        case .put:
            if let folder = files.folder.map({ ShellQuote.quote(Array($0.utf8)) }) {
                steps.append(.shell(folder + Array(": ".utf8), Array("rm -rf -- ".utf8) + folder + Array(" && mkdir -p -- ".utf8) + folder))
            }
            steps += files.items.map { .put(Array($0.local.utf8), Array($0.remote.utf8)) }
        case .get:
            steps = files.items.map { .get(Array($0.remote.utf8), Array($0.local.utf8)) }
        }
    }

    func advance(_ session: OpaquePointer) -> CopyProgress {
        while true {
            if current == nil {
                guard let step = steps.first else { return .done(bytes: bytes, via: "stream") }
                steps.removeFirst()
                switch step.channel(files) {
                case .success(let channel): current = channel
                case .failure(let failure): return .failed(failure.message)
                }
            }
            let progress = current!.advance(session)
            switch progress {
            case .waiting: return .waiting
            case .done, .skipped:
                finished += current!.transferred
                current = nil
            case .failed(let message):
                current?.abandon()
                current = nil
                return .failed(message)
            case .lost(let error): return .lost(error)
            }
        }
    }

    func abandon() { current?.abandon(); current = nil; steps = [] }
}

/// What one channel of a stream copy does.
enum StreamStep {
    case shell([UInt8], [UInt8])   // a name for messages, a script
    case put(PathBytes, PathBytes)
    case get(PathBytes, PathBytes)

    func channel(_ files: FileCopy) -> Swift.Result<ExecChannel, TarFailure> {
        switch self {
        case .shell(let name, let script):
            return .success(ExecChannel(name: name, script: script))
        case .put(let local, let remote):
            guard let st = LocalFiles.status(local) else {
                return .failure(TarFailure(message: "\(LocalFiles.text(local)): \(LocalError.phrase(errno))"))
            }
            let q = ShellQuote.quote(remote), parent = ShellQuote.quote(LocalFiles.dirname(remote))
            let prefix = Array("mkdir -p -- ".utf8) + parent + Array(" || exit 1\n".utf8)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                guard files.recursive else {
                    return .failure(TarFailure(message: "\(LocalFiles.text(local)): is a folder (not copied without recursive)"))
                }
                do {
                    let tar = try TarWriter(root: local)
                    // umask 0: the modes in the stream are the files' own.
                    let script = prefix + Array("mkdir -p -- ".utf8) + q + Array(" && cd -- ".utf8) + q
                        + Array(" && umask 0 && exec tar -xof -".utf8)
                    return .success(ExecChannel(name: remote, script: script, source: { buffer, capacity throws(LocalError) in try tar.fill(buffer, capacity) }))
                } catch { return .failure(TarFailure(message: "\(LocalFiles.text(local)): \(error.phrase)")) }
            case S_IFREG:
                let fd: Int32
                do { fd = try LocalFiles.open(local, O_RDONLY) } catch {
                    return .failure(TarFailure(message: "\(LocalFiles.text(local)): \(error.phrase)"))
                }
                let t = ShellQuote.quote(LocalFiles.partial(for: remote))
                // The size check keeps a cancelled put (stdin closed early) from landing as a short file.
                let script = prefix + Array("""
                    cat > \(String(decoding: t, as: UTF8.self)) || { rm -f -- \(String(decoding: t, as: UTF8.self)); exit 1; }
                    [ "$(wc -c < \(String(decoding: t, as: UTF8.self)))" -eq \(st.st_size) ] || { rm -f -- \(String(decoding: t, as: UTF8.self)); echo 'incomplete' >&2; exit 1; }
                    chmod \(String(UInt32(st.st_mode) & 0o7777, radix: 8)) \(String(decoding: t, as: UTF8.self)) && TZ=UTC0 touch -t \(Self.stamp(st.st_mtim.tv_sec)) \(String(decoding: t, as: UTF8.self)) && mv -f -- \(String(decoding: t, as: UTF8.self)) \(String(decoding: q, as: UTF8.self)) || { rm -f -- \(String(decoding: t, as: UTF8.self)); exit 1; }
                    """.utf8)
                return .success(ExecChannel(name: remote, script: script, source: { buffer, capacity throws(LocalError) in
                    try LocalFiles.read(fd, buffer, capacity)
                }, closing: { close(fd) }))
            default:
                return .failure(TarFailure(message: "\(LocalFiles.text(local)): not a regular file"))
            }
        case .get(let remote, let local):
            let q = String(decoding: ShellQuote.quote(remote), as: UTF8.self)
            // A header line says what follows: F MODE MTIME then the file's bytes, or D MODE MTIME then a tar stream.
            let folder = files.recursive
                ? "printf 'D %s\\n' \"$(stat -L -c '%a %Y' -- \(q))\" && cd -- \(q) && exec tar -cf - ."
                : "echo 'is a folder (not copied without recursive)' >&2; exit 4"
            let script = Array("""
                [ -e \(q) ] || { echo 'no such file' >&2; exit 3; }
                if [ -d \(q) ]; then \(folder); fi
                [ -r \(q) ] || { echo 'permission denied' >&2; exit 1; }
                printf 'F %s\\n' "$(stat -L -c '%a %Y' -- \(q))" && exec cat -- \(q)
                """.utf8)
            let sink = GetSink(local: local)
            return .success(ExecChannel(name: remote, script: script, sink: sink, missingOK: files.missingOK))
        }
    }

    /// `touch -t` time for UTC (POSIX; busybox takes it too).
    static func stamp(_ seconds: Int) -> String {
        var t = time_t(seconds), parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d%02d%02d%02d%02d.%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}

/// A get's stdout: the header line, then the file into its landing file, or the tree through a TarReader.
final class GetSink {
    let local: PathBytes
    private var header: [UInt8] = []
    private var kind: UInt8 = 0
    private var mode: UInt32 = 0o644
    private var mtime = 0
    private var landing: LandingFile?
    private var tar: TarReader?

    init(local: PathBytes) { self.local = local }

    func take(_ bytes: UnsafeRawBufferPointer) throws(TarFailure) {
        var rest = bytes[...]
        if kind == 0 {
            guard let newline = rest.firstIndex(of: 10) else { header += rest; return }
            header += rest[rest.startIndex..<newline]
            rest = rest[(newline + 1)...]
            let fields = String(decoding: header, as: UTF8.self).split(separator: " ")
            guard fields.count == 3, let m = UInt32(fields[1], radix: 8), let t = Int(fields[2]) else {
                throw TarFailure(message: "\(LocalFiles.text(local)): the worker's stat said '\(String(decoding: header, as: UTF8.self))'")
            }
            (kind, mode, mtime) = (fields[0] == "D" ? 68 : 70, m, t)
            do {
                if kind == 70 { landing = try LandingFile(local) } else {
                    try LocalFiles.makeFolders(local)
                    tar = TarReader(root: local)
                }
            } catch { throw TarFailure(message: "\(LocalFiles.text(local)): \(error.phrase)") }
        }
        guard !rest.isEmpty else { return }
        let chunk = UnsafeRawBufferPointer(rebasing: rest)
        if let tar { try tar.feed(chunk); return }
        do { try landing!.write(chunk.baseAddress!, chunk.count) } catch {
            throw TarFailure(message: "\(LocalFiles.text(local)): \(error.phrase)")
        }
    }

    /// The command ended well: the file landed, or the tree's folders got their modes and times.
    func finish() throws(TarFailure) {
        do {
            if let landing { try landing.land(mode: mode, mtime: mtime); self.landing = nil }
            if let tar {
                guard tar.ended else { throw TarFailure(message: "\(LocalFiles.text(local)): the tar stream ended early") }
                try tar.finish()
                try LocalFiles.setModeAndTime(local, mode: mode, mtime: mtime)
            }
            if kind == 0 { throw TarFailure(message: "\(LocalFiles.text(local)): the worker sent nothing") }
        } catch let error as LocalError { throw TarFailure(message: "\(LocalFiles.text(local)): \(error.phrase)") }
        catch let error as TarFailure { throw error }
        catch { throw TarFailure(message: "\(error)") }
    }

    func abandon() { landing?.discard(); landing = nil; tar?.abandon(); tar = nil }
}

/// One command on an exec channel whose stdin is fed from `source` (then EOF) and whose stdout goes to `sink`;
/// its stderr is kept (the last 4 KB) for the message.
final class ExecChannel {
    enum Progress { case waiting, done, skipped, failed(String), lost(SSHError) }
    private enum Step { case open, exec, feed, eof, read, close, waitClosed, finished }
    private let name: PathBytes
    private let request: [UInt8]
    private let source: ((UnsafeMutableRawPointer, Int) throws(LocalError) -> Int)?
    private let closing: () -> Void
    private let sink: GetSink?
    private let missingOK: Bool
    private var step = Step.open
    private var channel: OpaquePointer?
    private var stderr: [UInt8] = []
    private var failure: String?
    private static let size = 256 << 10
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    private var start = 0, end = 0, eof = false
    /// Bytes sent on stdin or taken from stdout.
    private(set) var transferred: Int64 = 0

    init(name: PathBytes, script: [UInt8], source: ((UnsafeMutableRawPointer, Int) throws(LocalError) -> Int)? = nil,
         closing: @escaping () -> Void = {}, sink: GetSink? = nil, missingOK: Bool = false) {
        self.name = name
        // stdin non-nil picks RemoteScript's fed wrapper: the script reads the data, no watcher.
        self.request = RemoteScript.request(for: RemoteCommand(script: script, stdin: []))
        self.source = source; self.closing = closing; self.sink = sink; self.missingOK = missingOK
    }

    deinit { abandon(); buffer.deallocate() }

    /// Local files closed, a partial get removed; the channel goes with `free` or its session.
    func abandon() {
        closing()
        sink?.abandon()
        if let channel { libssh2_channel_free(channel); self.channel = nil }
    }

    func advance(_ session: OpaquePointer) -> Progress {
        while true {
            switch step {
            case .open:
                guard let opened = ct_channel_open_session(session) else {
                    let rc = libssh2_session_last_errno(session)
                    if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                    return lost(session, rc, "open channel")
                }
                channel = opened
                step = .exec
            case .exec:
                let rc = ChannelIO.exec(channel!, request)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 { return lost(session, rc, "exec") }
                step = source == nil ? .eof : .feed
            case .feed:
                if start == end && !eof && failure == nil {
                    do {
                        start = 0
                        end = try source!(buffer, Self.size)
                        eof = end == 0
                    } catch { failure = "\(LocalFiles.text(name)): \(error.phrase)"; step = .close; continue }
                }
                if start == end { step = .eof; continue }
                let n = ct_channel_write(channel, buffer.assumingMemoryBound(to: CChar.self) + start, end - start)
                if n == Int(LIBSSH2_ERROR_EAGAIN) {
                    if let progress = drain(session) { return progress }
                    return .waiting
                }
                // The command stopped reading (a full disk): its stderr and status say why.
                if n < 0 { if SSHError.isConnectionLost(Int32(n)) { return lost(session, Int32(n), "write") }; step = .read; continue }
                start += n
                transferred += Int64(n)
            case .eof:
                let rc = libssh2_channel_send_eof(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                step = .read
            case .read:
                if let progress = drain(session) { return progress }
                if libssh2_channel_eof(channel) == 0 && failure == nil { return .waiting }
                step = .close
            case .close:
                let rc = libssh2_channel_close(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                step = .waitClosed
            case .waitClosed:
                let rc = libssh2_channel_wait_closed(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                let status = Operation.exitStatus(of: channel!, session)
                libssh2_channel_free(channel)
                channel = nil
                step = .finished
                closing()
                return ended(status)
            case .finished:
                return .waiting
            }
        }
    }

    private func ended(_ status: ExitStatus) -> Progress {
        if let failure { sink?.abandon(); return .failed(failure) }
        if status == .exited(3) && missingOK { sink?.abandon(); return .skipped }
        guard status == .exited(0) else {
            sink?.abandon()
            let line = String(decoding: stderr, as: UTF8.self).split(separator: "\n").last.map(String.init)
            return .failed("\(LocalFiles.text(name)): \(line ?? status.phrase)")
        }
        do { try sink?.finish() } catch { return .failed(error.message) }
        return .done
    }

    /// Reads stdout into the sink and stderr into the message until both would block; nil, or how it ended.
    private func drain(_ session: OpaquePointer) -> Progress? {
        var chunk = [CChar](repeating: 0, count: 65536)
        var broken: String?
        let rc = ChannelIO.read(channel!, &chunk) { stream, bytes in
            if stream == .stderr { stderr = Array((stderr + bytes).suffix(4096)); return }
            guard broken == nil, failure == nil, let sink else { return }
            transferred += Int64(bytes.count)
            do { try bytes.withUnsafeBytes { try sink.take($0) } } catch let error as TarFailure { broken = error.message } catch {}
        }
        if let broken, failure == nil { failure = broken; sink?.abandon() }
        if let rc { return lost(session, rc, "read") }
        return nil
    }

    private func lost(_ session: OpaquePointer, _ rc: Int32, _ doing: String) -> Progress {
        let error = SSHError(doing, session: session, code: rc)
        if SSHError.isConnectionLost(rc) { return .lost(error) }
        step = .finished
        return .failed("\(LocalFiles.text(name)): \(error.description)")
    }
}
