// The --report hook specs: checked with the options, before anything runs.
import Foundation

public enum ReportSpec {
    /// Checks hook specs before anything runs; returns an error message for a bad one.
    public static func validate(_ spec: String) -> String? {
        guard let colon = spec.firstIndex(of: ":") else {
            return "'\(spec)': expected mail: FROM TO..., sh: COMMAND or lua: FILE-or-CODE"
        }
        let kind = spec[..<colon].trimmingCharacters(in: .whitespaces)
        let rest = spec[spec.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        switch kind {
        case "mail":
            let addresses = recipients(rest)
            return addresses.count >= 2 ? nil : "'\(spec)': mail needs FROM and at least one TO address"
        case "sh", "lua":
            return rest.isEmpty ? "'\(spec)': \(kind) needs something to run" : nil
        default:
            return "'\(spec)': unknown hook '\(kind)' (mail, sh or lua)"
        }
    }

    /// FROM then TO addresses, separated by spaces; `Name <addr>` may span several words.
    public static func recipients(_ text: String) -> [String] {
        var result: [String] = []
        var pending: [Substring] = []
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            pending.append(word)
            if word.contains("@") && (!pending.joined(separator: " ").contains("<") || word.hasSuffix(">")) {
                result.append(pending.joined(separator: " "))
                pending = []
            }
        }
        return result
    }

    /// The bare address of `Name <addr>` or `addr`.
    public static func address(_ recipient: String) -> String {
        if let open = recipient.lastIndex(of: "<"), let close = recipient.lastIndex(of: ">"), open < close {
            return String(recipient[recipient.index(after: open)..<close])
        }
        return recipient
    }

}
