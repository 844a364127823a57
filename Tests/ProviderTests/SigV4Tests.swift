// SHA-256, HMAC-SHA256 (swift-crypto, reached as the signer reaches it) and SigV4 against published vectors:
// FIPS 180-2 / RFC 4231 for the hashes, and the AWS SigV4 test suite (AKIDEXAMPLE, us-east-1, service "service",
// 20150830T123600Z) for the signatures.
import Foundation
@testable import Providers
import XCTest

final class SigV4Tests: XCTestCase {
    func hex(_ text: String) -> String { SigV4Signer.digest(Array(text.utf8)) }

    func testSHA256Vectors() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SigV4Signer.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testHMACSHA256Vectors() {
        // RFC 4231 test cases 1 and 2, and 6 (a key longer than the block).
        XCTAssertEqual(SigV4Signer.hex(SigV4Signer.hmac(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(SigV4Signer.hex(SigV4Signer.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(SigV4Signer.hex(SigV4Signer.hmac(key: [UInt8](repeating: 0xaa, count: 131),
                                                        message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    var suiteSigner: SigV4Signer {
        SigV4Signer(credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                    region: "us-east-1", service: "service")
    }

    /// aws-sig-v4-test-suite get-vanilla: `GET /` with only Host and X-Amz-Date.
    func testGetVanilla() {
        let signed = suiteSigner.sign(method: "GET", url: "https://example.amazonaws.com/", body: [], date: suiteDate)
        XCTAssertEqual(signed.canonicalRequest, """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        XCTAssertEqual(signed.stringToSign, """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        XCTAssertEqual(signed.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                       + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        XCTAssertEqual(signed.headers.map(\.0), ["Host", "X-Amz-Date", "Authorization"])
        XCTAssertEqual(signed.headers[1].1, "20150830T123600Z")
    }

    /// aws-sig-v4-test-suite get-vanilla-query-order-key-case: the query is sorted before signing.
    func testGetVanillaQueryOrder() {
        let signed = suiteSigner.sign(method: "GET", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1", body: [], date: suiteDate)
        XCTAssertEqual(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2], "Param1=value1&Param2=value2")
        XCTAssertEqual(signed.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    /// aws-sig-v4-test-suite post-x-www-form-urlencoded: a form body, its Content-Type signed, the body hashed.
    func testPostFormURLEncoded() {
        let signed = suiteSigner.sign(method: "POST", url: "https://example.amazonaws.com/",
                                      headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                      body: Array("Param1=value1".utf8), date: suiteDate)
        XCTAssertEqual(signed.canonicalRequest, """
            POST
            /

            content-type:application/x-www-form-urlencoded
            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            content-type;host;x-amz-date
            9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e
            """)
        XCTAssertEqual(signed.stringToSign.split(separator: "\n").last, "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281")
        XCTAssertEqual(signed.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                       + "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
    }

    /// Temporary credentials: the token is sent and signed; the secret never shows in descriptions.
    func testSessionTokenIsSignedAndSecretsStayHidden() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "TOKEN/with+chars")
        let signed = SigV4Signer(credentials: credentials, region: "us-east-1", service: "ec2")
            .sign(method: "POST", url: "http://127.0.0.1:4566", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                  body: Array("Action=DescribeInstances&Version=2016-11-15".utf8), date: suiteDate)
        XCTAssertTrue(signed.headers.contains { $0.0 == "X-Amz-Security-Token" && $0.1 == "TOKEN/with+chars" })
        XCTAssertTrue(signed.headers.contains { $0.0 == "Host" && $0.1 == "127.0.0.1:4566" }, "a non-default port is part of Host")
        XCTAssertTrue(signed.authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"), signed.authorization)
        XCTAssertTrue(signed.canonicalRequest.contains("\nx-amz-security-token:TOKEN/with+chars\n"))
        let without = suiteSigner.sign(method: "GET", url: "https://example.amazonaws.com/", body: [], date: suiteDate)
        XCTAssertFalse(without.headers.contains { $0.0 == "X-Amz-Security-Token" })
        for text in ["\(credentials)", String(describing: credentials.secretAccessKey), String(reflecting: credentials), "\(credentials.sessionToken!)"] {
            XCTAssertFalse(text.contains("EXAMPLEKEY") || text.contains("TOKEN/with"), text)
        }
        XCTAssertEqual("\(credentials.secretAccessKey)", "***")
    }

    func testFormEncodingIsStrictRFC3986() {
        XCTAssertEqual(SigV4Signer.formBody([("Action", "RunInstances"), ("TagSpecification.1.Tag.1.Key", "cloudtask:session"),
                                             ("UserData", "a+b/c= d~_-.")]),
                       "Action=RunInstances&TagSpecification.1.Tag.1.Key=cloudtask%3Asession&UserData=a%2Bb%2Fc%3D%20d~_-.")
        XCTAssertEqual(SigV4Signer.encode("é"), "%C3%A9")
    }

    func testCredentialsFromEnvironmentThenProfile() throws {
        let fromEnvironment = try AWSCredentials.load(environment: ["AWS_ACCESS_KEY_ID": "AKID1", "AWS_SECRET_ACCESS_KEY": "s1", "AWS_SESSION_TOKEN": "t1"])
        XCTAssertEqual(fromEnvironment.accessKeyID, "AKID1")
        XCTAssertEqual(fromEnvironment.secretAccessKey.value, "s1")
        XCTAssertEqual(fromEnvironment.sessionToken?.value, "t1")
        XCTAssertThrowsError(try AWSCredentials.load(environment: ["AWS_ACCESS_KEY_ID": "AKID1"])) {
            XCTAssertTrue("\($0)".contains("AWS_SECRET_ACCESS_KEY is not"), "\($0)")
        }

        let home = NSTemporaryDirectory() + "aws-home-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try """
            # comment
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = sdefault

            [work]
            aws_access_key_id=AKIDWORK
            aws_secret_access_key=swork
            aws_session_token = twork
            """.write(toFile: home + "/.aws/credentials", atomically: true, encoding: .utf8)
        let byDefault = try AWSCredentials.load(environment: ["HOME": home])
        XCTAssertEqual(byDefault.accessKeyID, "AKIDDEFAULT")
        XCTAssertNil(byDefault.sessionToken)
        XCTAssertEqual(byDefault.source, "~/.aws/credentials [default]")
        let work = try AWSCredentials.load(environment: ["HOME": home, "AWS_PROFILE": "work"])
        XCTAssertEqual([work.accessKeyID, work.secretAccessKey.value, work.sessionToken?.value], ["AKIDWORK", "swork", "twork"])
        XCTAssertThrowsError(try AWSCredentials.load(environment: ["HOME": home, "AWS_PROFILE": "nope"])) {
            XCTAssertEqual("\($0)", "ec2: no profile [nope] in ~/.aws/credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        XCTAssertThrowsError(try AWSCredentials.load(environment: ["HOME": home + "/nowhere"])) {
            XCTAssertTrue("\($0)".hasPrefix("ec2: no AWS credentials: set AWS_ACCESS_KEY_ID"), "\($0)")
        }
    }

    func testXMLAnswersParse() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <reservationSet><item><instancesSet>
                <item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState>
                  <privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>54.1.2.3</ipAddress>
                  <networkInterfaceSet><item><privateIpAddress>10.9.9.9</privateIpAddress></item></networkInterfaceSet>
                  <tagSet><item><key>cloudtask:session</key><value>a &amp; b &lt;c&gt; &#x41;</value></item></tagSet></item>
                <item><instanceId>i-2</instanceId><instanceState><name>pending</name></instanceState><privateIpAddress>10.0.0.6</privateIpAddress><ipAddress/></item>
              </instancesSet></item></reservationSet>
              <nextToken/>
            </DescribeInstancesResponse>
            """
        let root = try XCTUnwrap(AnswerNode.parse(Array(xml.utf8)))
        let instances = EC2Provider.instances(in: root)
        XCTAssertEqual(instances.map(\.id), ["i-1", "i-2"])
        XCTAssertEqual(instances.map(\.state), ["running", "pending"])
        XCTAssertEqual(instances.map(\.address), ["54.1.2.3", "10.0.0.6"], "public IP first, else private")
        XCTAssertEqual(instances[0].tags["cloudtask:session"], "a & b <c> A")
        XCTAssertNil(root.first("nextToken")?.text.nonEmpty)
        XCTAssertNil(AnswerNode.parse(Array("<a><b></a>".utf8)))
        XCTAssertNil(AnswerNode.parse(Array("not xml".utf8)))
    }

    /// FoundationXML's edges the reader covers: an empty body (XMLDocument crashes on one), CDATA and comments,
    /// a prefixed root, and external entities, which are never loaded.
    func testXMLReaderEdges() throws {
        XCTAssertNil(AnswerNode.parse([]))
        XCTAssertNil(AnswerNode.parse(Array("<a/><b/>".utf8)), "one root only")
        let text = #"<e:Response xmlns:e="urn:x"><m>a<!-- c --><![CDATA[<b>]]></m></e:Response>"#
        let mixed = try XCTUnwrap(AnswerNode.parse(Array(text.utf8)))
        XCTAssertEqual(mixed.name, "Response")
        XCTAssertEqual(mixed.child("m")?.text, "a<b>")
        let secret = NSTemporaryDirectory() + "xml-entity-" + UUID().uuidString
        try "SECRET".write(toFile: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secret) }
        let external = AnswerNode.parse(Array("<!DOCTYPE a [<!ENTITY x SYSTEM \"file://\(secret)\">]><a>&x;</a>".utf8))
        XCTAssertFalse(external?.text.contains("SECRET") ?? false)
    }
}
