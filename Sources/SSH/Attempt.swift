// One offer of a key to the server. ed25519 and ECDSA keys go through libssh2 as they always did; an RSA key
// is offered through libssh2_userauth_publickey with a blob whose first field reads `rsa-sha2-256` and a
// signature made here, because libssh2 1.10 takes the algorithm name from the blob and signs RSA with SHA-1.
import CLibSSH2
import Foundation

final class Attempt {
    private enum Way {
        case file(String, passphrase: String?)
        case agentKey(OpaquePointer?, UnsafeMutablePointer<libssh2_agent_publickey>)
        case rsa(blob: [UInt8], sign: ([UInt8]) -> Result<[UInt8], KeyFileError>)
    }

    /// The key, as errors name it.
    let label: String
    let viaAgent: Bool
    private let way: Way
    /// Why our own signature failed (libssh2 then says only "Callback returned error").
    private(set) var failure: String?

    private init(label: String, viaAgent: Bool, way: Way) {
        self.label = label; self.viaAgent = viaAgent; self.way = way
    }

    /// A key file libssh2 reads and signs.
    convenience init(file: String, passphrase: String?) {
        self.init(label: file, viaAgent: false, way: .file(file, passphrase: passphrase))
    }

    /// An agent key libssh2 has the agent sign.
    convenience init(agent: OpaquePointer?, identity: UnsafeMutablePointer<libssh2_agent_publickey>) {
        let comment = identity.pointee.comment.map { String(cString: $0) } ?? ""
        self.init(label: "ssh-agent key \(comment)", viaAgent: true, way: .agentKey(agent, identity))
    }

    /// An RSA key file signed with libcrypto: `rsa-sha2-256` when `sha256`, else the legacy `ssh-rsa` (SHA-1).
    convenience init(file: String, key: RSAKey, sha256: Bool) {
        self.init(label: file, viaAgent: false,
                  way: .rsa(blob: Attempt.blob(key.publicBlob, sha256: sha256), sign: { key.sign($0, sha256: sha256) }))
    }

    /// An RSA key in the agent at `socket`, signed by it with flag SSH_AGENT_RSA_SHA2_256 when `sha256`.
    convenience init(agent socket: String, blob: [UInt8], label: String, sha256: Bool) {
        self.init(label: label, viaAgent: true, way: .rsa(blob: Attempt.blob(blob, sha256: sha256), sign: {
            AgentClient.sign(socket: socket, blob: blob, data: $0, sha256: sha256)
        }))
    }

    /// The key blob as offered: for SHA-256 its first field renamed `rsa-sha2-256`, which libssh2 sends as the
    /// algorithm and OpenSSH reads as an RSA key (its key types include the signature names).
    private static func blob(_ blob: [UInt8], sha256: Bool) -> [UInt8] {
        guard sha256 else { return blob }
        var reader = SSHWireReader(blob)
        _ = reader.string()
        var renamed = SSHWire()
        renamed.string(Array("rsa-sha2-256".utf8))
        return renamed.bytes + reader.rest()
    }

    /// One step of libssh2's authentication call; LIBSSH2_ERROR_EAGAIN means call again when the socket is ready.
    func run(session: OpaquePointer?, user: String, context: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int32 {
        switch way {
        case .file(let path, let passphrase):
            return ct_userauth_publickey_fromfile(session, user, nil, path, passphrase)
        case .agentKey(let agent, let identity):
            return libssh2_agent_userauth(agent, user, identity)
        case .rsa(let blob, _):
            context.pointee = Unmanaged.passUnretained(self).toOpaque()
            return libssh2_userauth_publickey(session, user, blob, blob.count, Attempt.signCallback, context)
        }
    }

    /// libssh2's sign callback: the raw signature, in memory libssh2 frees with its default allocator (free).
    private static let signCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                                                     UnsafeMutablePointer<Int>?, UnsafePointer<UInt8>?, Int,
                                                     UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 = {
        _, signature, signatureLength, data, dataLength, abstract in
        guard let signature, let signatureLength, let data, let raw = abstract?.pointee else { return -1 }
        let attempt = Unmanaged<Attempt>.fromOpaque(raw).takeUnretainedValue()
        guard case .rsa(_, let sign) = attempt.way else { return -1 }
        switch sign(Array(UnsafeBufferPointer(start: data, count: dataLength))) {
        case .failure(let error):
            attempt.failure = error.message
            return -1
        case .success(let bytes):
            guard let out = malloc(max(bytes.count, 1))?.assumingMemoryBound(to: UInt8.self) else { return -1 }
            out.initialize(from: bytes, count: bytes.count)
            signature.pointee = out
            signatureLength.pointee = bytes.count
            return 0
        }
    }
}
