// The worker addresses a person has used or named before, for ctsh's completion: ~/.ssh/config's Host names,
// the workers of saved sessions, and the entries of known_hosts that are not hashed.
import Foundation

public enum KnownAddresses {
    /// Every known address, sorted, each once: `home`'s ~/.ssh/config and ~/.ssh/known_hosts, and the workers
    /// in the conf of each session under `sessionsRoot`. Unreadable files add nothing.
    public static func all(home: String, sessionsRoot: String) -> [String] {
        var found = Set(SSHConfig.load(path: home + "/.ssh/config", home: home).hostNames)
        if let data = FileManager.default.contents(atPath: home + "/.ssh/known_hosts") {
            found.formUnion(knownHosts(String(decoding: data, as: UTF8.self)))
        }
        found.formUnion(sessionWorkers(root: sessionsRoot))
        return found.sorted()
    }

    /// The hosts of a known_hosts file's lines: `a,b` gives both, `[h]:2222` gives `h:2222` (a worker address);
    /// hashed entries (`|1|...`, Debian's default), patterns, markers' lines (@revoked, @cert-authority) and
    /// comments give nothing.
    static func knownHosts(_ text: String) -> [String] {
        var hosts: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, !first.hasPrefix("#"), !first.hasPrefix("@"), !first.hasPrefix("|") else {
                continue
            }
            for name in first.split(separator: ",") where !name.contains(where: { "*?!".contains($0) }) {
                if name.hasPrefix("["), let close = name.firstIndex(of: "]") {
                    let host = name[name.index(after: name.startIndex)..<close]
                    let port = name[close...].dropFirst().drop { $0 == ":" }
                    hosts.append(port.isEmpty || port == "22" ? String(host) : "\(host):\(port)")
                } else {
                    hosts.append(String(name))
                }
            }
        }
        return hosts
    }

    /// The worker words of each saved session's conf: `--workers` lists split into words, ranges and groups as
    /// written. A workers file (a value naming a file here, or a word holding a `/` past an `N/` prefix) is left out.
    static func sessionWorkers(root: String) -> [String] {
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { Int($0) != nil }
        var words: [String] = []
        for id in ids {
            guard let conf = Session.savedConfig(root + "/" + id) else { continue }
            for value in conf.workers {
                var isFolder: ObjCBool = false
                if FileManager.default.fileExists(atPath: value, isDirectory: &isFolder) && !isFolder.boolValue { continue }
                words += HostRanges.words(value).filter { !$0.drop(while: \.isNumber).dropFirst().contains("/") }
            }
        }
        return words
    }
}
