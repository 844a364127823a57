// Opening the encrypted part of an OpenSSH-format key file: bcrypt_pbkdf gives the cipher's key and IV,
// libcrypto decrypts. ssh-keygen's default is aes256-ctr; the CTR and CBC forms of AES are read.
import CCrypto

enum OpenSSHKeyCipher {
    /// The decrypted private section, or why not. A wrong passphrase is not detected here: the check words
    /// at the start of the result then differ.
    static func open(_ sealed: [UInt8], cipher: String, kdf: String, options: [UInt8], passphrase: String) -> Result<[UInt8], KeyFileError> {
        guard let evp = evpCipher(cipher) else {
            return .failure(KeyFileError(message: "encrypted with \(cipher), which cloudtask does not read: "
                + "re-encrypt it with ssh-keygen -p -Z aes256-ctr -f FILE, or add it to ssh-agent"))
        }
        guard kdf == "bcrypt" else { return .failure(KeyFileError(message: "key derivation \(kdf) unknown")) }
        var reader = SSHWireReader(options)
        guard let salt = reader.string(), let rounds = reader.uint32(), rounds >= 1, rounds <= 1 << 20 else {
            return .failure(KeyFileError(message: "corrupt bcrypt options"))
        }
        let keyLength = Int(EVP_CIPHER_get_key_length(evp)), ivLength = Int(EVP_CIPHER_get_iv_length(evp))
        let derived = BcryptPBKDF.derive(passphrase: Array(passphrase.utf8), salt: salt, rounds: Int(rounds),
                                         length: keyLength + ivLength)
        guard let context = EVP_CIPHER_CTX_new() else { return .failure(KeyFileError(message: RSAKey.cryptoError())) }
        defer { EVP_CIPHER_CTX_free(context) }
        var plain = [UInt8](repeating: 0, count: sealed.count + Int(EVP_CIPHER_get_block_size(evp)))
        var written: Int32 = 0, tail: Int32 = 0
        let ok = derived.withUnsafeBufferPointer { key in
            EVP_DecryptInit_ex(context, evp, nil, key.baseAddress, key.baseAddress! + keyLength) == 1
                && EVP_CIPHER_CTX_set_padding(context, 0) == 1
                && EVP_DecryptUpdate(context, &plain, &written, sealed, Int32(sealed.count)) == 1
                && plain.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(written), &tail) } == 1
        }
        guard ok else { return .failure(KeyFileError(message: "cannot decrypt (\(cipher)): " + RSAKey.cryptoError())) }
        return .success(Array(plain.prefix(Int(written + tail))))
    }

    private static func evpCipher(_ name: String) -> OpaquePointer? {
        switch name {
        case "aes128-ctr": return EVP_aes_128_ctr()
        case "aes192-ctr": return EVP_aes_192_ctr()
        case "aes256-ctr": return EVP_aes_256_ctr()
        case "aes128-cbc": return EVP_aes_128_cbc()
        case "aes192-cbc": return EVP_aes_192_cbc()
        case "aes256-cbc": return EVP_aes_256_cbc()
        default: return nil
        }
    }
}
