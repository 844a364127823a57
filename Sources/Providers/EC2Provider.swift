// The `ec2` provider: workers are EC2 instances launched through the EC2 query API (SigV4-signed POSTs over
// libcurl), tagged with the session, authorized for the session key through cloud-init user-data, polled
// until running with an address, and terminated by id. Every instance is named in the ledger before the
// call that creates it: a `pending-<client token>` record first, the real ids as soon as RunInstances answers.
import Engine
import Foundation
import HTTP

// MARK: - Settings

/// Where and what the ec2 provider launches (the task options, defaults filled in).
public struct EC2Settings: Sendable, Equatable {
    public var region: String
    /// The API endpoint; anything not under amazonaws.com counts as a test endpoint (see `isAWSEndpoint`).
    public var endpoint: String
    public var instanceType: String
    public var image: String
    public var keyName: String?
    /// Security group ids (`sg-…`) or names, separated by commas.
    public var securityGroup: String?
    public var subnet: String?
    /// The login name on the instances, whose authorized_keys the session key is appended to.
    public var user: String
    /// Seconds from launch until an instance must be running with an address; later ones are terminated.
    public var bootTimeout: Double
    /// TEST HOOK, from `CLOUDTASK_TEST_EC2_ADDRESSES` ("127.0.1.1 127.0.1.2 …", loopback only): the k-th
    /// instance that becomes ready is handed out with the k-th of these addresses instead of its own, so a
    /// test against a fake EC2 endpoint can point launched "instances" at local sshds.
    public var testAddresses: [String]

    public init(region: String = "us-east-1", endpoint: String? = nil, instanceType: String = "t3.micro", image: String,
                keyName: String? = nil, securityGroup: String? = nil, subnet: String? = nil, user: String = "ec2-user",
                bootTimeout: Double = 600, testAddresses: [String] = []) {
        self.region = region
        self.endpoint = endpoint ?? "https://ec2.\(region).amazonaws.com"
        self.instanceType = instanceType
        self.image = image
        self.keyName = keyName
        self.securityGroup = securityGroup
        self.subnet = subnet
        self.user = user
        self.bootTimeout = bootTimeout
        self.testAddresses = testAddresses
    }

    /// The task options over the defaults: region from --region, else $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1;
    /// user from --user, else ec2-user. The image may be empty here (reaping needs none); the provider requires it.
    public init(config: TaskConfig, environment: [String: String] = ProcessInfo.processInfo.environment) {
        func nonEmpty(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }
        let region = nonEmpty(config.region) ?? nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) ?? "us-east-1"
        self.init(region: region, endpoint: nonEmpty(config.ec2Endpoint), instanceType: nonEmpty(config.instanceType) ?? "t3.micro",
                  image: config.image ?? "", keyName: nonEmpty(config.keyName), securityGroup: nonEmpty(config.securityGroup),
                  subnet: nonEmpty(config.subnet), user: nonEmpty(config.user) ?? "ec2-user", bootTimeout: config.bootTimeout ?? 600,
                  testAddresses: (environment["CLOUDTASK_TEST_EC2_ADDRESSES"] ?? "").split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init))
    }

    /// Whether the endpoint is AWS's own (…amazonaws.com, …amazonaws.com.cn).
    public var isAWSEndpoint: Bool {
        let host = URLComponents(string: endpoint)?.host?.lowercased() ?? ""
        return host.hasSuffix(".amazonaws.com") || host.hasSuffix(".amazonaws.com.cn")
    }

    /// One-line complaints about values that cannot work.
    func validate(needImage: Bool) throws {
        guard let parts = URLComponents(string: endpoint), ["http", "https"].contains(parts.scheme?.lowercased() ?? ""),
              let host = parts.host, !host.isEmpty else {
            throw ProviderError("ec2: bad endpoint \(endpoint) (expected http(s)://host[:port])")
        }
        if needImage && image.isEmpty { throw ProviderError("ec2: --image is required (an AMI id, such as ami-0123456789abcdef0)") }
        if !(bootTimeout > 0) { throw ProviderError("ec2: --boot-timeout must be more than 0 seconds") }
        for address in testAddresses where !EC2Provider.isLoopback(address) {
            throw ProviderError("ec2: CLOUDTASK_TEST_EC2_ADDRESSES: \(address) is not a loopback address (127.0.0.0/8)")
        }
    }
}

