// What cloudtask and task templates share: job lines to jobs, and the number of workers to use.
import Foundation

public enum Batch {
    /// Job lines to jobs: blank and comment lines skipped; an unterminated quote, a NUL byte or a
    /// job too long for a remote command anywhere throws before anything runs.
    public static func jobs(_ input: [UInt8], command: [String]) throws -> [JobSpec] {
        var specs: [JobSpec] = []
        for line in JobLine.lines(input) {
            guard let words = try JobLine.words(line.bytes, lineNumber: line.number) else { continue }
            let text = ShellQuote.jobText(command: command, words: words, rawLine: line.bytes)
            if let problem = JobSpec.problem(text: text) {
                throw JobLineError(line: line.number, message: "the job " + problem)
            }
            specs.append(JobSpec(number: specs.count + 1, input: trimmed(line.bytes), text: text))
        }
        return specs
    }

    /// `--split`, checked against the workers given and capped by the jobs.
    public static func split(_ config: TaskConfig, workers: Int, jobs: Int) throws -> Int {
        let split = config.split ?? workers
        if split > workers {
            throw UsageError("--split=\(split) exceeds the \(workers) workers given (--workers);"
                + " launching more needs a provider")
        }
        return max(1, min(split, jobs))
    }

    /// Reads all of stdin as bytes.
    public static func readStandardInput() -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(0, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0, end = bytes.count
        while start < end && (bytes[start] == 32 || bytes[start] == 9) { start += 1 }
        while end > start && (bytes[end - 1] == 32 || bytes[end - 1] == 9) { end -= 1 }
        return Array(bytes[start..<end])
    }
}
