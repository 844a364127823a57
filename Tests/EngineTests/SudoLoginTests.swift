// --sudo's settings (Sudo.swift): where the password comes from, and how sudo's failures read.
import XCTest
@testable import Engine

final class SudoLoginTests: XCTestCase {
    func testThePasswordIsTheFilesFirstLineElseTheVariable() throws {
        let file = NSTemporaryDirectory() + "ct-sudo-\(UUID().uuidString)"
        try "pa ss\nsecond\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        var config = TaskConfig()
        XCTAssertNil(try SudoLogin.resolve(config, environment: [SudoLogin.passwordVariable: "x"]))
        config.sudo = true
        XCTAssertEqual(try SudoLogin.resolve(config, environment: [:]), SudoLogin(user: "root", password: nil))
        XCTAssertEqual(try SudoLogin.resolve(config, environment: [SudoLogin.passwordVariable: "env"])?.password, "env")
        config.sudoPasswordFile = file
        config.sudoUser = "app"
        XCTAssertEqual(try SudoLogin.resolve(config, environment: [SudoLogin.passwordVariable: "env"]),
                       SudoLogin(user: "app", password: "pa ss"))
        XCTAssertEqual("\(SudoLogin(user: "app", password: "pa ss"))", "sudo -u app (password ***)")
    }

    func testTheConfKeepsThePasswordFilesPathOnly() throws {
        let (config, _) = try Options.parse(["--sudo", "--sudo-user=app", "true"], environment: [:])
        XCTAssertTrue(config.sudo)
        XCTAssertEqual(config.sudoUser, "app")
        let fields = Options.luaFields.map(\.field)
        XCTAssertTrue(fields.contains("sudo") && fields.contains("sudo_user") && fields.contains("sudo_password_file"))
    }

    func testSudosFailuresReadShort() {
        XCTAssertEqual(SudoLogin.problem(Array("sudo: a password is required\n".utf8)), "a password is required")
        XCTAssertEqual(SudoLogin.problem(Array("Sorry, try again.\n\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n".utf8)),
                       "incorrect password")
        XCTAssertEqual(SudoLogin.problem(Array("sudo: unknown user app\n".utf8)), "unknown user app")
        XCTAssertNil(SudoLogin.problem(Array("pre output\n".utf8)))
    }
}
