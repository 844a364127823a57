// --report hooks, run when a session ends (also after an abort): `mail: FROM TO...` (SMTP via libcurl),
// `sh: COMMAND` (in the session folder, the session in CLOUDTASK_* variables), `lua: FILE-or-CODE`
// (with a `session` table). A failing hook is reported; it never changes the session's result.
import Engine
import Foundation
import HTTP
import LuaVM
import SessionReading

public enum ReportHooks {
    /// What a hook sees of the session.
    public struct Facts {
        public let id: Int
        public let path: String
        public let config: TaskConfig
        public let jobs: [SavedJob]
        public let seconds: Double
        public let exitCode: Int32
        public init(id: Int, path: String, config: TaskConfig, jobs: [SavedJob], seconds: Double, exitCode: Int32) {
            self.id = id; self.path = path; self.config = config
            self.jobs = jobs; self.seconds = seconds; self.exitCode = exitCode
        }
        var ok: Int { jobs.filter { $0.state == .exited(0) }.count }
        var pending: Int { jobs.filter { !$0.state.finished }.count }
        var timeouts: Int { jobs.filter { $0.state == .timeout }.count }
        var failed: Int { jobs.count - ok - pending - timeouts }
    }

    /// Runs every hook; each failure is one line from `report` (the session's result is not touched).
    public static func run(_ specs: [String], facts: Facts, body: String, environment: [String: String],
                           report: (String) -> Void) {
        for spec in specs {
            guard let colon = spec.firstIndex(of: ":") else { continue }
            let kind = spec[..<colon].trimmingCharacters(in: .whitespaces)
            let rest = spec[spec.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            do {
                switch kind {
                case "mail": try mail(rest, facts: facts, body: body, environment: environment)
                case "sh": try shell(rest, facts: facts, environment: environment)
                case "lua": try lua(rest, facts: facts)
                default: report("report \(kind): unknown hook")
                }
            } catch {
                report("report \(kind): \(error)")
            }
        }
    }

    // MARK: - mail

    /// The mail body: the session report (cloudtask-logalyzer's), or the console log when it cannot be made.
    public static func body(sessionPath: String) -> String {
        if let report = try? SessionReport.load(path: sessionPath) { return report.text() }
        return (try? String(contentsOfFile: sessionPath + "/log", encoding: .utf8)) ?? ""
    }

    static func subject(_ facts: Facts) -> String {
        "[Cloudtask] session \(facts.id): \(facts.jobs.count - facts.ok)/\(facts.jobs.count) !OK"
            + " (\(ShellQuote.display(facts.config.command)))"
    }

    static func mail(_ spec: String, facts: Facts, body: String, environment: [String: String]) throws {
        let people = ReportSpec.recipients(spec)
        guard people.count >= 2 else { throw HookError("mail needs FROM and TO addresses") }
        let from = people[0]
        let url = environment["CLOUDTASK_SMTP_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "smtp://localhost:25"
        var components = URLComponents(string: url)
        let user = components?.user, password = components?.password
        components?.user = nil
        components?.password = nil
        let client = try HTTPClient()
        for to in people.dropFirst() {
            let message = """
            From: \(from)\r
            To: \(to)\r
            Subject: \(subject(facts))\r
            Date: \(rfc2822(Date()))\r
            Content-Type: text/plain; charset=utf-8\r
            \r
            \(body)
            """
            try client.sendMail(url: components?.string ?? url,
                                from: ReportSpec.address(from), to: [ReportSpec.address(to)],
                                message: Array(message.utf8), username: user?.removingPercentEncoding,
                                password: password?.removingPercentEncoding, timeout: 60)
        }
    }

    static func rfc2822(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }

    // MARK: - sh

    /// The variables a sh hook sees: the task options as CLOUDTASK_<OPTION>, the session as CLOUDTASK_SESSION_*.
    static func variables(_ facts: Facts) -> [String: String] {
        var variables: [String: String] = [:]
        if let data = try? JSONEncoder().encode(facts.config),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for (key, value) in object where key != "reports" {
                let words = key.replacingOccurrences(of: "([a-z])([A-Z])", with: "$1_$2", options: .regularExpression)
                let name = "CLOUDTASK_" + words.uppercased()
                switch value {
                case let list as [Any]: variables[name] = list.map { "\($0)" }.joined(separator: " ")
                case let flag as Bool: variables[name] = flag ? "1" : "0"
                default: variables[name] = "\(value)"
                }
            }
        }
        let session: [String: String] = [
            "ID": String(facts.id), "PATH": facts.path, "TOTAL": String(facts.jobs.count), "OK": String(facts.ok),
            "FAILED": String(facts.failed), "TIMEOUTS": String(facts.timeouts), "PENDING": String(facts.pending),
            "ELAPSED": String(Int(facts.seconds.rounded())), "EXIT": String(facts.exitCode),
        ]
        for (key, value) in session { variables["CLOUDTASK_SESSION_" + key] = value }
        return variables
    }

    /// The hook gets our environment without its CLOUDTASK_* variables (CLOUDTASK_SUDO_PASSWORD among them:
    /// SudoTests pins it), then the session's own.
    static func shell(_ command: String, facts: Facts, environment: [String: String]) throws {
        let variables = environment.filter { !$0.key.hasPrefix("CLOUDTASK_") }.merging(variables(facts)) { $1 }
        let hook = try Subprocess.run(["/bin/sh", "-c", command], environment: variables, directory: facts.path,
                                      output: .inherit, error: .inherit)
        if hook.status != 0 { throw HookError("'\(command)' exited \(hook.status)") }
    }

    // MARK: - lua

    static func lua(_ source: String, facts: Facts) throws {
        let state = LuaState(memoryLimit: 1 << 30)
        state.register("__ct_session") { _ in [table(facts)] }
        let isFile = source.hasSuffix(".lua") && FileManager.default.fileExists(atPath: source)
        do {
            try state.run("session = __ct_session(); __ct_session = nil", name: "=session")
            try state.run(isFile ? "dofile(\(quoted(source)))" : source, name: isFile ? "=" + source : "=report")
        } catch let error as LuaError {
            throw HookError(error.message)
        }
    }

    static func table(_ facts: Facts) -> LuaValue {
        var config: [LuaValue: LuaValue] = [:]
        for (key, value) in variables(facts) where !key.hasPrefix("CLOUDTASK_SESSION_") {
            config[.string(String(key.dropFirst("CLOUDTASK_".count)).lowercased())] = .string(value)
        }
        let report = try? SessionReport.load(path: facts.path)
        let tails = report?.outputTails(2048) ?? [:]
        var workers: [String: Int] = [:]
        var jobs: [LuaValue: LuaValue] = [:]
        for (index, job) in facts.jobs.enumerated() {
            var entry: [LuaValue: LuaValue] = [
                .string("number"): .integer(job.spec.number),
                .string("input"): .string(String(decoding: job.spec.input, as: UTF8.self)),
                .string("command"): .string(String(decoding: job.spec.text, as: UTF8.self)),
                .string("state"): .string(job.state.jobsFileText),
            ]
            switch job.state {
            case .exited(0): entry[.string("status")] = .string("ok"); entry[.string("exit")] = .integer(0)
            case .exited(let code):
                entry[.string("status")] = .string("failed"); entry[.string("exit")] = .integer(code)
            case .signaled: entry[.string("status")] = .string("failed")
            case .timeout: entry[.string("status")] = .string("timeout")
            case .lost: entry[.string("status")] = .string("lost")
            case .pending, .running: entry[.string("status")] = .string("pending")
            }
            if let report, job.spec.number <= report.index.count {
                entry[.string("output")] = .string(String(decoding: tails[job.spec.number] ?? [], as: UTF8.self))
                if let worker = report.worker(ofJob: job.spec.number) {
                    entry[.string("worker")] = .string(worker)
                    workers[worker, default: 0] += 1
                }
            }
            jobs[.integer(index + 1)] = .table(entry)
        }
        let workerList = workers.keys.sorted().enumerated().map {
            (LuaValue.integer($0.offset + 1),
             LuaValue.table([.string("address"): .string($0.element), .string("jobs"): .integer(workers[$0.element]!)]))
        }
        return .table([
            .string("id"): .integer(facts.id), .string("path"): .string(facts.path), .string("config"): .table(config),
            .string("jobs"): .table(jobs), .string("workers"): .table(Dictionary(uniqueKeysWithValues: workerList)),
            .string("total"): .integer(facts.jobs.count), .string("ok"): .integer(facts.ok),
            .string("failed"): .integer(facts.failed), .string("timeouts"): .integer(facts.timeouts),
            .string("pending"): .integer(facts.pending),
            .string("seconds"): .number(facts.seconds), .string("exit"): .integer(Int(facts.exitCode)),
        ])
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.utf8.map {
            $0 >= 32 && $0 < 127 && $0 != 34 && $0 != 92 ? String(UnicodeScalar($0)) : "\\\($0)"
        }.joined() + "\""
    }
}

struct HookError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
