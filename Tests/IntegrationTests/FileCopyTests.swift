// Issue 13, the transport's part: SSHTransport.copy through real sshd workers (SFTP, and the exec-channel stream
// with CLOUDTASK_COPY_VIA=stream), Dropbear without an sftp-server, a full disk on the worker, a cancel, and a
// 1 GB file with the controller's peak RSS. Loopback workers share this machine's file system.
import Engine
import Foundation
import SSH
import XCTest

/// One connection to one worker, and copies on it one at a time.
final class CopyDriver {
    enum Outcome: Equatable { case copied(Int64, String), failed(String) }
    let transport: SSHTransport
    private var op = 0

    init(host: String = "127.0.1.1", port: Int = 22, via: String? = nil, knownHosts: String = Env.knownHosts) throws {
        // CopyQueue reads the variable when the connection is made.
        if let via { setenv("CLOUDTASK_COPY_VIA", via, 1) } else { unsetenv("CLOUDTASK_COPY_VIA") }
        defer { unsetenv("CLOUDTASK_COPY_VIA") }
        transport = SSHTransport(settings: .init(knownHosts: knownHosts, hostKeyPolicy: .acceptNew, defaultIdentities: [],
                                                 useAgent: false))
        transport.connect(worker: 1, to: Endpoint(label: host, host: host, port: port, user: "root", identityFiles: [Env.key]))
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            for event in transport.wait(timeout: 0.5) {
                if case .connected = event { return }
                if case .connectFailed(_, let message, _) = event { throw HarnessError(message: message) }
            }
        }
        throw HarnessError(message: "no connection to \(host):\(port) in 20 s")
    }

    /// Runs one copy to its end; `progress` sees each `copying` and may cancel it (returns true), which ends this
    /// call with `.failed("cancelled")`.
    func copy(_ files: FileCopy, timeout: Double = 120, progress: (Int64) -> Bool = { _ in false }) -> Outcome {
        op += 1
        transport.copy(op: op, worker: 1, files: files)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for event in transport.wait(timeout: 0.5) {
                switch event {
                case .copying(let id, let bytes) where id == op:
                    if progress(bytes) { transport.cancel(op: op); return .failed("cancelled") }
                case .copied(let id, let bytes, let via) where id == op: return .copied(bytes, via)
                case .failed(let id, let message) where id == op: return .failed(message)
                case .disconnected(_, let message): return .failed("disconnected: \(message)")
                default: break
                }
            }
        }
        return .failed("timed out after \(timeout) s")
    }
}

final class FileCopyTests: IntegrationCase {
    private var mounts: [String] = []

    override func tearDownWithError() throws {
        for mount in mounts.reversed() { shell("umount -l '\(mount)'") }
        mounts = []
        try super.tearDownWithError()
    }

    private func random(_ path: String, bytes: Int, mode: Int = 0o640, mtime: Int = 1_500_000_000) throws {
        let data = FileHandle(forReadingAtPath: "/dev/urandom")!.readData(ofLength: bytes)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(chmod(path, mode_t(mode)), 0)
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
    }

    private func status(_ path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }

    /// Same bytes, mode and mtime.
    private func assertSame(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(FileManager.default.contentsEqual(atPath: a, andPath: b), "\(a) vs \(b)", file: file, line: line)
        guard let sa = status(a), let sb = status(b) else { return XCTFail("missing \(a) or \(b)", file: file, line: line) }
        XCTAssertEqual(sa.st_mode & 0o7777, sb.st_mode & 0o7777, "mode of \(b)", file: file, line: line)
        XCTAssertEqual(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec, "mtime of \(b)", file: file, line: line)
    }

