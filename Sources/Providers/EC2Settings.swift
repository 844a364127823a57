// The ec2 provider's settings: what and where it launches, from the task options and the environment, with
// their defaults and the checks that reject values that cannot work.
import Engine
import Foundation

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
        let region = nonEmpty(config.region) ?? nonEmpty(environment["AWS_REGION"])
            ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) ?? "us-east-1"
        let testAddresses = (environment["CLOUDTASK_TEST_EC2_ADDRESSES"] ?? "")
            .split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        self.init(region: region, endpoint: nonEmpty(config.ec2Endpoint),
                  instanceType: nonEmpty(config.instanceType) ?? "t3.micro", image: config.image ?? "",
                  keyName: nonEmpty(config.keyName), securityGroup: nonEmpty(config.securityGroup),
                  subnet: nonEmpty(config.subnet), user: nonEmpty(config.user) ?? "ec2-user",
                  bootTimeout: config.bootTimeout ?? 600, testAddresses: testAddresses)
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
        if needImage && image.isEmpty {
            throw ProviderError("ec2: --image is required (an AMI id, such as ami-0123456789abcdef0)")
        }
        if !(bootTimeout > 0) { throw ProviderError("ec2: --boot-timeout must be more than 0 seconds") }
        for address in testAddresses where !EC2Provider.isLoopback(address) {
            throw ProviderError("ec2: CLOUDTASK_TEST_EC2_ADDRESSES: \(address) is not a loopback address (127.0.0.0/8)")
        }
    }
}
