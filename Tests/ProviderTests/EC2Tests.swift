// The ec2 provider against a real moto server on 127.0.0.1, with SigV4 checking on: an IAM user and access
// key are made with the first three (unauthenticated) calls, and every later call must be signed with them.
// NETWORK RULE: moto's instances have made-up addresses (10.x, 54.x) of real networks; nothing here ever
// connects to an instance. Only the API lifecycle is tested, and the provider's guard against handing such
// addresses out is one of the tests.
import Engine
import Foundation
import HTTP
@testable import Providers
import XCTest

/// One moto server for the whole class: port, the IAM user's keys, and a valid AMI id.
final class Moto: @unchecked Sendable {
    let port: Int
    let process: Subprocess
    let dir: String
    let credentials: AWSCredentials
    let image: String
    var endpoint: String { "http://127.0.0.1:\(port)" }

    nonisolated(unsafe) static var shared: Result<Moto, TestFailure>?

    static func start() -> Result<Moto, TestFailure> {
        if let shared { return shared }
        let result: Result<Moto, TestFailure>
        do { result = .success(try Moto()) } catch let error as TestFailure { result = .failure(error) } catch {
            result = .failure(TestFailure("\(error)"))
        }
        shared = result
        return result
    }

    private init() throws {
        dir = NSTemporaryDirectory() + "moto-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = try freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["MOTO_ENABLE_AMI_VALIDATION"] = "true"
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  // CreateUser, PutUserPolicy, CreateAccessKey; SigV4 checked after
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            environment[name] = nil
        }
        // One server for the whole test process, which no test stops: a watcher ends it when the test process is
        // gone, however it ended, so no run leaves a moto server behind.
        let script = """
            python3 -m moto.server -H 127.0.0.1 -p "$1" </dev/null >log 2>&1 & moto=$!
            ( while kill -0 "$2" 2>/dev/null; do sleep 1; done; kill $moto ) </dev/null >/dev/null 2>&1 &
            wait $moto
            """
        let why = "cannot start moto (python3 -m moto.server; install with pip install 'moto[server]')"
        do {
            process = try Subprocess(["/bin/sh", "-c", script, "moto", String(port), String(getpid())], environment: environment,
                                     directory: dir, newSession: true)
        } catch { throw TestFailure("\(why): \(error)") }

