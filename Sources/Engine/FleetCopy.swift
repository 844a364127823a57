// Fleet copy: one `FileCopy` on every worker at once (ctsh's pool:put and pool:get, cloudtask-put and
// cloudtask-get), driven as pool:run is (Fleet.swift). A get lands each worker's copy in a folder of its own
// under the local folder, named by `landingNames`, as pslurp and ClusterShell's rcopy do.
import Foundation

/// What one worker's copy did.
public struct FleetCopyResult: Sendable, Equatable {
    public let label: String
    /// Why it failed; nil when every file is in place.
    public var error: String?
    /// Bytes of the files copied (a put's local tree, a get's tree as it landed).
    public var bytes: Int64 = 0
    /// Files (not folders) copied: a put counts the local tree, a get the tree that landed.
    public var files = 0
    /// From the copy's start on the connected worker to its end.
    public var seconds = 0.0
    /// How the files went: `sftp`, or `stream` for a worker without an SFTP server; nil when it failed.
    public var via: String?
    /// A get's landing place, LOCALDIR/<worker's folder>/<name>; nil for a put.
    public var path: String?

    public var ok: Bool { error == nil }

    /// The same for every worker that did the same (`3 files, 12.0 MB (sftp)`, `error: ...`): what the REPL
    /// groups hosts by.
    public var summary: String {
        if let error { return "error: \(error)" }
        return "\(files) \(files == 1 ? "file" : "files"), \(FleetCopyResult.size(bytes)) (\(via ?? "?"))"
    }

    /// The command line's line: `127.0.1.1: 3 files, 12.0 MB in 0.4 s (sftp)`, a get's with `-> PATH` after.
    public var line: String {
        if let error { return "\(label): error: \(error)" }
        let landed = path.map { " -> \($0)" } ?? ""
        return "\(label): \(files) \(files == 1 ? "file" : "files"), \(FleetCopyResult.size(bytes)) in "
            + String(format: "%.1f s", seconds) + " (\(via ?? "?"))" + landed
    }

    /// Bytes as people read them, in powers of 1000: `512 B`, `1.5 kB`, `12.0 MB`, `2.1 GB`.
    public static func size(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        var value = Double(bytes) / 1000
        for unit in ["kB", "MB", "GB", "TB"] {
            if value < 999.95 || unit == "TB" { return String(format: "%.1f %@", value, unit) }
            value /= 1000
        }
        return "\(bytes) B"
    }
}

/// How far a fleet copy is, for a progress line: bytes over every worker so far, as the transport counts them
/// (a stream's may pass the files' total a little: tar headers).
public struct FleetCopyProgress: Sendable, Equatable {
    public var bytes: Int64
    /// A put's whole: the local tree's size times the workers; nil for a get (only the workers know).
    public var total: Int64?
    /// Workers whose copy ended, well or not.
    public var done: Int
    public var workers: Int
}

extension Fleet {
    /// One copy for every worker.
    public enum CopyRequest: Sendable, Equatable {
        /// `local` (a file, or a folder with everything under it) to the path `remote` on every worker; a
        /// `remote` ending in `/` is the folder it goes into, under its own name.
        case put(local: String, remote: String)
        /// `remote` (a file or a folder) from every worker into `localDir/<worker's folder>/<its name>`.
        case get(remote: String, localDir: String)
    }

    /// Connects to every endpoint and runs `request` on each at once, under `config`'s --connect-rate,
    /// --connect-timeout and --timeout (0: an hour); `progress` is called as bytes move (often: a front end
    /// draws it at its own pace). Modes and modification times are kept. Files are read and written as the login
    /// user: --sudo does not apply to copies. Throws a `UsageError` before connecting anywhere for a missing
    /// local file or a landing folder that cannot be made. Stops early when `Runner.interrupts` changes.
    public static func copy(_ endpoints: [Endpoint], _ request: CopyRequest, config: TaskConfig,
                            transport: Transport, progress: ((FleetCopyProgress) -> Void)? = nil) throws
        -> [FleetCopyResult] {
        let plan = try CopyPlan(endpoints, request)
        return copy(endpoints, plan: plan, transport: transport, policy: RunPolicy(config),
                    timeout: FleetDriver.timeout(config), progress: progress)
    }

