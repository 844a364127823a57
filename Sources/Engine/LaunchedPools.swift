// Workers files written by cloudtask-launch-workers: `ADDRESS  # PROVIDER:INSTANCE-ID` lines, tied back to the
// session whose ledger launched each instance (its pinned known_hosts and launch key).
import Foundation

public enum LaunchedPools {
    /// The `# PROVIDER:INSTANCE-ID` annotations of a workers file: address text -> instance id.
    public static func annotations(_ text: String) -> [(address: String, id: String, line: String)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { raw in
            let line = String(raw)
            guard let hash = line.firstIndex(of: "#") else { return nil }
            let address = line[..<hash].trimmingCharacters(in: .whitespaces)
            let comment = line[line.index(after: hash)...].trimmingCharacters(in: .whitespaces)
            guard !address.isEmpty, let colon = comment.firstIndex(of: ":"), !comment.contains(" ") else { return nil }
            return (address, String(comment[comment.index(after: colon)...]), line)
        }
    }

    /// Where each instance id is alive: the session folder whose ledger holds it, and the instance.
    public static func find(_ ids: Set<String>, sessionsRoot: String) -> [String: (path: String, instance: Instance)] {
        var found: [String: (path: String, instance: Instance)] = [:]
        let sessions = (try? FileManager.default.contentsOfDirectory(atPath: sessionsRoot)) ?? []
        for name in sessions where Int(name) != nil {
            let path = sessionsRoot + "/" + name
            guard FileManager.default.fileExists(atPath: path + "/instances") else { continue }
            for instance in Ledger(sessionPath: path).live() where ids.contains(instance.id) {
                found[instance.id] = (path, instance)
            }
        }
        return found
    }

    /// Endpoints of a launched pool log in with its launch key and check its pinned host keys.
    public static func attach(_ endpoints: [Endpoint], workersValue: String, sessionsRoot: String) -> [Endpoint] {
        guard let text = try? String(contentsOfFile: workersValue, encoding: .utf8) else { return endpoints }
        let notes = annotations(text)
        guard !notes.isEmpty else { return endpoints }
        let found = find(Set(notes.map(\.id)), sessionsRoot: sessionsRoot)
        return endpoints.map { endpoint in
            guard let note = notes.first(where: { $0.address == endpoint.label }),
                  let (path, instance) = found[note.id] else { return endpoint }
            var pinned = endpoint
            pinned.identityFiles = [path + "/launch_key"] + endpoint.identityFiles
            pinned.pinnedKnownHosts = path + "/known_hosts"
            pinned.pinnedPolicy = instance.provider == "local" ? .strict : .acceptNew
            return pinned
        }
    }
}
