// cloudtask-logalyzer [--html FILE] SESSION [OUTPUT_DIR]: the report of a session (what ran, what failed and why,
// pending jobs, workers, instance hours and cost), with --html also as a page with pictures (ReportHTML.swift), and
// with OUTPUT_DIR each finished job's output as failures/N or succeeded/N.
// Exit 0 done, 1 the page or the outputs could not be written, 2 usage error or no readable session.
import Engine
import Foundation
import SessionReading

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("cloudtask-logalyzer: \(message)\n".utf8))
    exit(code)
}

let parsed: ParsedArguments
do { parsed = try Command.logalyzer.parse(Array(CommandLine.arguments.dropFirst())) } catch { fail("\(error)") }
if let text = Command.logalyzer.answer(parsed) { print(text, terminator: ""); exit(0) }
var prices = SessionReport.defaultPrices
for price in parsed.values("price") {
    let parts = price.split(separator: "=", maxSplits: 1)  // validated by the parser: TYPE=USD_PER_HOUR
    prices[String(parts[0])] = Double(parts[1])!
}
let positional = parsed.positionals
guard (1...2).contains(positional.count) else {
    fail(positional.isEmpty ? "no session given (see --help)" : "too many arguments (see --help)")
}

/// A folder path as is; an id (digits only) under the sessions root, or a folder of that name here.
func sessionPath(_ argument: String) throws -> String {
    guard !argument.isEmpty, argument.allSatisfy({ $0.isASCII && $0.isNumber }) else { return argument }
    let environment = ProcessInfo.processInfo.environment
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    let root = environment["CLOUDTASK_SESSIONS"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.cloudtask"
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: root + "/" + argument, isDirectory: &isDirectory), isDirectory.boolValue {
        return root + "/" + argument
    }
    if FileManager.default.fileExists(atPath: argument + "/journal") { return argument }
    throw UsageError("no session \(argument) in \(root)")
}

let report: SessionReport
do {
    report = try SessionReport.load(path: try sessionPath(positional[0]))
} catch {
    fail("\(error)")
}
FileHandle.standardOutput.write(Data(report.text(priceTable: prices).utf8))
if let file = parsed.value("html") {
    do { try report.writeHTML(to: file, priceTable: prices) } catch { fail("\(error)", code: 1) }
}

if positional.count == 2 {
    let directory = positional[1]
    do {
        try report.writeOutputs(to: directory)
    } catch let error as UsageError {
        fail(error.message)
    } catch {
        fail("\(error)", code: 1)
    }
    let counts = report.counts
    print("Outputs: \(counts.notOK) in \(directory)/failures, \(counts.ok) in \(directory)/succeeded")
}
exit(0)
