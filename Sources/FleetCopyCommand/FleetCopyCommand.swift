// cloudtask-put and cloudtask-get, whose mains are one line each: the worker options parsed as cloudtask parses
// them, the workers resolved as cloudtask resolves them, Fleet.copy, and a line per worker. Errors become one line
// and an exit code here: 0 every copy in place, 1 some worker failed, 2 usage.
import Engine
import Foundation
import Providers
import SSH
import Terminal

public enum CopyCommand {
    /// Runs the command of `direction` on this process's arguments and exits.
    public static func main(_ direction: FileCopy.Direction) -> Never {
        let command: Command = direction == .put ? .put : .get
        func fail(_ message: String, code: Int32 = 2) -> Never {
            FileHandle.standardError.write(Data("\(command.name): \(message)\n".utf8))
            exit(code)
        }
        let environment = ProcessInfo.processInfo.environment
        let config: TaskConfig
        let flags: RunFlags
        do {
            (config, flags) = try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: environment,
                                                command: command)
        } catch {
            fail("\(error)")
        }
        if flags.help { print(command.help, terminator: ""); exit(0) }
        if let shell = flags.completionScript.flatMap(Completion.Shell.init(rawValue:)) {
            print(Completion.script(for: command, shell: shell), terminator: "")
            exit(0)
        }
        guard config.command.count == 2 else { fail(command.usage) }
        guard !config.workers.isEmpty else { fail("no workers: give --workers=LIST|FILE (or CLOUDTASK_WORKERS)") }
        let (first, second) = (config.command[0], config.command[1])
        let request: Fleet.CopyRequest = direction == .put ? .put(local: first, remote: second)
                                                           : .get(remote: first, localDir: second)

        let context = TaskContext(environment: environment, providers: ProviderFactory(environment: environment))
        let endpoints: [Endpoint]
        do { endpoints = try TaskAssembly.resolveWorkers(config, context: context) } catch { fail("\(error)") }
        var warnings: [String] = []
        for warning in endpoints.flatMap(\.configWarnings) where !warnings.contains(warning) { warnings.append(warning) }
        for warning in warnings { say(command, "warning: \(warning)") }
        let descriptors = FileLimit.raise()
        if let warning = FileLimit.warning(workers: endpoints.count, limit: descriptors) { say(command, "warning: \(warning)") }
        if config.hostKeyPolicy == HostKeyPolicy.off.rawValue {
            say(command, "warning: host keys are not checked (--host-key-policy=off)")
        }
        // As cloudtask does: an encrypted key's passphrase is asked only where a person watches.
        let keyring = Keyring(ask: { isatty(2) == 1 ? SecretPrompt.ask($0) : nil })
        let transport = keyring.transport(config, unlocking: endpoints, home: context.home, environment: environment)
        Interrupts.install(wake: transport.wakeDescriptor)  // Ctrl-C: the copies under way stop, each reads "interrupted"

        let line = CopyProgressLine(verb: direction == .put ? "put" : "get", quiet: config.quiet == true)
        let results: [FleetCopyResult]
        do {
            results = try Fleet.copy(endpoints, request, config: config, transport: transport, progress: line.update)
        } catch {
            fail("\(error)")
        }
        line.finish()
        print(results.map(\.line).joined(separator: "\n"))
        let failed = results.filter { !$0.ok }.count
        if failed > 0 { say(command, "\(failed) of \(results.count) workers failed") }
        exit(failed == 0 ? 0 : 1)
    }

    private static func say(_ command: Command, _ line: String) {
        FileHandle.standardError.write(Data("\(command.name): \(line)\n".utf8))
    }
}
