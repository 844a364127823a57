// AWS Signature Version 4 (header signing): our canonical request and string to sign, hashed with swift-crypto.
// (libcurl 7.88's own CURLOPT_AWS_SIGV4 does not sort the query and signs our "Expect:": it fails AWS's vectors.)
import Crypto
import Foundation

// MARK: - Signature Version 4

/// Everything one signing produced: the intermediate texts (for tests and debugging) and the headers to send.
public struct SigV4Signature: Sendable {
    public let canonicalRequest: String
    public let stringToSign: String
    public let signature: String
    /// The `Authorization` header's value.
    public let authorization: String
    /// The request's headers plus Host, X-Amz-Date, X-Amz-Security-Token (temporary credentials) and Authorization.
    public let headers: [(String, String)]
}

/// Signs requests for one service in one region (header signing, the payload hashed into the signature).
public struct SigV4Signer: Sendable {
    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs a request to `url` made at `date`. Every header given is signed, as are Host (taken from the URL,
    /// with its port when it is not the scheme's default), X-Amz-Date and, with temporary credentials,
    /// X-Amz-Security-Token. Send exactly `headers` of the result, with `body`.
    public func sign(method: String, url: String, headers: [(String, String)] = [], body: [UInt8],
                     date: Date) -> SigV4Signature {
        let parts = URLComponents(string: url)
        let amzDate = SigV4Signer.amzDate(date)
        let day = String(amzDate.prefix(8))
        let replaced = ["host", "x-amz-date", "authorization", "x-amz-security-token"]
        var all = headers.filter { !replaced.contains($0.0.lowercased()) }
        all.insert(("Host", SigV4Signer.hostHeader(parts)), at: 0)
        all.append(("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken { all.append(("X-Amz-Security-Token", token.value)) }

        // Canonical headers: lowercase names, sorted; values trimmed, inner runs of spaces made one;
        // repeats joined by commas.
        var canonical: [String: [String]] = [:]
        for (name, value) in all {
            let squeezed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            canonical[name.lowercased(), default: []].append(squeezed.trimmingCharacters(in: .whitespaces))
        }
        let names = canonical.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let canonicalHeaders = names.map { "\($0):\(canonical[$0]!.joined(separator: ","))\n" }.joined()

        let canonicalRequest = [
            method.uppercased(),
            SigV4Signer.canonicalURI(parts?.percentEncodedPath ?? "/"),
            SigV4Signer.canonicalQuery(parts?.percentEncodedQuery),
            canonicalHeaders,
            signedHeaders,
            SigV4Signer.digest(body),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, SigV4Signer.digest(Array(canonicalRequest.utf8))]
            .joined(separator: "\n")

        let secret = Array(("AWS4" + credentials.secretAccessKey.value).utf8)
        var key = SigV4Signer.hmac(key: secret, message: Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = SigV4Signer.hmac(key: key, message: Array(part.utf8)) }
        let signature = SigV4Signer.hex(SigV4Signer.hmac(key: key, message: Array(stringToSign.utf8)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return SigV4Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                              authorization: authorization, headers: all + [("Authorization", authorization)])
    }

    // MARK: Hashing

    /// The SHA-256 digest of `bytes` in lowercase hexadecimal, as SigV4 writes payload and request hashes.
    static func digest(_ bytes: [UInt8]) -> String { hex(Array(SHA256.hash(data: bytes))) }

    /// HMAC-SHA256 of `message` under `key`.
    static func hmac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Lowercase hexadecimal.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Canonical parts

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ",
                      Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// host, or host:port when the URL names a port other than its scheme's default.
    static func hostHeader(_ parts: URLComponents?) -> String {
        let host = (parts?.percentEncodedHost ?? "").lowercased()
        guard let port = parts?.port else { return host }
        let scheme = parts?.scheme?.lowercased()
        if (scheme == "https" && port == 443) || (scheme == "http" && port == 80) { return host }
        return "\(host):\(port)"
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` when `slash` is kept).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// The path as sent, each segment encoded once more (AWS's rule for every service but S3); "/" when empty.
    static func canonicalURI(_ path: String) -> String {
        path.isEmpty ? "/" : encode(path, keepSlash: true)
    }

    /// Query parameters decoded, re-encoded strictly, sorted by name then value.
    static func canonicalQuery(_ query: String?) -> String {
        guard let query, !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { item -> (String, String) in
            let pieces = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func clean(_ s: Substring) -> String {
                encode(String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s))
            }
            return (clean(pieces[0]), pieces.count > 1 ? clean(pieces[1]) : "")
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// A form body (`application/x-www-form-urlencoded`) of `parameters`, in their order, strictly encoded.
    public static func formBody(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }
}