        let http = try HTTPClient()
        var up = false
        let deadline = Date().addingTimeInterval(60)  // a loaded CI machine imports moto slowly
        while process.isRunning && Date() < deadline {
            if let answer = try? http.request(method: "GET", url: "http://127.0.0.1:\(port)/moto-api/", timeout: 2), answer.status == 200 { up = true; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard up else {
            let output = (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? ""
            let running = process.isRunning
            process.terminate()
            let status = process.wait(timeout: 10).status
            let state = running ? "not answering on 127.0.0.1:\(port) within 60 s" : "it exited with status \(status)"
            throw TestFailure("\(why): \(state); its output:\n\(output.suffix(2000))")
        }

        // The IAM user whose key signs everything else (these three calls are the unauthenticated ones).
        let anyone = AWSCredentials(accessKeyID: "AKIDSETUP", secretAccessKey: "setup")
        let endpoint = "http://127.0.0.1:\(port)"
        func iam(_ parameters: [(String, String)]) throws -> AnswerNode {
            try Moto.query(endpoint: endpoint, service: "iam", version: "2010-05-08", credentials: anyone, parameters, http: http)
        }
        _ = try iam([("Action", "CreateUser"), ("UserName", "cloudtask")])
        _ = try iam([("Action", "PutUserPolicy"), ("UserName", "cloudtask"), ("PolicyName", "all"),
                     ("PolicyDocument", #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)])
        let key = try iam([("Action", "CreateAccessKey"), ("UserName", "cloudtask")])
        guard let id = key.first("AccessKeyId")?.text.nonEmpty, let secret = key.first("SecretAccessKey")?.text.nonEmpty else {
            throw TestFailure("moto: CreateAccessKey gave no key")
        }
        credentials = AWSCredentials(accessKeyID: id, secretAccessKey: secret, source: "moto")
        let images = try EC2Client(settings: EC2Settings(region: "us-east-1", endpoint: endpoint, image: ""), credentials: credentials)
            .call("DescribeImages", [("Owner.1", "amazon")])
        guard let image = images.all("imagesSet").first?.children.first?.child("imageId")?.text.nonEmpty else {
            throw TestFailure("moto: DescribeImages listed no image")
        }
        self.image = image
    }

    /// A signed query API call to another service (IAM, STS); throws on an error answer.
    static func query(endpoint: String, service: String, version: String, credentials: AWSCredentials, _ parameters: [(String, String)],
                      http: HTTPClient) throws -> AnswerNode {
        let body = Array(SigV4Signer.formBody(parameters + [("Version", version)]).utf8)
        let signed = SigV4Signer(credentials: credentials, region: "us-east-1", service: service)
            .sign(method: "POST", url: endpoint + "/", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], body: body, date: Date())
        let answer = try http.request(method: "POST", url: endpoint + "/", headers: signed.headers, body: body, timeout: 20)
        guard answer.status == 200, let xml = AnswerNode.parse(answer.body) else {
            throw TestFailure("moto: \(parameters[0].1) answered \(answer.status): \(String(decoding: answer.body.prefix(500), as: UTF8.self))")
        }
        return xml
    }

    func stop() {
        process.terminate()  // the whole group: the shell, moto and its watcher
        _ = process.wait(timeout: 10)
        try? FileManager.default.removeItem(atPath: dir)
    }
}

final class EC2Tests: XCTestCase {
    var moto: Moto!
    var sessionPath = ""
    var sessionID = ""
    /// Calls moto directly (not through a test's proxy), to check what the provider did.
    var direct: EC2Client!
    var proxies: [FaultProxy] = []

    override class func tearDown() {
        if case .success(let moto) = Moto.shared { moto.stop() }
        Moto.shared = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        switch Moto.start() {
        case .failure(let error):
            XCTFail("moto is needed for the ec2 tests and did not start: \(error)")
            throw error
        case .success(let moto):
            self.moto = moto
        }
        sessionPath = NSTemporaryDirectory() + "ec2-session-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: sessionPath, withIntermediateDirectories: true)
        try "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0tY2xvdWR0YXNrLXRlc3Qta2V5LW5vdC1yZWFsLTAwMDAw cloudtask-launch-test\n"
            .write(toFile: sessionPath + "/launch_key.pub", atomically: true, encoding: .utf8)
        sessionID = "test-" + UUID().uuidString.prefix(8).lowercased()
        direct = try EC2Client(settings: EC2Settings(endpoint: moto.endpoint, image: moto.image), credentials: moto.credentials)
    }

    override func tearDown() {
        for proxy in proxies { proxy.stop() }
        proxies = []
        // Whatever a failed test left behind in moto.
        if let moto, !sessionID.isEmpty {
            _ = try? EC2Provider.reap(session: sessionID, launchedBy: nil, settings: EC2Settings(endpoint: moto.endpoint, image: ""), credentials: moto.credentials)
        }
        try? FileManager.default.removeItem(atPath: sessionPath)
        super.tearDown()
    }

    // MARK: Helpers

    func provider(endpoint: String? = nil, credentials: AWSCredentials? = nil, image: String? = nil, addresses: [String] = [],
                  bootTimeout: Double = 20) throws -> EC2Provider {
        let settings = EC2Settings(region: "us-east-1", endpoint: endpoint ?? moto.endpoint, instanceType: "t3.micro", image: image ?? moto.image,
                                   user: "worker", bootTimeout: bootTimeout, testAddresses: addresses)
        let provider = try EC2Provider(sessionPath: sessionPath, sessionID: sessionID, sessionKey: sessionPath + "/launch_key", settings: settings,
                                       credentials: credentials ?? moto.credentials, launchedBy: "tester@testhost")
        provider.pollInterval = 0.2
        provider.pollCap = 0.5
        provider.retryBase = 0.02
        return provider
    }

    func proxy(faults: [(Int, String)] = [], holdPending: Bool = false) throws -> FaultProxy {
        let proxy = try FaultProxy(upstream: moto.port, faults: faults, holdPending: holdPending)
        proxies.append(proxy)
        return proxy
    }

    /// Calls ready() until `count` instances or errors came, or `timeout` passed; no call may block long.
    func collect(_ provider: EC2Provider, count: Int, timeout: Double = 15) -> (instances: [Instance], errors: [String]) {
        var instances: [Instance] = []
        var errors: [String] = []
        let end = Date().addingTimeInterval(timeout)
        while instances.count + errors.count < count && Date() < end {
            let before = Date()
            do { instances += try provider.ready() } catch { errors.append("\(error)") }
            XCTAssertLessThan(Date().timeIntervalSince(before), 0.1, "ready() must not block")
            Thread.sleep(forTimeInterval: 0.02)
        }
        return (instances, errors)
    }

    /// State and tags of every instance of this test's session, straight from moto.
    func sessionInstances() throws -> [EC2Provider.InstanceInfo] {
        EC2Provider.instances(in: try direct.call("DescribeInstances", [("Filter.1.Name", "tag:cloudtask:session"), ("Filter.1.Value.1", sessionID)]))
    }

    func ledgerEvents() -> [String] {
        ((try? String(contentsOfFile: sessionPath + "/instances", encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).map { "\($0["id"]!) \($0["event"]!)" }
        }
    }

    // MARK: Tests

    func testLaunchTagsHandsOverAndDestroyTerminates() throws {
        let provider = try provider(addresses: ["127.0.1.1", "127.0.1.2"])
        XCTAssertEqual(provider.knownHosts, sessionPath + "/known_hosts")
        XCTAssertEqual(provider.identity, sessionPath + "/launch_key")
        let ledger = Ledger(sessionPath: sessionPath)
        try provider.launch(count: 2, ledger: ledger)
        let events = ledgerEvents()
        XCTAssertEqual(events.count, 1)
        XCTAssertTrue(events.first?.hasPrefix("pending-") == true && events.first?.hasSuffix(" launch") == true,
                      "the launch is in the ledger before RunInstances: \(events)")

        let (instances, errors) = collect(provider, count: 2)
        XCTAssertEqual(errors, [])
        XCTAssertEqual(Set(instances.map(\.host)), ["127.0.1.1", "127.0.1.2"], "the test hook replaces moto's addresses")
        XCTAssertEqual(Set(instances.map(\.port)), [22])
        XCTAssertEqual(Set(instances.map(\.user)), ["worker"])
        XCTAssertEqual(Set(instances.map(\.provider)), ["ec2"])
        XCTAssertTrue(instances.allSatisfy { $0.id.hasPrefix("i-") }, "\(instances)")

        // Ledger: pending first, the real ids after RunInstances, then the pending record resolved.
        let after = ledgerEvents()
        XCTAssertEqual(after.first, events.first)
        XCTAssertEqual(Set(after.dropFirst().prefix(2)), Set(instances.map { "\($0.id) launch" }))
        XCTAssertEqual(after.last, events.first!.replacingOccurrences(of: " launch", with: " destroyed"))
        XCTAssertEqual(Set(ledger.live().map(\.id)), Set(instances.map(\.id)))

        // Tags and user-data, straight from moto.
        let described = try sessionInstances()
        XCTAssertEqual(Set(described.map(\.id)), Set(instances.map(\.id)))
        for info in described {
            XCTAssertEqual(info.state, "running")
            XCTAssertEqual(info.tags["cloudtask:session"], sessionID)
            XCTAssertEqual(info.tags["cloudtask:launched-by"], "tester@testhost")
        }
        let attribute = try direct.call("DescribeInstanceAttribute", [("InstanceId", instances[0].id), ("Attribute", "userData")])
        let userData = String(decoding: Data(base64Encoded: attribute.first("userData")?.first("value")?.text.nonEmpty ?? "") ?? Data(), as: UTF8.self)
        XCTAssertTrue(userData.hasPrefix("#cloud-config\n"), userData)
        XCTAssertTrue(userData.contains("'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0tY2xvdWR0YXNrLXRlc3Qta2V5LW5vdC1yZWFsLTAwMDAw cloudtask-launch-test'"), userData)
        XCTAssertTrue(userData.contains("sh, 'worker', 'ssh-ed25519"), userData)

        XCTAssertEqual(provider.destroy(instances), [:])
        XCTAssertEqual(Set(try sessionInstances().map(\.state)).subtracting(["shutting-down", "terminated"]), [])
        XCTAssertEqual(provider.destroy(instances), [:], "destroying twice is not an error")
    }

    func testWrongSecretIsRefusedWithAClearError() throws {
        let wrong = AWSCredentials(accessKeyID: moto.credentials.accessKeyID, secretAccessKey: "not-the-secret", source: "environment")
        let provider = try provider(credentials: wrong)
        try provider.launch(count: 2, ledger: Ledger(sessionPath: sessionPath))
        let (instances, errors) = collect(provider, count: 2)
        XCTAssertEqual(instances, [])
        XCTAssertEqual(errors.count, 2, "one failure per asked-for instance: \(errors)")
        XCTAssertTrue(errors.allSatisfy { $0.hasPrefix("ec2: the credentials were refused (AuthFailure): ") }, "\(errors)")
        XCTAssertTrue(errors[0].hasSuffix("(credentials from environment)"), errors[0])
        XCTAssertFalse(errors[0].contains("not-the-secret"))
        XCTAssertFalse(errors[0].contains("\n"))
        XCTAssertEqual(Ledger(sessionPath: sessionPath).live(), [], "a refused launch leaves nothing live in the ledger")
        XCTAssertEqual(try sessionInstances().count, 0)
    }

    func testUnknownImageIsReported() throws {
        let provider = try provider(image: "ami-0badc0ffee0000000")
        try provider.launch(count: 1, ledger: Ledger(sessionPath: sessionPath))
        let (_, errors) = collect(provider, count: 1)
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.hasPrefix("ec2: unknown image ami-0badc0ffee0000000 (InvalidAMIID.") == true, "\(errors)")
        XCTAssertThrowsError(try self.provider(image: "")) { XCTAssertTrue("\($0)".contains("--image is required"), "\($0)") }
    }

    /// Without the test hook, moto's made-up addresses are never handed out: the instance is terminated instead.
    func testNonLoopbackAddressFromATestEndpointIsNeverHandedOut() throws {
        let provider = try provider(addresses: ["127.0.1.3"])
        try provider.launch(count: 2, ledger: Ledger(sessionPath: sessionPath))
        let (instances, errors) = collect(provider, count: 2)
        XCTAssertEqual(instances.map(\.host), ["127.0.1.3"], "only the mapped one is handed out")
        XCTAssertEqual(errors.count, 1)
        let refusal = try XCTUnwrap(errors.first)
        XCTAssertTrue(refusal.hasPrefix("ec2: instance i-"), refusal)
        XCTAssertTrue(refusal.contains(" from a non-AWS endpoint; refusing to connect (set CLOUDTASK_TEST_EC2_ADDRESSES)"), refusal)
        let refused = String(refusal.dropFirst("ec2: instance ".count).prefix { $0 != " " })
        let states = Dictionary(uniqueKeysWithValues: try sessionInstances().map { ($0.id, $0.state) })
        XCTAssertTrue(["shutting-down", "terminated"].contains(states[refused] ?? ""), "the refused instance is terminated: \(states)")
        XCTAssertFalse(Ledger(sessionPath: sessionPath).live().contains { $0.id == refused })
        XCTAssertEqual(provider.destroy(instances), [:])
        XCTAssertThrowsError(try self.provider(addresses: ["10.0.0.1"])) { XCTAssertTrue("\($0)".contains("not a loopback address"), "\($0)") }
    }

    func testThrottlingAndServerErrorsAreRetried() throws {
        let proxy = try proxy(faults: [(503, "RequestLimitExceeded"), (400, "RequestLimitExceeded"), (500, "InternalError"), (400, "Throttling"),
                                       (503, "Unavailable")])
        let provider = try provider(endpoint: proxy.endpoint, addresses: ["127.0.1.4"])
        try provider.launch(count: 1, ledger: Ledger(sessionPath: sessionPath))
        let (instances, errors) = collect(provider, count: 1)
        XCTAssertEqual(errors, [])
        XCTAssertEqual(instances.map(\.host), ["127.0.1.4"])
        XCTAssertEqual(Array(proxy.log.prefix(6)), ["fault RunInstances 503 RequestLimitExceeded", "fault RunInstances 400 RequestLimitExceeded",
                                                    "fault RunInstances 500 InternalError", "fault RunInstances 400 Throttling",
                                                    "fault RunInstances 503 Unavailable", "forward RunInstances 200"])
        XCTAssertEqual(try sessionInstances().count, 1, "retries launched one instance, not several")
        XCTAssertEqual(provider.destroy(instances), [:])

        // Retries are bounded, and a client error is not retried.
        let stubborn = try self.proxy(faults: Array(repeating: (503, "RequestLimitExceeded"), count: 10))
        let giving = try self.provider(endpoint: stubborn.endpoint)
        giving.retryAttempts = 3
        try giving.launch(count: 1, ledger: Ledger(sessionPath: sessionPath))
        XCTAssertEqual(collect(giving, count: 1).errors, ["ec2: RunInstances failed (RequestLimitExceeded): injected by FaultProxy"])
        XCTAssertEqual(stubborn.log.count, 3)
        let refused = try self.proxy(faults: [(400, "InvalidParameterValue")])
        let once = try self.provider(endpoint: refused.endpoint)
        try once.launch(count: 1, ledger: Ledger(sessionPath: sessionPath))
        XCTAssertEqual(collect(once, count: 1).errors, ["ec2: RunInstances failed (InvalidParameterValue): injected by FaultProxy"])
        XCTAssertEqual(refused.log, ["fault RunInstances 400 InvalidParameterValue"])
    }

    func testBootDeadlineTerminatesAndReports() throws {
        let proxy = try proxy(holdPending: true)
        let provider = try provider(endpoint: proxy.endpoint, addresses: ["127.0.1.5", "127.0.1.6"], bootTimeout: 1.5)
        let start = Date()
        try provider.launch(count: 2, ledger: Ledger(sessionPath: sessionPath))
        let (instances, errors) = collect(provider, count: 2, timeout: 10)
        XCTAssertEqual(instances, [])
        XCTAssertEqual(errors.count, 2, "\(errors)")
        for error in errors {
            XCTAssertTrue(error.hasPrefix("ec2: instance i-") && error.hasSuffix(" was not running with an address within the boot timeout of 1.5 s (state pending); terminated it"), error)
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 1.5)
        XCTAssertTrue(proxy.log.contains("forward DescribeInstances 200"), "\(proxy.log)")
        let described = try sessionInstances()
        XCTAssertEqual(described.count, 2)
        XCTAssertEqual(Set(described.map(\.state)).subtracting(["shutting-down", "terminated"]), [], "\(described.map(\.state))")
        XCTAssertEqual(Ledger(sessionPath: sessionPath).live(), [], "terminated instances are recorded destroyed")
    }

    func testReapTerminatesOnlyTheSessionsInstances() throws {
        let provider = try provider(addresses: ["127.0.1.7", "127.0.1.8"])
        try provider.launch(count: 2, ledger: Ledger(sessionPath: sessionPath))
        XCTAssertEqual(collect(provider, count: 2).instances.count, 2)
        // Another session's instance, and one of this session launched by someone else.
        let other = try direct.call("RunInstances", [("ImageId", moto.image), ("MinCount", "1"), ("MaxCount", "1"),
                                                     ("TagSpecification.1.ResourceType", "instance"),
                                                     ("TagSpecification.1.Tag.1.Key", "cloudtask:session"), ("TagSpecification.1.Tag.1.Value", sessionID + "-other")])
        let otherID = try XCTUnwrap(EC2Provider.instances(in: other).first?.id)
        defer { _ = EC2Provider.terminate([otherID], client: direct) }

        let settings = EC2Settings(endpoint: moto.endpoint, image: "")
        let reaped = try EC2Provider.reap(session: sessionID, launchedBy: "tester@testhost", settings: settings, credentials: moto.credentials)
        XCTAssertEqual(reaped.count, 2)
        XCTAssertEqual(Set(try sessionInstances().map(\.state)).subtracting(["shutting-down", "terminated"]), [])
        let otherState = EC2Provider.instances(in: try direct.call("DescribeInstances", [("InstanceId.1", otherID)])).first?.state
        XCTAssertEqual(otherState, "running", "another session's instance is left alone")
        XCTAssertEqual(try EC2Provider.reap(session: sessionID, launchedBy: "tester@testhost", settings: settings, credentials: moto.credentials), [])
        XCTAssertThrowsError(try EC2Provider.reap(session: sessionID, settings: settings,
                                                   credentials: AWSCredentials(accessKeyID: moto.credentials.accessKeyID, secretAccessKey: "wrong"))) {
            XCTAssertTrue("\($0)".contains("(AuthFailure)"), "\($0)")
        }
    }

    /// A launch whose RunInstances answer was lost leaves only `pending-<token>` in the ledger; destroying that
    /// finds the instances by their client-token tag.
    func testDestroyingAPendingRecordFindsWhatItsLaunchCreated() throws {
        let token = UUID().uuidString.lowercased()
        let launched = try direct.call("RunInstances", [("ImageId", moto.image), ("MinCount", "2"), ("MaxCount", "2"), ("ClientToken", token),
                                                        ("TagSpecification.1.ResourceType", "instance"),
                                                        ("TagSpecification.1.Tag.1.Key", "cloudtask:session"), ("TagSpecification.1.Tag.1.Value", sessionID),
                                                        ("TagSpecification.1.Tag.2.Key", "cloudtask:client-token"), ("TagSpecification.1.Tag.2.Value", token)])
        XCTAssertEqual(EC2Provider.instances(in: launched).count, 2)
        // As cloudtask-destroy-workers would: no provider, no image, just the endpoint and the credentials.
        let pending = Instance(id: "pending-" + token, provider: "ec2", host: "", port: 22, user: "worker")
        let settings = EC2Settings(endpoint: moto.endpoint, image: "")
        let refused = EC2Provider.destroy([pending], settings: settings, credentials: AWSCredentials(accessKeyID: "AKIDNOBODY", secretAccessKey: "x"))
        XCTAssertTrue(refused[pending.id]?.contains("(AuthFailure)") == true, "\(refused)")
        XCTAssertEqual(Set(try sessionInstances().map(\.state)), ["running"])
        XCTAssertEqual(EC2Provider.destroy([pending], settings: settings, credentials: moto.credentials), [:])
        XCTAssertEqual(Set(try sessionInstances().map(\.state)).subtracting(["shutting-down", "terminated"]), [])
        XCTAssertEqual(try provider().destroy([Instance(id: "pending-unknown-token", provider: "ec2", host: "", port: 22, user: "worker")]), [:])
    }

    /// Temporary credentials (STS AssumeRole): the session token is sent and checked.
    func testSessionTokenCredentials() throws {
        let http = try HTTPClient()
        let role = "cloudtask-" + sessionID
        _ = try Moto.query(endpoint: moto.endpoint, service: "iam", version: "2010-05-08", credentials: moto.credentials, [
            ("Action", "CreateRole"), ("RoleName", role),
            ("AssumeRolePolicyDocument", #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#),
        ], http: http)
        _ = try Moto.query(endpoint: moto.endpoint, service: "iam", version: "2010-05-08", credentials: moto.credentials, [
            ("Action", "PutRolePolicy"), ("RoleName", role), ("PolicyName", "all"),
            ("PolicyDocument", #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#),
        ], http: http)
        let assumed = try Moto.query(endpoint: moto.endpoint, service: "sts", version: "2011-06-15", credentials: moto.credentials, [
            ("Action", "AssumeRole"), ("RoleArn", "arn:aws:iam::123456789012:role/\(role)"), ("RoleSessionName", "test"),
        ], http: http)
        let id = try XCTUnwrap(assumed.first("AccessKeyId")?.text.nonEmpty)
        let secret = try XCTUnwrap(assumed.first("SecretAccessKey")?.text.nonEmpty)
        let token = try XCTUnwrap(assumed.first("SessionToken")?.text.nonEmpty)

        let provider = try provider(credentials: AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token), addresses: ["127.0.1.9"])
        try provider.launch(count: 1, ledger: Ledger(sessionPath: sessionPath))
        let (instances, errors) = collect(provider, count: 1)
        XCTAssertEqual(errors, [])
        XCTAssertEqual(instances.map(\.host), ["127.0.1.9"])
        XCTAssertEqual(provider.destroy(instances), [:])

        let badToken = try self.provider(credentials: AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: "not-the-token"))
        try badToken.launch(count: 1, ledger: Ledger(sessionPath: sessionPath))
        let refused = collect(badToken, count: 1).errors
        XCTAssertEqual(refused.count, 1)
        XCTAssertTrue(refused.first?.hasPrefix("ec2: the credentials were refused (") == true, "\(refused)")
    }
}
