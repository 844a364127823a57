// Errors from libssh2 and the socket layer, with the code, libssh2's message and what we were doing.
import CLibSSH2

public struct SSHError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let doing: String
    /// The server or the key said no (authentication): trying again cannot help.
    public let refused: Bool
    /// The server closed the connection during the handshake, as sshd does past MaxStartups: worth retrying later.
    public var dropped = false
    public var description: String {
        "\(doing): \(message)" + (code != 0 ? " (libssh2 error \(code))" : "")
            + (dropped ? "; the server closed the connection before login (sshd's MaxStartups?)" : "")
    }

    init(_ doing: String, message: String, code: Int32 = 0, refused: Bool = false) {
        self.doing = doing; self.message = message; self.code = code; self.refused = refused
    }

    /// The session's last error, described.
    init(_ doing: String, session: OpaquePointer?, code: Int32) {
        var text: UnsafeMutablePointer<CChar>? = nil
        var length: Int32 = 0
        var message = "error \(code)"
        if let session {
            libssh2_session_last_error(session, &text, &length, 0)
            if let text, length > 0 { message = String(cString: text) }
        }
        self.init(doing, message: message, code: code)
    }

    /// True for handshake errors that mean the server hung up or reset the connection.
    static func isDrop(_ code: Int32) -> Bool {
        [LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_BANNER_RECV].contains(code)
    }

    /// True for errors that mean the connection itself is gone.
    static func isConnectionLost(_ code: Int32) -> Bool {
        switch code {
        case LIBSSH2_ERROR_SOCKET_NONE, LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_DISCONNECT,
             LIBSSH2_ERROR_SOCKET_TIMEOUT, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_TIMEOUT,
             LIBSSH2_ERROR_KEX_FAILURE, LIBSSH2_ERROR_DECRYPT, LIBSSH2_ERROR_PROTO:
            return true
        default:
            return false
        }
    }
}
