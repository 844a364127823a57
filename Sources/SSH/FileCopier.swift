// A connection's file copies (Transport.copy): one at a time, over the connection's one SFTP session when the
// worker has an SFTP server, else over exec channels (StreamCopy). Each copy is a list of small steps, each a
// state machine that returns on EAGAIN, moved along by the reactor's `advance`.
import CLibSSH2
import Engine
import Foundation

/// How far a copy got.
enum CopyProgress { case waiting, done(bytes: Int64, via: String), failed(String), lost(SSHError) }

/// One copy under way, whichever way it goes.
protocol ActiveCopy: AnyObject {
    var bytes: Int64 { get }
    func advance(_ session: OpaquePointer) -> CopyProgress
    /// Cancelled or failed: local files closed, a get's partial file removed (remote handles go with their channel).
    func abandon()
}

/// The copies of one connection, in order, and how it reaches the worker's files.
final class CopyQueue {
    enum Route { case unknown, probing(SFTPProbe), starting, sftp(SFTPSession), stream }

    private var waiting: [(op: Int, files: FileCopy)] = []
    private var active: (op: Int, copy: ActiveCopy)?
    private var route = Route.unknown
    /// SFTP sessions being shut down after a cancel left them mid-call.
    private var closing: [SFTPSession] = []
    /// When the last `copying` was told, and the bytes it said.
    private var told = (at: 0.0, bytes: Int64(0))
    /// `CLOUDTASK_COPY_VIA`: `stream` forces the exec-channel way, `sftp` forbids it.
    private let via: String?

    init(via: String? = ProcessInfo.processInfo.environment["CLOUDTASK_COPY_VIA"]) { self.via = via }

    var isEmpty: Bool { active == nil && waiting.isEmpty && closing.isEmpty }
    var ops: [Int] { (active.map { [$0.op] } ?? []) + waiting.map(\.op) }

    func add(op: Int, files: FileCopy) { waiting.append((op, files)) }

    /// Stops a copy; false when it is not here.
    func cancel(op: Int) -> Bool {
        if let index = waiting.firstIndex(where: { $0.op == op }) { waiting.remove(at: index); return true }
        guard let active, active.op == op else { return false }
        active.copy.abandon()
        self.active = nil
        // The SFTP session may be inside a call (libssh2 keeps its state there): a fresh one serves the next copy.
        if active.copy is SFTPCopy, case .sftp(let session) = route { closing.append(session); route = .unknown }
        return true
    }

    /// The connection is going: libssh2 frees the SFTP session with it.
    func invalidate() {
        active?.copy.abandon()
        active = nil
        waiting = []
        if case .sftp(let session) = route { session.invalidate() }
        for session in closing { session.invalidate() }
        closing = []
    }

    /// Moves the copies along; `emit` gets their events. Returns the error when the connection broke.
    func advance(_ session: OpaquePointer, emit: (TransportEvent) -> Void) -> SSHError? {
        closing.removeAll { $0.shutdown() }
        while true {
            if active == nil {
                guard let next = waiting.first else { return nil }
                switch chooseRoute(session) {
                case .waiting: return nil
                case .lost(let error): return error
                case .failed(let message):
                    waiting.removeFirst()
                    emit(.failed(op: next.op, message: message))
                    continue
                case .done:
                    waiting.removeFirst()
                    if case .sftp(let sftp) = route {
                        active = (next.op, SFTPCopy(files: next.files, sftp: sftp))
                    } else {
                        active = (next.op, StreamCopy(files: next.files))
                    }
                    told = (monotonicNow(), 0)
                }
            }
            guard let (op, copy) = active else { continue }
            let progress = copy.advance(session)
            switch progress {
            case .waiting:
                let now = monotonicNow()
                // The first bytes are told at once (a fast copy would otherwise end unseen), then 4 times a second.
                if copy.bytes != told.bytes && (told.bytes == 0 || now - told.at >= 0.25) {
                    told = (now, copy.bytes)
                    emit(.copying(op: op, bytes: copy.bytes))
                }
                return nil
            case .done(let bytes, let via):
                active = nil
                emit(.copied(op: op, bytes: bytes, via: via))
            case .failed(let message):
                copy.abandon()
                active = nil
                if let sftpCopy = copy as? SFTPCopy, sftpCopy.sessionBroken, case .sftp(let sftp) = route {
                    closing.append(sftp)
                    route = .unknown
                }
                emit(.failed(op: op, message: message))
            case .lost(let error):
                copy.abandon()
                active = nil
                return error
            }
        }
    }

