// The REPL's primitives: help's topics and option texts (HelpTopics.swift, Options.describe), and completion
// candidates only Swift can list: file names, known worker addresses.
import Engine
import Foundation
import LuaVM

extension Bindings {
    func registerRepl() {
        lua.register("__ct_help_topics") { _ in
            var list: [LuaValue: LuaValue] = [:]
            for (index, topic) in HelpTopics.bindings.enumerated() {
                var example: [LuaValue: LuaValue] = [:]
                for (line, text) in topic.example.enumerated() { example[.integer(line + 1)] = .string(text) }
                list[.integer(index + 1)] = .table([
                    .string("name"): .string(topic.name), .string("signature"): .string(topic.signature),
                    .string("summary"): .string(topic.summary), .string("details"): .string(topic.details),
                    .string("example"): .table(example),
                ])
            }
            var library: [LuaValue: LuaValue] = [:]
            for (name, line) in HelpTopics.library { library[.string(name)] = .string(line) }
            var libraries: [LuaValue: LuaValue] = [:]
            for (index, name) in HelpTopics.libraries.enumerated() { libraries[.integer(index + 1)] = .string(name) }
            return [.table(list), .table(library), .table(libraries)]
        }
        lua.register("__ct_describe_option") { call in
            [Options.describe(try call.string(1)).map(LuaValue.string) ?? .nil]
        }
        lua.register("__ct_complete_files") { [unowned self] call in
            let found = Bindings.files(matching: try call.string(1), home: self.home)
            return [.table(Dictionary(uniqueKeysWithValues: found.enumerated().map { (.integer($0 + 1), .string($1)) }))]
        }
        lua.register("__ct_known_addresses") { [unowned self] _ in
            let found = KnownAddresses.all(home: self.home, sessionsRoot: self.sessionsRoot)
            return [.table(Dictionary(uniqueKeysWithValues: found.enumerated().map { (.integer($0 + 1), .string($1)) }))]
        }
    }

    var home: String { environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() }

    /// The paths that complete `prefix` (a path as typed; `~/` is the home folder): the entries of its folder whose
    /// names start with its last part, dot files only when that part starts with a dot, folders ending in "/".
    static func files(matching prefix: String, home: String) -> [String] {
        let slash = prefix.lastIndex(of: "/")
        let typedFolder = slash.map { String(prefix[...$0]) } ?? ""
        let start = slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
        var folder = typedFolder.isEmpty ? "." : typedFolder
        if folder == "~/" || folder.hasPrefix("~/") { folder = home + folder.dropFirst() }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { $0.hasPrefix(start) && (start.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name in
            var isFolder: ObjCBool = false
            FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isFolder)
            return typedFolder + name + (isFolder.boolValue ? "/" : "")
        }
    }
}
