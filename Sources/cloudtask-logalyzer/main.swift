// cloudtask-logalyzer SESSION [OUTPUT_DIR]: the report of a session (what ran, what failed and why, pending jobs,
// workers, instance hours and cost), and with OUTPUT_DIR each finished job's output as failures/N or succeeded/N.
// Exit 0 done, 1 the outputs could not be written, 2 usage error or no readable session.
import Engine
import Foundation
import SessionReading

let usage = """
usage: cloudtask-logalyzer [--price TYPE=USD_PER_HOUR]... SESSION [OUTPUT_DIR]

Prints the report of a cloudtask session: totals, failures by worker with the last lines of their
output, timeouts, pending jobs, workers (jobs, work time, lifetime, efficiency), instance hours and cost.

  SESSION      a session folder, or a session id looked up in $CLOUDTASK_SESSIONS (default ~/.cloudtask)
  OUTPUT_DIR   also write each finished job's command line and output to OUTPUT_DIR/failures/N or
               OUTPUT_DIR/succeeded/N (N is the job number)
  --price TYPE=USD_PER_HOUR
               the hourly price of an instance type (adds to or replaces the built-in us-east-1 prices)
  -h, --help   this help
"""

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("cloudtask-logalyzer: \(message)\n".utf8))
    exit(code)
}

var prices = SessionReport.defaultPrices
var positional: [String] = []
var arguments = Array(CommandLine.arguments.dropFirst())
var optionsDone = false
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    if optionsDone || !argument.hasPrefix("-") || argument == "-" {
        positional.append(argument)
        continue
    }
    switch argument {
    case "--": optionsDone = true
    case "-h", "--help": print(usage); exit(0)
    case "--price":
        guard !arguments.isEmpty else { fail("--price needs a value (TYPE=USD_PER_HOUR)") }
        arguments.insert("--price=" + arguments.removeFirst(), at: 0)
    case let option where option.hasPrefix("--price="):
        let value = option.dropFirst("--price=".count)
        let parts = value.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, let price = Double(parts[1]), price >= 0, price.isFinite else {
            fail("--price=\(value): expected TYPE=USD_PER_HOUR, e.g. --price=t3.micro=0.0104")
        }
        prices[String(parts[0])] = price
    default: fail("unknown option \(argument) (see --help)")
    }
}
guard (1...2).contains(positional.count) else { fail(positional.isEmpty ? "no session given (see --help)" : "too many arguments (see --help)") }

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

if positional.count == 2 {
    let directory = positional[1]
    do {
        try report.writeOutputs(to: directory)
    } catch let error as UsageError {
        fail(error.message)
    } catch {
        fail("\(error)", code: 1)
    }
    let finished = report.jobs.filter { $0.state.finished }
    let succeeded = finished.filter { $0.state == .exited(0) }.count
    print("Outputs: \(finished.count - succeeded) in \(directory)/failures, \(succeeded) in \(directory)/succeeded")
}
exit(0)
