// The instances ledger: launch before creation, destroyed after; live() is what a crash leaves.
import Engine
import Foundation
import XCTest

final class LedgerTests: XCTestCase {
    func testLiveInstancesAreLaunchedAndNotDestroyed() throws {
        let dir = NSTemporaryDirectory() + "ledger-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = Ledger(sessionPath: dir)
        let a = Instance(id: "a", provider: "local", host: "127.0.1.10", port: 2222, user: "root")
        let b = Instance(id: "b", provider: "local", host: "127.0.1.11", port: 2223, user: "root")
        try ledger.record(.launch, a)
        try ledger.record(.launch, b)
        try ledger.record(.up, a)
        XCTAssertEqual(ledger.live().map(\.id), ["a", "b"])
        try ledger.record(.destroyed, a)
        XCTAssertEqual(ledger.live(), [b])
    }
}
