// bcrypt_pbkdf, the key derivation of encrypted OpenSSH-format key files (OpenBSD's, 2013): PBKDF2-like rounds
// whose pseudo-random function is a bcrypt hash (Provos and Mazieres' expensive Blowfish key schedule) of
// SHA-512 digests. libcrypto has neither the expensive schedule nor this KDF, so both are here.
import CCrypto

enum BcryptPBKDF {
    /// `length` key bytes from `passphrase` and `salt`, after `rounds` rounds.
    static func derive(passphrase: [UInt8], salt: [UInt8], rounds: Int, length: Int) -> [UInt8] {
        precondition(rounds >= 1 && length >= 1 && length <= 1024)
        let hashBytes = 32
        let stride = (length + hashBytes - 1) / hashBytes
        let perBlock = (length + stride - 1) / stride
        let hashedPassphrase = sha512(passphrase)
        var key = [UInt8](repeating: 0, count: length)
        let state = Blowfish()
        var count: UInt32 = 1
        var remaining = length
        while remaining > 0 {
            let counter = [24, 16, 8, 0].map { UInt8(count >> $0 & 0xff) }
            var round = hash(state, passphrase: hashedPassphrase, salt: sha512(salt + counter))
            var block = round
            for _ in 1..<rounds {
                round = hash(state, passphrase: hashedPassphrase, salt: sha512(round))
                for i in 0..<hashBytes { block[i] ^= round[i] }
            }
            // Each block's bytes are spread over the key, `stride` apart, so every block is needed for any part of it.
            let taken = min(perBlock, remaining)
            var placed = 0
            for i in 0..<taken {
                let at = i * stride + Int(count - 1)
                if at >= length { break }
                key[at] = block[i]
                placed += 1
            }
            remaining -= placed
            count += 1
        }
        return key
    }

    /// The bcrypt hash of two SHA-512 digests: 32 bytes.
    static func hash(_ state: Blowfish, passphrase: [UInt8], salt: [UInt8]) -> [UInt8] {
        state.reset()
        state.expand(key: passphrase, data: salt)
        for _ in 0..<64 {
            state.expand(key: salt, data: nil)
            state.expand(key: passphrase, data: nil)
        }
        var words = Blowfish.words(Array("OxychromaticBlowfishSwatDynamite".utf8))
        for _ in 0..<64 {
            for block in Swift.stride(from: 0, to: words.count, by: 2) {
                (words[block], words[block + 1]) = state.encrypt(words[block], words[block + 1])
            }
        }
        // Each word goes out least significant byte first.
        return words.flatMap { word in (0..<4).map { UInt8(word >> (8 * $0) & 0xff) } }
    }

    static func sha512(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 64)
        var size: UInt32 = 0
        let ok = EVP_Digest(bytes, bytes.count, &digest, &size, EVP_sha512(), nil)
        precondition(ok == 1 && size == 64, "libcrypto SHA-512 failed")
        return digest
    }
}

/// Blowfish (Schneier, 1993) with the "expandstate" key schedule of bcrypt, which mixes in a salt.
/// The state is one buffer (P-array, then the four S-boxes): a debug build spends seconds on a key otherwise.
final class Blowfish {
    private let state = UnsafeMutablePointer<UInt32>.allocate(capacity: 18 + 1024)
    private var s: UnsafeMutablePointer<UInt32> { state + 18 }

    init() { reset() }
    deinit { state.deallocate() }

    /// Back to the initial state: pi's digits.
    func reset() {
        BlowfishTables.pi.withUnsafeBufferPointer { state.update(from: $0.baseAddress!, count: 18 + 1024) }
    }

    /// The classic schedule when `data` is nil; with `data`, bcrypt's: its words are xor-ed into each block
    /// before it is encrypted. Both key and data are read cyclically, four bytes big-endian at a time.
    func expand(key: [UInt8], data: [UInt8]?) {
        var keyAt = 0
        for i in 0..<18 { state[i] ^= Blowfish.word(key, &keyAt) }
        var dataAt = 0
        var left: UInt32 = 0, right: UInt32 = 0
        for i in stride(from: 0, to: 18 + 1024, by: 2) {
            if let data {
                left ^= Blowfish.word(data, &dataAt)
                right ^= Blowfish.word(data, &dataAt)
            }
            (left, right) = encrypt(left, right)
            state[i] = left; state[i + 1] = right
        }
    }

    /// One 64-bit block, as two 32-bit halves.
    func encrypt(_ left: UInt32, _ right: UInt32) -> (UInt32, UInt32) {
        let p = state, s = self.s
        @inline(__always) func f(_ x: UInt32) -> UInt32 {
            ((s[Int(x >> 24)] &+ s[256 + Int(x >> 16 & 0xff)]) ^ s[512 + Int(x >> 8 & 0xff)]) &+ s[768 + Int(x & 0xff)]
        }
        var l = left ^ p[0], r = right
        var i = 1
        while i < 17 {
            r ^= f(l) ^ p[i]
            l ^= f(r) ^ p[i + 1]
            i += 2
        }
        return (r ^ p[17], l)
    }

    static func word(_ bytes: [UInt8], _ at: inout Int) -> UInt32 {
        var word: UInt32 = 0
        for _ in 0..<4 {
            if at >= bytes.count { at = 0 }
            word = word << 8 | UInt32(bytes[at])
            at += 1
        }
        return word
    }

    static func words(_ bytes: [UInt8]) -> [UInt32] {
        var at = 0
        return (0..<bytes.count / 4).map { _ in word(bytes, &at) }
    }
}
