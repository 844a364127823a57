// bcrypt_pbkdf and its Blowfish, against published vectors and an independent implementation (pyca/bcrypt's
// kdf, run once to get the expected bytes). The end-to-end proof, a key file ssh-keygen encrypted that then
// logs in, is in IntegrationTests/RSAKeyTests.
import XCTest
@testable import SSH

final class KeyCipherTests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Schneier's vectors (schneier.com/code/vectors.txt): the classic key schedule, one block each.
    func testBlowfishMatchesSchneiersVectors() {
        for (key, plain, cipher): ([UInt8], (UInt32, UInt32), (UInt32, UInt32)) in [
            ([UInt8](repeating: 0, count: 8), (0, 0), (0x4EF9_9745, 0x6198_DD78)),
            ([UInt8](repeating: 0xFF, count: 8), (0xFFFF_FFFF, 0xFFFF_FFFF), (0x5186_6FD5, 0xB85E_CB8A)),
            ([0x30, 0, 0, 0, 0, 0, 0, 0], (0x1000_0000, 0x0000_0001), (0x7D85_6F9A, 0x6130_63F2)),
        ] {
            let state = Blowfish()
            state.expand(key: key, data: nil)
            let out = state.encrypt(plain.0, plain.1)
            XCTAssertEqual([out.0, out.1], [cipher.0, cipher.1], "key \(hex(key))")
        }
    }

    func testBcryptPBKDFMatchesAnIndependentImplementation() {
        XCTAssertEqual(hex(BcryptPBKDF.derive(passphrase: Array("password".utf8), salt: Array("salt".utf8), rounds: 4, length: 48)),
                       "5ba4bfc60c7ac272931458407f4c1c4936ea356c55125c5a279b791d65bf9842d49d7e1b572a9052715ebfa9421e7e94")
        XCTAssertEqual(hex(BcryptPBKDF.derive(passphrase: Array("open sesame".utf8), salt: Array(0..<16), rounds: 16, length: 32)),
                       "d3d494976f9ee559fa9c10def8be0cc2a7c797290a0ecd6c40660e0d482c598f")
        XCTAssertEqual(hex(BcryptPBKDF.derive(passphrase: [0x78], salt: [0x79], rounds: 1, length: 3)), "8f8a62")
    }
}
