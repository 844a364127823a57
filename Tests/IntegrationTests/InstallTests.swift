// scripts/install into a temporary PREFIX, from the debug build: the executables, their completions and the man
// pages land where they should, and man finds and renders every page through MANPATH.
import Engine
import Foundation
import XCTest

final class InstallTests: XCTestCase {
    func testInstallPutsManPagesBesideTheCompletionsAndManFindsThem() throws {
        let prefix = NSTemporaryDirectory() + "ct-install-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        var environment = ProcessInfo.processInfo.environment
        environment["CLOUDTASK_BIN_DIR"] = Env.root + "/.build/debug"
        let install = try Subprocess.run([Env.root + "/scripts/install", prefix], environment: environment,
                                         output: .capture, error: .capture, timeout: 120)
        XCTAssertEqual(install.status, 0, install.errorText)
        for name in Command.all.map(\.name) {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "\(prefix)/bin/\(name)"), name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(prefix)/share/bash-completion/completions/\(name)"), name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(prefix)/share/man/man1/\(name).1"), name)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(prefix)/share/man/man7/cloudtask-faq.7"))

        let man = ["PATH": "/usr/bin:/bin", "MANPATH": prefix + "/share/man", "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"]
        for page in ManPage.pages {
            let found = try Subprocess.run(["man", "-w", page.name], environment: man, output: .capture, error: .capture, timeout: 30)
            XCTAssertEqual(found.outputText, "\(prefix)/share/man/man\(page.section)/\(page.fileName)\n", found.errorText)
        }
        let shown = try Subprocess.run(["man", "cloudtask"], environment: man, output: .capture, error: .capture, timeout: 30)
        XCTAssertEqual(shown.status, 0, shown.errorText)
        XCTAssertTrue(shown.outputText.contains("cloudtask - run a batch of shell-command jobs"), shown.outputText)
        XCTAssertTrue(shown.outputText.contains("--split=N"), "the options table is on the page")
        let whatis = try Subprocess.run(["whatis", "ctsh"], environment: man, output: .capture, error: .capture, timeout: 30)
        XCTAssertTrue(whatis.outputText.contains("ctsh (1)"), "mandb indexed the pages: \(whatis.outputText) \(whatis.errorText)")
    }
}