    /// Settles how this connection copies: SFTP unless forced off or the worker has no SFTP server (probed once).
    private func chooseRoute(_ session: OpaquePointer) -> CopyProgress {
        while true {
            switch route {
            case .sftp, .stream: return .done(bytes: 0, via: "")
            case .unknown:
                if via == "stream" { route = .stream; continue }
                route = .probing(SFTPProbe())
            case .probing(let probe):
                switch probe.advance(session) {
                case .waiting: return .waiting
                case .present: route = .starting
                case .absent(let why):
                    if via == "sftp" { route = .unknown; return .failed("no SFTP server on the worker (\(why))") }
                    route = .stream
                case .lost(let error): return .lost(error)
                }
            case .starting:
                switch SFTPSession.start(session) {
                case .wait: return .waiting
                case .ok(let sftp): route = .sftp(sftp)
                case .failed(let error):
                    if SSHError.isConnectionLost(error.code) { return .lost(SSHError(error.doing, message: error.message, code: error.code)) }
                    route = via == "sftp" ? .unknown : .stream
                    if via == "sftp" { return .failed("cannot start SFTP: \(error.message)") }
                }
            }
        }
    }
}

/// Whether the worker runs an SFTP server, asked on a channel of its own: the subsystem request, then the SFTP
/// init packet. A server that accepts the request but has no program to run (Dropbear, or sshd whose
/// sftp-server is missing) closes the channel without an answer, on which libssh2_sftp_init would wait forever.
final class SFTPProbe {
    enum Answer { case waiting, present, absent(String), lost(SSHError) }
    private enum Step { case open, request, send, read, close(Answer), free(Answer) }
    private var step = Step.open
    private var channel: OpaquePointer?
    private var sent = 0
    private static let initPacket: [UInt8] = [0, 0, 0, 5, 1, 0, 0, 0, 3]   // SSH_FXP_INIT, version 3

    deinit { if let channel { libssh2_channel_free(channel) } }

