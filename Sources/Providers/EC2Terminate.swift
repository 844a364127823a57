// Terminating EC2 instances and finding live ones by tag, with or without a provider: batches, `pending-…`
// ledger records resolved by their client-token tag, and reaping a whole session (cloudtask-destroy-workers).
import Engine
import Foundation

extension EC2Provider {
    /// `destroy` without a provider (no image needed): for cloudtask-destroy-workers and leftovers of a killed run.
    public static func destroy(_ instances: [Instance], settings: EC2Settings,
                               credentials: AWSCredentials) -> [String: String] {
        do {
            try settings.validate(needImage: false)
            return destroy(instances, client: try EC2Client(settings: settings, credentials: credentials))
        } catch {
            return Dictionary(instances.map { ($0.id, "\(error)") }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Failures are keyed by the ids given (a `pending-…` record fails when any instance it stands for does).
    static func destroy(_ instances: [Instance], client: EC2Client) -> [String: String] {
        var failures: [String: String] = [:]
        var ids: [String] = []
        var owner: [String: String] = [:]
        for instance in instances {
            if instance.id.hasPrefix("pending-") {
                let token = String(instance.id.dropFirst("pending-".count))
                do {
                    for id in try liveInstances(filters: [("tag:cloudtask:client-token", token)], client: client) {
                        owner[id] = instance.id
                        ids.append(id)
                    }
                } catch {
                    failures[instance.id] = "\(error)"
                }
            } else {
                owner[instance.id] = instance.id
                ids.append(instance.id)
            }
        }
        for (id, why) in terminate(ids, client: client) {
            let key = owner[id] ?? id
            failures[key] = key == id ? why : "\(id): \(why)"
        }
        return failures
    }

    /// Terminates every instance tagged with session `session` (and, unless nil, launched by `launchedBy`)
    /// that is not terminated already; returns their ids. For cloudtask-destroy-workers.
    @discardableResult
    public static func reap(session: String, launchedBy: String? = EC2Provider.defaultLaunchedBy(),
                            settings: EC2Settings, credentials: AWSCredentials) throws -> [String] {
        try settings.validate(needImage: false)
        let client = try EC2Client(settings: settings, credentials: credentials)
        var filters = [("tag:cloudtask:session", session)]
        if let launchedBy { filters.append(("tag:cloudtask:launched-by", launchedBy)) }
        let ids = try liveInstances(filters: filters, client: client)
        let failures = terminate(ids, client: client)
        if !failures.isEmpty {
            let listed = failures.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }
            throw ProviderError("ec2: could not terminate " + listed.joined(separator: ", "))
        }
        return ids
    }

    /// Ids of instances matching `filters` that are not shutting down or terminated.
    static func liveInstances(filters: [(String, String)], client: EC2Client) throws -> [String] {
        var ids: [String] = []
        var next: String?
        repeat {
            var parameters: [(String, String)] = []
            let live = ("instance-state-name", "pending,running,stopping,stopped")
            for (index, filter) in (filters + [live]).enumerated() {
                parameters.append(("Filter.\(index + 1).Name", filter.0))
                for (number, value) in filter.1.split(separator: ",").enumerated() {
                    parameters.append(("Filter.\(index + 1).Value.\(number + 1)", String(value)))
                }
            }
            if let next { parameters.append(("NextToken", next)) }
            let answer = try client.call("DescribeInstances", parameters)
            ids += instances(in: answer).filter { !["shutting-down", "terminated"].contains($0.state) }.map(\.id)
            next = answer.first("nextToken")?.text.nonEmpty
        } while next != nil
        return ids
    }

    /// TerminateInstances in batches; a batch refused for an unknown id is retried one id at a time, and an
    /// unknown id counts as already gone.
    static func terminate(_ ids: [String], client: EC2Client) -> [String: String] {
        var failures: [String: String] = [:]
        let unique = Array(Set(ids)).sorted()
        for start in stride(from: 0, to: unique.count, by: 500) {
            let batch = Array(unique[start..<min(start + 500, unique.count)])
            func once(_ batch: [String]) throws {
                let parameters = batch.enumerated().map { ("InstanceId.\($0.offset + 1)", $0.element) }
                _ = try client.call("TerminateInstances", parameters)
            }
            do { try once(batch) } catch let error as EC2APIError where error.code.hasPrefix("InvalidInstanceID.") {
                for id in batch {
                    do {
                        try once([id])
                    } catch let error as EC2APIError where error.code == "InvalidInstanceID.NotFound" {
                        // gone already
                    } catch {
                        failures[id] = "\(error)"
                    }
                }
            } catch {
                for id in batch { failures[id] = "\(error)" }
            }
        }
        return failures
    }
}
