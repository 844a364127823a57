// Opening the encrypted part of an OpenSSH-format key file (bcrypt KDF, then AES).
import Foundation

enum OpenSSHKeyCipher {
    /// The decrypted private section, or why not.
    static func open(_ sealed: [UInt8], cipher: String, kdf: String, options: [UInt8], passphrase: String) -> Result<[UInt8], KeyFileError> {
        .failure(KeyFileError(message: "encrypted with \(cipher) (\(kdf)), which cloudtask does not read yet: "
            + "add the key to ssh-agent, or convert it to PEM with ssh-keygen -p -m PEM -f FILE"))
    }
}
