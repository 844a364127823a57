// The journal's and the ledger's lines, byte for byte as earlier versions wrote them, and read back.
import Foundation
import XCTest
@testable import Engine

final class JournalRecordTests: XCTestCase {
    func line(_ record: JournalRecord) -> String {
        var out: [UInt8] = []
        record.encode(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func testEveryRecordIsWrittenAsBefore() {
        let text = Array("echo \"a\"\tb\\\n\u{1}é".utf8)
        XCTAssertEqual(line(.job(JobSpec(number: 3, input: Array("a é".utf8), text: text))),
                       #"{"job":3,"input":"a é","text":"echo \"a\"\tb\\\n\u0001é"}"# + "\n")
        XCTAssertEqual(line(.job(JobSpec(number: 4, input: [0xff, 0], text: [0x41]))), #"{"job":4,"input64":"/wA=","text64":"QQ=="}"# + "\n")
        XCTAssertEqual(line(.reset(job: 2)), "{\"reset\":2}\n")
        XCTAssertEqual(line(.run(at: 1700000000.1234)), "{\"run\":1700000000.123}\n")
        XCTAssertEqual(line(.start(job: 1, worker: "10.0.0.1:22", attempt: 2, at: 5.5)),
                       #"{"start":1,"worker":"10.0.0.1:22","attempt":2,"at":5.500}"# + "\n")
        XCTAssertEqual(line(.end(job: 1, state: .exited(3), seconds: 1.25, at: 7)), #"{"end":1,"seconds":1.250,"at":7.000,"exit":3}"# + "\n")
        XCTAssertEqual(line(.end(job: 1, state: .signaled("KILL"), seconds: 1, at: 7)),
                       #"{"end":1,"seconds":1.000,"at":7.000,"signal":"KILL"}"# + "\n")
        XCTAssertEqual(line(.end(job: 1, state: .timeout, seconds: 1, at: 7)), #"{"end":1,"seconds":1.000,"at":7.000,"timeout":true}"# + "\n")
        XCTAssertEqual(line(.end(job: 1, state: .lost, seconds: nil, at: 7)), #"{"end":1,"lost":true,"at":7.000}"# + "\n")
        XCTAssertEqual(line(.retry(job: 9)), "{\"retry\":9}\n")
        XCTAssertEqual(line(.requeue(job: 9, refused: false)), "{\"requeue\":9}\n")
        XCTAssertEqual(line(.requeue(job: 9, refused: true)), "{\"requeue\":9,\"refused\":true}\n")
        XCTAssertEqual(line(.abort(job: 9)), "{\"abort\":9}\n")
        XCTAssertEqual(line(.generator(open: true)), "{\"generator\":\"open\"}\n")
        XCTAssertEqual(line(.generator(open: false)), "{\"generator\":\"done\"}\n")
        XCTAssertEqual(line(.stop(pid: 42, at: 8)), "{\"stop\":42,\"at\":8.000}\n")
    }

    func testWrittenRecordsReadBack() throws {
        let text = Array("echo \"a\"\tb\\\n\u{1}é \u{1F600}".utf8)
        for spec in [JobSpec(number: 3, input: Array("a é".utf8), text: text), JobSpec(number: 4, input: [0xff, 0], text: [0x41])] {
            var out: [UInt8] = []
            JournalRecord.job(spec).encode(into: &out)
            guard case .job(let back)? = try JournalRecord.decode(out.dropLast()) else { return XCTFail("not a job") }
            XCTAssertEqual([back.number], [spec.number])
            XCTAssertEqual(back.input, spec.input)
            XCTAssertEqual(back.text, spec.text)
        }
        guard case .end(1, .lost?, nil, 7?)? = try JournalRecord.decode(Array(#"{"end":1,"lost":true,"at":7.000}"#.utf8)) else {
            return XCTFail("lost")
        }
        // As JSONSerialization read them: escapes, integral numbers for ints, any order, presence for flags.
        guard case .start(2, "a/b"?, 3?, 5?)? = try JournalRecord.decode(Array(#" { "at" : 5, "attempt":3.0, "worker":"a\/b","start":2 } "#.utf8)),
              case .requeue(4, true)? = try JournalRecord.decode(Array(#"{"requeue":4,"refused":false}"#.utf8)),
              case .end(1, .timeout?, nil, nil)? = try JournalRecord.decode(Array(#"{"end":1,"timeout":null}"#.utf8)) else {
            return XCTFail("as JSONSerialization read them")
        }
        XCTAssertNil(try JournalRecord.decode(Array(#"{"something":[1,{"a":2}]}"#.utf8)))
        for bad in [#"{"start":4,"wor"#, "[1]", #"{"a":"\u12"}"#, "{\"a\":\"x\ty\"}", #"{"a":1}x"#, #"{"a":01}"#] {
            XCTAssertThrowsError(try JournalRecord.decode(Array(bad.utf8)), bad)
        }
        XCTAssertThrowsError(try JournalRecord.decode([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), "invalid UTF-8")
    }

    func testLedgerLinesAreWrittenAsBefore() throws {
        let dir = NSTemporaryDirectory() + "ledger-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = Ledger(sessionPath: dir)
        try ledger.record(.launch, Instance(id: "i/1", provider: "ec2", host: "", port: 22, user: "admin"))
        let text = try String(contentsOfFile: dir + "/instances", encoding: .utf8)
        let at = try XCTUnwrap(text.firstMatch(of: /"at":([0-9.]+),/)?.1)
        XCTAssertEqual(text, #"{"at":\#(at),"event":"launch","host":"","id":"i\/1","port":22,"provider":"ec2","user":"admin"}"# + "\n")
        XCTAssertEqual(ledger.records().records.first?.instance, Instance(id: "i/1", provider: "ec2", host: "", port: 22, user: "admin"))
    }
}
