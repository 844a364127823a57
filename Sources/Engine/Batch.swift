// What cloudtask and task templates share: job lines turned into jobs, whole or as a stream's first read.
import Foundation

public enum Batch {
    /// One job line as job `number`: nil for a blank or comment line; an unterminated quote, a NUL byte or a
    /// job too long for a remote command throws, naming the line.
    public static func job(_ line: [UInt8], lineNumber: Int, number: Int, command: [String]) throws -> JobSpec? {
        guard let words = try JobLine.words(line, lineNumber: lineNumber) else { return nil }
        let text = ShellQuote.jobText(command: command, words: words, rawLine: line)
        if let problem = JobSpec.problem(text: text) { throw JobLineError(line: lineNumber, message: "the job " + problem) }
        return JobSpec(number: number, input: trimmed(line), text: text)
    }

    /// The jobs of a stream's first read (see JobInput.waitForFirstRead): every line that arrived is checked
    /// before anything runs. Returns the jobs and the number of the last input line taken.
    public static func firstRead(_ input: JobInput, command: [String]) throws -> (jobs: [JobSpec], lines: Int) {
        input.waitForFirstRead()
        var specs: [JobSpec] = []
        var lines = 0
        for line in input.take(Int.max) {
            if let spec = try job(line.bytes, lineNumber: line.number, number: specs.count + 1, command: command) {
                specs.append(spec)
            }
            lines = line.number
        }
        return (specs, lines)
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0, end = bytes.count
        while start < end && (bytes[start] == 32 || bytes[start] == 9) { start += 1 }
        while end > start && (bytes[end - 1] == 32 || bytes[end - 1] == 9) { end -= 1 }
        return Array(bytes[start..<end])
    }
}
