// RSA key files read for ourselves, because libssh2 1.10 signs RSA only with SHA-1 (`ssh-rsa`), which
// OpenSSH 8.8 and later refuse: PEM and PKCS#8 through libcrypto, OpenSSH's own format parsed here.
import CCrypto
import Foundation

/// An RSA private key (a libcrypto EVP_PKEY) that signs SSH authentication data. Frees itself.
final class RSAKey {
    /// What reading a key file found.
    enum Reading {
        case key(RSAKey)
        /// Not an RSA key (ed25519, ECDSA): libssh2 reads it as before.
        case other
        /// Encrypted and no passphrase was given.
        case encrypted
        case failed(String)
    }

    private let pkey: OpaquePointer?
    /// The public key in SSH wire form: string "ssh-rsa", mpint e, mpint n.
    let publicBlob: [UInt8]

    private init(pkey: OpaquePointer, publicBlob: [UInt8]) {
        self.pkey = pkey
        self.publicBlob = publicBlob
    }

    deinit { if let pkey { EVP_PKEY_free(pkey) } }

    /// Keys already read, by file, contents and passphrase: an encrypted OpenSSH key costs a bcrypt_pbkdf
    /// (16 rounds by default, a tenth of a second and more), which every connection would pay again.
    private struct Read: Hashable { let path: String, contents: Data, passphrase: String? }
    nonisolated(unsafe) private static var keys: [Read: RSAKey] = [:]
    private static let keysLock = NSLock()

    /// Reads the key file at `path`, decrypting it with `passphrase` when it is encrypted.
    static func read(path: String, passphrase: String?) -> Reading {
        guard let data = FileManager.default.contents(atPath: path) else { return .failed("cannot read the file") }
        let read = Read(path: path, contents: data, passphrase: passphrase)
        if let key = keysLock.withLock({ keys[read] }) { return .key(key) }
        let reading = parse(data, passphrase: passphrase)
        if case .key(let key) = reading { keysLock.withLock { keys[read] = key } }
        return reading
    }

