// Tests for LuaVM: running chunks and files, error messages and tracebacks, Swift bindings.
import Foundation
import LuaVM
import XCTest

final class LuaVMTests: XCTestCase {
    func testRunReturnsResultsAsStrings() throws {
        let lua = LuaState()
        XCTAssertEqual(try lua.run("return 1+2"), ["3"])
        XCTAssertEqual(try lua.run("return nil, true, 'x', 1.5"), ["nil", "true", "x", "1.5"])
        XCTAssertEqual(try lua.run("x = 1"), [])
    }

    func testSyntaxErrorNamesTheLine() {
        let lua = LuaState()
        XCTAssertThrowsError(try lua.run("x = = 1")) { error in
            let error = error as! LuaError
            XCTAssertTrue(error.isSyntaxError)
            XCTAssertTrue(error.message.hasPrefix("chunk:1:"), error.message)
            XCTAssertTrue(error.message.contains(":1:"))
        }
        XCTAssertThrowsError(try lua.run("if true then")) { error in
            XCTAssertTrue((error as! LuaError).message.hasSuffix("<eof>"))
        }
    }

    func testRuntimeErrorHasTraceback() {
        let lua = LuaState()
        XCTAssertThrowsError(try lua.run("local function boom()\n  error('kaboom')\nend\nboom()", name: "=script")) { error in
            let error = error as! LuaError
            XCTAssertFalse(error.isSyntaxError)
            XCTAssertEqual(error.message, "script:2: kaboom")
            XCTAssertTrue(error.traceback.hasPrefix("stack traceback:\n"), error.traceback)
            XCTAssertTrue(error.traceback.contains("in local 'boom'"), error.traceback)
            XCTAssertTrue(error.traceback.contains("script:4:"), error.traceback)
            XCTAssertTrue(String(describing: error).contains("script:2: kaboom"))
        }
    }

    func testFailingToStringIsAnErrorNotACrash() {
        let lua = LuaState()
        XCTAssertThrowsError(try lua.run("return setmetatable({}, {__tostring = function() error('no text') end})")) { error in
            XCTAssertTrue((error as! LuaError).message.contains("no text"))
        }
        XCTAssertEqual(try lua.run("return 'still usable'"), ["still usable"])
    }

    func testSwiftFunctionErrorIsCatchableAndStateStaysUsable() throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "refused by Swift" } }
        let lua = LuaState()
        lua.register("fail") { _ in throw Refused() }
        lua.register("add") { call in [.integer(try call.integer(1) + call.integer(2))] }

        XCTAssertEqual(try lua.run("return pcall(fail)"), ["false", "refused by Swift"])
        XCTAssertEqual(try lua.run("local ok, message = pcall(function() fail() end)\nreturn message"), ["chunk:1: refused by Swift"])
        XCTAssertEqual(try lua.run("return add(2, 3)"), ["5"])
        XCTAssertEqual(try lua.run("return select(2, pcall(add, 'x', 1))"),
                       ["bad argument #1 to 'add' (number expected, got string)"])
        XCTAssertThrowsError(try lua.run("add(1)")) { error in
            XCTAssertEqual((error as! LuaError).message, "chunk:1: bad argument #2 to 'add' (number expected, got no value)")
        }
        XCTAssertEqual(try lua.run("return add(40, 2)"), ["42"])

        lua.register("shout") { call in [.string(try call.string(1).uppercased())] }
        XCTAssertEqual(try lua.run("return shout('hi'), shout(1e20)"), ["HI", "1E+20"])
        XCTAssertEqual(try lua.run("return select(2, pcall(shout, {}))"), ["bad argument #1 to 'shout' (string expected, got table)"])
    }

    func testValuesCrossBothWays() throws {
        let lua = LuaState()
        var seen: LuaValue = .nil
        lua.register("keep") { call in
            seen = try call.value(1)
            return [.table([.string("name"): .string("w1"), .integer(1): .bool(true)]), .number(0.5)]
        }
        XCTAssertEqual(try lua.run("local t, n = keep({1, 'two', x = {y = 2.5}})\nreturn t.name, t[1], n"), ["w1", "true", "0.5"])
        XCTAssertEqual(seen, .table([.integer(1): .integer(1), .integer(2): .string("two"),
                                     .string("x"): .table([.string("y"): .number(2.5)])]))
        XCTAssertEqual(try lua.run("local t = {}; t.self = t; return (select(2, pcall(keep, t)))"),
                       ["bad argument #1 to 'keep' (cannot convert a table that contains itself)"])
    }

    func testRunFileSetsArgLikeStandaloneLua() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("LuaVMTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("script.lua").path
        try """
        #!/usr/bin/env ctsh
        seen = table.concat({arg[0], arg[1], arg[2], #arg, select('#', ...), (...)}, '|')
        """.write(toFile: script, atomically: true, encoding: .utf8)

        let lua = LuaState()
        try lua.runFile(path: script, args: ["one", "two words"])
        XCTAssertEqual(try lua.run("return seen"), ["\(script)|one|two words|2|2|one"])

        try "error('from file')".write(toFile: script, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try lua.runFile(path: script, args: [])) { error in
            // Lua shortens long chunk names to their last 60 characters, as the standalone lua does.
            XCTAssertTrue((error as! LuaError).message.hasSuffix("/script.lua:1: from file"), "\(error)")
        }
        XCTAssertThrowsError(try lua.runFile(path: folder.appendingPathComponent("missing.lua").path, args: [])) { error in
            XCTAssertTrue((error as! LuaError).message.contains("missing.lua"))
        }
    }
}