// MARK: - The provider

/// Launches workers as EC2 instances. `launch` returns at once: the API calls run on a background queue and
/// `ready()` hands over instances that are running with an address (public IP, else private IP), one error at
/// a time for those that failed (each failure stands for one asked-for instance).
///
/// Safety guard: with an endpoint that is not AWS's own (a test server such as moto), an instance address
/// outside 127.0.0.0/8 that the `CLOUDTASK_TEST_EC2_ADDRESSES` test hook does not replace is never handed
/// out: the instance is terminated and `ready()` throws instead, since such made-up addresses belong to
/// real networks.
public final class EC2Provider: Provider, @unchecked Sendable {
    public let name = "ec2"
    /// The session's own known_hosts (keys are recorded on first contact, by the SSH layer).
    public let knownHosts: String
    public var identity: String { sessionKey }
    /// Instances' host keys are learnt on first contact (recorded in `knownHosts`).
    public let hostKeyPolicy = HostKeyPolicy.acceptNew
    public let settings: EC2Settings
    let sessionPath: String
    let sessionID: String
    let sessionKey: String
    let credentials: AWSCredentials
    let launchedBy: String

    // Tuning; tests shorten these.
    /// Seconds before the first DescribeInstances after a launch; later polls back off by half up to `pollCap`.
    var pollInterval = 2.0
    var pollCap = 10.0
    /// API retries (throttling, 5xx, transport errors): `retryAttempts` tries in all, waits doubling from `retryBase` up to 8 s.
    var retryBase = 0.5
    var retryAttempts = 6

    private struct Booting { let token: String; let deadline: Date }

    // Shared between the runner's thread and `work`; guarded by `lock`.
    private let lock = NSLock()
    private var handOut: [Instance] = []
    private var errors: [String] = []
    private var booting: [String: Booting] = [:]
    private var cancelledTokens: Set<String> = []
    private var mapped = 0
    private var polling = false
    private var pollDelay = 2.0
    // Used on `work` only.
    private let work = DispatchQueue(label: "cloudtask.ec2-provider")
    private var workClient: EC2Client?
    // Used on the runner's thread only.
    private var callerClient: EC2Client?

    /// `sessionKey` is the private key launched instances authorize (its `.pub` beside it goes into the
    /// user-data); `sessionID` is the value of each instance's `cloudtask:session` tag, which `reap` looks for.
    public init(sessionPath: String, sessionID: String, sessionKey: String, settings: EC2Settings, credentials: AWSCredentials,
                launchedBy: String = EC2Provider.defaultLaunchedBy()) throws {
        try settings.validate(needImage: true)
        self.sessionPath = sessionPath
        self.sessionID = sessionID
        self.sessionKey = sessionKey
        self.settings = settings
        self.credentials = credentials
        self.launchedBy = launchedBy
        self.knownHosts = sessionPath + "/known_hosts"
    }

    /// The provider for a run configured by `config`, with credentials from the environment or ~/.aws/credentials.
    public convenience init(sessionPath: String, sessionID: String, sessionKey: String, config: TaskConfig,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(sessionPath: sessionPath, sessionID: sessionID, sessionKey: sessionKey,
                      settings: EC2Settings(config: config, environment: environment),
                      credentials: AWSCredentials.load(environment: environment), launchedBy: EC2Provider.defaultLaunchedBy(environment))
    }

