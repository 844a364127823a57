// OpenSSH's own private key format ("-----BEGIN OPENSSH PRIVATE KEY-----", PROTOCOL.key in OpenSSH's
// source), read far enough to find an RSA key's numbers; libcrypto does not read this format.
import Foundation

enum OpenSSHKeyFile {
    /// The RSA key in `text`, `.other` for another key type.
    static func read(_ text: String, passphrase: String?) -> RSAKey.Reading {
        let file: Envelope
        switch envelope(text) {
        case .success(let found): file = found
        case .failure(let error): return .failed(error.message)
        }
        guard blobKeyType(file.publicBlob) == "ssh-rsa" else { return .other }
        var plain = file.sealed
        if file.encrypted {
            guard let passphrase else { return .encrypted }
            switch file.open(passphrase) {
            case .success(let opened): plain = opened
            case .failure(let error): return .failed(error.message)
            }
        }
        var key = SSHWireReader(plain)
        guard let check1 = key.uint32(), let check2 = key.uint32() else { return .failed("truncated key") }
        guard check1 == check2 else { return .failed(file.encrypted ? "wrong passphrase" : "corrupt key") }
        guard key.string().map({ String(decoding: $0, as: UTF8.self) }) == "ssh-rsa",
              let n = key.string(), let e = key.string(), let d = key.string(), let iqmp = key.string(),
              let p = key.string(), let q = key.string()
        else { return .failed("truncated RSA key") }
        return RSAKey.make(n: n, e: e, d: d, iqmp: iqmp, p: p, q: q)
    }
}

extension OpenSSHKeyFile {
    /// The outer part of an OpenSSH key file: how its private section is sealed, its public key, and that section.
    struct Envelope {
        let cipher: String, kdf: String, options: [UInt8], publicBlob: [UInt8], sealed: [UInt8]
        var encrypted: Bool { cipher != "none" }
        func open(_ passphrase: String) -> Result<[UInt8], KeyFileError> {
            OpenSSHKeyCipher.open(sealed, cipher: cipher, kdf: kdf, options: options, passphrase: passphrase)
        }
    }

    static func envelope(_ text: String) -> Result<Envelope, KeyFileError> {
        let body = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("-----") }.joined()
        guard let decoded = Data(base64Encoded: body) else {
            return .failure(KeyFileError(message: "not an OpenSSH key file (bad base64)"))
        }
        let magic = Array("openssh-key-v1\0".utf8)
        let bytes = Array(decoded)
        guard bytes.starts(with: magic) else { return .failure(KeyFileError(message: "not an OpenSSH key file")) }
        var file = SSHWireReader(Array(bytes.dropFirst(magic.count)))
        guard let cipher = file.string().map({ String(decoding: $0, as: UTF8.self) }), let kdf = file.string(),
              let options = file.string(), file.uint32() == 1, let publicBlob = file.string(), let sealed = file.string()
        else { return .failure(KeyFileError(message: "not an OpenSSH key file (or more than one key)")) }
        return .success(Envelope(cipher: cipher, kdf: String(decoding: kdf, as: UTF8.self), options: options,
                                 publicBlob: publicBlob, sealed: sealed))
    }

    /// The envelope of an encrypted OpenSSH key file, whatever its type; nil if `text` is not one.
    static func sealed(_ text: String) -> Envelope? {
        guard case .success(let file) = envelope(text), file.encrypted else { return nil }
        return file
    }

    /// Whether `passphrase` opens the key in `text`, whatever its type: the check words match once decrypted.
    /// nil: not an encrypted OpenSSH key file.
    static func opens(_ text: String, passphrase: String) -> Bool? {
        guard let file = sealed(text) else { return nil }
        guard case .success(let plain) = file.open(passphrase) else { return false }
        var key = SSHWireReader(plain)
        guard let check1 = key.uint32(), let check2 = key.uint32() else { return false }
        return check1 == check2
    }
}

/// Why an encrypted OpenSSH key could not be opened.
struct KeyFileError: Error { let message: String }
