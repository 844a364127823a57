// What cloudtask and task templates share: a stream's first read turned into jobs (each by the task's JobRecipe).
import Foundation

public enum Batch {
    /// One job line as job `number`, in word mode with `command` (see JobRecipe.job, which this is).
    public static func job(_ line: [UInt8], lineNumber: Int, number: Int, command: [String]) throws -> JobSpec? {
        try JobRecipe(command: command).job(line, lineNumber: lineNumber, number: number)
    }

    /// The jobs of a stream's first read (see JobInput.waitForFirstRead): every record that arrived is checked
    /// before anything runs. Returns the jobs and the number of the last input record taken.
    public static func firstRead(_ input: JobInput, recipe: JobRecipe) throws -> (jobs: [JobSpec], lines: Int) {
        input.waitForFirstRead()
        var specs: [JobSpec] = []
        var lines = 0
        for line in input.take(Int.max) {
            if let spec = try recipe.job(line.bytes, lineNumber: line.number, number: specs.count + 1) {
                specs.append(spec)
            }
            lines = line.number
        }
        return (specs, lines)
    }

    /// `firstRead` in word mode with `command`.
    public static func firstRead(_ input: JobInput, command: [String]) throws -> (jobs: [JobSpec], lines: Int) {
        try firstRead(input, recipe: JobRecipe(command: command))
    }
}
