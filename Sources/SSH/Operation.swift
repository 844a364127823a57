// One command on one exec channel: open, (pty), exec, feed stdin, read stdout/stderr to EOF, exit status.
import CLibSSH2
import Engine

final class Operation {
    enum Step { case open, pty, exec, preamble, feed, eof, read, close, waitClosed, done }
    enum Progress { case waiting, finished(ExitStatus), refused(String), failed(String), connectionLost(SSHError) }

    let id: Int
    private let request: [UInt8]
    private let pty: Bool
    private let stdin: [UInt8]?
    /// Written to stdin before the command runs and before `stdin`, without EOF after it (the wrapper reads the
    /// sudo password and its secrets there).
    private let preamble: [UInt8]
    private var fed = 0
    private var channel: OpaquePointer?
    private(set) var step = Step.open
    /// The exec request was accepted: the command runs (told once as `started`).
    private(set) var execAccepted = false
    var startTold = false
    private var buffer = [CChar](repeating: 0, count: 65536)

    init(id: Int, command: RemoteCommand) {
        self.id = id
        self.request = RemoteScript.request(for: command)
        self.pty = command.pty
        self.stdin = command.stdin
        self.preamble = command.preamble
    }

    /// Moves the command along as far as the socket allows; `emit` gets its output.
    func advance(_ session: OpaquePointer, emit: (OutputStream, [UInt8]) -> Void) -> Progress {
        while true {
            switch step {
            case .open:
                guard let opened = ct_channel_open_session(session) else {
                    let rc = libssh2_session_last_errno(session)
                    if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                    if rc == LIBSSH2_ERROR_CHANNEL_FAILURE {
                        step = .done
                        return .refused(SSHError("open channel", session: session, code: rc).message)
                    }
                    return lost(session, rc, "open channel")
                }
                channel = opened
                step = pty ? .pty : .exec
            case .pty:
                // A password on stdin would be echoed into the output: no echo until the wrapper has read it.
                let rc = ct_channel_request_pty(channel, preamble.isEmpty ? 1 : 0)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 { return lost(session, rc, "request pty") }
                step = .exec
            case .exec:
                let rc = ChannelIO.exec(channel!, request)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 { return lost(session, rc, "exec") }
                execAccepted = true
                step = !preamble.isEmpty ? .preamble : stdin != nil ? .feed : .read
            case .preamble:
                guard fed < preamble.count else { fed = 0; step = stdin != nil ? .feed : .read; continue }
                let n = ChannelIO.write(channel!, preamble, from: fed)
                if n == Int(LIBSSH2_ERROR_EAGAIN) { return .waiting }
                if n < 0 { return lost(session, Int32(n), "write stdin") }
                fed += n
            case .feed:
                guard let stdin, fed < stdin.count else { step = .eof; continue }
                let n = ChannelIO.write(channel!, stdin, from: fed)
                if n == Int(LIBSSH2_ERROR_EAGAIN) {
                    // Drain output while the window is full, or a command that writes before reading deadlocks us.
                    let drained = drain(session, emit)
                    if case .connectionLost = drained { return drained }
                    return .waiting
                }
                if n < 0 { return lost(session, Int32(n), "write stdin") }
                fed += n
            case .eof:
                let rc = libssh2_channel_send_eof(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 { return lost(session, rc, "send eof") }
                step = .read
            case .read:
                let drained = drain(session, emit)
                if case .connectionLost = drained { return drained }
                if libssh2_channel_eof(channel) == 0 { return .waiting }
                step = .close
            case .close:
                let rc = libssh2_channel_close(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                if rc != 0 { return lost(session, rc, "close channel") }
                step = .waitClosed
            case .waitClosed:
                let rc = libssh2_channel_wait_closed(channel)
                if rc == LIBSSH2_ERROR_EAGAIN { return .waiting }
                let status = Self.exitStatus(of: channel!, session)
                free()
                return .finished(status)
            case .done:
                return .waiting
            }
        }
    }

    /// Reads stdout and stderr until both would block.
    private func drain(_ session: OpaquePointer, _ emit: (OutputStream, [UInt8]) -> Void) -> Progress {
        guard let rc = ChannelIO.read(channel!, &buffer, emit) else { return .waiting }
        return lost(session, rc, "read")
    }

    /// How the command on `channel` ended: the signal that killed it, else its exit code.
    static func exitStatus(of channel: OpaquePointer, _ session: OpaquePointer) -> ExitStatus {
        var name: UnsafeMutablePointer<CChar>? = nil
        var length = 0
        libssh2_channel_get_exit_signal(channel, &name, &length, nil, nil, nil, nil)
        if let name {
            defer { libssh2_free(session, name) }
            if length > 0 { return .signaled(String(cString: name)) }
        }
        return .exited(Int(libssh2_channel_get_exit_status(channel)))
    }

    private func lost(_ session: OpaquePointer, _ rc: Int32, _ doing: String) -> Progress {
        let error = SSHError(doing, session: session, code: rc)
        if SSHError.isConnectionLost(rc) { return .connectionLost(error) }
        step = .done
        return .failed(error.description)
    }

    /// Cancelling: closes the channel (the remote watcher then kills the job's group). Returns true when released.
    func cancelStep() -> Bool {
        guard let channel else { return true }
        let rc = libssh2_channel_close(channel)
        if rc == LIBSSH2_ERROR_EAGAIN { return false }
        free()
        return true
    }

    /// The channel, for its owner to close; the operation is done.
    func takeChannel() -> OpaquePointer? {
        defer { channel = nil; step = .done }
        return channel
    }

    func free() {
        if let channel { libssh2_channel_free(channel) }
        channel = nil
        step = .done
    }
}
