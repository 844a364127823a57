// Tests for the HTTP adapter against real servers started on loopback: python's http.server and aiosmtpd.
import Foundation
import HTTP
import XCTest

final class HTTPTests: XCTestCase {
    /// Echoes `METHOD PATH X-Test-header` then the body; /redirect answers 302, /missing 404.
    private static let echoServer = """
    import http.server
    class Echo(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def answer(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            reply = f"{self.command} {self.path} {self.headers.get('X-Test', '-')}\\n".encode() + body
            self.send_response(404 if self.path == "/missing" else 200)
            self.send_header("X-Echo-Method", self.command)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply)
        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """

    func testRequestsAgainstRealServer() throws {
        let (server, output) = try python(["-c", Self.echoServer])
        defer { stop(server) }
        let port = try XCTUnwrap(Int(readLine(output).trimmingCharacters(in: .whitespaces)))
        let base = "http://127.0.0.1:\(port)"
        let client = try HTTPClient()

        let get = try client.request(method: "GET", url: "\(base)/jobs?id=7", headers: [("X-Test", "yes")], body: nil, timeout: 10)
        XCTAssertEqual(get.status, 200)
        XCTAssertEqual(String(decoding: get.body, as: UTF8.self), "GET /jobs?id=7 yes\n")
        XCTAssertEqual(get.header("x-echo-method"), "GET")

        let bytes: [UInt8] = Array("line one\nline two\u{0}binary".utf8)
        let post = try client.request(method: "POST", url: "\(base)/submit", headers: [], body: bytes, timeout: 10)
        XCTAssertEqual(post.body, Array("POST /submit -\n".utf8) + bytes)

        let put = try client.request(method: "PUT", url: "\(base)/put", headers: [], body: [], timeout: 10)
        XCTAssertEqual(String(decoding: put.body, as: UTF8.self), "PUT /put -\n")

        let delete = try client.request(method: "DELETE", url: "\(base)/thing", headers: [], body: nil, timeout: 10)
        XCTAssertEqual(String(decoding: delete.body, as: UTF8.self), "DELETE /thing -\n")

        let head = try client.request(method: "HEAD", url: "\(base)/head", headers: [], body: nil, timeout: 10)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("X-Echo-Method"), "HEAD")
        XCTAssertEqual(head.body, [])

        let redirect = try client.request(method: "GET", url: "\(base)/redirect", headers: [], body: nil, timeout: 10)
        XCTAssertEqual(redirect.status, 302, "redirects are returned, not followed")
        XCTAssertEqual(redirect.header("Location"), "/elsewhere")

        let missing = try client.request(method: "GET", url: "\(base)/missing", headers: [], body: nil, timeout: 10)
        XCTAssertEqual(missing.status, 404)
    }

    func testClosedPortErrorNamesTheURL() throws {
        let url = "http://127.0.0.1:\(try freePort())/nothing-here"
        let client = try HTTPClient()
        XCTAssertThrowsError(try client.request(method: "GET", url: url, headers: [], body: nil, timeout: 5)) { error in
            let error = error as! HTTPError
            XCTAssertEqual(error.code, 7)  // CURLE_COULDNT_CONNECT
            XCTAssertTrue(error.description.contains(url), error.description)
            XCTAssertTrue(error.description.contains("Couldn't connect to server"), error.description)
        }
    }

    func testOtherSchemesAreRefused() throws {
        let client = try HTTPClient()
        XCTAssertThrowsError(try client.request(method: "GET", url: "file:///etc/passwd", headers: [], body: nil, timeout: 5)) { error in
            XCTAssertEqual((error as! HTTPError).code, 1)  // CURLE_UNSUPPORTED_PROTOCOL
        }
    }

    func testSendMailThroughAiosmtpd() throws {
        let (probe, _) = try python(["-c", "import aiosmtpd"])
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            XCTFail("SMTP test needs the aiosmtpd python module (scripts/deps installs it): pip install aiosmtpd")
            return
        }
        let port = try freePort()
        let (server, output) = try python(["-u", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)"])
        var stopped = false
        defer { if !stopped { stop(server) } }
        try waitForListener(port: port)

        let message = "From: ct@example.com\nTo: ops@example.com\nSubject: cloudtask report\n\n3 jobs, 1 failed\n.dot line\n"
        let client = try HTTPClient()
        try client.sendMail(url: "smtp://127.0.0.1:\(port)", from: "ct@example.com", to: ["ops@example.com", "<lead@example.com>"],
                            message: Array(message.utf8), username: nil, password: nil, timeout: 10)
        stop(server)
        stopped = true
        let received = String(decoding: output.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(received.contains("Subject: cloudtask report"), received)
        XCTAssertTrue(received.contains("3 jobs, 1 failed"), received)
        XCTAssertTrue(received.contains("\n.dot line"), received)

        XCTAssertThrowsError(try client.sendMail(url: "smtp://127.0.0.1:\(port)", from: "a@b", to: ["c@d"], message: [],
                                                 timeout: 5)) { error in
            XCTAssertTrue(String(describing: error).contains("smtp://127.0.0.1:\(port)"), "\(error)")
        }
    }
}

// MARK: - Helpers

/// Starts python3 (from PATH) with stdout piped back.
private func python(_ arguments: [String]) throws -> (Process, FileHandle) {
    let process = Process()
    let pipe = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + arguments
    process.standardOutput = pipe
    try process.run()
    return (process, pipe.fileHandleForReading)
}

private func stop(_ process: Process) {
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
}

/// The first line the process writes (the echo server's port).
private func readLine(_ handle: FileHandle) -> String {
    var data = Data()
    while !data.contains(UInt8(ascii: "\n")) {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        data.append(chunk)
    }
    return String(decoding: data, as: UTF8.self).components(separatedBy: "\n")[0]
}

/// A loopback TCP port nothing listens on right now.
private func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = loopback(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits up to ten seconds for something to accept connections on the loopback port.
private func waitForListener(port: Int) throws {
    for _ in 0 ..< 200 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        close(fd)
        if connected { return }
        usleep(50_000)
    }
    struct NotListening: Error, CustomStringConvertible { let description: String }
    throw NotListening(description: "nothing listened on 127.0.0.1:\(port) within 10 s")
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
}