    /// `user@host` of this controller, the `cloudtask:launched-by` tag.
    public static func defaultLaunchedBy(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let host = buffer.withUnsafeMutableBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, 255) }
        } == 0 ? String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) : "unknown"
        return "\(environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? NSUserName())@\(host)"
    }

    // MARK: Launch

    /// Records a `pending-<token>` instance, then runs RunInstances (ClientToken = token, so a retried call
    /// cannot launch twice) and the polling in the background.
    public func launch(count: Int, ledger: Ledger) throws {
        guard count > 0 else { return }
        let publicKey: String
        do {
            publicKey = try String(contentsOfFile: sessionKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ProviderError("ec2: cannot read the session's public key \(sessionKey).pub: \(error.localizedDescription)")
        }
        let token = UUID().uuidString.lowercased()
        let placeholder = Instance(id: "pending-" + token, provider: name, host: "", port: 22, user: settings.user)
        try ledger.record("launch", placeholder)
        let box = LedgerBox(ledger)
        let started = Date()
        work.async { [self] in
            runInstances(count: count, token: token, placeholder: placeholder, userData: EC2Provider.userData(user: settings.user, publicKey: publicKey, session: sessionID),
                         deadline: started.addingTimeInterval(settings.bootTimeout), ledger: box)
        }
    }

    private func runInstances(count: Int, token: String, placeholder: Instance, userData: String, deadline: Date, ledger: LedgerBox) {
        var parameters: [(String, String)] = [
            ("ImageId", settings.image), ("InstanceType", settings.instanceType), ("MinCount", String(count)), ("MaxCount", String(count)),
            ("ClientToken", token), ("UserData", Data(userData.utf8).base64EncodedString()), ("InstanceInitiatedShutdownBehavior", "terminate"),
        ]
        if let keyName = settings.keyName { parameters.append(("KeyName", keyName)) }
        if let subnet = settings.subnet { parameters.append(("SubnetId", subnet)) }
        let groups = (settings.securityGroup ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for (index, group) in groups.filter({ $0.hasPrefix("sg-") }).enumerated() { parameters.append(("SecurityGroupId.\(index + 1)", group)) }
        for (index, group) in groups.filter({ !$0.hasPrefix("sg-") }).enumerated() { parameters.append(("SecurityGroup.\(index + 1)", group)) }
        let tags = [("cloudtask:session", sessionID), ("cloudtask:launched-by", launchedBy), ("cloudtask:client-token", token),
                    ("Name", "cloudtask-\(sessionID)")]
        for (spec, resource) in ["instance", "volume"].enumerated() {
            parameters.append(("TagSpecification.\(spec + 1).ResourceType", resource))
            for (index, tag) in tags.enumerated() {
                parameters.append(("TagSpecification.\(spec + 1).Tag.\(index + 1).Key", tag.0))
                parameters.append(("TagSpecification.\(spec + 1).Tag.\(index + 1).Value", tag.1))
            }
        }

        let answer: XMLNode
        do {
            answer = try workAPI().call("RunInstances", parameters)
        } catch let error as EC2APIError {
            // The API answered with an error: nothing was launched under this token.
            ledger.record("destroyed", placeholder)
            fail(count, describe(error))
            return
        } catch {
            fail(count, "\(error) (whether instances were launched is unknown; the ledger keeps \(placeholder.id) for cloudtask-destroy-workers)")
            return
        }
        let launched = EC2Provider.instances(in: answer)
        for info in launched {
            ledger.record("launch", Instance(id: info.id, provider: name, host: "", port: 22, user: settings.user))
        }
        ledger.record("destroyed", placeholder)
        if launched.count < count { fail(count - launched.count, "ec2: RunInstances launched \(launched.count) of \(count) instances") }
        let cancelled = lock.withLock {
            if cancelledTokens.contains(token) { return true }
            for info in launched { booting[info.id] = Booting(token: token, deadline: deadline) }
            return false
        }
        if cancelled {
            // destroy() was asked for this launch while RunInstances was under way.
            let failures = terminateFromWork(launched.map(\.id))
            for info in launched where failures[info.id] == nil {
                ledger.record("destroyed", Instance(id: info.id, provider: name, host: "", port: 22, user: settings.user))
            }
            return
        }
        lock.withLock {
            pollDelay = pollInterval
            if !polling {
                polling = true
                work.asyncAfter(deadline: .now() + pollInterval) { [self] in poll(ledger) }
            }
        }
    }

    /// One DescribeInstances over every booting instance: running ones with an address are handed over,
    /// stopped ones and those past their deadline terminated and reported.
    private func poll(_ ledger: LedgerBox) {
        let watched = lock.withLock { booting }
        guard !watched.isEmpty else {
            lock.withLock { polling = false }
            return
        }
        var found: [String: InstanceInfo] = [:]
        var pollError: String?
        do {
            var parameters: [(String, String)] = []
            for (index, id) in watched.keys.sorted().enumerated() { parameters.append(("InstanceId.\(index + 1)", id)) }
            for info in EC2Provider.instances(in: try workAPI().call("DescribeInstances", parameters)) { found[info.id] = info }
        } catch let error as EC2APIError where error.code == "InvalidInstanceID.NotFound" {
            // New instances can be unknown to DescribeInstances for a moment (eventual consistency).
        } catch let error as EC2APIError {
            pollError = describe(error)
        } catch {
            pollError = "\(error)"
        }

        let now = Date()
        var toTerminate: [(String, String)] = []
        for (id, boot) in watched.sorted(by: { $0.key < $1.key }) {
            let info = found[id]
            let state = info?.state ?? "unknown"
            if let info, state == "running", let address = info.address {
                let outcome: Result<Instance, ProviderError> = lock.withLock {
                    guard booting[id] != nil else { return .failure(ProviderError("")) }  // destroyed meanwhile
                    booting[id] = nil
                    var host = address
                    if mapped < settings.testAddresses.count {
                        host = settings.testAddresses[mapped]
                        mapped += 1
                    } else if !settings.isAWSEndpoint && !EC2Provider.isLoopback(address) {
                        return .failure(ProviderError("ec2: instance \(id) has address \(address) from a non-AWS endpoint; refusing to connect (set CLOUDTASK_TEST_EC2_ADDRESSES)"))
                    }
                    let instance = Instance(id: id, provider: name, host: host, port: 22, user: settings.user)
                    handOut.append(instance)
                    return .success(instance)
                }
                if case .failure(let refusal) = outcome, !refusal.description.isEmpty { toTerminate.append((id, refusal.description)) }
            } else if ["shutting-down", "terminated", "stopping", "stopped"].contains(state) {
                let reason = info?.reason.map { "; \($0)" } ?? ""
                if lock.withLock({ booting.removeValue(forKey: id) }) != nil {
                    toTerminate.append((id, "ec2: instance \(id) stopped while booting (state \(state)\(reason)); terminated it"))
                }
            } else if now >= boot.deadline {
                if lock.withLock({ booting.removeValue(forKey: id) }) != nil {
                    let why = pollError.map { "; last error: \($0)" } ?? ""
                    toTerminate.append((id, "ec2: instance \(id) was not running with an address within the boot timeout of \(EC2Provider.seconds(settings.bootTimeout)) (state \(state)\(why)); terminated it"))
                }
            }
        }
        if !toTerminate.isEmpty {
            let failures = terminateFromWork(toTerminate.map(\.0))
            var messages: [String] = []
            for (id, why) in toTerminate {
                if let failure = failures[id] {
                    messages.append(why.replacingOccurrences(of: "; terminated it", with: "") + "; could not terminate it: \(failure)")
                } else {
                    ledger.record("destroyed", Instance(id: id, provider: name, host: "", port: 22, user: settings.user))
                    messages.append(why)
                }
            }
            lock.withLock { errors += messages }
        }
        lock.withLock {
            if booting.isEmpty {
                polling = false
            } else {
                pollDelay = min(pollDelay * 1.5, pollCap)
                work.asyncAfter(deadline: .now() + pollDelay) { [self] in poll(ledger) }
            }
        }
    }

    private func fail(_ count: Int, _ message: String) {
        lock.withLock { errors += Array(repeating: message, count: count) }
    }

    /// Instances running with an address since the last call; a failed instance is thrown, one per call.
    public func ready() throws -> [Instance] {
        try lock.withLock {
            if let error = errors.first {
                errors.removeFirst()
                throw ProviderError(error)
            }
            defer { handOut = [] }
            return handOut
        }
    }

    // MARK: Destroy

    /// Terminates instances (synchronously); `pending-<token>` ones by looking up what that launch created.
    /// An instance that no longer exists counts as destroyed. Instances still booting are no longer watched.
    public func destroy(_ instances: [Instance]) -> [String: String] {
        let tokens = Set(instances.filter { $0.id.hasPrefix("pending-") }.map { String($0.id.dropFirst("pending-".count)) })
        let ids = Set(instances.map(\.id))
        lock.withLock {
            cancelledTokens.formUnion(tokens)
            booting = booting.filter { !ids.contains($0.key) && !tokens.contains($0.value.token) }
            handOut.removeAll { ids.contains($0.id) }
        }
        do { return EC2Provider.destroy(instances, client: try callerAPI()) } catch {
            return Dictionary(uniqueKeysWithValues: ids.map { ($0, "\(error)") })
        }
    }

    /// `destroy` without a provider (no image needed): for cloudtask-destroy-workers and leftovers of a killed run.
    public static func destroy(_ instances: [Instance], settings: EC2Settings, credentials: AWSCredentials) -> [String: String] {
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
    public static func reap(session: String, launchedBy: String? = EC2Provider.defaultLaunchedBy(), settings: EC2Settings,
                            credentials: AWSCredentials) throws -> [String] {
        try settings.validate(needImage: false)
        let client = try EC2Client(settings: settings, credentials: credentials)
        var filters = [("tag:cloudtask:session", session)]
        if let launchedBy { filters.append(("tag:cloudtask:launched-by", launchedBy)) }
        let ids = try liveInstances(filters: filters, client: client)
        let failures = terminate(ids, client: client)
        if !failures.isEmpty {
            throw ProviderError("ec2: could not terminate " + failures.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", "))
        }
        return ids
    }

    /// The instances tagged with this session that are not shutting down or terminated.
    public func list() throws -> [Instance] {
        try Self.liveInstances(filters: [("tag:cloudtask:session", sessionID)], client: try workAPI())
            .map { Instance(id: $0, provider: name, host: "", port: 22, user: settings.user) }
    }

    /// Ids of instances matching `filters` that are not shutting down or terminated.
    static func liveInstances(filters: [(String, String)], client: EC2Client) throws -> [String] {
        var ids: [String] = []
        var next: String?
        repeat {
            var parameters: [(String, String)] = []
            for (index, filter) in (filters + [("instance-state-name", "pending,running,stopping,stopped")]).enumerated() {
                parameters.append(("Filter.\(index + 1).Name", filter.0))
                for (number, value) in filter.1.split(separator: ",").enumerated() { parameters.append(("Filter.\(index + 1).Value.\(number + 1)", String(value))) }
            }
            if let next { parameters.append(("NextToken", next)) }
            let answer = try client.call("DescribeInstances", parameters)
            ids += instances(in: answer).filter { !["shutting-down", "terminated"].contains($0.state) }.map(\.id)
            next = answer.first("nextToken")?.text.nonEmpty
        } while next != nil
        return ids
    }

    /// `terminate` on the background queue's client.
    private func terminateFromWork(_ ids: [String]) -> [String: String] {
        do { return EC2Provider.terminate(ids, client: try workAPI()) } catch {
            return Dictionary(uniqueKeysWithValues: Set(ids).map { ($0, "\(error)") })
        }
    }

    /// TerminateInstances in batches; a batch refused for an unknown id is retried one id at a time, and an
    /// unknown id counts as already gone.
    static func terminate(_ ids: [String], client: EC2Client) -> [String: String] {
        var failures: [String: String] = [:]
        let unique = Array(Set(ids)).sorted()
        for start in stride(from: 0, to: unique.count, by: 500) {
            let batch = Array(unique[start..<min(start + 500, unique.count)])
            func once(_ batch: [String]) throws {
                _ = try client.call("TerminateInstances", batch.enumerated().map { ("InstanceId.\($0.offset + 1)", $0.element) })
            }
            do { try once(batch) } catch let error as EC2APIError where error.code.hasPrefix("InvalidInstanceID.") {
                for id in batch {
                    do { try once([id]) } catch let error as EC2APIError where error.code == "InvalidInstanceID.NotFound" {
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

    // MARK: Helpers

    private func workAPI() throws -> EC2Client {
        if let workClient { return workClient }
        let client = try EC2Client(settings: settings, credentials: credentials, retryBase: retryBase, retryAttempts: retryAttempts)
        workClient = client
        return client
    }

    private func callerAPI() throws -> EC2Client {
        if let callerClient { return callerClient }
        let client = try EC2Client(settings: settings, credentials: credentials, retryBase: retryBase, retryAttempts: retryAttempts)
        callerClient = client
        return client
    }

    /// An API error as one line: refused credentials and unknown images get their own wording.
    func describe(_ error: EC2APIError) -> String {
        if error.isCredentialsError {
            return "ec2: the credentials were refused (\(error.code)): \(error.message) (credentials from \(credentials.source))"
        }
        if error.code.hasPrefix("InvalidAMIID") {
            return "ec2: unknown image \(settings.image) (\(error.code)): \(error.message)"
        }
        return error.description
    }

    /// A cloud-config that authorizes `publicKey` for the image's default user at first boot (before sshd
    /// serves) and, from a boot command later, for `user` (created if missing).
    static func userData(user: String, publicKey: String, session: String) -> String {
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        let script = #"u="$1"; k="$2"; h=$(getent passwd "$u" | cut -d: -f6); if [ -z "$h" ]; then useradd -m "$u" && h=$(getent passwd "$u" | cut -d: -f6); fi; [ -n "$h" ] || exit 1; mkdir -p "$h/.ssh"; grep -qxF "$k" "$h/.ssh/authorized_keys" 2>/dev/null || echo "$k" >> "$h/.ssh/authorized_keys"; chown -R "$u:" "$h/.ssh"; chmod 700 "$h/.ssh"; chmod 600 "$h/.ssh/authorized_keys""#
        return """
        #cloud-config
        # cloudtask session \(session.replacingOccurrences(of: "\n", with: " ")): authorize the session key
        ssh_authorized_keys:
          - \(quoted(publicKey))
        runcmd:
          - [sh, -c, \(quoted(script)), sh, \(quoted(user)), \(quoted(publicKey))]

        """
    }

    static func isLoopback(_ address: String) -> Bool {
        var parsed = in_addr()
        guard inet_pton(AF_INET, address, &parsed) == 1 else { return false }
        return UInt32(bigEndian: parsed.s_addr) >> 24 == 127
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }

    /// What the API says of one instance.
    struct InstanceInfo {
        var id: String
        var state: String
        var publicIP: String?
        var privateIP: String?
        var reason: String?
        var tags: [String: String]
        /// The public IP, else the private one.
        var address: String? { publicIP ?? privateIP }
    }

    /// The instances of a RunInstances or DescribeInstances answer.
    static func instances(in answer: XMLNode) -> [InstanceInfo] {
        answer.all("instancesSet").flatMap { $0.children.filter { $0.name == "item" } }.compactMap { item -> InstanceInfo? in
            guard let id = item.child("instanceId")?.text.nonEmpty else { return nil }
            var tags: [String: String] = [:]
            for tag in item.child("tagSet")?.children ?? [] {
                if let key = tag.child("key")?.text { tags[key] = tag.child("value")?.text ?? "" }
            }
            return InstanceInfo(id: id, state: item.child("instanceState")?.child("name")?.text ?? "unknown",
                                publicIP: item.child("ipAddress")?.text.nonEmpty, privateIP: item.child("privateIpAddress")?.text.nonEmpty,
                                reason: item.child("stateReason")?.child("message")?.text.nonEmpty ?? item.child("reason")?.text.nonEmpty, tags: tags)
        }
    }
}

/// The ledger, shared with the background queue (each record is one appended, fsynced line).
private final class LedgerBox: @unchecked Sendable {
    private let ledger: Ledger
    private let lock = NSLock()
    init(_ ledger: Ledger) { self.ledger = ledger }
    func record(_ event: String, _ instance: Instance) { lock.withLock { try? ledger.record(event, instance) } }
}

// MARK: - The EC2 query API

/// An error answer of the EC2 API.
struct EC2APIError: Error, CustomStringConvertible {
    let action: String
    let status: Int
    let code: String
    let message: String

    var isCredentialsError: Bool {
        ["AuthFailure", "SignatureDoesNotMatch", "InvalidClientTokenId", "IncompleteSignature", "MissingAuthenticationToken",
         "InvalidAccessKeyId", "UnrecognizedClientException", "ExpiredToken", "RequestExpired"].contains(code) || code.hasPrefix("AuthFailure.")
    }

    var isRetryable: Bool {
        ["RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
         "ServiceUnavailable", "Unavailable", "InternalError", "InternalFailure"].contains(code) || status >= 500 || status == 429
    }

    var description: String { "ec2: \(action) failed (\(code)): \(message)" }
}

/// Signed EC2 query API calls over one curl handle, with bounded retries. Use from one thread at a time.
final class EC2Client {
    let settings: EC2Settings
    let signer: SigV4Signer
    let http: HTTPClient
    let retryBase: Double
    let retryAttempts: Int
    /// Seconds for one HTTP exchange.
    var timeout = 30.0

    init(settings: EC2Settings, credentials: AWSCredentials, retryBase: Double = 0.5, retryAttempts: Int = 6) throws {
        self.settings = settings
        self.signer = SigV4Signer(credentials: credentials, region: settings.region, service: "ec2")
        self.http = try HTTPClient()
        self.retryBase = retryBase
        self.retryAttempts = max(1, retryAttempts)
    }

    /// Calls `action` with `parameters`; returns the parsed answer or throws an `EC2APIError` (the API's
    /// error answer) or a `ProviderError` (no usable answer). Throttling, 5xx and transport errors are retried.
    func call(_ action: String, _ parameters: [(String, String)]) throws -> XMLNode {
        let body = Array(SigV4Signer.formBody([("Action", action), ("Version", "2016-11-15")] + parameters).utf8)
        var url = settings.endpoint
        if URLComponents(string: url)?.path.isEmpty ?? false { url += "/" }
        var attempt = 0
        while true {
            attempt += 1
            let signed = signer.sign(method: "POST", url: url, headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                     body: body, date: Date())
            let failure: Error
            do {
                let response = try http.request(method: "POST", url: url, headers: signed.headers, body: body, timeout: timeout)
                let answer = XMLNode.parse(response.body)
                if (200..<300).contains(response.status), let answer { return answer }
                let error = answer?.first("Error")
                let apiError = EC2APIError(action: action, status: response.status,
                                           code: error?.child("Code")?.text.nonEmpty ?? "HTTP \(response.status)",
                                           message: EC2Client.oneLine(error?.child("Message")?.text.nonEmpty ?? String(decoding: response.body.prefix(300), as: UTF8.self)))
                guard apiError.isRetryable else { throw apiError }
                failure = apiError
            } catch let error as HTTPError {
                failure = ProviderError("ec2: \(action): \(error)")
            }
            guard attempt < retryAttempts else { throw failure }
            let wait = min(8, retryBase * pow(2, Double(attempt - 1))) * Double.random(in: 0.5...1)
            Thread.sleep(forTimeInterval: wait)
        }
    }

    static func oneLine(_ text: String) -> String {
        let squeezed = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return squeezed.count > 400 ? squeezed.prefix(400) + "…" : squeezed
    }
}

// MARK: - XML

/// A parsed XML element: name (namespace prefix dropped), children, and its own text (entities decoded).
/// Enough for the EC2 API's answers: no DTDs; attributes are skipped.
final class XMLNode {
    let name: String
    var children: [XMLNode] = []
    var text = ""
    init(_ name: String) { self.name = name }

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }

    /// Every descendant named `name`, outermost first, not looking inside a match.
    func all(_ name: String) -> [XMLNode] {
        children.flatMap { $0.name == name ? [$0] : $0.all(name) }
    }

    func first(_ name: String) -> XMLNode? {
        for child in children {
            if child.name == name { return child }
            if let found = child.first(name) { return found }
        }
        return nil
    }

    /// The document's root element, or nil when `bytes` is not XML with one.
    static func parse(_ bytes: [UInt8]) -> XMLNode? {
        let document = XMLNode("#document")
        var stack = [document]
        var i = 0
        let n = bytes.count
        func starts(_ text: String, at index: Int) -> Bool {
            let pattern = Array(text.utf8)
            return index + pattern.count <= n && Array(bytes[index..<index + pattern.count]) == pattern
        }
        func find(_ text: String, from index: Int) -> Int? {
            var j = index
            while j < n { if starts(text, at: j) { return j }; j += 1 }
            return nil
        }
        while i < n {
            if bytes[i] != UInt8(ascii: "<") {
                var j = i
                while j < n && bytes[j] != UInt8(ascii: "<") { j += 1 }
                stack.last!.text += decode(String(decoding: bytes[i..<j], as: UTF8.self))
                i = j
                continue
            }
            if starts("<?", at: i) {
                guard let end = find("?>", from: i) else { return nil }
                i = end + 2
            } else if starts("<!--", at: i) {
                guard let end = find("-->", from: i) else { return nil }
                i = end + 3
            } else if starts("<![CDATA[", at: i) {
                guard let end = find("]]>", from: i) else { return nil }
                stack.last!.text += String(decoding: bytes[(i + 9)..<end], as: UTF8.self)
                i = end + 3
            } else if starts("<!", at: i) {
                guard let end = find(">", from: i) else { return nil }
                i = end + 1
            } else {
                // A tag: find its end outside quoted attribute values.
                var j = i + 1
                var quote: UInt8?
                while j < n {
                    let c = bytes[j]
                    if let q = quote { if c == q { quote = nil } } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { quote = c } else if c == UInt8(ascii: ">") { break }
                    j += 1
                }
                guard j < n else { return nil }
                let inside = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                i = j + 1
                if inside.hasPrefix("/") {
                    guard stack.count > 1 else { return nil }
                    stack.removeLast()
                    continue
                }
                let selfClosing = inside.hasSuffix("/")
                var name = String(inside.prefix { !$0.isWhitespace && $0 != "/" })
                if let colon = name.lastIndex(of: ":") { name = String(name[name.index(after: colon)...]) }
                guard !name.isEmpty else { return nil }
                let element = XMLNode(name)
                stack.last!.children.append(element)
                if !selfClosing { stack.append(element) }
            }
        }
        guard stack.count == 1, let root = document.children.first else { return nil }
        return root
    }

    static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) { out.unicodeScalars.append(scalar) } else { out += "&\(entity);" }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}

extension String {
    var nonEmpty: String? {
        let trimmed = trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
