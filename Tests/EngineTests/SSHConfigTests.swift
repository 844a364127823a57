// Tests for SSHConfig: the ssh_config subset we honour, resolved with ssh's precedence.
import XCTest
@testable import Engine

final class SSHConfigTests: XCTestCase {
    private func resolve(_ text: String, _ host: String, user: String? = nil, localUser: String = "me",
                         file: StaticString = #filePath, line: UInt = #line) -> SSHConfig.Entry {
        do { return try SSHConfig(text: text, home: "/home/me").resolve(host: host, user: user, localUser: localUser) } catch {
            XCTFail("\(error)", file: file, line: line)
            return SSHConfig.Entry()
        }
    }

    /// The error resolving `host` throws, as text ("" when it does not throw).
    private func refusal(_ text: String, _ host: String) -> String {
        do { _ = try SSHConfig(text: text, home: "/home/me").resolve(host: host, localUser: "me") } catch {
            return "\(error)"
        }
        return ""
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


    func testUnknownKeywordsAndMissingIncludesAreIgnored() {
        let config = """
        Include ~/.ssh/config.d/*
        Host web
            ForwardAgent yes
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
        XCTAssertEqual(try parsed.resolve(host: "web", localUser: "me"), SSHConfig.Entry(hostName: "10.9.9.9", user: "fromten", port: 2201))
        XCTAssertEqual(try parsed.resolve(host: "db", localUser: "me"), SSHConfig.Entry(hostName: "10.9.9.9", user: "fromtwenty"))
        XCTAssertEqual(try parsed.resolve(host: "batch1", localUser: "me"), SSHConfig.Entry(port: 2299, identityFiles: [home + "/.ssh/batch_key"]),
                       "the Host batch* block goes on after its Include")
        XCTAssertEqual(try parsed.resolve(host: "other", localUser: "me"), SSHConfig.Entry())
        // A file that includes itself 4 times stops (ssh's depth of 16, and at most 256 files) instead of 4^16 reads.
        XCTAssertEqual(try parsed.resolve(host: "loop", localUser: "me"), SSHConfig.Entry())
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

    func testLoadMissingFileIsEmpty() throws {
        let config = SSHConfig.load(path: "/nonexistent/\(UUID().uuidString)/config", home: "/home/me")
        XCTAssertEqual(try config.resolve(host: "web", localUser: "me"), SSHConfig.Entry())
    }

    func testLoadReadsTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sshconfig-\(UUID().uuidString)")
        try Data("Host web\n  User root\n  IdentityFile ~/k\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let config = SSHConfig.load(path: url.path, home: "/root")
        XCTAssertEqual(try config.resolve(host: "web", localUser: "me"), SSHConfig.Entry(user: "root", identityFiles: ["/root/k"]))
    }

    // MARK: - Match (issue 11, item 3)

    func testMatchHostSeesTheHostNameSoFarAndOriginalHostTheNameGiven() {
        let config = """
        Host short
            HostName long.example.com
        Match host long.*
            User byname
        Match originalhost short
            Port 2201
        Match host short
            IdentityFile ~/.ssh/never
        Match originalhost long.*
            IdentityFile ~/.ssh/never2
        """
        XCTAssertEqual(resolve(config, "short"), SSHConfig.Entry(hostName: "long.example.com", user: "byname", port: 2201))
        XCTAssertEqual(resolve(config, "LONG.other").user, "byname", "host names match ignoring case")
    }

    func testMatchPatternListsAndNegation() {
        let config = """
        Match host web-*,db-*,!db-old
            User fleet
        Match !host web-*
            Port 2222
        Match originalhost !only-negated
            HostKeyAlias never
        """
        XCTAssertEqual(resolve(config, "web-1"), SSHConfig.Entry(user: "fleet"))
        XCTAssertEqual(resolve(config, "db-2"), SSHConfig.Entry(user: "fleet", port: 2222))
        XCTAssertEqual(resolve(config, "db-old"), SSHConfig.Entry(port: 2222), "a negated pattern that matches wins")
        XCTAssertNil(resolve(config, "x").hostKeyAlias, "a list of only negated patterns matches nothing")
    }

    func testMatchUserAndLocalUser() {
        let config = """
        Match user root,admin localuser me
            Port 2201
        Match !user root
            IdentityFile ~/.ssh/nonroot
        Match localuser !me,*
            HostKeyAlias notme
        Host web
            User admin
        Match user ad*
            ConnectTimeout 5
        """
        XCTAssertEqual(resolve(config, "h", user: "root"), SSHConfig.Entry(port: 2201))
        XCTAssertEqual(resolve(config, "h", user: "bob"), SSHConfig.Entry(identityFiles: ["/home/me/.ssh/nonroot"]))
        XCTAssertEqual(resolve(config, "h", user: "root", localUser: "you").port, nil, "localuser must match too")
        XCTAssertEqual(resolve(config, "h", user: "root", localUser: "you").hostKeyAlias, "notme")
        XCTAssertEqual(resolve(config, "h", user: "ROOT").port, nil, "user names match case-sensitively")
        // Without a user given, Match user sees the config's User so far, else the local user.
        XCTAssertEqual(resolve(config, "web").connectTimeout, 5)
        XCTAssertNil(resolve(config, "web", user: "root").connectTimeout, "the user given beats the config's")
        XCTAssertEqual(resolve(config, "h", localUser: "root").port, nil, "localuser me fails")
        XCTAssertEqual(resolve(config, "h", localUser: "me").identityFiles, ["/home/me/.ssh/nonroot"])
    }

    func testMatchCriteriaOnOneLineMustAllHold() {
        let config = """
        Match host fleet-* user root
            HostName 127.0.1.2
        """
        XCTAssertEqual(resolve(config, "fleet-1", user: "root").hostName, "127.0.1.2")
        XCTAssertNil(resolve(config, "fleet-1", user: "bob").hostName)
        XCTAssertNil(resolve(config, "other", user: "root").hostName)
    }

    func testMatchAllCanonicalAndFinal() {
        // Without canonicalization `canonical` never holds unless a `Match final` asks for the final pass, where
        // both hold; first values still win, and the final pass sees the HostName found.
        let noFinal = """
        Match canonical
            User canon
        Match all
            Port 2200
        """
        XCTAssertEqual(resolve(noFinal, "web"), SSHConfig.Entry(port: 2200))
        let withFinal = """
        Match canonical
            User canon
        Match final host *.example.com
            Port 2202
        Match !final
            IdentityFile ~/.ssh/first
        Host web
            HostName web.example.com
            Port 2203
        """
        XCTAssertEqual(resolve(withFinal, "web"), SSHConfig.Entry(hostName: "web.example.com", user: "canon", port: 2203,
                                                                 identityFiles: ["/home/me/.ssh/first"]))
        XCTAssertEqual(resolve(withFinal, "db.example.com").port, 2202)
        XCTAssertNil(resolve(withFinal, "db.other").port)
    }

    func testMalformedMatchLinesAreRefusedWithTheirPlace() {
        XCTAssertEqual(refusal("Host x\nMatch all host web\n  User u\n", "web"),
                       "~/.ssh/config:2: Match all cannot be combined with other criteria")
        XCTAssertEqual(refusal("Match frobnicate x\n", "web"), "~/.ssh/config:1: unsupported Match criterion 'frobnicate'")
        XCTAssertEqual(refusal("Match host\n", "web"), "~/.ssh/config:1: Match host needs an argument")
        XCTAssertEqual(refusal("Match\n", "web"), "~/.ssh/config:1: Match needs criteria")
    }

    func testMatchExecIsNeverRunCountsAsNotMatchingAndWarns() {
        let marker = "/tmp/sshconfig-exec-\(UUID().uuidString)"
        let config = """
        Match host web exec "touch \(marker)"
            User fromexec
        Match host db exec "true"
            User dbexec
        Match !exec "false"
            Port 1
        Host web
            User fromhost
        Match localnetwork 10.0.0.0/8
            HostKeyAlias net
        Match all
            Port 9999
        """
        let web = resolve(config, "web")
        XCTAssertEqual(web.user, "fromhost")
        XCTAssertEqual(web.port, 9999, "a negated exec counts as not matching too")
        XCTAssertNil(web.hostKeyAlias)
        XCTAssertEqual(web.warnings, [
            "~/.ssh/config:1: Match exec is not run by cloudtask: this Match counts as not matching",
            "~/.ssh/config:5: Match exec is not run by cloudtask: this Match counts as not matching",
            "~/.ssh/config:9: Match localnetwork is not supported: this Match counts as not matching",
        ])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the command was run")
        // ssh runs the command only when the criteria before it hold: no warning for line 1 here.
        XCTAssertEqual(resolve(config, "other").warnings.map { String($0.prefix(17)) }, ["~/.ssh/config:5: ", "~/.ssh/config:9: "])
    }

    // MARK: - The other keywords

    func testNewKeywordsFirstValueWins() {
        let config = """
        Host web
            IdentitiesOnly yes
            ConnectTimeout soon
            ConnectTimeout 7
            ServerAliveInterval 1m30s
            ServerAliveCountMax 5
            HostKeyAlias web-alias
        Host off
            ConnectTimeout none
            IdentitiesOnly maybe
        Host *
            IdentitiesOnly no
            ConnectTimeout 99
            ServerAliveInterval 3
            ServerAliveCountMax 1
            HostKeyAlias other
        """
        XCTAssertEqual(resolve(config, "web"), SSHConfig.Entry(identitiesOnly: true, connectTimeout: 7, serverAliveInterval: 90,
                                                             serverAliveCountMax: 5, hostKeyAlias: "web-alias"))
        XCTAssertEqual(resolve(config, "db"), SSHConfig.Entry(identitiesOnly: false, connectTimeout: 99, serverAliveInterval: 3,
                                                            serverAliveCountMax: 1, hostKeyAlias: "other"))
        let off = resolve(config, "off")
        XCTAssertNil(off.connectTimeout, "ConnectTimeout none is a first value too")
        XCTAssertEqual(off.identitiesOnly, false, "an invalid yes/no is ignored")
    }

    func testTimes() {
        XCTAssertEqual(SSHConfig.seconds("10"), 10)
        XCTAssertEqual(SSHConfig.seconds("1m30s"), 90)
        XCTAssertEqual(SSHConfig.seconds("2h"), 7200)
        XCTAssertEqual(SSHConfig.seconds("1W1d"), 691200)
        XCTAssertNil(SSHConfig.seconds("5q"))
        XCTAssertNil(SSHConfig.seconds("m"))
        XCTAssertNil(SSHConfig.seconds("-3"))
    }

    // MARK: - ProxyJump and ProxyCommand

    func testProxyJumpForms() {
        let config = """
        Host one
            ProxyJump bastion
        Host chain
            ProxyJump alice@b1:2201,[::1]:2222,ssh://bob@b3
        Host off
            ProxyJump none
        Host *
            ProxyJump fallback
        """
        XCTAssertEqual(resolve(config, "one").jumps, [JumpHost(host: "bastion")])
        XCTAssertEqual(resolve(config, "chain").jumps, [JumpHost(user: "alice", host: "b1", port: 2201),
                                                        JumpHost(host: "::1", port: 2222), JumpHost(user: "bob", host: "b3")])
        XCTAssertNil(resolve(config, "off").jumps, "none wins over the later fallback")
        XCTAssertEqual(resolve(config, "x").jumps, [JumpHost(host: "fallback")])
        XCTAssertEqual(resolve(config, "chain").jumps?.map(\.description), ["alice@b1:2201", "[::1]:2222", "bob@b3"])
    }

    func testBadProxyJumpIsRefusedWithItsPlace() {
        XCTAssertEqual(refusal("Host web\n  ProxyJump a,,b\n", "web"), "~/.ssh/config:2: ProxyJump empty jump host in ''")
        XCTAssertEqual(refusal("Host web\n  ProxyJump b:99999\n", "web"), "~/.ssh/config:2: ProxyJump 'b:99999': bad port '99999'")
        XCTAssertEqual(refusal("Host web\n  ProxyJump a b\n", "web"),
                       "~/.ssh/config:2: ProxyJump takes one argument (hops are separated by commas)")
        XCTAssertEqual(refusal("Host web\n  ProxyJump @b\n", "web"), "~/.ssh/config:2: ProxyJump '@b': empty user name")
        XCTAssertEqual(refusal("Host web\n  ProxyJump a,,b\n", "db"), "", "a line for another host is not looked at")
    }

    func testProxyCommandSshDashWIsAJumpHost() {
        let config = """
        Host plain
            ProxyCommand ssh -W %h:%p bastion
        Host quiet
            ProxyCommand ssh -q -W %h:%p admin@bastion
        Host brackets
            ProxyCommand /usr/bin/ssh -W [%h]:%p -p 2201 -l ops bastion
        Host chained
            ProxyCommand exec ssh -J j1,j2:2022 -W %h:%p b3
        Host none
            ProxyCommand none
            ProxyJump later
        Host first
            ProxyJump j
            ProxyCommand nc %h %p
        """
        XCTAssertEqual(resolve(config, "plain").jumps, [JumpHost(host: "bastion")])
        XCTAssertEqual(resolve(config, "quiet").jumps, [JumpHost(user: "admin", host: "bastion")])
        XCTAssertEqual(resolve(config, "brackets").jumps, [JumpHost(user: "ops", host: "bastion", port: 2201)])
        XCTAssertEqual(resolve(config, "chained").jumps, [JumpHost(host: "j1"), JumpHost(host: "j2", port: 2022), JumpHost(host: "b3")])
        XCTAssertNil(resolve(config, "none").jumps, "ProxyCommand none is the first value of the two")
        XCTAssertEqual(resolve(config, "first").jumps, [JumpHost(host: "j")], "a ProxyCommand after a ProxyJump is ignored, as in ssh")
    }

    func testOtherProxyCommandsAreRefusedWithFileAndLine() {
        let config = """
        Host *.lan
            User me

        Host nc
            ProxyCommand nc %h %p
        Host option
            ProxyCommand ssh -o Foo=bar -W %h:%p bastion
        Host remote
            ProxyCommand ssh bastion nc %h %p
        Host fixed
            ProxyCommand ssh -W localhost:22 bastion
        Host token
            ProxyCommand ssh -W %h:%p %r@bastion
        """
        XCTAssertEqual(refusal(config, "nc"), "~/.ssh/config:5: ProxyCommand 'nc %h %p' is not supported: use ProxyJump")
        XCTAssertEqual(refusal(config, "option"),
                       "~/.ssh/config:7: ProxyCommand 'ssh -o Foo=bar -W %h:%p bastion' is not supported: use ProxyJump")
        XCTAssertTrue(refusal(config, "remote").hasPrefix("~/.ssh/config:9: ProxyCommand 'ssh bastion nc %h %p' is not"))
        XCTAssertTrue(refusal(config, "fixed").hasPrefix("~/.ssh/config:11: "))
        XCTAssertTrue(refusal(config, "token").hasPrefix("~/.ssh/config:13: "))
        XCTAssertEqual(refusal(config, "web.lan"), "")
    }

    func testARefusalInAnIncludedFileNamesThatFile() throws {
        let home = NSTemporaryDirectory() + "sshconfig-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: home + "/.ssh/config.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try "# jump\n\nMatch originalhost web\n  ProxyCommand nc -X 5 %h %p\n"
            .write(toFile: home + "/.ssh/config.d/proxy", atomically: true, encoding: .utf8)
        try "Include config.d/*\n".write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        let config = SSHConfig.load(path: home + "/.ssh/config", home: home)
        XCTAssertThrowsError(try config.resolve(host: "web", localUser: "me")) { error in
            XCTAssertEqual("\(error)", "~/.ssh/config.d/proxy:4: ProxyCommand 'nc -X 5 %h %p' is not supported: use ProxyJump")
        }
        XCTAssertEqual(try config.resolve(host: "db", localUser: "me"), SSHConfig.Entry())
    }

    // MARK: - Precedence: address > command line > ssh_config > defaults

    private func endpoints(_ sshConfig: String, _ configure: (inout TaskConfig) -> Void) throws -> [Endpoint] {
        let home = NSTemporaryDirectory() + "sshconfig-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try sshConfig.write(toFile: home + "/.ssh/config", atomically: true, encoding: .utf8)
        var config = TaskConfig()
        configure(&config)
        return try Endpoints.resolve(config, home: home, localUser: "me")
    }

    func testPrecedenceOfAddressCommandLineConfigAndDefaults() throws {
        let sshConfig = """
        Match user cli
            ConnectTimeout 1
        Host web
            HostName 10.1.1.1
            User cfguser
            Port 2201
            ConnectTimeout 7
            ServerAliveInterval 4
            ServerAliveCountMax 2
            HostKeyAlias webkey
            IdentitiesOnly yes
            ProxyJump bastion
        """
        let fromConfig = try endpoints(sshConfig) { $0.workers = ["web other"] }
        XCTAssertEqual(fromConfig[0], Endpoint(label: "web", host: "10.1.1.1", port: 2201, user: "cfguser", identityFiles: [],
                                               connectTimeout: 7, aliveInterval: 4, aliveCountMax: 2, hostKeyAlias: "webkey",
                                               identitiesOnly: true,
                                               jumps: [Endpoint(label: "bastion", host: "bastion", port: 22, user: "me",
                                                                identityFiles: [])]))
        XCTAssertEqual(fromConfig[1], Endpoint(label: "other", host: "other", port: 22, user: "me", identityFiles: []),
                       "the defaults")
        let fromCommandLine = try endpoints(sshConfig) {
            $0.workers = ["web"]; $0.user = "cli"; $0.port = 2300; $0.connectTimeout = 3; $0.jump = "j1,j2"
        }[0]
        XCTAssertEqual(fromCommandLine.user, "cli")
        XCTAssertEqual(fromCommandLine.port, 2300)
        XCTAssertEqual(fromCommandLine.connectTimeout, 3)
        XCTAssertEqual(fromCommandLine.jumps.map(\.label), ["j1", "j2"])
        XCTAssertEqual(fromCommandLine.jumps.map(\.port), [22, 22], "--port is the workers' only, as ssh's -p")
        XCTAssertEqual(fromCommandLine.jumps.map(\.user), ["me", "me"], "--user is the workers' only, as ssh's -l")
        XCTAssertEqual(fromCommandLine.jumps.map(\.connectTimeout), [3, 3], "--connect-timeout holds for every connection")
        let matchedByCommandLineUser = try endpoints(sshConfig) { $0.workers = ["web"]; $0.user = "cli"; $0.jump = "none" }[0]
        XCTAssertEqual(matchedByCommandLineUser.connectTimeout, 1, "Match user sees --user")
        XCTAssertEqual(matchedByCommandLineUser.jumps, [], "--jump=none beats ProxyJump")
        let fromAddress = try endpoints(sshConfig) { $0.workers = ["addr@web:2400"]; $0.user = "cli"; $0.port = 2300 }[0]
        XCTAssertEqual(fromAddress.user, "addr")
        XCTAssertEqual(fromAddress.port, 2400)
        XCTAssertEqual(fromAddress.connectTimeout, 7, "Match user cli does not hold for addr@")
    }

    /// Issue 11: a jump host is looked up in ssh_config as ssh does for each hop, not given the worker's settings.
    func testJumpHostsAreResolvedWithTheirOwnConfig() throws {
        let sshConfig = """
        Host web
            IdentityFile /dev/null
            ProxyJump bastion
        Host bastion
            HostName 10.0.0.1
            User ops
            Port 2207
            IdentityFile /dev/null/bastion-key
            ConnectTimeout 5
            HostKeyAlias bastion-key
            ProxyJump outer
        Host outer
            User edge
        Host loop1
            ProxyJump loop2
        Host loop2
            ProxyJump loop1
        """
        let web = try endpoints(sshConfig) { $0.workers = ["web"] }[0]
        XCTAssertEqual(web.jumps.map(\.label), ["outer", "bastion"], "bastion's own ProxyJump goes before it")
        let bastion = web.jumps[1]
        XCTAssertEqual([bastion.host, bastion.user, String(bastion.port)], ["10.0.0.1", "ops", "2207"])
        XCTAssertEqual(bastion.connectTimeout, 5)
        XCTAssertEqual(bastion.hostKeyAlias, "bastion-key")
        XCTAssertEqual(bastion.identityFiles, [], "a missing IdentityFile is dropped, and the worker's is not the hop's")
        XCTAssertEqual(web.jumps[0].user, "edge")
        let given = try endpoints(sshConfig) { $0.workers = ["x"]; $0.jump = "root@bastion:22,last"; $0.sshIdentity = "/k" }[0]
        XCTAssertEqual(given.jumps.map(\.label), ["outer", "root@bastion:22", "last"])
        XCTAssertEqual([given.jumps[1].user, String(given.jumps[1].port)], ["root", "22"], "the hop's user@ and :port win")
        XCTAssertEqual(given.jumps[2].identityFiles, ["/k"], "--ssh-identity is offered to hops too")
        XCTAssertEqual(try endpoints(sshConfig) { $0.workers = ["x"]; $0.jump = "last,bastion" }[0].jumps.map(\.label),
                       ["last", "bastion"], "only the first hop's ProxyJump counts, as in ssh -J")
        XCTAssertThrowsError(try endpoints(sshConfig) { $0.workers = ["x"]; $0.jump = "loop1" }) { error in
            XCTAssertEqual("\(error)", "x: jump host loop2: ProxyJump loops back to loop1")
        }
    }

    func testARefusedConfigLineNamesTheWorker() throws {
        XCTAssertThrowsError(try endpoints("Host web\n  ProxyCommand nc %h %p\n") { $0.workers = ["web"] }) { error in
            XCTAssertEqual("\(error)", "web: ~/.ssh/config:2: ProxyCommand 'nc %h %p' is not supported: use ProxyJump")
        }
    }

    func testLivenessFollowsServerAliveUnlessPingIntervalIsGiven() {
        var config = TaskConfig()
        let plain = Endpoint(label: "a", host: "a", port: 22, user: "u", identityFiles: [])
        var alive = plain
        alive.aliveInterval = 4
        var counted = alive
        counted.aliveCountMax = 5
        var disabled = plain
        disabled.aliveInterval = 0
        var policy = RunPolicy(config)
        XCTAssertEqual(policy.liveness(plain), .init(interval: 30, intervalsToAnswer: 2, source: "--ping-interval=30"))
        XCTAssertEqual(policy.liveness(alive), .init(interval: 4, intervalsToAnswer: 3, source: "ServerAliveInterval 4"),
                       "ssh's CountMax 3: dead after 4 silent intervals")
        XCTAssertEqual(policy.liveness(counted).answerWithin, 20)
        XCTAssertEqual(policy.liveness(disabled).interval, 30, "ServerAliveInterval 0 does not stop our pings")
        config.pingInterval = 10
        policy = RunPolicy(config)
        XCTAssertEqual(policy.liveness(alive), .init(interval: 10, intervalsToAnswer: 2, source: "--ping-interval=10"))
        XCTAssertEqual(policy.liveness(counted), .init(interval: 10, intervalsToAnswer: 5,
                                                       source: "--ping-interval=10, ServerAliveCountMax 5"))
    }

    func testConnectTimeoutAndJumpOptions() throws {
        let (config, _) = try Options.parse(["--connect-timeout=5", "--jump=a@b:22,c", "echo"], environment: [:])
        XCTAssertEqual(config.connectTimeout, 5)
        XCTAssertEqual(config.jump, "a@b:22,c")
        XCTAssertThrowsError(try Options.parse(["--jump=b:99999", "echo"], environment: [:])) { error in
            XCTAssertEqual("\(error)", "--jump=b:99999: 'b:99999': bad port '99999'")
        }
        XCTAssertThrowsError(try Options.parse(["--connect-timeout=soon", "echo"], environment: [:]))
        let fields = Options.luaFields.map(\.field)
        XCTAssertTrue(fields.contains("connect_timeout") && fields.contains("jump"), "\(fields)")
        let lua = try Options.apply(fields: [("jump", .text("j")), ("connect_timeout", .text("2"))], to: TaskConfig())
        XCTAssertEqual(lua.jump, "j")
        XCTAssertEqual(lua.connectTimeout, 2)
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
