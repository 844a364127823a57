// The one ssh-agent request libssh2 1.10 cannot make: a signature with RSA-SHA-2 (flag SSH_AGENT_RSA_SHA2_256),
// over $SSH_AUTH_SOCK (draft-miller-ssh-agent). Listing the agent's keys stays with libssh2.
import Foundation

enum AgentClient {
    static let signRequest: UInt8 = 13, signResponse: UInt8 = 14
    static let rsaSHA2_256: UInt32 = 2

    /// The agent's signature of `data` with the key `blob`: the raw signature bytes, the algorithm checked.
    /// A blocking round trip on the local socket, at most `timeout` seconds: short enough for the reactor.
    static func sign(socket path: String, blob: [UInt8], data: [UInt8], sha256: Bool, timeout: Int = 10) -> Result<[UInt8], KeyFileError> {
        var request = SSHWire()
        request.bytes.append(signRequest)
        request.string(blob)
        request.string(data)
        request.uint32(sha256 ? rsaSHA2_256 : 0)
        var message = SSHWire()
        message.string(request.bytes)
        let reply: [UInt8]
        switch roundTrip(path, message.bytes, timeout: timeout) {
        case .success(let bytes): reply = bytes
        case .failure(let error): return .failure(error)
        }
        var reader = SSHWireReader(reply)
        guard reader.byte() == signResponse, let signature = reader.string() else {
            return .failure(KeyFileError(message: "ssh-agent refused to sign"))
        }
        var inner = SSHWireReader(signature)
        let algorithm = inner.string().map { String(decoding: $0, as: UTF8.self) }
        let wanted = sha256 ? "rsa-sha2-256" : "ssh-rsa"
        guard algorithm == wanted, let raw = inner.string() else {
            return .failure(KeyFileError(message: "ssh-agent signed with \(algorithm ?? "nothing"), not \(wanted)"))
        }
        return .success(raw)
    }

    /// Sends `message` and reads one length-prefixed reply (without its length).
    private static func roundTrip(_ path: String, _ message: [UInt8], timeout: Int) -> Result<[UInt8], KeyFileError> {
        func failure(_ doing: String) -> Result<[UInt8], KeyFileError> {
            .failure(KeyFileError(message: "ssh-agent: \(doing): \(String(cString: strerror(errno)))"))
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return failure("socket") }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, size) == 0,
              setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, size) == 0 else { return failure("setsockopt") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            return .failure(KeyFileError(message: "ssh-agent: socket path too long: \(path)"))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: pathBytes) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return failure("connect \(path)") }
        guard writeAll(fd, message) else { return failure("write") }
        guard let header = readExactly(fd, 4) else { return failure("read") }
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= 256 * 1024, let body = readExactly(fd, length) else { return failure("read") }
        return .success(body)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    private static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes[got...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { if n == 0 { errno = ECONNRESET }; return nil }
            got += n
        }
        return bytes
    }
}
