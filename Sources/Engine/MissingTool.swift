// A tool the wrapper or a setup step needs that the worker lacks: the shell checks that name it, and the
// reading of a failed command's output back into "tar is missing on the worker (needed for --overlay)".

/// The checks cost no round trip: `command -v` is a builtin, run in the same command as the work. A missing
/// tool prints `cloudtask-missing: NAME` and exits 127; only a failure is read, so a worker that has
/// everything pays nothing.
public enum MissingTool {
    static let marker = "cloudtask-missing: "

    /// Shell text that exits 127, naming the first of `tools` not found (one line, for `;`-joined scripts too).
    public static func check(_ tools: [String]) -> String {
        tools.map { "{ command -v \($0) >/dev/null 2>&1 || { echo '\(marker)\($0)' >&2; exit 127; }; }" }
            .joined(separator: " && ")
    }

    /// The tool an exit 127 names in its output: our marker, or the login shell's own words when /bin/sh itself
    /// is absent (dash, busybox: "/bin/sh: not found"; bash: "No such file or directory"; zsh; fish).
    public static func named(in output: [UInt8]) -> String? {
        let text = String(decoding: output.suffix(2048), as: UTF8.self)
        for line in text.split(separator: "\n") {
            if let range = line.range(of: marker) {
                let name = line[range.upperBound...].prefix { !$0.isWhitespace }
                if !name.isEmpty { return String(name) }
            }
            if ["/bin/sh: not found", "/bin/sh: No such file or directory", "no such file or directory: /bin/sh",
                "Unknown command: /bin/sh"].contains(where: line.contains) {
                return "/bin/sh"
            }
        }
        return nil
    }

    /// "tar is missing on the worker (needed for --overlay)", for a command that exited 127 naming a tool.
    public static func message(exited127: Bool, output: [UInt8]) -> String? {
        guard exited127, let tool = named(in: output) else { return nil }
        return "\(tool) is missing on the worker (needed \(purpose(of: tool)))"
    }

    static func purpose(of tool: String) -> String {
        switch tool {
        case "/bin/sh": return "to run any command"
        case "setsid": return "to kill a timed-out job's process group where the server does not give each command its own, as Dropbear"
        case "tar": return "for --overlay"
        case "sudo": return "for --sudo"
        case "flock", "grep", "mv": return "for the session key of an ssh-agent login"
        default: return "by cloudtask"
        }
    }
}
