// Local helper programs (ssh-keygen, sshd, tar), each run once and waited for.
import Foundation

public enum LocalCommand {
    /// Runs `executable` with `arguments`, output discarded; returns its exit status (-1 if it could not start).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        (try? Subprocess.run([executable] + arguments))?.status ?? -1
    }

    /// Makes an unencrypted ed25519 key pair at `path` (and `path`.pub) unless one is there; returns whether it exists.
    @discardableResult
    public static func makeKey(at path: String, comment: String) -> Bool {
        if FileManager.default.fileExists(atPath: path) { return true }
        return run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]) == 0
    }
}
