// An error-injecting HTTP proxy for the EC2 tests, on loopback only: it answers the first requests with
// the given faults (status and EC2 error code), forwards the rest to the upstream port on 127.0.0.1
// unchanged (the Host header too, so SigV4 signatures still verify), and can rewrite DescribeInstances
// answers so that running instances look pending forever. It is a few lines of Python (already needed
// for moto) run as a child process; every request is logged as one line ("fault RunInstances 503 …",
// "forward RunInstances 200").
import Foundation
import XCTest

final class FaultProxy {
    let port: Int
    private let process: Process
    private let dir: String

    static let script = #"""
    import http.client, http.server, json, re, sys, threading
    upstream, faults, hold, portfile, logfile = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
    lock = threading.Lock()

    def record(line):
        with lock, open(logfile, "a") as f:
            f.write(line + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, data, kind):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            found = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
            action = found.group(1).decode() if found else "?"
            with lock:
                fault = faults.pop(0) if faults else None
            if fault:
                status, code = fault
                data = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
                        '<Message>injected by FaultProxy</Message></Error></Errors><RequestID>fault</RequestID></Response>' % code).encode()
                record("fault %s %d %s" % (action, status, code))
                self.reply(status, data, "text/xml")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            if hold and action == "DescribeInstances":
                data = data.replace(b"<name>running</name>", b"<name>pending</name>").replace(b"<code>16</code>", b"<code>0</code>")
            record("forward %s %d" % (action, answer.status))
            self.reply(answer.status, data, answer.getheader("Content-Type", "text/xml"))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()
    """#

    /// Starts a proxy to `127.0.0.1:upstream` that first answers with `faults` (status, error code), in order.
    init(upstream: Int, faults: [(Int, String)] = [], holdPending: Bool = false) throws {
        dir = NSTemporaryDirectory() + "fault-proxy-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let faultsJSON = String(decoding: try JSONSerialization.data(withJSONObject: faults.map { [$0.0, $0.1] as [Any] }), as: UTF8.self)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", FaultProxy.script, String(upstream), faultsJSON, holdPending ? "1" : "0", dir + "/port", dir + "/log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var port: Int?
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: dir + "/port", encoding: .utf8), let value = Int(text) { port = value; break }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.025)
        }
        guard let port else {
            stopProcess(process)
            throw TestFailure("the fault proxy (python3) did not start")
        }
        self.port = port
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// One line per request so far.
    var log: [String] {
        ((try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stop() {
        stopProcess(process)
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// SIGTERM, then SIGKILL after a second; waits for the exit.
func stopProcess(_ process: Process) {
    guard process.isRunning else { return }
    process.terminate()
    for _ in 0..<100 where process.isRunning { Thread.sleep(forTimeInterval: 0.01) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

/// A TCP port nothing listens on at 127.0.0.1 now (the kernel's pick for port 0).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0 else { throw TestFailure("bind 127.0.0.1:0: \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) { _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
