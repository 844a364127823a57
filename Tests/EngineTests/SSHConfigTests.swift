// Tests for SSHConfig: the ssh_config subset we honour, resolved with ssh's precedence.
import XCTest
@testable import Engine

final class SSHConfigTests: XCTestCase {
    private func resolve(_ text: String, _ host: String, localUser: String = "me") -> SSHConfig.Entry {
        SSHConfig(text: text, home: "/home/me").resolve(host: host, localUser: localUser)
    }

    func testEmptyConfigSaysNothing() {
        XCTAssertEqual(resolve("", "web"), SSHConfig.Entry())
        XCTAssertEqual(resolve("# only a comment\n\n", "web"), SSHConfig.Entry(hostName: nil, user: nil, port: nil, identityFiles: []))
    }

    func testHostBlockApplies() {
        let config = """
        Host web
            HostName 10.0.0.5
            User root
            Port 2222
            IdentityFile ~/.ssh/web_ed25519
        """
        XCTAssertEqual(resolve(config, "web"),
                       SSHConfig.Entry(hostName: "10.0.0.5", user: "root", port: 2222, identityFiles: ["/home/me/.ssh/web_ed25519"]))
        XCTAssertEqual(resolve(config, "db"), SSHConfig.Entry())
    }

    func testFirstValueWinsAndIdentityFilesAccumulate() {
        let config = """
        Host web
            User first
            IdentityFile ~/.ssh/a
        Host web
            User second
            Port 22
            Port 23
            IdentityFile ~/.ssh/b
        Host *
            User fallback
            Port 2200
            IdentityFile ~/.ssh/c
        """
        XCTAssertEqual(resolve(config, "web"),
                       SSHConfig.Entry(user: "first", port: 22, identityFiles: ["/home/me/.ssh/a", "/home/me/.ssh/b", "/home/me/.ssh/c"]))
        XCTAssertEqual(resolve(config, "other"), SSHConfig.Entry(user: "fallback", port: 2200, identityFiles: ["/home/me/.ssh/c"]))
    }

    func testLinesBeforeAnyHostApplyToEveryHost() {
        let config = """
        User everyone
        Host web
            User ignored
        """
        XCTAssertEqual(resolve(config, "web").user, "everyone")
        XCTAssertEqual(resolve(config, "db").user, "everyone")
    }

    func testWildcardPatterns() {
        let config = """
        Host *.example.com
            User star
        Host node-?
            User question
        Host 10.0.*.*
            Port 2022
        """
        XCTAssertEqual(resolve(config, "a.example.com").user, "star")
        XCTAssertEqual(resolve(config, "a.b.example.com").user, "star")
        XCTAssertNil(resolve(config, "example.com").user)
        XCTAssertEqual(resolve(config, "node-1").user, "question")
        XCTAssertNil(resolve(config, "node-12").user)
        XCTAssertNil(resolve(config, "node-").user)
        XCTAssertEqual(resolve(config, "10.0.3.4").port, 2022)
        XCTAssertNil(resolve(config, "10.1.3.4").port)
    }

    func testSeveralPatternsAndNegation() {
        let config = """
        Host web db
            User pair
        Host *.lan !bad.lan
            User lan
        Host !only-negated
            User never
        """
        XCTAssertEqual(resolve(config, "web").user, "pair")
        XCTAssertEqual(resolve(config, "db").user, "pair")
        XCTAssertEqual(resolve(config, "good.lan").user, "lan")
        XCTAssertNil(resolve(config, "bad.lan").user)
        // A line of only negated patterns matches nothing, as in ssh.
        XCTAssertNil(resolve(config, "anything").user)
    }

    func testHostMatchingIgnoresCase() {
        let config = "Host Web.Example.COM\n  User x\n"
        XCTAssertEqual(resolve(config, "web.example.com").user, "x")
        XCTAssertEqual(resolve(config, "WEB.example.com").user, "x")
    }

    func testKeywordsAreCaseInsensitiveAndTakeEquals() {
        let config = """
        HOST=web
          hostname=10.0.0.9
          USER = admin
          port= 2201
          identityFILE =~/.ssh/k
        """
        XCTAssertEqual(resolve(config, "web"),
                       SSHConfig.Entry(hostName: "10.0.0.9", user: "admin", port: 2201, identityFiles: ["/home/me/.ssh/k"]))
    }

    func testQuotedValuesAndTrailingComments() {
        let config = """
        Host "web"
          IdentityFile "~/my keys/id ed25519"
          User 'quoted user' # a trailing comment
          HostName web\\ host
          Port 22 # comment
        """
        let entry = resolve(config, "web")
        XCTAssertEqual(entry.identityFiles, ["/home/me/my keys/id ed25519"])
        XCTAssertEqual(entry.user, "quoted user")
        XCTAssertEqual(entry.hostName, "web host")
        XCTAssertEqual(entry.port, 22)
    }

    func testMatchBlocksAreSkippedUntilTheNextHost() {
        let config = """
        Match host web exec "true"
            User from-match
            IdentityFile ~/.ssh/match
        Host web
            User from-host
        Match all
            Port 9999
        """
        XCTAssertEqual(resolve(config, "web"), SSHConfig.Entry(user: "from-host"))
    }

    func testUnknownKeywordsAndMissingIncludesAreIgnored() {
        let config = """
        Include ~/.ssh/config.d/*
        Host web
            ForwardAgent yes
            ProxyJump bastion
            User root
            NoSuchKeyword whatever
        """
        XCTAssertEqual(resolve(config, "web"), SSHConfig.Entry(user: "root"))
    }

