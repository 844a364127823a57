// Tests for WorkerAddress (one address) and WorkerList (the --workers value: a file or an inline list).
import XCTest
@testable import Engine

final class WorkerAddressTests: XCTestCase {
    private func parse(_ text: String) throws -> WorkerAddress { try WorkerAddress(parsing: text) }

    private func message(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return (error as? WorkerAddressError)?.message
        }
    }

    // MARK: - One address

    func testForms() throws {
        XCTAssertEqual(try parse("web"), WorkerAddress(host: "web"))
        XCTAssertEqual(try parse("root@web"), WorkerAddress(user: "root", host: "web"))
        XCTAssertEqual(try parse("web:2222"), WorkerAddress(host: "web", port: 2222))
        XCTAssertEqual(try parse("root@10.0.0.5:22"), WorkerAddress(user: "root", host: "10.0.0.5", port: 22))
        XCTAssertEqual(try parse("127.0.1.3:40022"), WorkerAddress(host: "127.0.1.3", port: 40022))
        XCTAssertEqual(try parse("my_host.example-1.com"), WorkerAddress(host: "my_host.example-1.com"))
    }

    func testSlotPrefix() throws {
        XCTAssertEqual(try parse("4/web"), WorkerAddress(host: "web", slots: 4))
        XCTAssertEqual(try parse("2/root@web:2222"), WorkerAddress(user: "root", host: "web", port: 2222, slots: 2))
        XCTAssertEqual(try parse("8/[::1]:22"), WorkerAddress(host: "::1", port: 22, slots: 8))
        XCTAssertEqual(try parse("4/web").description, "web", "the label leaves the slot count out")
        XCTAssertEqual(message("0/web"), "bad slot count '0' in '0/web' (N/host, N 1 or more)")
        XCTAssertEqual(message("99999999999999999999/web"), "bad slot count '99999999999999999999' in '99999999999999999999/web' (N/host, N 1 or more)")
        XCTAssertEqual(message("x/web"), "bad host 'x/web' in 'x/web'")
        XCTAssertNotNil(message("4/"), "a slot count needs a host")
    }

    func testIPv6Forms() throws {
        XCTAssertEqual(try parse("[::1]:2222"), WorkerAddress(host: "::1", port: 2222))
        XCTAssertEqual(try parse("[::1]"), WorkerAddress(host: "::1"))
        XCTAssertEqual(try parse("::1"), WorkerAddress(host: "::1"))
        XCTAssertEqual(try parse("fe80::1%eth0"), WorkerAddress(host: "fe80::1%eth0"))
        XCTAssertEqual(try parse("root@[2001:db8::5]:22"), WorkerAddress(user: "root", host: "2001:db8::5", port: 22))
        XCTAssertEqual(try parse("root@2001:db8::5"), WorkerAddress(user: "root", host: "2001:db8::5"))
        XCTAssertEqual(try parse("::ffff:10.0.0.1"), WorkerAddress(host: "::ffff:10.0.0.1"))
    }

    func testPortBounds() throws {
        XCTAssertEqual(try parse("h:1").port, 1)
        XCTAssertEqual(try parse("h:65535").port, 65535)
        XCTAssertEqual(message("h:0"), "bad port '0'")
        XCTAssertEqual(message("h:65536"), "bad port '65536'")
        XCTAssertEqual(message("h:x"), "bad port 'x'")
        XCTAssertEqual(message("h:"), "bad port ''")
        XCTAssertEqual(message("h:-1"), "bad port '-1'")
        XCTAssertEqual(message("h:+22"), "bad port '+22'")
        XCTAssertEqual(message("h: 22"), "bad port ' 22'")
        XCTAssertEqual(message("[::1]:abc"), "bad port 'abc'")
        XCTAssertEqual(message("h:99999999999999999999999"), "bad port '99999999999999999999999'")
    }

    func testErrorsNameTheBadText() {
        XCTAssertEqual(message(""), "empty worker address")
        XCTAssertEqual(message("root@"), "empty host in 'root@'")
        XCTAssertEqual(message(":22"), "empty host in ':22'")
        XCTAssertEqual(message("@web"), "empty user in '@web'")
        XCTAssertEqual(message("[]:22"), "empty host in '[]:22'")
        XCTAssertEqual(message("[::1"), "missing ']' in '[::1'")
        XCTAssertEqual(message("[::1]22"), "unexpected '22' after ']' in '[::1]22'")
        XCTAssertEqual(message("we b"), "bad host 'we b' in 'we b'")
        XCTAssertEqual(message("web/x"), "bad host 'web/x' in 'web/x'")
        XCTAssertEqual(message("-oProxyCommand=x"), "bad host '-oProxyCommand=x' in '-oProxyCommand=x'")
        XCTAssertEqual(message("-l@web"), "bad user '-l' in '-l@web'")
        XCTAssertEqual(message("a b@web"), "bad user 'a b' in 'a b@web'")
        XCTAssertEqual(message("[web;x]"), "bad IPv6 address 'web;x' in '[web;x]'")
        XCTAssertEqual(message("web:22:33"), "bad host 'web:22:33' in 'web:22:33' (write IPv6 with a port as [addr]:port)")
        XCTAssertEqual(message("[web]:22"), "bad IPv6 address 'web' in '[web]:22'")
        XCTAssertNotNil(message("fe80::1%"))
        XCTAssertNotNil(message("fe80::1%a b"))
        XCTAssertNotNil(message("wéb"))
    }

    func testErrorDescriptionIsTheMessage() {
        let error = WorkerAddressError("bad port 'x'")
        XCTAssertEqual(error.description, "bad port 'x'")
        XCTAssertEqual("\(error)", "bad port 'x'")
    }

    func testDescriptionRoundTrips() throws {
        let texts = ["web", "root@web", "web:2222", "root@web:2222", "[::1]:2222", "::1", "root@fe80::1%eth0", "u@[2001:db8::5]:22"]
        for text in texts {
            let address = try parse(text)
            XCTAssertEqual(address.description, text)
            XCTAssertEqual(try parse(address.description), address)
        }
        XCTAssertEqual(try parse("[::1]").description, "::1")
    }

    func testHashable() throws {
        let set: Set<WorkerAddress> = [try parse("web"), try parse("web"), try parse("web:22"), try parse("root@web")]
        XCTAssertEqual(set.count, 3)
    }

    // MARK: - Worker lists

    func testInlineListSeparatedBySpacesAndCommas() throws {
        XCTAssertEqual(try WorkerList.parse("a b,c , d,,e  root@f:22,[::1]:2"), [
            WorkerAddress(host: "a"), WorkerAddress(host: "b"), WorkerAddress(host: "c"), WorkerAddress(host: "d"),
            WorkerAddress(host: "e"), WorkerAddress(user: "root", host: "f", port: 22), WorkerAddress(host: "::1", port: 2),
        ])
        XCTAssertEqual(try WorkerList.parse(""), [])
        XCTAssertEqual(try WorkerList.parse(" , "), [])
    }

    func testInlineListErrorsNameTheAddress() {
        XCTAssertThrowsError(try WorkerList.parse("a,b:x")) { error in
            XCTAssertEqual((error as? WorkerAddressError)?.message, "bad port 'x'")
        }
    }

    private func withFile(_ text: String, _ body: (String) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("workers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("workers.txt")
        try Data(text.utf8).write(to: file)
        try body(file.path)
    }

    func testFileOneAddressPerLineWithCommentsAndBlanks() throws {
        let text = """
        # pool launched on Monday
        10.0.0.5

        root@10.0.0.6:2222   # the big one
           [::1]:22\t
        \t
        web#trailing comment
        last
        """
        try withFile(text) { path in
            XCTAssertEqual(try WorkerList.parse(path), [
                WorkerAddress(host: "10.0.0.5"), WorkerAddress(user: "root", host: "10.0.0.6", port: 2222),
                WorkerAddress(host: "::1", port: 22), WorkerAddress(host: "web"), WorkerAddress(host: "last"),
            ])
        }
    }

    func testFileWithCRLFLines() throws {
        try withFile("a\r\nb:22\r\n") { path in
            XCTAssertEqual(try WorkerList.parse(path), [WorkerAddress(host: "a"), WorkerAddress(host: "b", port: 22)])
        }
    }

    func testEmptyFileIsAnEmptyList() throws {
        try withFile("# nothing yet\n\n") { path in
            XCTAssertEqual(try WorkerList.parse(path), [])
        }
    }

    func testFileErrorsNameTheFileAndLine() throws {
        try withFile("a\n\nb:x\n") { path in
            XCTAssertThrowsError(try WorkerList.parse(path)) { error in
                XCTAssertEqual((error as? WorkerAddressError)?.message, "\(path):3: bad port 'x'")
            }
        }
        try withFile("# c\nok\nroot@\n") { path in
            XCTAssertThrowsError(try WorkerList.parse(path)) { error in
                XCTAssertEqual("\(error)", "\(path):3: empty host in 'root@'")
            }
        }
        try withFile("a b\n") { path in
            XCTAssertThrowsError(try WorkerList.parse(path)) { error in
                XCTAssertEqual("\(error)", "\(path):1: one address per line, got 'a b'")
            }
        }
    }

    func testFileThroughASymlink() throws {
        try withFile("web\n") { path in
            let link = path + ".link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
            XCTAssertEqual(try WorkerList.parse(link), [WorkerAddress(host: "web")])
        }
    }

    func testDirectoryIsNotAFile() throws {
        // A folder is not a workers file; "/tmp" then fails as an address instead.
        XCTAssertThrowsError(try WorkerList.parse(NSTemporaryDirectory()))
    }
}