    static func copy(_ endpoints: [Endpoint], plan: CopyPlan, transport: Transport, policy: RunPolicy,
                     timeout: Double, progress: ((FleetCopyProgress) -> Void)?) -> [FleetCopyResult] {
        var results = endpoints.map { FleetCopyResult(label: $0.label) }
        var moved = endpoints.map { _ in Int64(0) }
        var done = 0
        let total = plan.localSize.map { $0 * Int64(endpoints.count) }
        func report() {
            progress?(FleetCopyProgress(bytes: moved.reduce(0, +), total: total, done: done, workers: endpoints.count))
        }
        var driver = FleetDriver(endpoints: endpoints, transport: transport, policy: policy, timeout: timeout,
                                 sudo: nil)
        let outcomes = driver.drive(start: { transport.copy(op: $0, worker: $0, files: plan.copies[$0]) }) { event in
            switch event {
            case .copying(let op, let bytes):
                moved[op] = bytes
                report()
            case .copied(let op, let bytes, let via):
                moved[op] = bytes
                results[op].via = via
                done += 1
                report()
                return op
            default: break
            }
            return nil
        }
        for index in results.indices {
            results[index].seconds = outcomes[index].seconds
            if let error = outcomes[index].error {
                results[index].error = error
                results[index].via = nil
                if let folder = plan.landings[index] { rmdir(folder) }  // left only when empty
                continue
            }
            // Files and their bytes as they stand, not as the transport counted what it sent (a tar stream's
            // headers and padding): the same figures whichever way the files went.
            let landed = plan.landings[index] == nil ? nil : plan.copies[index].items[0].local
            results[index].path = landed
            (results[index].files, results[index].bytes) = landed.map(CopyPlan.measure)
                ?? (plan.localFiles ?? 0, plan.localSize ?? 0)
        }
        if done < endpoints.count { done = endpoints.count; report() }
        return results
    }

    /// Folder names for workers' copies under one local folder, in the workers' order: each label made safe for
    /// a path (`[::1]:2222` → `::1_2222`, `web:2222` → `web_2222`; no `/`, no leading `.`, nothing but letters,
    /// digits and `._-@:+=,`), and a name met again told apart with `_2`, `_3`...
    public static func landingNames(_ labels: [String]) -> [String] {
        var taken = Set<String>()
        return labels.map { label in
            let safe = safeName(label)
            var name = safe
            var count = 1
            while taken.contains(name) {
                count += 1
                name = "\(safe)_\(count)"
            }
            taken.insert(name)
            return name
        }
    }

    /// One label as a file name; see `landingNames`.
    static func safeName(_ label: String) -> String {
        var text = label
        if let address = try? WorkerAddress(parsing: label) {
            text = (address.user.map { "\($0)@" } ?? "") + address.host + (address.port.map { "_\($0)" } ?? "")
        }
        let allowed = Set("._-@:+=,")
        var name = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || allowed.contains($0)) ? $0 : "_" })
        if name.hasPrefix(".") { name = "_" + name.dropFirst() }
        if name.isEmpty { name = "_" }
        return String(name.prefix(200))
    }
}

/// What each worker's copy is, worked out before anything connects.
struct CopyPlan {
    /// One per worker, in the endpoints' order.
    var copies: [FileCopy]
    /// get: each worker's folder under the local folder (made here), removed again if the copy fails and left it
    /// empty; nil for a put.
    var landings: [String?]
    /// put: the local tree's files and bytes, the same on every worker.
    var localFiles: Int?
    var localSize: Int64?

    init(_ endpoints: [Endpoint], _ request: Fleet.CopyRequest) throws {
        switch request {
        case .put(let local, let remote):
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: local, isDirectory: &isFolder) else {
                throw UsageError("\(local): no such file or folder")
            }
            guard !remote.isEmpty else { throw UsageError("the remote path is empty") }
            let target = remote.hasSuffix("/") ? remote + CopyPlan.name(local) : remote
            let files = FileCopy(direction: .put, items: [FileCopy.Item(local: local, remote: target)],
                                 recursive: isFolder.boolValue)
            copies = endpoints.map { _ in files }
            landings = endpoints.map { _ in nil }
            (localFiles, localSize) = CopyPlan.measure(local)
        case .get(let remote, let localDir):
            guard !remote.isEmpty else { throw UsageError("the remote path is empty") }
            let name = CopyPlan.name(remote)
            let folders = Fleet.landingNames(endpoints.map(\.label)).map { localDir + "/" + $0 }
            for folder in folders {
                do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                    throw UsageError("\(folder): cannot make the folder (\(error.localizedDescription))")
                }
            }
            // A remote without a name of its own (~, ., /) lands its tree as the worker's folder itself.
            let usable = !["", ".", "..", "~", "/"].contains(name)
            copies = folders.map { folder in
                FileCopy(direction: .get, items: [FileCopy.Item(local: usable ? folder + "/" + name : folder, remote: remote)],
                         recursive: true)
            }
            landings = folders
        }
    }

    /// The last component of a path, trailing slashes aside (`a/b/` → `b`; `/` → `/`).
    static func name(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed == "/" { return "/" }
        return String(trimmed.split(separator: "/").last ?? "")
    }

    /// Files (anything but a folder) and their bytes at `path`, everything under it for a folder.
    static func measure(_ path: String) -> (Int, Int64) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return (0, 0) }
        guard info.st_mode & S_IFMT == S_IFDIR else { return (1, Int64(info.st_size)) }
        var files = 0
        var bytes: Int64 = 0
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            guard lstat(path + "/" + relative, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
            files += 1
            if info.st_mode & S_IFMT == S_IFREG { bytes += Int64(info.st_size) }
        }
        return (files, bytes)
    }
}
