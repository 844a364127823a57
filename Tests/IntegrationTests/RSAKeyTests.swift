// Issue 11, item 2: RSA keys (OpenSSH and PEM files, passphrases, the agent) log in to OpenSSH 9.2, which refuses
// the SHA-1 signatures libssh2 1.10 makes; dropbear too. Each test authorizes its own key on worker 1 and removes it.
import Foundation
import XCTest

final class RSAKeyTests: IntegrationCase {
    var tag = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        tag = unique()
    }

    override func tearDownWithError() throws {
        XCTAssertEqual(editAuthorized(adding: nil), 0)
        try super.tearDownWithError()
    }

    /// Removes this test's lines from worker 1's authorized_keys and adds `key`: atomic and under the lock
    /// cloudtask's own edits take (Engine/JobQueue.swift), since other tests and worktrees share the workers.
    func editAuthorized(adding key: String?) -> Int32 {
        let add = key.map { "; cat '\($0)'" } ?? ""
        return shell("""
            d=\(Env.dir)/w1/home/.ssh; f="$d/authorized_keys"; umask 077; mkdir -p "$d" && touch "$f" && \
            ( flock 9 && { grep -v -F -e '\(tag)' "$f" || true\(add); } > "$f.rsa-test.$$" && mv -f "$f.rsa-test.$$" "$f" ) 9>"$d/.cloudtask.lock"
            """)
    }

    /// A new RSA key at `name` in this test's home, `-m PEM` when `pem`, authorized on worker 1 unless told.
    func rsaKey(_ name: String, pem: Bool = false, passphrase: String = "", authorize: Bool = true) throws -> String {
        let path = home + "/" + name
        XCTAssertEqual(shell("ssh-keygen -q -t rsa -b 2048 \(pem ? "-m PEM" : "") -N '\(passphrase)' -C \(tag) -f \(path)"), 0)
        if authorize { XCTAssertEqual(editAuthorized(adding: path + ".pub"), 0) }
        return path
    }

    /// Runs `id -un` on worker 1 with `key` as the only key (no agent: the harness drops SSH_AUTH_SOCK).
    func login(_ key: String, _ extra: [String] = [], workers: String = "127.0.1.1") throws -> Result {
        try run(["--ssh-identity=\(key)", "--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=\(workers)"]
                + extra + ["sh", "-c", "id -un; : $0"], stdin: Array("x\n".utf8))
    }

    func testRSAKeyInOpenSSHFormatLogsIn() throws {
        let key = try rsaKey("id_rsa")
        XCTAssertTrue(file(key).hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----"))
        let r = try login(key)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root\n")
    }

    func testRSAKeyInPEMFormatLogsIn() throws {
        let key = try rsaKey("id_rsa", pem: true)
        XCTAssertTrue(file(key).hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        let r = try login(key)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root\n")
    }

    func testUnauthorizedRSAKeyIsRefused() throws {
        let key = try rsaKey("id_rsa", authorize: false)
        let r = try login(key)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("127.0.1.1: unreachable: authentication as root failed: \(key): "), r.stderr)
    }

    func testPassphraseFileOpensAnEncryptedPEMKeyAndIsNotSaved() throws {
        let key = try rsaKey("id_rsa", pem: true, passphrase: "open sesame")
        XCTAssertTrue(file(key).contains("Proc-Type: 4,ENCRYPTED"))
        try passphraseFileOpens(key)
    }

    /// ssh-keygen's default since OpenSSH 7.8: the OpenSSH format, aes256-ctr with a bcrypt_pbkdf key (16 rounds).
    func testPassphraseFileOpensAnEncryptedOpenSSHKey() throws {
        let key = try rsaKey("id_rsa", passphrase: "open sesame")
        XCTAssertTrue(file(key).hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----"))
        XCTAssertEqual(output(["/usr/bin/ssh-keygen", "-y", "-P", "", "-f", key]), "", "encrypted: no public key without the passphrase")
        try passphraseFileOpens(key)
    }

    /// Other ciphers ssh-keygen offers: the AES ones open, the AEAD ones are named with the fix.
    func testOpenSSHKeyCiphers() throws {
        for cipher in ["aes128-ctr", "aes256-cbc"] {
            let key = try rsaKey("id_rsa_" + cipher, passphrase: "open sesame")
            XCTAssertEqual(shell("ssh-keygen -q -p -P 'open sesame' -N 'open sesame' -Z \(cipher) -f \(key) >/dev/null"), 0)
            try passphraseFileOpens(key)
        }
        let key = try rsaKey("id_rsa_chacha", passphrase: "open sesame")
        XCTAssertEqual(shell("ssh-keygen -q -p -P 'open sesame' -N 'open sesame' -Z chacha20-poly1305@openssh.com -f \(key) >/dev/null"), 0)
        let secret = home + "/passphrase"
        try "open sesame\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let r = try login(key, ["--ssh-passphrase-file=\(secret)"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(key): encrypted with chacha20-poly1305@openssh.com, which cloudtask does not read: "
                                        + "re-encrypt it with ssh-keygen -p -Z aes256-ctr -f FILE, or add it to ssh-agent"), r.stderr)
    }

    /// --ssh-passphrase-file opens `key`; a wrong passphrase is named; the passphrase is never saved.
    func passphraseFileOpens(_ key: String) throws {
        let secret = home + "/passphrase"
        try "open sesame\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let r = try login(key, ["--ssh-passphrase-file=\(secret)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root\n")
        XCTAssertFalse(sessionFile(1, "conf").contains("passphrase"), sessionFile(1, "conf"))

        try "wrong\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let wrong = try login(key, ["--ssh-passphrase-file=\(secret)"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("\(key): wrong passphrase"), wrong.stderr)
    }

    func testEncryptedKeyWithoutPassphraseNamesTheKeyAndTheFix() throws {
        for pem in [true, false] {
            let key = try rsaKey(pem ? "id_rsa_pem" : "id_rsa", pem: pem, passphrase: "open sesame")
            let r = try login(key)
            XCTAssertEqual(r.status, 1)
            XCTAssertTrue(r.stderr.contains("127.0.1.1: unreachable: \(key) is encrypted: give its passphrase with --ssh-passphrase-file or add it to ssh-agent\n"),
                          r.stderr)
        }
    }

    /// Issue 11: with a terminal and no passphrase given, it is asked on /dev/tty with echo off, once per key, again
    /// after a wrong one up to 3 times; then the run fails as without a terminal.
    func testPassphraseIsAskedOnTheTerminal() throws {
        let secret = "Sesame4711"
        let key = try rsaKey("id_rsa", pem: true, passphrase: secret)
        let done = home + "/done"
        let arguments = ["--force", "--ssh-identity=\(key)", "--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)",
                         "--workers=127.0.1.1"].joined(separator: " ")
        let command = "cd \(home) && printf 'a\\nb\\n' | env -u SSH_AUTH_SOCK \(Env.binary) \(arguments) sh -c 'id -un; : \\$0' > out; echo exit=\\$? > \(done); sleep 30"
        let prompt = "Enter passphrase for \(key):"  // tmux drops the trailing space
        func prompts(_ name: String) -> Int { screen(name).components(separatedBy: prompt).count - 1 }

        let name = tmux(command)
        defer { shell("tmux kill-session -t \(name)") }
        waitWhile(tries: 200, every: 0.05) { prompts(name) < 1 }
        shell("tmux send-keys -t \(name) -l wrong && tmux send-keys -t \(name) Enter")
        waitWhile(tries: 200, every: 0.05) { prompts(name) < 2 }
        XCTAssertEqual(prompts(name), 2, "a wrong passphrase is asked again: \(screen(name))")
        shell("tmux send-keys -t \(name) -l \(secret) && tmux send-keys -t \(name) Enter")
        waitWhile(tries: 400, every: 0.05) { !FileManager.default.fileExists(atPath: done) }
        XCTAssertEqual(file(done).trimmingCharacters(in: .whitespacesAndNewlines), "exit=0", screen(name))
        XCTAssertEqual(file(home + "/out"), "root\nroot\n")
        XCTAssertEqual(prompts(name), 2, "asked once for the key, though two jobs connect with it")
        XCTAssertFalse(screen(name).contains("wrong") || screen(name).contains(secret), "never echoed: \(screen(name))")
        XCTAssertNotEqual(shell("grep -r -q -e \(secret) -e wrong \(sessions)"), 0, "never saved")

        try FileManager.default.removeItem(atPath: done)
        let refused = tmux(command)
        defer { shell("tmux kill-session -t \(refused)") }
        for count in 1...3 {
            waitWhile(tries: 200, every: 0.05) { prompts(refused) < count }
            shell("tmux send-keys -t \(refused) -l wrong\(count) && tmux send-keys -t \(refused) Enter")
        }
        waitWhile(tries: 400, every: 0.05) { !FileManager.default.fileExists(atPath: done) }
        XCTAssertEqual(prompts(refused), 3, "three tries: \(screen(refused))")
        XCTAssertEqual(file(done).trimmingCharacters(in: .whitespacesAndNewlines), "exit=1")
        // stderr stays on the terminal (the prompt is for a person watching it): the message is on the screen.
        let joined = output(["/usr/bin/tmux", "capture-pane", "-p", "-J", "-t", refused])
        XCTAssertTrue(joined.contains("127.0.1.1: unreachable: \(key) is encrypted: give its passphrase with --ssh-passphrase-file "
                                      + "or add it to ssh-agent"), joined)
    }

    /// In ctsh, where stderr is a terminal, an encrypted key is asked for once in the shell's life: a pool's
    /// fleet command and a task after it connect with it; nothing is echoed. Without a terminal, the message names it.
    func testCtshAsksThePassphraseOncePerShell() throws {
        let secret = "Sesame4711"
        let key = try rsaKey("id_rsa", passphrase: secret)
        let done = home + "/done"
        let script = home + "/both.lua"
        try """
            local pool = workers{"127.0.1.1", identity = "\(key)", known_hosts = "\(Env.knownHosts)"}
            local r = pool:run("id -un")["127.0.1.1"]
            io.write("fleet:", r.output, r.error or "", "\\n")
            local t = task{workers = pool, command = "id -un; :", jobs = {"a"}, sessions = "\(sessions)"}:run()
            io.write("task:", t.ok, "\\n")
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let prompt = "Enter passphrase for \(key):"
        func prompts(_ name: String) -> Int { screen(name).components(separatedBy: prompt).count - 1 }
        let name = tmux("cd \(home) && env -u SSH_AUTH_SOCK \(Env.root)/.build/debug/ctsh \(script) > out; echo exit=\\$? > \(done); sleep 30")
        defer { shell("tmux kill-session -t \(name)") }
        waitWhile(tries: 200, every: 0.05) { prompts(name) < 1 }
        shell("tmux send-keys -t \(name) -l \(secret) && tmux send-keys -t \(name) Enter")
        waitWhile(tries: 400, every: 0.05) { !FileManager.default.fileExists(atPath: done) }
        XCTAssertEqual(file(done).trimmingCharacters(in: .whitespacesAndNewlines), "exit=0", screen(name))
        XCTAssertEqual(file(home + "/out"), "fleet:root\n\nroot\ntask:1\n", "in the order written: \(screen(name))")
        XCTAssertEqual(prompts(name), 1, "asked once for the pool and the task: \(screen(name))")
        XCTAssertFalse(screen(name).contains(secret), "never echoed: \(screen(name))")

        let piped = try run([script], binary: Env.root + "/.build/debug/ctsh")
        XCTAssertEqual(piped.out, "fleet:\(key) is encrypted: give its passphrase with --ssh-passphrase-file "
                       + "or add it to ssh-agent\ntask:0\n", piped.stderr)
    }

    func testRSAKeyInTheAgentLogsIn() throws {
        // The agent holds only the RSA key, and this test's home has no key files: RSA is the only way in.
        let key = try rsaKey("agent_rsa", passphrase: "")
        let (agent, socket) = try startAgent(keys: [key])
        defer { agent.terminate(); agent.waitUntilExit() }
        try FileManager.default.removeItem(atPath: key)
        let r = try run(["--known-hosts=\(Env.knownHosts)", "--sessions=\(sessions)", "--workers=127.0.1.1", "sh", "-c", "id -un; : $0"],
                        stdin: Array("x\n".utf8), env: ["SSH_AUTH_SOCK": socket])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root\n")
    }

    /// Dropbear 2022.83 with an RSA host key: it reads root's ~/.ssh/authorized_keys, so it runs in a mount
    /// namespace where /root is this test's folder.
    func testRSAKeyLogsInToDropbear() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dropbear") else {
            throw HarnessError(message: "dropbear is not installed (apt-get install dropbear-bin; scripts/deps does)")
        }
        let root = home + "/dropbear-root"
        try FileManager.default.createDirectory(atPath: root + "/.ssh", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let key = try rsaKey("id_rsa", authorize: false)
        try FileManager.default.copyItem(atPath: key + ".pub", toPath: root + "/.ssh/authorized_keys")
        XCTAssertEqual(shell("dropbearkey -t rsa -s 2048 -f \(home)/host_rsa >/dev/null 2>&1"), 0)
        let (server, port) = try startServer { port in
            ["/usr/bin/unshare", "-m", "/bin/sh", "-c",
             "mount --bind \(root) /root && exec /usr/sbin/dropbear -F -E -s -r \(self.home)/host_rsa -p 127.0.0.1:\(port) -P \(self.home)/dropbear.pid"]
        }
        defer { server.terminate(); server.waitUntilExit() }
        let r = try login(key, ["--host-key-policy=off"], workers: "127.0.0.1:\(port)")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root\n")
    }


    func testRSAKeyLogsInToAPool() throws {
        let key = try rsaKey("id_rsa")
        let r = try run(["-e", """
            local out = workers{"127.0.1.1", identity = "\(key)", known_hosts = "\(Env.knownHosts)"}:run("id -un")["127.0.1.1"].output
            io.write(out)
            """], binary: Env.root + "/.build/debug/ctsh")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "root\n")
    }
}
