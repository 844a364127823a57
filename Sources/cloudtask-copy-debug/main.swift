// A debug front end for Transport.copy until cloudtask-put/-get land (branch `fleet`): one copy to or from one
// worker, for scripts/bench-transfer and the copy tests. Prints `copied BYTES via WAY in SECONDS s, peak RSS KB`
// on stderr. CLOUDTASK_COPY_VIA=stream forces the exec-channel way.
//   cloudtask-copy-debug put|get [-r] [--missing-ok] [--folder=DIR] --key=FILE --known-hosts=FILE [USER@]HOST[:PORT] LOCAL REMOTE [LOCAL REMOTE...]
import Engine
import Foundation
import SSH

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: cloudtask-copy-debug put|get [-r] [--missing-ok] [--folder=DIR] --key=FILE --known-hosts=FILE [USER@]HOST[:PORT] LOCAL REMOTE...\n".utf8))
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first, mode == "put" || mode == "get" else { usage() }
arguments.removeFirst()
var recursive = false, missingOK = false, folder: String?, key: String?, knownHosts: String?
while let first = arguments.first, first.hasPrefix("-") {
    arguments.removeFirst()
    if first == "-r" { recursive = true }
    else if first == "--missing-ok" { missingOK = true }
    else if first.hasPrefix("--folder=") { folder = String(first.dropFirst(9)) }
    else if first.hasPrefix("--key=") { key = String(first.dropFirst(6)) }
    else if first.hasPrefix("--known-hosts=") { knownHosts = String(first.dropFirst(14)) }
    else { usage() }
}
guard let key, let knownHosts, arguments.count >= 3, arguments.count % 2 == 1 else { usage() }
var address = arguments.removeFirst()
var user = "root", port = 22
if let at = address.firstIndex(of: "@") { user = String(address[..<at]); address = String(address[address.index(after: at)...]) }
if let colon = address.lastIndex(of: ":"), let p = Int(address[address.index(after: colon)...]) {
    port = p; address = String(address[..<colon])
}
let items = stride(from: 0, to: arguments.count, by: 2).map { FileCopy.Item(local: arguments[$0], remote: arguments[$0 + 1]) }

let transport = SSHTransport(settings: .init(knownHosts: knownHosts, hostKeyPolicy: .acceptNew, defaultIdentities: [],
                                             useAgent: false))
transport.connect(worker: 1, to: Endpoint(label: address, host: address, port: port, user: user, identityFiles: [key]))
let started = Date()
var status: Int32 = -1
while status < 0 {
    for event in transport.wait(timeout: 1) {
        switch event {
        case .connected:
            transport.copy(op: 1, worker: 1, files: FileCopy(direction: mode == "put" ? .put : .get, items: items,
                                                            folder: folder, recursive: recursive, missingOK: missingOK))
        case .connectFailed(_, let message, _), .disconnected(_, let message), .failed(_, let message):
            FileHandle.standardError.write(Data("cloudtask-copy-debug: \(address): \(message)\n".utf8))
            status = 1
        case .copied(_, let bytes, let via):
            let seconds = Date().timeIntervalSince(started)
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.map { $0.split(separator: " ")[1] } ?? "?"
            FileHandle.standardError.write(Data("copied \(bytes) via \(via) in \(String(format: "%.3f", seconds)) s, peak RSS \(peak) KB\n".utf8))
        default: break
        }
        if case .copied = event { status = 0 }
    }
}
exit(status)
