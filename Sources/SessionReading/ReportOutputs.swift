// The session report's output files: each finished job's command line and output under a name that is its
// job number only (`failures/N`, `succeeded/N`), for cloudtask-logalyzer SESSION OUTPUT_DIR.
import Engine
import Foundation

extension SessionReport {
    /// Writes each finished job's command line and output to `directory`/failures/N or `directory`/succeeded/N,
    /// N being the job number: nothing from a job's text ever becomes part of a path. Existing files are replaced
    /// (never written through: a symlink in their place is removed); a job's file in the other folder is removed.
    public func writeOutputs(to directory: String) throws {
        // mkdir -p, for messages that say what went wrong.
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for part in directory.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            if mkdir(prefix, 0o777) != 0 && errno != EEXIST { throw FileError("cannot create", prefix) }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileError("cannot create", directory, errno: ENOTDIR)
        }
        for sub in ["failures", "succeeded"] {
            let dir = directory + "/" + sub
            var info = stat()
            if lstat(dir, &info) != 0 {
                guard mkdir(dir, 0o777) == 0 || errno == EEXIST else { throw FileError("cannot create", dir) }
                guard lstat(dir, &info) == 0 else { throw FileError("cannot read", dir) }
            }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw UsageError("\(dir) exists and is not a directory (a symlink is not followed)")
            }
        }
        for job in jobs where job.state.finished {
            let ok = job.state == .exited(0)
            let name = String(job.number)
            let target = directory + (ok ? "/succeeded/" : "/failures/") + name
            let other = directory + (ok ? "/failures/" : "/succeeded/") + name
            for file in [target, other] where unlink(file) != 0 && errno != ENOENT {
                throw FileError("cannot replace", file)
            }
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileError("cannot write", target) }
            var written = true
            for chunk in [job.text + [10], output(of: job)] where written {
                written = chunk.withUnsafeBytes { buffer in
                    var offset = 0
                    while offset < buffer.count {
                        let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { return false }
                        offset += n
                    }
                    return true
                }
            }
            let code = errno
            close(fd)
            guard written else { throw FileError("cannot write", target, errno: code) }
        }
    }
}
