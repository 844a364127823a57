// OpenSSH's own private key format ("-----BEGIN OPENSSH PRIVATE KEY-----", PROTOCOL.key in OpenSSH's
// source), read far enough to find an RSA key's numbers; libcrypto does not read this format.
import Foundation

enum OpenSSHKeyFile {
    /// The RSA key in `text`, `.other` for another key type.
    static func read(_ text: String, passphrase: String?) -> RSAKey.Reading {
        let body = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("-----") }.joined()
        guard let decoded = Data(base64Encoded: body) else { return .failed("not an OpenSSH key file (bad base64)") }
        let magic = Array("openssh-key-v1\0".utf8)
        let bytes = Array(decoded)
        guard bytes.starts(with: magic) else { return .failed("not an OpenSSH key file") }
        var file = SSHWireReader(Array(bytes.dropFirst(magic.count)))
        guard let cipher = file.string().map({ String(decoding: $0, as: UTF8.self) }), let kdf = file.string(),
              let kdfOptions = file.string(), file.uint32() == 1, let publicBlob = file.string(), let sealed = file.string()
        else { return .failed("not an OpenSSH key file (or more than one key)") }
        guard blobKeyType(publicBlob) == "ssh-rsa" else { return .other }
        var plain = sealed
        if cipher != "none" {
            guard let passphrase else { return .encrypted }
            switch OpenSSHKeyCipher.open(sealed, cipher: cipher, kdf: String(decoding: kdf, as: UTF8.self),
                                         options: kdfOptions, passphrase: passphrase) {
            case .success(let opened): plain = opened
            case .failure(let error): return .failed(error.message)
            }
        }
        var key = SSHWireReader(plain)
        guard let check1 = key.uint32(), let check2 = key.uint32() else { return .failed("truncated key") }
        guard check1 == check2 else { return .failed(cipher == "none" ? "corrupt key" : "wrong passphrase") }
        guard key.string().map({ String(decoding: $0, as: UTF8.self) }) == "ssh-rsa",
              let n = key.string(), let e = key.string(), let d = key.string(), let iqmp = key.string(),
              let p = key.string(), let q = key.string()
        else { return .failed("truncated RSA key") }
        return RSAKey.make(n: n, e: e, d: d, iqmp: iqmp, p: p, q: q)
    }
}

extension OpenSSHKeyFile {
    /// The envelope of an encrypted OpenSSH key file, whatever its type; nil if `text` is not one.
    static func sealed(_ text: String) -> (cipher: String, kdf: String, options: [UInt8], sealed: [UInt8])? {
        let body = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("-----") }.joined()
        let magic = Array("openssh-key-v1\0".utf8)
        guard let decoded = Data(base64Encoded: body), Array(decoded).starts(with: magic) else { return nil }
        var file = SSHWireReader(Array(decoded.dropFirst(magic.count)))
        guard let cipher = file.string().map({ String(decoding: $0, as: UTF8.self) }), cipher != "none",
              let kdf = file.string(), let kdfOptions = file.string(), file.uint32() == 1, file.string() != nil,
              let sealed = file.string() else { return nil }
        return (cipher, String(decoding: kdf, as: UTF8.self), kdfOptions, sealed)
    }

    /// Whether `passphrase` opens the key in `text`, whatever its type: the check words match once decrypted.
    /// nil: not an encrypted OpenSSH key file.
    static func opens(_ text: String, passphrase: String) -> Bool? {
        guard let (cipher, kdf, kdfOptions, sealed) = sealed(text) else { return nil }
        guard case .success(let plain) = OpenSSHKeyCipher.open(sealed, cipher: cipher, kdf: kdf,
                                                               options: kdfOptions, passphrase: passphrase) else { return false }
        var key = SSHWireReader(plain)
        guard let check1 = key.uint32(), let check2 = key.uint32() else { return false }
        return check1 == check2
    }
}

/// Why an encrypted OpenSSH key could not be opened.
struct KeyFileError: Error { let message: String }
