// The session report's output files: each finished job's command line and output under a name that is its
// job number only (`failures/N`, `succeeded/N`), for cloudtask-logalyzer SESSION OUTPUT_DIR. Streamed: the
// worker logs are read once, each block copied a chunk at a time.
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
        // One pass over the logs: a job's file is written again each time a better block of it comes (the last
        // logged by the worker of its last attempt, as the report picks), then the jobs with none get their text.
        let journal = try LineFile(path + "/journal")
        var keys = [UInt32](repeating: 0, count: index.count)
        var text: (job: Int, bytes: [UInt8])?
        func write(_ i: Int, _ block: WorkerLog.Block?, file: Int) throws {
            let state = index.state(i)
            if text?.job != i { text = (i, try Journal.job(at: index.offset(i), in: journal).text) }
            let ok = state == .exited(0)
            let name = String(i + 1)
            let target = directory + (ok ? "/succeeded/" : "/failures/") + name
            let other = directory + (ok ? "/failures/" : "/succeeded/") + name
            for file in [target, other] where unlink(file) != 0 && errno != ENOENT {
                throw FileError("cannot replace", file)
            }
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileError("cannot write", target) }
            defer { close(fd) }
            try Self.write(text!.bytes + [10], to: fd, target)
            if let block {
                let logged = LoggedOutput(file: file, range: block.range, label: block.label, state: block.state)
                try forEachChunk(of: logged) { try Self.write($0, to: fd, target) }
            }
        }
        try forEachBetterBlock(journal, wanted: { index.state($0).finished },
                               key: { keys[$0] }, setKey: { keys[$0] = $1 }) {
            try write($0, $1, file: $2)
        }
        for i in 0..<index.count where keys[i] == 0 && index.state(i).finished { try write(i, nil, file: 0) }
    }

    /// Writes all of `bytes` to `fd` (the file `path`).
    private static func write<Bytes: Collection>(_ bytes: Bytes, to fd: Int32, _ path: String) throws
    where Bytes.Element == UInt8 {
        let written = Array(bytes).withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        guard written else { throw FileError("cannot write", path) }
    }
}
