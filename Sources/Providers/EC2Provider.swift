// The `ec2` provider: workers are EC2 instances launched through the EC2 query API (SigV4-signed POSTs over
// libcurl), tagged with the session, authorized for the session key through cloud-init user-data, polled
// until running with an address, and terminated by id. Every instance is named in the ledger before the
// call that creates it: a `pending-<client token>` record first, the real ids as soon as RunInstances answers.
import Engine
import Foundation
import HTTP

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
    /// API retries (throttling, 5xx, transport errors): `retryAttempts` tries in all, waits doubling from
    /// `retryBase` up to 8 s.
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
    public init(sessionPath: String, sessionID: String, sessionKey: String, settings: EC2Settings,
                credentials: AWSCredentials, launchedBy: String = EC2Provider.defaultLaunchedBy()) throws {
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
                      credentials: AWSCredentials.load(environment: environment),
                      launchedBy: EC2Provider.defaultLaunchedBy(environment))
    }

    /// `user@host` of this controller, the `cloudtask:launched-by` tag.
    public static func defaultLaunchedBy(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String {
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
            publicKey = try String(contentsOfFile: sessionKey + ".pub", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ProviderError(
                "ec2: cannot read the session's public key \(sessionKey).pub: \(error.localizedDescription)")
        }
        let token = UUID().uuidString.lowercased()
        let placeholder = record("pending-" + token)
        try ledger.record(.launch, placeholder)
        let box = LedgerBox(ledger)
        let started = Date()
        let userData = EC2Provider.userData(user: settings.user, publicKey: publicKey, session: sessionID)
        work.async { [self] in
            runInstances(count: count, token: token, placeholder: placeholder, userData: userData,
                         deadline: started.addingTimeInterval(settings.bootTimeout), ledger: box)
        }
    }

    private func runInstances(count: Int, token: String, placeholder: Instance, userData: String, deadline: Date,
                              ledger: LedgerBox) {
        var parameters: [(String, String)] = [
            ("ImageId", settings.image), ("InstanceType", settings.instanceType),
            ("MinCount", String(count)), ("MaxCount", String(count)), ("ClientToken", token),
            ("UserData", Data(userData.utf8).base64EncodedString()), ("InstanceInitiatedShutdownBehavior", "terminate"),
        ]
        if let keyName = settings.keyName { parameters.append(("KeyName", keyName)) }
        if let subnet = settings.subnet { parameters.append(("SubnetId", subnet)) }
        let groups = (settings.securityGroup ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for (index, group) in groups.filter({ $0.hasPrefix("sg-") }).enumerated() {
            parameters.append(("SecurityGroupId.\(index + 1)", group))
        }
        for (index, group) in groups.filter({ !$0.hasPrefix("sg-") }).enumerated() {
            parameters.append(("SecurityGroup.\(index + 1)", group))
        }
        let tags = [("cloudtask:session", sessionID), ("cloudtask:launched-by", launchedBy),
                    ("cloudtask:client-token", token), ("Name", "cloudtask-\(sessionID)")]
        for (spec, resource) in ["instance", "volume"].enumerated() {
            parameters.append(("TagSpecification.\(spec + 1).ResourceType", resource))
            for (index, tag) in tags.enumerated() {
                parameters.append(("TagSpecification.\(spec + 1).Tag.\(index + 1).Key", tag.0))
                parameters.append(("TagSpecification.\(spec + 1).Tag.\(index + 1).Value", tag.1))
            }
        }

        let answer: AnswerNode
        do {
            answer = try workAPI().call("RunInstances", parameters)
        } catch let error as EC2APIError {
            // The API answered with an error: nothing was launched under this token.
            ledger.record(.destroyed, placeholder)
            fail(count, describe(error))
            return
        } catch {
            fail(count, "\(error) (whether instances were launched is unknown; "
                     + "the ledger keeps \(placeholder.id) for cloudtask-destroy-workers)")
            return
        }
        let launched = EC2Provider.instances(in: answer)
        for info in launched { ledger.record(.launch, record(info.id)) }
        ledger.record(.destroyed, placeholder)
        if launched.count < count {
            fail(count - launched.count, "ec2: RunInstances launched \(launched.count) of \(count) instances")
        }
        let cancelled = lock.withLock {
            if cancelledTokens.contains(token) { return true }
            for info in launched { booting[info.id] = Booting(token: token, deadline: deadline) }
            return false
        }
        if cancelled {
            // destroy() was asked for this launch while RunInstances was under way.
            let failures = terminateFromWork(launched.map(\.id))
            for info in launched where failures[info.id] == nil { ledger.record(.destroyed, record(info.id)) }
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
            let answer = try workAPI().call("DescribeInstances", parameters)
            for info in EC2Provider.instances(in: answer) { found[info.id] = info }
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
                        let why = "ec2: instance \(id) has address \(address) from a non-AWS endpoint; "
                            + "refusing to connect (set CLOUDTASK_TEST_EC2_ADDRESSES)"
                        return .failure(ProviderError(why))
                    }
                    let instance = Instance(id: id, provider: name, host: host, port: 22, user: settings.user)
                    handOut.append(instance)
                    return .success(instance)
                }
                if case .failure(let refusal) = outcome, !refusal.description.isEmpty {
                    toTerminate.append((id, refusal.description))
                }
            } else if ["shutting-down", "terminated", "stopping", "stopped"].contains(state) {
                let reason = info?.reason.map { "; \($0)" } ?? ""
                if lock.withLock({ booting.removeValue(forKey: id) }) != nil {
                    toTerminate.append(
                        (id, "ec2: instance \(id) stopped while booting (state \(state)\(reason)); terminated it"))
                }
            } else if now >= boot.deadline {
                if lock.withLock({ booting.removeValue(forKey: id) }) != nil {
                    let why = pollError.map { "; last error: \($0)" } ?? ""
                    let timeout = EC2Provider.seconds(settings.bootTimeout)
                    toTerminate.append((id, "ec2: instance \(id) was not running with an address within the "
                                            + "boot timeout of \(timeout) (state \(state)\(why)); terminated it"))
                }
            }
        }
        if !toTerminate.isEmpty {
            let failures = terminateFromWork(toTerminate.map(\.0))
            var messages: [String] = []
            for (id, why) in toTerminate {
                if let failure = failures[id] {
                    let untried = why.replacingOccurrences(of: "; terminated it", with: "")
                    messages.append(untried + "; could not terminate it: \(failure)")
                } else {
                    ledger.record(.destroyed, record(id))
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
        let tokens = Set(instances.filter { $0.id.hasPrefix("pending-") }
            .map { String($0.id.dropFirst("pending-".count)) })
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

    /// The instances tagged with this session that are not shutting down or terminated.
    public func list() throws -> [Instance] {
        // The runner's thread: the caller's client, never the one `work` may be polling with.
        try Self.liveInstances(filters: [("tag:cloudtask:session", sessionID)], client: try callerAPI())
            .map(record)
    }

    /// `terminate` on the background queue's client.
    private func terminateFromWork(_ ids: [String]) -> [String: String] {
        do { return EC2Provider.terminate(ids, client: try workAPI()) } catch {
            return Dictionary(uniqueKeysWithValues: Set(ids).map { ($0, "\(error)") })
        }
    }

    // MARK: Helpers

    /// The ledger's record of instance `id` (addresses are not part of it).
    private func record(_ id: String) -> Instance {
        Instance(id: id, provider: name, host: "", port: 22, user: settings.user)
    }

    /// The background queue's client, made on first use (on `work`).
    private func workAPI() throws -> EC2Client {
        let client = try workClient ?? newClient()
        workClient = client
        return client
    }

    /// The runner thread's client, made on first use.
    private func callerAPI() throws -> EC2Client {
        let client = try callerClient ?? newClient()
        callerClient = client
        return client
    }

    /// A client with this provider's tuning; each has its own curl handle.
    private func newClient() throws -> EC2Client {
        try EC2Client(settings: settings, credentials: credentials, retryBase: retryBase, retryAttempts: retryAttempts)
    }

    /// An API error as one line: refused credentials and unknown images get their own wording.
    func describe(_ error: EC2APIError) -> String {
        if error.isCredentialsError {
            return "ec2: the credentials were refused (\(error.code)): \(error.message) "
                + "(credentials from \(credentials.source))"
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
        // Run as `sh -c SCRIPT sh USER KEY`: find or create the user, then append the key once.
        let script = [
            #"u="$1""#,
            #"k="$2""#,
            #"h=$(getent passwd "$u" | cut -d: -f6)"#,
            #"if [ -z "$h" ]; then useradd -m "$u" && h=$(getent passwd "$u" | cut -d: -f6); fi"#,
            #"[ -n "$h" ] || exit 1"#,
            #"mkdir -p "$h/.ssh""#,
            #"grep -qxF "$k" "$h/.ssh/authorized_keys" 2>/dev/null || echo "$k" >> "$h/.ssh/authorized_keys""#,
            #"chown -R "$u:" "$h/.ssh""#,
            #"chmod 700 "$h/.ssh""#,
            #"chmod 600 "$h/.ssh/authorized_keys""#,
        ].joined(separator: "; ")
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
}

/// The ledger, shared with the background queue (each record is one appended, fsynced line).
private final class LedgerBox: @unchecked Sendable {
    private let ledger: Ledger
    private let lock = NSLock()
    init(_ ledger: Ledger) { self.ledger = ledger }
    func record(_ event: LedgerRecord.Event, _ instance: Instance) {
        lock.withLock { try? ledger.record(event, instance) }
    }
}
