// Dropbear as a worker, for the tests that need a server other than OpenSSH.
import Engine
import Foundation
import XCTest

extension IntegrationCase {
    /// Dropbear in a mount namespace where /root is this test's folder (it reads the login user's real home),
    /// with the test key authorized there; so is each of `users`' home. Returns it, its port and root's folder.
    /// Without SFTP, the sftp-server Dropbear runs is /dev/null there: the subsystem starts and ends at once.
    func startDropbear(users: [String] = [], withoutSFTP: Bool = false) throws -> (Subprocess, Int, String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dropbear") else {
            throw HarnessError(message: "dropbear is not installed (apt-get install dropbear-bin; scripts/deps does)")
        }
        var mounts: [String] = []
        for (user, home) in [("root", "/root")] + users.map({ ($0, "/home/\($0)") }) {
            let folder = self.home + "/dropbear-" + user
            try FileManager.default.createDirectory(atPath: folder + "/.ssh", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            try FileManager.default.copyItem(atPath: Env.key + ".pub", toPath: folder + "/.ssh/authorized_keys")
            // Dropbear takes an authorized_keys its user owns; the user may write its home, as a login would.
            XCTAssertEqual(shell("chown -R \(user) \(folder)"), 0)
            mounts.append("mount --bind \(folder) \(home)")
        }
        if withoutSFTP {
            let sftpServer = URL(fileURLWithPath: "/usr/lib/sftp-server").resolvingSymlinksInPath().path
            mounts.append("mount --bind /dev/null \(sftpServer)")
        }
        XCTAssertEqual(shell("dropbearkey -t ed25519 -f \(home)/host_ed25519 >/dev/null 2>&1"), 0)
        let (server, port) = try startServer { port in
            ["/usr/bin/unshare", "-m", "/bin/sh", "-c",
             mounts.joined(separator: " && ") + " && exec /usr/sbin/dropbear -F -E -s -r \(self.home)/host_ed25519 -p 127.0.0.1:\(port) -P \(self.home)/dropbear.pid 2>>\(self.home)/dropbear.log"]
        }
        return (server, port, home + "/dropbear-root")
    }
}
