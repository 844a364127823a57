// Tests for host ranges (`web[01-20]`) and groups (`@name`) in worker lists, and how a list splits into words.
import XCTest
@testable import Engine

final class HostRangesTests: XCTestCase {
    private var folder = ""
    /// A groups file in this test's folder; nothing there until `groups(_:)` writes it.
    private var groupsFile: HostGroups { HostGroups(path: folder + "/config/cloudtask/groups", home: folder) }

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "ranges-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: folder + "/config/cloudtask", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    private func groups(_ text: String) throws { try text.write(toFile: groupsFile.path, atomically: true, encoding: .utf8) }

    /// The hosts of a list as text, each address back in its written form (slots kept).
    private func hosts(_ list: String) throws -> [String] {
        try WorkerList.parse(list, groups: groupsFile).map { address in
            address.slots.map { "\($0)/" + address.description } ?? address.description
        }
    }

    private func message(_ list: String) -> String? {
        do {
            _ = try WorkerList.parse(list, groups: groupsFile)
            return nil
        } catch {
            return (error as? WorkerAddressError)?.message ?? "not a WorkerAddressError: \(error)"
        }
    }

    // MARK: - Ranges

    func testRangesExpandInOrderWithPaddingKept() throws {
        XCTAssertEqual(try hosts("web[1-3]"), ["web1", "web2", "web3"])
        XCTAssertEqual(try hosts("web[01-03]"), ["web01", "web02", "web03"])
        XCTAssertEqual(try hosts("web[08-11]"), ["web08", "web09", "web10", "web11"])
        XCTAssertEqual(try hosts("web[001-2]"), ["web001", "web002"], "the lower bound's width sets the padding")
        XCTAssertEqual(try hosts("127.0.1.[1-3,12]"), ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.12"])
        XCTAssertEqual(try hosts("n[5]"), ["n5"])
        XCTAssertEqual(try hosts("[1-2].example.com"), ["1.example.com", "2.example.com"])
        XCTAssertEqual(try hosts("web[1-10/4]"), ["web1", "web5", "web9"])
        XCTAssertEqual(try hosts("web[0-4/2,7]"), ["web0", "web2", "web4", "web7"])
    }

    func testMultiDimensionalRangesTheFirstOutermost() throws {
        XCTAssertEqual(try hosts("rack[1-2]-node[1-3]"), [
            "rack1-node1", "rack1-node2", "rack1-node3", "rack2-node1", "rack2-node2", "rack2-node3",
        ])
        XCTAssertEqual(try hosts("r[1,2]n[01-02]s[7]"), ["r1n01s7", "r1n02s7", "r2n01s7", "r2n02s7"])
    }

    func testUserPortAndSlotsAroundARange() throws {
        XCTAssertEqual(try WorkerList.parse("4/root@web[1-3]:2222", groups: groupsFile), [
            WorkerAddress(user: "root", host: "web1", port: 2222, slots: 4),
            WorkerAddress(user: "root", host: "web2", port: 2222, slots: 4),
            WorkerAddress(user: "root", host: "web3", port: 2222, slots: 4),
        ])
        XCTAssertEqual(try hosts("u@127.0.1.[1-2]"), ["u@127.0.1.1", "u@127.0.1.2"])
        XCTAssertEqual(try hosts("2/h[1-2]"), ["2/h1", "2/h2"])
        XCTAssertEqual(try hosts("us[er]@h"), ["us[er]@h"], "only the host part expands; a user name may hold brackets")
        XCTAssertEqual(try WorkerList.expand("4/root@web[1-2]:22", groups: groupsFile),
                       ["4/root@web1:22", "4/root@web2:22"], "ctsh pools keep the text as written, slots and all")
    }

    func testListsSplitOnCommasOutsideBracketsOnly() throws {
        XCTAssertEqual(HostRanges.words("a b,c , web[1,3],,d\tx[1-2,5]"), ["a", "b", "c", "web[1,3]", "d", "x[1-2,5]"])
        XCTAssertEqual(try hosts("a,web[1,3] b"), ["a", "web1", "web3", "b"])
        XCTAssertEqual(try hosts("web[1,3],db[01-02]"), ["web1", "web3", "db01", "db02"])
        XCTAssertEqual(HostRanges.words("w[1-2 x"), ["w[1-2", "x"], "whitespace ends a word even inside an open bracket")
    }

    func testIPv6InBracketsIsStillAnAddress() throws {
        XCTAssertEqual(try WorkerList.parse("[::1]:2222,web[1-2]", groups: groupsFile), [
            WorkerAddress(host: "::1", port: 2222), WorkerAddress(host: "web1"), WorkerAddress(host: "web2"),
        ])
        XCTAssertEqual(try WorkerList.parse("8/root@[2001:db8::5]:22 [::1]", groups: groupsFile), [
            WorkerAddress(user: "root", host: "2001:db8::5", port: 22, slots: 8), WorkerAddress(host: "::1"),
        ])
        XCTAssertEqual(try WorkerList.parse("fe80::1%eth0", groups: groupsFile), [WorkerAddress(host: "fe80::1%eth0")])
        XCTAssertEqual(message("[::1"), "missing ']' in '[::1'", "an IPv6 address left open is not a range")
        XCTAssertEqual(message("web[1-:22"), "bad range 'web[1-:22': missing ']'")
    }

    func testMalformedRangesAreNamedWithWhy() {
        let cases = [
            ("web[3-1]", "bad range 'web[3-1]': '3-1' goes down (write 1-3)"),
            ("web[1-", "bad range 'web[1-': missing ']'"),
            ("a,web[1-,b", "bad range 'web[1-,b': missing ']'"),
            ("web[a-z]", "bad range 'web[a-z]': 'a-z' is not N, N-M or N-M/step (numbers only)"),
            ("web[]", "bad range 'web[]': empty brackets"),
            ("web[1-65537]", "bad range 'web[1-65537]': more than 65536 hosts"),
            ("a[1-300]b[1-300]", "bad range 'a[1-300]b[1-300]': more than 65536 hosts"),
            ("web[1-99999999999999999999]", "bad range 'web[1-99999999999999999999]': '1-99999999999999999999' is not N, N-M or N-M/step (numbers only)"),
            ("web[1,,2]", "bad range 'web[1,,2]': empty item between commas in '[1,,2]'"),
            ("web[1-]", "bad range 'web[1-]': '1-' is not N, N-M or N-M/step (numbers only)"),
            ("web[-3]", "bad range 'web[-3]': '-3' is not N, N-M or N-M/step (numbers only)"),
            ("web[1-3-5]", "bad range 'web[1-3-5]': '1-3-5' is not N, N-M or N-M/step (numbers only)"),
            ("web[1-10/0]", "bad range 'web[1-10/0]': step 0 in '1-10/0' (1 or more)"),
            ("web[5/2]", "bad range 'web[5/2]': '5/2' is not N, N-M or N-M/step (numbers only)"),
            ("web[1-3/x]", "bad range 'web[1-3/x]': '1-3/x' is not N, N-M or N-M/step (numbers only)"),
            ("web1]", "bad range 'web1]': ']' without '['"),
            ("web[[1-2]]", "bad range 'web[[1-2]]': '[' inside brackets"),
            ("[web]:22", "bad range '[web]:22': 'web' is not N, N-M or N-M/step (numbers only)"),
            ("[]:22", "bad range '[]:22': empty brackets"),
            ("web[1-2]:x", "bad port 'x'"),
        ]
        for (list, expected) in cases { XCTAssertEqual(message(list), expected, list) }
        XCTAssertEqual(try hosts("web[1-65536]").count, 65536, "the limit itself is allowed")
    }

    // MARK: - Groups

    func testGroupsExpandWithRangesCommentsAndNesting() throws {
        try groups("""
        # the fleet
        web: web[01-02] 4/root@web10:2222   # front ends
        db: db1,db[3,5]

        all: @web @db extra
        """)
        XCTAssertEqual(try hosts("@web"), ["web01", "web02", "4/root@web10:2222"])
        XCTAssertEqual(try hosts("@all, last"), ["web01", "web02", "4/root@web10:2222", "db1", "db3", "db5", "extra", "last"])
        XCTAssertEqual(try WorkerList.expand("@db", groups: groupsFile), ["db1", "db3", "db5"])
    }

    func testGroupCyclesAreRefused() throws {
        try groups("a: x @b\nb: @c\nc: y @a\nself: @self\n")
        XCTAssertEqual(message("@a"), "group cycle @a -> @b -> @c -> @a (in ~/config/cloudtask/groups)")
        XCTAssertEqual(message("@self"), "group cycle @self -> @self (in ~/config/cloudtask/groups)")
    }

    func testUnknownGroupsAndBadGroupLines() throws {
        XCTAssertEqual(message("@db"), "unknown group @db (no file ~/config/cloudtask/groups)")
        try groups("web: w1\n")
        XCTAssertEqual(message("web @db"), "unknown group @db (no such line in ~/config/cloudtask/groups)")
        XCTAssertEqual(message("@"), "bad group name '@' (letters, digits, '-', '_', '.')")
        try groups("web: w1\nall: @web @nosuch\n")
        XCTAssertEqual(message("@all"), "unknown group @nosuch (no such line in ~/config/cloudtask/groups)")
        try groups("web: w1\nweb w2\n")
        XCTAssertEqual(message("@web"), "~/config/cloudtask/groups:2: expected 'name: host ...', got 'web w2'")
        try groups("web: w1\n\nweb: w2\n")
        XCTAssertEqual(message("@web"), "~/config/cloudtask/groups:3: group @web defined again (first on line 1)")
        try groups("# x\nweb: w[3-1]\n")
        XCTAssertEqual(message("@web"), "~/config/cloudtask/groups:2: bad range 'w[3-1]': '3-1' goes down (write 1-3)")
        try groups("web: w:x\n")
        XCTAssertEqual(message("@web"), "~/config/cloudtask/groups:1: bad port 'x'")
        try groups("big: a[1-40000] b[1-40000]\n")
        XCTAssertEqual(message("@big"), "group @big expands to more than 65536 hosts")
        XCTAssertNil(message("plain,hosts"), "a bad groups file matters only when a group is named")
    }

    func testGroupsFileFromTheEnvironment() {
        XCTAssertEqual(HostGroups(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/etc/xdg"]).path,
                       "/etc/xdg/cloudtask/groups")
        let standard = HostGroups(environment: ["HOME": "/home/u"])
        XCTAssertEqual(standard.path, "/home/u/.config/cloudtask/groups")
        XCTAssertEqual(standard.shownPath, "~/.config/cloudtask/groups")
        XCTAssertEqual(HostGroups(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "rel"]).path,
                       "/home/u/.config/cloudtask/groups", "a relative XDG_CONFIG_HOME is ignored, as the spec says")
    }

    // MARK: - Workers files

    func testWorkersFileLinesMayBeRangesAndGroups() throws {
        try groups("db: db[1-2]\n")
        let path = folder + "/workers.txt"
        try "web[1,3]   # two\n@db\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try hosts(path), ["web1", "web3", "db1", "db2"])
        try "ok\nweb[2-1]\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(message(path), "\(path):2: bad range 'web[2-1]': '2-1' goes down (write 1-2)")
        try "a,web[1-2]\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(message(path), "\(path):1: one address per line, got 'a,web[1-2]'")
    }

    func testOptionsReportARangeAsAUsageError() {
        XCTAssertThrowsError(try Options.parse(["--workers=web[3-1]", "echo"], environment: [:])) { error in
            XCTAssertEqual("\(error)", "--workers: bad range 'web[3-1]': '3-1' goes down (write 1-3)")
        }
    }
}
