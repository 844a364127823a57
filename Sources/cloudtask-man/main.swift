// cloudtask-man: writes every man page (ManPage.pages) into a folder, from the command tables and README.md.
// Usage: cloudtask-man [--date=YYYY-MM-DD] README.md OUTDIR   (scripts/man, scripts/install and scripts/package run it)
import Engine
import Foundation

var arguments = Array(CommandLine.arguments.dropFirst())
var date = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
if let first = arguments.first, first.hasPrefix("--date=") {
    date = String(first.dropFirst("--date=".count))
    arguments.removeFirst()
}
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: cloudtask-man [--date=YYYY-MM-DD] README.md OUTDIR\n".utf8))
    exit(2)
}
do {
    let readme = try String(contentsOfFile: arguments[0], encoding: .utf8)
    try FileManager.default.createDirectory(atPath: arguments[1], withIntermediateDirectories: true)
    for page in ManPage.pages {
        let path = arguments[1] + "/" + page.fileName
        try ManPage.render(page, readme: readme, date: date).write(toFile: path, atomically: true, encoding: .utf8)
        print(path)
    }
} catch {
    FileHandle.standardError.write(Data("cloudtask-man: \(error)\n".utf8))
    exit(1)
}
