// Tests for LineEditor's history file (no terminal needed).
import Foundation
import LineEditor
import XCTest

final class LineEditorTests: XCTestCase {
    func testHistorySavesAndReloads() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("LineEditorTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("history").path

        let first = LineEditor(historyFile: file, historySize: 3)
        XCTAssertEqual(first.history, [])
        for line in ["dropped", "pool:run('uname -r')", "echo 'a b' # c", "tab\there \\ back"] { first.addHistory(line) }
        XCTAssertEqual(first.history, ["pool:run('uname -r')", "echo 'a b' # c", "tab\there \\ back"])
        try first.saveHistory()
        first.close()

        let second = LineEditor(historyFile: file, historySize: 100)
        XCTAssertEqual(second.history, ["pool:run('uname -r')", "echo 'a b' # c", "tab\there \\ back"])
        second.close()
    }

    func testSaveToUnwritablePathNamesIt() {
        let file = "/nonexistent-\(UUID().uuidString)/history"
        let editor = LineEditor(historyFile: file, historySize: 10)
        defer { editor.close() }
        editor.addHistory("x")
        XCTAssertThrowsError(try editor.saveHistory()) { error in
            XCTAssertTrue(String(describing: error).contains(file), String(describing: error))
        }
    }
}