    func advance(_ session: OpaquePointer) -> Answer {
        while true {
            switch step {
            case .open:
                guard let opened = ct_channel_open_session(session) else {
                    let rc = libssh2_session_last_errno(session)
                    if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                    if SSHError.isConnectionLost(rc) { return .lost(SSHError("open channel", session: session, code: rc)) }
                    return .absent(SSHError("open channel", session: session, code: rc).description)
                }
                channel = opened
                step = .request
            case .request:
                let rc = libssh2_channel_process_startup(channel, "subsystem", 9, "sftp", 4)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if SSHError.isConnectionLost(rc) { return .lost(SSHError("request sftp", session: session, code: rc)) }
                if rc != 0 { step = .close(.absent("the sftp subsystem was refused")); continue }
                step = .send
            case .send:
                let n = ChannelIO.write(channel!, Self.initPacket, from: sent)
                if n == Int(LIBSSH2_ERROR_EAGAIN) { return .waiting }
                if n < 0 {
                    if SSHError.isConnectionLost(Int32(n)) { return .lost(SSHError("probe sftp", session: session, code: Int32(n))) }
                    step = .close(.absent("the sftp subsystem closed")); continue
                }
                sent += n
                if sent == Self.initPacket.count { step = .read }
            case .read:
                var byte: [CChar] = [0]
                let n = ct_channel_read(channel, 0, &byte, 1)
                if n > 0 { step = .close(.present); continue }
                if n == Int(LIBSSH2_ERROR_EAGAIN) && libssh2_channel_eof(channel) == 0 { return .waiting }
                if n < 0 && n != Int(LIBSSH2_ERROR_EAGAIN) && SSHError.isConnectionLost(Int32(n)) {
                    return .lost(SSHError("probe sftp", session: session, code: Int32(n)))
                }
                step = .close(.absent("the sftp subsystem ended without answering"))
            case .close(let answer):
                let rc = libssh2_channel_close(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                step = .free(answer)
            case .free(let answer):
                let rc = libssh2_channel_free(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                channel = nil
                return answer
            }
        }
    }
}

// MARK: - SFTP copies

/// What a step came to: more steps to run first (a folder's entries), or the copy's end.
enum StepResult { case wait, done([CopyStep]), failed(String), lost(SSHError) }

/// One piece of a copy (a folder made, a file sent), moved along until done.
protocol CopyStep: AnyObject {
    func advance(_ copy: SFTPCopy) -> StepResult
    /// Local resources released (a get's partial file removed).
    func abandon()
}

extension CopyStep { func abandon() {} }

/// One copy over SFTP: its steps in order, the bytes so far.
final class SFTPCopy: ActiveCopy {
    let files: FileCopy
    let sftp: SFTPSession
    private(set) var bytes: Int64 = 0
    private var steps: [CopyStep] = []
    /// Remote folders known to be there.
    var made = Set<PathBytes>()
    /// An error that was not the server's answer (the SFTP channel failed): the session is not reused.
    private(set) var sessionBroken = false

    init(files: FileCopy, sftp: SFTPSession) {
        self.files = files
        self.sftp = sftp
        switch files.direction {
        case .put:
            if let folder = files.folder.map({ Array($0.utf8) }) { steps += [EmptyFolder(folder), EnsureFolder(folder)] }
            for item in files.items {
                let remote = Array(item.remote.utf8)
                steps += [EnsureFolder(LocalFiles.dirname(remote)), PutPath(Array(item.local.utf8), remote)]
            }
        case .get:
            steps = files.items.map { GetPath(Array($0.remote.utf8), Array($0.local.utf8), top: true) }
        }
    }

    func count(_ n: Int) { bytes += Int64(n) }

    func advance(_ session: OpaquePointer) -> CopyProgress {
        while let step = steps.first {
            switch step.advance(self) {
            case .wait: return .waiting
            case .done(let more):
                steps.removeFirst()
                steps.insert(contentsOf: more, at: 0)
            case .failed(let message): return .failed(message)
            case .lost(let error): return .lost(error)
            }
        }
        return .done(bytes: bytes, via: "sftp")
    }

    func abandon() {
        for step in steps { step.abandon() }
        steps = []
    }

    /// A failed call as a step's end: the connection lost, or `PATH: cause`.
    func failure(_ error: SFTPError, _ path: PathBytes) -> StepResult {
        if SSHError.isConnectionLost(error.code) { return .lost(SSHError(error.doing, message: error.message, code: error.code)) }
        if !error.fromServer { sessionBroken = true }
        return .failed("\(LocalFiles.text(path)): \(error.phrase)")
    }
}

/// One SFTP call, made again until it is not EAGAIN.
final class SFTPCall: CopyStep {
    private let path: PathBytes
    private let call: (SFTPSession) -> SFTPOutcome<Void>
    init(_ path: PathBytes, _ call: @escaping (SFTPSession) -> SFTPOutcome<Void>) { self.path = path; self.call = call }

    func advance(_ copy: SFTPCopy) -> StepResult {
        switch call(copy.sftp) {
        case .ok: return .done([])
        case .wait: return .wait
        case .failed(let error): return copy.failure(error, path)
        }
    }
}

/// A remote folder made with its missing parents (stat first: it is usually there).
final class EnsureFolder: CopyStep {
    private let path: PathBytes
    private var making = false
    init(_ path: PathBytes) { self.path = path }

    func advance(_ copy: SFTPCopy) -> StepResult {
        if path.isEmpty || path == [46] || path == [47] || copy.made.contains(path) { return .done([]) }
        if !making {
            switch copy.sftp.stat(path) {
            case .wait: return .wait
            case .ok(let attributes):
                guard attributes.isFolder else { return .failed("\(LocalFiles.text(path)): not a folder") }
                copy.made.insert(path)
                return .done([])
            case .failed(let error) where error.missing: making = true
            case .failed(let error): return copy.failure(error, path)
            }
        }
        switch copy.sftp.mkdir(path) {
        case .wait: return .wait
        case .ok:
            copy.made.insert(path)
            return .done([])
        case .failed(let error) where error.missing:
            making = false
            return .done([EnsureFolder(LocalFiles.dirname(path)), EnsureFolder(path)])
        case .failed(let error): return copy.failure(error, path)
        }
    }
}

/// A remote folder's entries read, then `then` given them (names and lstat attributes, no `.` or `..`).
final class ListFolder: CopyStep {
    private let path: PathBytes
    private let then: ([(PathBytes, SFTPAttributes)]) -> [CopyStep]
    private var handle: SFTPHandle?
    private var entries: [(PathBytes, SFTPAttributes)] = []
    private var finished = false
    private var buffer = [CChar](repeating: 0, count: 4096)

    init(_ path: PathBytes, then: @escaping ([(PathBytes, SFTPAttributes)]) -> [CopyStep]) { self.path = path; self.then = then }

    func advance(_ copy: SFTPCopy) -> StepResult {
        if handle == nil {
            switch copy.sftp.open(path, folder: true) {
            case .wait: return .wait
            case .ok(let opened): handle = opened
            case .failed(let error): return copy.failure(error, path)
            }
        }
        while !finished {
            switch handle!.readEntry(&buffer, copy.sftp) {
            case .wait: return .wait
            case .ok(nil): finished = true
            case .ok(let entry?):
                if entry.0 != [46] && entry.0 != [46, 46] { entries.append(entry) }
            case .failed(let error): return copy.failure(error, path)
            }
        }
        switch handle!.close(copy.sftp) {
        case .wait: return .wait
        default: return .done(then(entries))
        }
    }
}

/// A put's `folder`: emptied if it is there.
final class EmptyFolder: CopyStep {
    private let path: PathBytes
    init(_ path: PathBytes) { self.path = path }

    func advance(_ copy: SFTPCopy) -> StepResult {
        switch copy.sftp.stat(path, follow: false) {
        case .wait: return .wait
        case .failed(let error) where error.missing: return .done([])
        case .failed(let error): return copy.failure(error, path)
        case .ok(let attributes):
            guard attributes.isFolder else { return .failed("\(LocalFiles.text(path)): not a folder") }
            return .done([Self.contentsRemoved(path)])
        }
    }

    /// Steps removing everything in `path`, depth first.
    static func contentsRemoved(_ path: PathBytes) -> CopyStep {
        ListFolder(path) { entries in
            entries.flatMap { name, attributes -> [CopyStep] in
                let child = LocalFiles.join(path, name)
                if attributes.isFolder { return [contentsRemoved(child), SFTPCall(child) { $0.rmdir(child) }] }
                return [SFTPCall(child) { $0.unlink(child) }]
            }
        }
    }
}

/// A put's local path: a file sent, or with `recursive` a folder's tree (its mode and time set after its entries).
final class PutPath: CopyStep {
    private let local: PathBytes
    private let remote: PathBytes
    init(_ local: PathBytes, _ remote: PathBytes) { self.local = local; self.remote = remote }

    func advance(_ copy: SFTPCopy) -> StepResult {
        guard let st = LocalFiles.status(local) else {
            return .failed("\(LocalFiles.text(local)): \(LocalError.phrase(errno))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            return .done([PutFile(local, remote, st)])
        case S_IFDIR:
            guard copy.files.recursive else { return .failed("\(LocalFiles.text(local)): is a folder (not copied without recursive)") }
            let names: [PathBytes]
            do { names = try LocalFiles.entries(local) } catch { return .failed("\(LocalFiles.text(local)): \(error.phrase)") }
            let mode = UInt32(st.st_mode), mtime = st.st_mtim.tv_sec, remote = self.remote
            return .done([EnsureFolder(remote)]
                + names.map { PutPath(LocalFiles.join(local, $0), LocalFiles.join(remote, $0)) }
                + [SFTPCall(remote) { $0.setStat(remote, .setting(mode: mode, mtime: mtime)) }])
        default:
            return .failed("\(LocalFiles.text(local)): not a regular file")
        }
    }
}

/// Bounded memory for a file in flight: this much read ahead from the local file, and libssh2 holds as much
/// again in its unacknowledged write packets.
let copyWindow = 2 << 20

/// One local file written to the worker over SFTP: open (create, truncate), write in pipelined chunks, mode and
/// time set on the handle, close. A failed write closes the handle, removes the partial file, and names the free
/// space when the disk is full (SFTP v3 reports only "failure").
final class PutFile: CopyStep {
    private enum Step { case open, write, setStat, close, failedClose(SFTPError), freeSpace(SFTPError), failedUnlink(String) }
    private let local: PathBytes
    private let remote: PathBytes
    private let st: FileStatus
    private var step = Step.open
    private var fd: Int32 = -1
    private var handle: SFTPHandle?
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: copyWindow, alignment: 16)
    private var start = 0, end = 0, eof = false
    private var acked: Int64 = 0

    init(_ local: PathBytes, _ remote: PathBytes, _ st: FileStatus) { self.local = local; self.remote = remote; self.st = st }

    deinit { abandon(); buffer.deallocate() }

    func abandon() { if fd >= 0 { close(fd); fd = -1 } }

    func advance(_ copy: SFTPCopy) -> StepResult {
        while true {
            switch step {
            case .open:
                if fd < 0 {
                    do { fd = try LocalFiles.open(local, O_RDONLY) } catch { return .failed("\(LocalFiles.text(local)): \(error.phrase)") }
                }
                switch copy.sftp.open(remote, flags: LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
                                      mode: UInt32(st.st_mode) & 0o777) {
                case .wait: return .wait
                case .ok(let opened): handle = opened; step = .write
                case .failed(let error): return copy.failure(error, remote)
                }
            case .write:
                if !eof && copyWindow - end >= 65536 {
                    do {
                        let n = try LocalFiles.read(fd, buffer + end, copyWindow - end)
                        if n == 0 { eof = true } else { end += n }
                    } catch { return .failed("\(LocalFiles.text(local)): \(error.phrase)") }
                }
                if start == end {
                    if eof { step = .setStat }
                    continue
                }
                switch handle!.write(from: buffer + start, count: end - start, copy.sftp) {
                case .wait: return .wait
                case .ok(let n):
                    start += n
                    acked += Int64(n)
                    copy.count(n)
                    if start == end { start = 0; end = 0 }
                    else if start >= copyWindow / 2 {
                        memmove(buffer, buffer + start, end - start)
                        end -= start; start = 0
                    }
                    if n == 0 && start < end { return .wait }
                case .failed(let error):
                    if SSHError.isConnectionLost(error.code) { return copy.failure(error, remote) }
                    step = .failedClose(error)
                }
            case .setStat:
                switch handle!.setStat(.setting(mode: UInt32(st.st_mode), mtime: st.st_mtim.tv_sec), copy.sftp) {
                case .wait: return .wait
                case .ok: step = .close
                case .failed(let error): return copy.failure(error, remote)
                }
            case .close:
                guard case .ok = handle!.close(copy.sftp) else { return .wait }
                abandon()
                return .done([])
            case .failedClose(let error):
                guard case .ok = handle!.close(copy.sftp) else { return .wait }
                step = .freeSpace(error)
            case .freeSpace(let error):
                var message: String
                if case .failed(let plain) = copy.failure(error, remote) { message = plain } else { message = "\(error)" }
                if error.fromServer && [LIBSSH2_FX_FAILURE, LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM].contains(error.status) {
                    let folder = LocalFiles.dirname(remote)
                    switch copy.sftp.freeBytes(folder) {
                    case .wait: return .wait
                    case .ok(let free) where free < Int64(st.st_size) - acked + (1 << 20):
                        message = "\(LocalFiles.text(remote)): no space left on device (\(Self.size(free)) free in \(LocalFiles.text(folder)))"
                    default: break
                    }
                }
                step = .failedUnlink(message)
            case .failedUnlink(let message):
                // The partial file goes, so a full disk has its room back.
                if case .wait = copy.sftp.unlink(remote) { return .wait }
                return .failed(message)
            }
        }
    }

    static func size(_ bytes: Int64) -> String {
        if bytes < 10 << 10 { return "\(bytes) bytes" }
        if bytes < 10 << 20 { return "\(bytes >> 10) KB" }
        return "\(bytes >> 20) MB"
    }
}

/// A get's remote path: a file fetched, or with `recursive` a folder's tree; a missing top item skipped with
/// `missingOK`. Links are followed (`known` is readdir's lstat, so a link is stat'ed again).
final class GetPath: CopyStep {
    private let remote: PathBytes
    private let local: PathBytes
    private let top: Bool
    private var known: SFTPAttributes?

    init(_ remote: PathBytes, _ local: PathBytes, top: Bool, known: SFTPAttributes? = nil) {
        self.remote = remote; self.local = local; self.top = top
        self.known = known.flatMap { $0.isLink ? nil : $0 }
    }

    func advance(_ copy: SFTPCopy) -> StepResult {
        if known == nil {
            switch copy.sftp.stat(remote) {
            case .wait: return .wait
            case .ok(let attributes): known = attributes
            case .failed(let error) where error.missing && top && copy.files.missingOK: return .done([])
            case .failed(let error): return copy.failure(error, remote)
            }
        }
        let attributes = known!
        if attributes.isFile { return .done([GetFile(remote, local, attributes)]) }
        guard attributes.isFolder else { return .failed("\(LocalFiles.text(remote)): not a regular file") }
        guard copy.files.recursive else { return .failed("\(LocalFiles.text(remote)): is a folder (not copied without recursive)") }
        do { try LocalFiles.makeFolders(local) } catch { return .failed("\(LocalFiles.text(local)): \(error.phrase)") }
        let (remote, local) = (self.remote, self.local)
        return .done([
            ListFolder(remote) { entries in
                entries.map { GetPath(LocalFiles.join(remote, $0.0), LocalFiles.join(local, $0.0), top: false, known: $0.1) }
            },
            LocalStat(local, mode: attributes.mode, mtime: attributes.mtime),
        ])
    }
}

/// A local folder's mode and time, set once its entries are in.
final class LocalStat: CopyStep {
    private let path: PathBytes, mode: UInt32, mtime: Int
    init(_ path: PathBytes, mode: UInt32, mtime: Int) { self.path = path; self.mode = mode; self.mtime = mtime }

    func advance(_ copy: SFTPCopy) -> StepResult {
        do { try LocalFiles.setModeAndTime(path, mode: mode, mtime: mtime) } catch { return .failed("\(LocalFiles.text(path)): \(error.phrase)") }
        return .done([])
    }
}

/// One remote file fetched over SFTP into `.NAME.ct-partial` beside the target, then landed (synced, mode and
/// time set, renamed into place).
final class GetFile: CopyStep {
    private let remote: PathBytes
    private let local: PathBytes
    private let attributes: SFTPAttributes
    private var handle: SFTPHandle?
    private var landing: LandingFile?
    private var failure: String?
    private var finished = false
    /// libssh2 reads ahead four times what is asked for.
    private static let chunk = 512 << 10
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)

    init(_ remote: PathBytes, _ local: PathBytes, _ attributes: SFTPAttributes) {
        self.remote = remote; self.local = local; self.attributes = attributes
    }

    deinit { abandon(); buffer.deallocate() }

    func abandon() { landing?.discard(); landing = nil }

    func advance(_ copy: SFTPCopy) -> StepResult {
        if handle == nil {
            switch copy.sftp.open(remote) {
            case .wait: return .wait
            case .ok(let opened): handle = opened
            case .failed(let error) where error.missing && copy.files.missingOK && copy.files.items.contains(where: { Array($0.remote.utf8) == remote }):
                return .done([])
            case .failed(let error): return copy.failure(error, remote)
            }
            do { landing = try LandingFile(local) } catch { failure = "\(LocalFiles.text(local)): \(error.phrase)" }
        }
        while !finished && failure == nil {
            switch handle!.read(into: buffer, count: Self.chunk, copy.sftp) {
            case .wait: return .wait
            case .ok(0): finished = true
            case .ok(let n):
                do { try landing!.write(buffer, n) } catch { failure = "\(LocalFiles.text(local)): \(error.phrase)" }
                copy.count(n)
            case .failed(let error):
                if SSHError.isConnectionLost(error.code) { return copy.failure(error, remote) }
                if case .failed(let message) = copy.failure(error, remote) { failure = message }
            }
        }
        guard case .ok = handle!.close(copy.sftp) else { return .wait }
        if let failure { abandon(); return .failed(failure) }
        do { try landing!.land(mode: attributes.mode, mtime: attributes.mtime) } catch {
            abandon()
            return .failed("\(LocalFiles.text(local)): \(error.phrase)")
        }
        landing = nil
        return .done([])
    }
}