    private static func parse(_ data: Data, passphrase: String?) -> Reading {
        let text = String(decoding: data, as: UTF8.self)
        if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return OpenSSHKeyFile.read(text, passphrase: passphrase)
        }
        let rsa = text.contains("-----BEGIN RSA PRIVATE KEY-----")
        let pkcs8 = text.contains("-----BEGIN PRIVATE KEY-----") || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        guard rsa || pkcs8 else { return .other }
        let encrypted = text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        if encrypted && passphrase == nil { return .encrypted }
        return readPEM(data, passphrase: passphrase, encrypted: encrypted)
    }

    /// A PEM key through libcrypto; a PKCS#8 key of another type is `.other`.
    private static func readPEM(_ data: Data, passphrase: String?, encrypted: Bool) -> Reading {
        ERR_clear_error()
        let pkey: OpaquePointer? = data.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            // Without a passphrase the callback refuses: libcrypto's default would prompt on the terminal.
            return (passphrase ?? "").withCString { pass in
                PEM_read_bio_PrivateKey(bio, nil, { buffer, size, _, user in
                    guard let buffer, let user else { return -1 }
                    let pass = user.assumingMemoryBound(to: CChar.self)
                    let length = strlen(pass)
                    guard length > 0, length <= Int(size) else { return -1 }
                    memcpy(buffer, pass, length)
                    return Int32(length)
                }, passphrase == nil ? nil : UnsafeMutableRawPointer(mutating: pass))
            }
        }
        guard let pkey else {
            let reason = cryptoError()
            return .failed(encrypted ? "wrong passphrase (\(reason))" : reason)
        }
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA, let blob = publicBlob(of: pkey) else {
            EVP_PKEY_free(pkey)
            return .other
        }
        return .key(RSAKey(pkey: pkey, publicBlob: blob))
    }

    /// A key from OpenSSH's fields (big-endian magnitudes): n, e, d, iqmp, p, q.
    static func make(n: [UInt8], e: [UInt8], d: [UInt8], iqmp: [UInt8], p: [UInt8], q: [UInt8]) -> Reading {
        let numbers = [n, e, d, iqmp, p, q].map { (bytes: [UInt8]) -> OpaquePointer? in BN_bin2bn(bytes, Int32(bytes.count), nil) }
        let context = BN_CTX_new()
        let dmp1 = BN_new(), dmq1 = BN_new(), p1 = BN_dup(numbers[4]), q1 = BN_dup(numbers[5])
        let builder = OSSL_PARAM_BLD_new()
        defer {
            for number in numbers + [dmp1, dmq1, p1, q1] { BN_clear_free(number) }
            BN_CTX_free(context)
            OSSL_PARAM_BLD_free(builder)
        }
        // OpenSSH keeps no CRT exponents; libcrypto wants them: d mod (p-1), d mod (q-1).
        guard numbers.allSatisfy({ $0 != nil }), let context, let builder,
              BN_sub_word(p1, 1) == 1, BN_sub_word(q1, 1) == 1,
              ct_bn_mod(dmp1, numbers[2], p1, context) == 1, ct_bn_mod(dmq1, numbers[2], q1, context) == 1
        else { return .failed("bad RSA key numbers") }
        // The builder keeps the name pointers until `to_param`: static strings, not Swift's temporary copies.
        let fields: [(StaticString, OpaquePointer?)] = [("n", numbers[0]), ("e", numbers[1]), ("d", numbers[2]),
                                                        ("rsa-factor1", numbers[4]), ("rsa-factor2", numbers[5]),
                                                        ("rsa-exponent1", dmp1), ("rsa-exponent2", dmq1),
                                                        ("rsa-coefficient1", numbers[3])]
        for (name, value) in fields {
            let cName = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
            guard OSSL_PARAM_BLD_push_BN(builder, cName, value) == 1 else { return .failed("bad RSA key numbers") }
        }
        guard let params = OSSL_PARAM_BLD_to_param(builder) else { return .failed(cryptoError()) }
        defer { OSSL_PARAM_free(params) }
        guard let keyContext = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { return .failed(cryptoError()) }
        defer { EVP_PKEY_CTX_free(keyContext) }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_fromdata_init(keyContext) == 1,
              EVP_PKEY_fromdata(keyContext, &pkey, ct_evp_pkey_keypair(), params) == 1, let pkey
        else { return .failed(cryptoError()) }
        guard let blob = publicBlob(of: pkey) else { EVP_PKEY_free(pkey); return .failed(cryptoError()) }
        return .key(RSAKey(pkey: pkey, publicBlob: blob))
    }

    /// Signs `data` with PKCS#1 v1.5 over SHA-256 (`rsa-sha2-256`) or SHA-1 (`ssh-rsa`); nil on failure.
    func sign(_ data: [UInt8], sha256: Bool) -> Result<[UInt8], KeyFileError> {
        let failed = { Result<[UInt8], KeyFileError>.failure(KeyFileError(message: "RSA signature: \(RSAKey.cryptoError())")) }
        guard let pkey, let context = EVP_MD_CTX_new() else { return failed() }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, sha256 ? EVP_sha256() : EVP_sha1(), nil, pkey) == 1 else { return failed() }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, data, data.count) == 1 else { return failed() }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, data, data.count) == 1 else { return failed() }
        return .success(Array(signature.prefix(length)))
    }

    /// The "ssh-rsa" blob of `pkey`'s public half.
    private static func publicBlob(of pkey: OpaquePointer) -> [UInt8]? {
        var n: OpaquePointer? = nil, e: OpaquePointer? = nil
        defer { BN_free(n); BN_free(e) }
        guard EVP_PKEY_get_bn_param(pkey, "n", &n) == 1, EVP_PKEY_get_bn_param(pkey, "e", &e) == 1, let n, let e else { return nil }
        func magnitude(_ number: OpaquePointer) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: Int(ct_bn_num_bytes(number)))
            BN_bn2bin(number, &bytes)
            return bytes
        }
        var blob = SSHWire()
        blob.string(Array("ssh-rsa".utf8))
        blob.mpint(magnitude(e))
        blob.mpint(magnitude(n))
        return blob.bytes
    }

    /// libcrypto's last error as text.
    static func cryptoError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "libcrypto failed" }
        var buffer = [UInt8](repeating: 0, count: 256)
        buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: CChar.self) }, $0.count) }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// SSH wire encoding (RFC 4251): what the agent protocol, key blobs and OpenSSH key files are made of.
struct SSHWire {
    var bytes: [UInt8] = []

    mutating func uint32(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
    mutating func string(_ value: [UInt8]) { uint32(UInt32(value.count)); bytes += value }
    /// A positive big-endian magnitude as an mpint: no leading zeros, one zero byte when the top bit is set.
    mutating func mpint(_ magnitude: [UInt8]) {
        var value = Array(magnitude.drop { $0 == 0 })
        if let first = value.first, first & 0x80 != 0 { value.insert(0, at: 0) }
        string(value)
    }
}

/// Reads SSH wire encoding; every read is nil past the end.
struct SSHWireReader {
    private let bytes: [UInt8]
    private(set) var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { offset >= bytes.count }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func uint32() -> UInt32? {
        guard offset + 4 <= bytes.count else { return nil }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func string() -> [UInt8]? {
        guard let length = uint32().map(Int.init), offset + length <= bytes.count else { return nil }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }
    mutating func rest() -> [UInt8] { defer { offset = bytes.count }; return Array(bytes[min(offset, bytes.count)...]) }
}

/// The key type named by an SSH public key blob's first field ("ssh-rsa", "ssh-ed25519", ...).
func blobKeyType(_ blob: [UInt8]) -> String? {
    var reader = SSHWireReader(blob)
    return reader.string().map { String(decoding: $0, as: UTF8.self) }
}