    func testIncludeReadsFilesInPlaceAndTheEnclosingBlockGoesOn() throws {
        let home = NSTemporaryDirectory() + "sshconfig-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: home + "/.ssh/config.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        // Globbed in sorted order; the first value wins, so 10-web's User beats 20-web's.
        try "Host web\n    User fromten\n    Port 2201\n".write(toFile: home + "/.ssh/config.d/10-web", atomically: true, encoding: .utf8)
        try "Host web db\n    User fromtwenty\n    HostName 10.9.9.9\n".write(toFile: home + "/.ssh/config.d/20-web", atomically: true, encoding: .utf8)
        // Lines before any Host in an included file belong to the block of the Include.
        try "IdentityFile ~/.ssh/batch_key\n".write(toFile: home + "/.ssh/batch.conf", atomically: true, encoding: .utf8)
        try "Include loop loop loop loop\nInclude config.d/*\n".write(toFile: home + "/.ssh/loop", atomically: true, encoding: .utf8)
        let config = """
        Include config.d/*
        Host batch*
            Include batch.conf
            Port 2299
        Host loop
            Include loop ~/.ssh/loop
        """
        let parsed = SSHConfig(text: config, home: home)
        XCTAssertEqual(parsed.resolve(host: "web", localUser: "me"), SSHConfig.Entry(hostName: "10.9.9.9", user: "fromten", port: 2201))
        XCTAssertEqual(parsed.resolve(host: "db", localUser: "me"), SSHConfig.Entry(hostName: "10.9.9.9", user: "fromtwenty"))
        XCTAssertEqual(parsed.resolve(host: "batch1", localUser: "me"), SSHConfig.Entry(port: 2299, identityFiles: [home + "/.ssh/batch_key"]),
                       "the Host batch* block goes on after its Include")
        XCTAssertEqual(parsed.resolve(host: "other", localUser: "me"), SSHConfig.Entry())
        // A file that includes itself 4 times stops (ssh's depth of 16, and at most 256 files) instead of 4^16 reads.
        XCTAssertEqual(parsed.resolve(host: "loop", localUser: "me"), SSHConfig.Entry())
    }

    func testInvalidPortAndMissingValuesAreIgnored() {
        let config = """
        Host web
            Port http
            Port 70000
            User
            Port 2022
        """
        XCTAssertEqual(resolve(config, "web"), SSHConfig.Entry(port: 2022))
    }

    func testIdentityFileTokens() {
        let config = """
        Host web
            HostName web.internal
            IdentityFile ~/.ssh/%h-%r
            IdentityFile /keys/%u/%n/%p/100%%
            IdentityFile ~/.ssh/%x-unknown
            IdentityFile none
        Host db
            User dbadmin
            IdentityFile ~/.ssh/%h_%r_%u
        """
        XCTAssertEqual(resolve(config, "web").identityFiles,
                       ["/home/me/.ssh/web.internal-me", "/keys/me/web/22/100%", "/home/me/.ssh/%x-unknown"])
        // %h without HostName is the host as given; %r the remote user, %u the local one.
        XCTAssertEqual(resolve(config, "db").identityFiles, ["/home/me/.ssh/db_dbadmin_me"])
    }

    func testTokensUseValuesFoundAfterTheIdentityFileLine() {
        let config = """
        Host web
            IdentityFile ~/.ssh/%r@%h
        Host *
            HostName %h.example.com
            User deploy
        """
        let entry = resolve(config, "web")
        XCTAssertEqual(entry.hostName, "web.example.com")
        XCTAssertEqual(entry.identityFiles, ["/home/me/.ssh/deploy@web.example.com"])
    }

    func testTildeOnlyAtTheStart() {
        let config = "IdentityFile ~\nIdentityFile /a/~/b\nIdentityFile relative/key\n"
        XCTAssertEqual(resolve(config, "x").identityFiles, ["/home/me", "/a/~/b", "relative/key"])
    }

    func testCRLFConfig() {
        let config = "Host web\r\n  User root\r\n  Port 2022\r\n"
        XCTAssertEqual(resolve(config, "web"), SSHConfig.Entry(user: "root", port: 2022))
    }

    func testLoadMissingFileIsEmpty() {
        let config = SSHConfig.load(path: "/nonexistent/\(UUID().uuidString)/config", home: "/home/me")
        XCTAssertEqual(config.resolve(host: "web", localUser: "me"), SSHConfig.Entry())
    }

    func testLoadReadsTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sshconfig-\(UUID().uuidString)")
        try Data("Host web\n  User root\n  IdentityFile ~/k\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let config = SSHConfig.load(path: url.path, home: "/root")
        XCTAssertEqual(config.resolve(host: "web", localUser: "me"), SSHConfig.Entry(user: "root", identityFiles: ["/root/k"]))
    }

    // MARK: - Helpers

    func testGlob() {
        XCTAssertTrue(SSHConfig.glob("*", ""))
        XCTAssertTrue(SSHConfig.glob("a*b*c", "aXXbYYc"))
        XCTAssertTrue(SSHConfig.glob("a*b", "abab"))
        XCTAssertFalse(SSHConfig.glob("a*b", "aba"))
        XCTAssertTrue(SSHConfig.glob("??", "ab"))
        XCTAssertFalse(SSHConfig.glob("?", ""))
        XCTAssertTrue(SSHConfig.glob("**a", "a"))
    }

    func testSplitArguments() {
        XCTAssertEqual(SSHConfig.splitArguments(#"a "b c" 'd e' f\ g \"h"#), ["a", "b c", "d e", "f g", "\"h"])
        XCTAssertEqual(SSHConfig.splitArguments("a #comment"), ["a"])
        XCTAssertEqual(SSHConfig.splitArguments("a#b"), ["a#b"])
        XCTAssertEqual(SSHConfig.splitArguments(#""" x"#), ["", "x"])
    }
}
