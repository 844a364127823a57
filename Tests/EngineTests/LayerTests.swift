// Issue 9: the layers, as the sources and Package.swift say them. The engine draws nothing and imports only
// Foundation; the companions and cloudtask do not depend on LuaShell; each C library has one importer.
import Foundation
import XCTest

final class LayerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The Swift files under Sources/`module`, with their text.
    func sources(_ module: String) throws -> [(name: String, text: String)] {
        let folder = LayerTests.root + "/Sources/" + module
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().filter { $0.hasSuffix(".swift") }.map {
            ($0, try String(contentsOfFile: folder + "/" + $0, encoding: .utf8))
        }
    }

    /// The dependencies Package.swift gives target `name` (the names in its `dependencies: [...]`).
    func dependencies(of name: String) throws -> [String] {
        let manifest = try String(contentsOfFile: LayerTests.root + "/Package.swift", encoding: .utf8)
        guard let start = manifest.range(of: "arget(name: \"\(name)\"") else { XCTFail("no target \(name)"); return [] }
        // The declaration runs to the parenthesis that closes `.target(`.
        var depth = 1
        var end = start.upperBound
        while end < manifest.endIndex && depth > 0 {
            if manifest[end] == "(" { depth += 1 } else if manifest[end] == ")" { depth -= 1 }
            end = manifest.index(after: end)
        }
        let declaration = manifest[start.upperBound..<end]
        guard let list = declaration.range(of: "dependencies: [") else { return [] }
        let items = declaration[list.upperBound...].prefix { $0 != "]" }
        return items.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "\""))) }
            .filter { !$0.isEmpty }
    }

    func testTheEngineDrawsNothingAndImportsOnlyFoundation() throws {
        let engine = try sources("Engine")
        XCTAssertGreaterThan(engine.count, 10)
        for (name, text) in engine {
            for banned in ["isatty", "\\u{1B}", "\\e[", "FileHandle.standardOutput", "FileHandle.standardError", "fd: 1)", "fd: 2)"] {
                XCTAssertFalse(text.contains(banned), "Sources/Engine/\(name) has \(banned): the front ends render")
            }
            let imports = text.split(separator: "\n").filter { $0.hasPrefix("import ") }
            XCTAssertEqual(Set(imports), imports.isEmpty ? [] : ["import Foundation"], "Sources/Engine/\(name)")
        }
        XCTAssertEqual(try dependencies(of: "Engine"), [])
    }

    func testFrontEndsOtherThanCtshDoNotDependOnLuaShell() throws {
        for target in ["cloudtask", "cloudtask-launch-workers", "cloudtask-destroy-workers", "cloudtask-logalyzer", "cloudtask-put",
                       "cloudtask-get", "FleetCopyCommand"] {
            let deps = try dependencies(of: target)
            XCTAssertFalse(deps.isEmpty, target)
            XCTAssertFalse(deps.contains("LuaShell"), "\(target): \(deps)")
            for (name, text) in try sources(target) {
                XCTAssertFalse(text.contains("import LuaShell"), "\(target)/\(name)")
            }
        }
        // The logalyzer reads sessions and links neither HTTP nor Lua.
        XCTAssertEqual(Set(try dependencies(of: "cloudtask-logalyzer")), ["Engine", "SessionReading"])
        XCTAssertEqual(try dependencies(of: "SessionReading"), ["Engine"])
    }

    func testEachCLibraryHasOneImporter() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: LayerTests.root + "/Sources").filter { !$0.hasPrefix("C") }
        let owners = ["CLibSSH2": "SSH", "CLua": "LuaVM", "CEditLine": "LineEditor", "CCurl": "HTTP", "CCrypto": "SSH"]
        for module in modules {
            for (name, text) in try sources(module) {
                for (library, owner) in owners where text.contains("import \(library)\n") {
                    XCTAssertEqual(module, owner, "\(module)/\(name) imports \(library)")
                }
            }
        }
    }
}