    private func leftovers(_ folder: String) -> [String] {
        (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { $0.contains("ct-partial") }
    }

    // MARK: - Round trips

    private func roundTrip(via: String?) throws {
        let driver = try CopyDriver(via: via)
        let names = ["plain.bin", "with space.bin", "it's \"quoted\".bin", "$HOME\\x.bin"]
        for (i, name) in names.enumerated() { try random(home + "/src/" + name, bytes: 300_000 * i + 7, mode: 0o600 + i) }
        let remote = home + "/remote-\(via ?? "sftp")"
        let put = driver.copy(FileCopy(direction: .put, items: names.map { .init(local: home + "/src/" + $0, remote: remote + "/in/" + $0) },
                                       folder: remote))
        guard case .copied(let bytes, let way) = put else { return XCTFail("put: \(put)") }
        XCTAssertEqual(way, via ?? "sftp")
        XCTAssertGreaterThanOrEqual(bytes, 1_800_000)
        for name in names { assertSame(home + "/src/" + name, remote + "/in/" + name) }
        let get = driver.copy(FileCopy(direction: .get, items: names.map { .init(local: home + "/back/" + $0, remote: remote + "/in/" + $0) }))
        guard case .copied = get else { return XCTFail("get: \(get)") }
        for name in names { assertSame(home + "/src/" + name, home + "/back/" + name) }
        XCTAssertEqual(leftovers(home), [])
        // The folder is emptied by the next put into it.
        let again = driver.copy(FileCopy(direction: .put, items: [.init(local: home + "/src/plain.bin", remote: remote + "/only.bin")], folder: remote))
        XCTAssertEqual(again, .copied(7, via ?? "sftp"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: remote), ["only.bin"])
    }

    func testFileCopyRoundTripOverSFTP() throws { try roundTrip(via: nil) }
    func testFileCopyRoundTripOverStream() throws { try roundTrip(via: "stream") }

    /// A tree with a non-UTF-8 name, an empty folder and a private folder, put and got back whole.
    private func tree(via: String?, host: String = "127.0.1.2", port: Int = 22, expect: String? = nil,
                      knownHosts: String = Env.knownHosts) throws {
        let driver = try CopyDriver(host: host, port: port, via: via, knownHosts: knownHosts)
        let src = home + "/tree"
        try random(src + "/a/b/deep.bin", bytes: 100_000, mode: 0o755, mtime: 1_400_000_000)
        try random(src + "/top.bin", bytes: 10)
        try FileManager.default.createDirectory(atPath: src + "/empty", withIntermediateDirectories: true)
        let odd = src + "/a/n\u{00e9}"
        XCTAssertEqual(shell("printf x > '\(odd)'$(printf '\\377')"), 0)   // é then a byte that is not UTF-8
        XCTAssertEqual(chmod(src + "/a", 0o700), 0)
        let remote = home + "/remote-tree-\(via ?? "sftp")"
        let put = driver.copy(FileCopy(direction: .put, items: [.init(local: src, remote: remote)], recursive: true))
        guard case .copied = put else { return XCTFail("put: \(put)") }
        let get = driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/tree-back", remote: remote)], recursive: true))
        guard case .copied(_, let way) = get else { return XCTFail("get: \(get)") }
        XCTAssertEqual(way, expect ?? via ?? "sftp")
        XCTAssertEqual(shell("diff -r '\(src)' '\(home)/tree-back'"), 0, "trees differ")
        XCTAssertEqual(output(["/bin/sh", "-c", "cd '\(home)/tree-back/a' && ls | od -An -c | tr -d ' \\n'"]), "b" + "\\n" + "n303251377" + "\\n")
        assertSame(src + "/a/b/deep.bin", home + "/tree-back/a/b/deep.bin")
        XCTAssertEqual(status(home + "/tree-back/a").map { $0.st_mode & 0o777 }, 0o700)
        XCTAssertEqual(leftovers(home), [])
        // Without `recursive` a folder is refused, naming it.
        let flat = driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/flat", remote: remote)]))
        XCTAssertEqual(flat, .failed("\(remote): is a folder (not copied without recursive)"))
    }

    func testFileCopyTreeOverSFTP() throws { try tree(via: nil) }
    func testFileCopyTreeOverStream() throws { try tree(via: "stream") }

    // MARK: - Bad input

    private func missing(via: String?) throws {
        let driver = try CopyDriver(via: via)
        let gone = home + "/nowhere/x.gz"
        XCTAssertEqual(driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/x.gz", remote: gone)])),
                       .failed("\(gone): no such file"))
        XCTAssertEqual(driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/x.gz", remote: gone)], missingOK: true)),
                       .copied(0, via ?? "sftp"))
        XCTAssertEqual(driver.copy(FileCopy(direction: .put, items: [.init(local: gone, remote: home + "/r/x.gz")])),
                       .failed("\(gone): no such file"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/x.gz"))
        XCTAssertEqual(leftovers(home), [])
    }

    func testFileCopyMissingFilesOverSFTP() throws { try missing(via: nil) }
    func testFileCopyMissingFilesOverStream() throws { try missing(via: "stream") }

    /// A 1 MB tmpfs as the worker's folder: a 3 MB put fails naming the file and the full disk.
    private func fullDisk(via: String?) throws -> String {
        guard getuid() == 0 else { throw HarnessError(message: "mounting a tmpfs needs root") }
        let small = home + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        guard shell("mount -t tmpfs -o size=1m tmpfs '\(small)'") == 0 else { throw HarnessError(message: "cannot mount a tmpfs") }
        mounts.append(small)
        try random(home + "/big.bin", bytes: 3 << 20)
        let driver = try CopyDriver(via: via)
        let outcome = driver.copy(FileCopy(direction: .put, items: [.init(local: home + "/big.bin", remote: small + "/big.bin")]))
        guard case .failed(let message) = outcome else { XCTFail("a put onto a full disk: \(outcome)"); return "" }
        XCTAssertTrue(message.hasPrefix(small + "/big.bin: "), message)
        XCTAssertFalse(message.contains("\n"), message)
        // The partial file is removed: the disk has room again.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: small), [])
        return message
    }

    func testFileCopyFullDiskOverSFTP() throws {
        let message = try fullDisk(via: nil)
        XCTAssertTrue(message.range(of: #"^.*: no space left on device \(\d+ (bytes|KB) free in .*/small\)$"#, options: .regularExpression) != nil, message)
    }

    func testFileCopyFullDiskOverStream() throws {
        let message = try fullDisk(via: "stream")
        XCTAssertTrue(message.lowercased().contains("no space left on device"), message)
    }

    // MARK: - Cancel

    func testFileCopyCancelLeavesNoPartialFile() throws {
        try random(home + "/src.bin", bytes: 128 << 20)
        let driver = try CopyDriver()
        XCTAssertEqual(driver.copy(FileCopy(direction: .put, items: [.init(local: home + "/src.bin", remote: home + "/remote.bin")])),
                       .copied(128 << 20, "sftp"))
        var seen: Int64 = 0
        // Throttled SFTP reads: each `copying` is a chance to cancel before the end.
        let cancelled = driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/got/x.bin", remote: home + "/remote.bin")])) {
            seen = $0; return true
        }
        XCTAssertEqual(cancelled, .failed("cancelled"), "the get ended before its first progress: make the file bigger")
        XCTAssertGreaterThan(seen, 0)
        XCTAssertLessThan(seen, 128 << 20)
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/got/x.bin"))
        XCTAssertEqual(leftovers(home), [], "a cancelled get left its partial file")
        // The connection copies on (a fresh SFTP session after the one left mid-call).
        XCTAssertEqual(driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/got/y.bin", remote: home + "/remote.bin")])),
                       .copied(128 << 20, "sftp"))
        assertSame(home + "/src.bin", home + "/got/y.bin")
    }

    // MARK: - Dropbear without sftp-server

    /// Dropbear (which runs /usr/lib/sftp-server for the sftp subsystem) in a mount namespace where that program
    /// is /dev/null, so the subsystem starts and ends at once: the probe must find no SFTP and the stream used.
    func testFileCopyFallsBackToStreamOnDropbearWithoutSFTPServer() throws {
        let (server, port, _) = try startDropbear(withoutSFTP: true)
        defer { server.terminate(); server.waitUntilExit() }
        // A known_hosts of this test's own: Dropbear's key is not the workers'.
        try tree(via: nil, host: "127.0.0.1", port: port, expect: "stream", knownHosts: home + "/known_hosts")
        // With SFTP required, the same worker is refused with the reason.
        let driver = try CopyDriver(host: "127.0.0.1", port: port, via: "sftp", knownHosts: home + "/known_hosts")
        let refused = driver.copy(FileCopy(direction: .get, items: [.init(local: home + "/z", remote: "/etc/hostname")]))
        XCTAssertEqual(refused, .failed("no SFTP server on the worker (the sftp subsystem ended without answering)"))
    }

    // MARK: - A big file

    /// 1 GB put and got back by cloudtask-copy-debug: the controller's peak RSS (VmHWM) stays under 64 MB each way.
    func testFileCopyOneGigabyteWithBoundedMemory() throws {
        let tool = URL(fileURLWithPath: Env.binary).deletingLastPathComponent().path + "/cloudtask-copy-debug"
        let big = home + "/big.bin"
        XCTAssertEqual(shell("head -c 1073741824 /dev/urandom > '\(big)'", timeout: 120), 0)
        defer { for path in [big, home + "/remote.bin", home + "/back.bin"] { unlink(path) } }
        for via in ["sftp", "stream"] {
            for (mode, local, remote) in [("put", big, home + "/remote.bin"), ("get", home + "/back.bin", home + "/remote.bin")] {
                let r = try run([mode, "--key=\(Env.key)", "--known-hosts=\(Env.knownHosts)", "127.0.1.3", local, remote],
                                env: ["CLOUDTASK_COPY_VIA": via], timeout: 240, binary: tool)
                XCTAssertEqual(r.status, 0, r.stderr)
                let fields = r.stderr.split(separator: " ")
                guard let i = fields.firstIndex(of: "RSS"), let peak = Int(fields[i + 1]), let s = fields.firstIndex(of: "in"),
                      let seconds = Double(fields[s + 1]) else { XCTFail("no measure in \(r.stderr)"); continue }
                print("1 GB \(mode) via \(via): \(String(format: "%.0f", 1024 / seconds)) MB/s, peak RSS \(peak / 1024) MB")
                XCTAssertLessThan(peak, 64 << 10, "\(mode) via \(via): peak RSS \(peak) KB")
                XCTAssertTrue(r.stderr.contains("copied 10737418"), r.stderr)
            }
            XCTAssertEqual(shell("cmp '\(big)' '\(home)/back.bin'", timeout: 120), 0, "1 GB round trip via \(via)")
        }
    }
}
