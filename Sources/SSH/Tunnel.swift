// One direct-tcpip channel on a jump host's session, bridged to a socketpair: the SSH session tunnelled through
// it (a worker's, or the next jump host's) owns one end; `pump` moves bytes between the other end and the channel.
import CLibSSH2
import Foundation

final class Tunnel {
    /// Who owns the far end of the socketpair: a worker's connection, or the next hop of a chain (its link key).
    enum Consumer { case worker(Int), link(String) }
    enum Pump { case idle, moved, closed, failed(String), lost(SSHError) }

    /// Bytes held each way; a full buffer stops reading on its side, so a slow reader slows the writer.
    static let capacity = 256 * 1024

    let consumer: Consumer
    /// A worker's connection that owns the far end, so a later connection of the same worker is not told of this one.
    weak var owner: Connection?
    /// Where the jump host connects: the next hop or the worker.
    let host: String
    let port: Int
    /// The consumer's end, handed to its Connection (which closes it); -1 once handed over or failed.
    private(set) var consumerEnd: Int32 = -1
    /// Our end, which the reactor polls.
    private(set) var local: Int32 = -1
    private var channel: OpaquePointer?
    private var outbound: [UInt8] = []   // from the consumer, for the channel
    private var inbound: [UInt8] = []    // from the channel, for the consumer
    private var consumerClosed = false
    private var channelEOFPassed = false
    private var closingChannel = false
    private var buffer = [UInt8](repeating: 0, count: 65536)

    /// Makes the socketpair; throws when the system refuses.
    init(consumer: Consumer, host: String, port: Int) throws {
        self.consumer = consumer; self.host = host; self.port = port
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
            throw SSHError("socketpair", message: String(cString: strerror(errno)))
        }
        local = fds[0]
        consumerEnd = fds[1]
    }

    deinit { if local >= 0 { Foundation.close(local) } }

    /// Gives the consumer's end away (its Connection closes it from now on).
    func handOver() -> Int32 {
        defer { consumerEnd = -1 }
        return consumerEnd
    }

    /// The poll events our end waits for: readable while the channel side has room, writable while bytes wait.
    var pollEvents: Int16 {
        // A consumer that has gone needs nothing more from our end; the jump session's socket wakes the close.
        guard local >= 0, !consumerClosed else { return 0 }
        var events: Int16 = 0
        if channel != nil && !consumerClosed && outbound.count < Self.capacity { events |= Int16(POLLIN) }
        if !inbound.isEmpty { events |= Int16(POLLOUT) }
        return events
    }

    /// Moves bytes both ways as far as both sides allow; `.closed` once the consumer has gone and the channel is freed.
    func pump(_ session: OpaquePointer) -> Pump {
        var moved = false
        if channel == nil {
            guard let opened = libssh2_channel_direct_tcpip_ex(session, host, Int32(port), "127.0.0.1", 22) else {
                let rc = libssh2_session_last_errno(session)
                if rc == LIBSSH2_ERROR_EAGAIN { return .idle }
                return trouble(session, rc, "open tunnel to \(host):\(port)")
            }
            channel = opened
            moved = true
        }
        if closingChannel { return closeChannel() }
        // Consumer to channel.
        if !consumerClosed && outbound.count < Self.capacity {
            let n = buffer.withUnsafeMutableBytes { recv(local, $0.baseAddress, min($0.count, Self.capacity - outbound.count), 0) }
            if n > 0 { outbound += buffer.prefix(n); moved = true }
            else if n == 0 || (errno != EAGAIN && errno != EINTR) { consumerGone(); moved = true }
        }
        while !outbound.isEmpty {
            let n = outbound.withUnsafeBytes {
                ct_channel_write(channel, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count)
            }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { break }
            if n < 0 { return trouble(session, Int32(n), "write tunnel to \(host):\(port)") }
            outbound.removeFirst(n)
            moved = true
        }
        if consumerClosed && outbound.isEmpty {
            closingChannel = true
            return closeChannel()
        }
        // Channel to consumer.
        if inbound.count < Self.capacity {
            let n = buffer.withUnsafeMutableBytes {
                ct_channel_read(channel, 0, $0.baseAddress!.assumingMemoryBound(to: CChar.self),
                                min($0.count, Self.capacity - inbound.count))
            }
            if n > 0 { inbound += buffer.prefix(n); moved = true }
            else if n < 0 && n != Int(LIBSSH2_ERROR_EAGAIN) { return trouble(session, Int32(n), "read tunnel from \(host):\(port)") }
        }
        if !inbound.isEmpty && !consumerClosed {
            let n = inbound.withUnsafeBytes { send(local, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { inbound.removeFirst(n); moved = true }
            else if n < 0 && errno != EAGAIN && errno != EINTR { consumerGone(); moved = true }
        }
        // The far side closed: the consumer sees end-of-file once it has every byte.
        if !channelEOFPassed && inbound.isEmpty && libssh2_channel_eof(channel) != 0 {
            channelEOFPassed = true
            shutdown(local, Int32(SHUT_WR))
            moved = true
        }
        return moved ? .moved : .idle
    }

    /// The consumer closed its end (libssh2 never half-closes): what was on its way to it is dropped.
    private func consumerGone() {
        consumerClosed = true
        inbound = []
    }

    /// Closes and frees the channel, a step at a time.
    private func closeChannel() -> Pump {
        let rc = libssh2_channel_close(channel)
        if rc == LIBSSH2_ERROR_EAGAIN { return .idle }
        libssh2_channel_free(channel)
        channel = nil
        abandon()
        return .closed
    }

    /// A connection loss for the whole jump session, else a failure of this tunnel only (the target refused).
    private func trouble(_ session: OpaquePointer, _ rc: Int32, _ doing: String) -> Pump {
        let error = SSHError(doing, session: session, code: rc)
        return SSHError.isConnectionLost(rc) ? .lost(error) : .failed(error.description)
    }

    /// Lets go without libssh2 calls (the jump session is being freed, which frees the channel).
    func abandon() {
        channel = nil
        if local >= 0 { Foundation.close(local); local = -1 }
        if consumerEnd >= 0 { Foundation.close(consumerEnd); consumerEnd = -1 }
    }
}
