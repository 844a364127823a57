// Host key verification against an OpenSSH known_hosts file, by policy (libssh2 knownhost API).
import CLibSSH2
import Engine
import Foundation

/// The known_hosts file of one run: read once, new keys appended (never rewritten).
final class KnownHosts {
    let path: String
    let policy: HostKeyPolicy
    /// The file's size when read (see SSHTransport.pinned).
    var loadedSize = 0
    private var store: OpaquePointer?   // LIBSSH2_KNOWNHOSTS*
    // A store allocates through the session that created it, so it gets a session of its own that outlives
    // every connection.
    private var anchor: OpaquePointer?

    init(path: String, policy: HostKeyPolicy) {
        self.path = path
        self.policy = policy
    }

    deinit {
        if let store { libssh2_knownhost_free(store) }
        if let anchor { libssh2_session_free(anchor) }
    }

    /// Checks the server key of an established handshake; returns nil when accepted, or the refusal text.
    func check(session: OpaquePointer, host: String, port: Int) -> String? {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(session, &length, &type) else {
            return "no host key received"
        }
        let fingerprint = Self.fingerprint(session)
        let typeName = Self.typeName(type)
        if policy == .off { return nil }
        let store = loaded()
        let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | Self.keyBit(type)
        var entry: UnsafeMutablePointer<libssh2_knownhost>? = nil
        let result = libssh2_knownhost_checkp(store, host, Int32(port), key, length, mask, &entry)
        let name = port == 22 ? host : "[\(host)]:\(port)"
        switch result {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            return nil
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            return "host key mismatch: the server offers \(typeName) \(fingerprint) but \(path) holds another key "
                + "for \(name); if the host was reinstalled, remove the old key with: "
                + "ssh-keygen -R '\(name)' -f \(path)"
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
            if policy == .strict {
                return "unknown host key \(typeName) \(fingerprint) (--host-key-policy=strict); "
                    + "if you trust it, add it with: ssh-keyscan -p \(port) \(host) >> \(path)"
            }
            return record(store: store, name: name, key: key, length: length, mask: mask)
        default:
            return "host key check failed for \(name) (\(typeName) \(fingerprint))"
        }
    }

    /// The store, read from the file on first use.
    private func loaded() -> OpaquePointer {
        if let store { return store }
        anchor = ct_session_init()
        let fresh = libssh2_knownhost_init(anchor)!
        if FileManager.default.fileExists(atPath: path) {
            _ = libssh2_knownhost_readfile(fresh, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
        }
        store = fresh
        return fresh
    }

    /// Adds a new key to the store and appends it to the file; returns a refusal text on failure.
    private func record(store: OpaquePointer, name: String, key: UnsafePointer<CChar>, length: Int,
                        mask: Int32) -> String? {
        var entry: UnsafeMutablePointer<libssh2_knownhost>? = nil
        guard libssh2_knownhost_addc(store, name, nil, key, length, nil, 0, mask, &entry) == 0, let entry else {
            return "cannot record host key for \(name)"
        }
        var line = [CChar](repeating: 0, count: 8192)
        var written = 0
        guard libssh2_knownhost_writeline(store, entry, &line, line.count, &written,
                                          LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0 else {
            return "cannot format host key for \(name)"
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot write \(path): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let bytes = line.prefix(written).map { UInt8(bitPattern: $0) }
        let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
        return ok ? nil : "cannot write \(path): \(String(cString: strerror(errno)))"
    }

    static func fingerprint(_ session: OpaquePointer) -> String {
        guard let hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256) else { return "SHA256:?" }
        let data = Data(bytes: hash, count: 32)
        return "SHA256:" + data.base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func typeName(_ type: Int32) -> String {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa"
        case LIBSSH2_HOSTKEY_TYPE_DSS: return "ssh-dss"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521"
        case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519"
        default: return "unknown-key-type"
        }
    }

    static func keyBit(_ type: Int32) -> Int32 {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA
        case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521
        case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519
        default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN
        }
    }
}
