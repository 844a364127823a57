// The EC2 query API client: form-encoded POSTs signed with SigV4 over one curl handle, the API's error
// answers as `EC2APIError`, and bounded retries with backoff for throttling, 5xx and transport errors.
import Engine
import Foundation
import HTTP

/// An error answer of the EC2 API.
struct EC2APIError: Error, CustomStringConvertible {
    let action: String
    let status: Int
    let code: String
    let message: String

    var isCredentialsError: Bool {
        ["AuthFailure", "SignatureDoesNotMatch", "InvalidClientTokenId", "IncompleteSignature",
         "MissingAuthenticationToken", "InvalidAccessKeyId", "UnrecognizedClientException", "ExpiredToken",
         "RequestExpired"].contains(code) || code.hasPrefix("AuthFailure.")
    }

    var isRetryable: Bool {
        ["RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
         "ServiceUnavailable", "Unavailable", "InternalError", "InternalFailure"].contains(code)
            || status >= 500 || status == 429
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
    /// The body's type, sent and signed.
    static let contentType = "application/x-www-form-urlencoded; charset=utf-8"

    init(settings: EC2Settings, credentials: AWSCredentials, retryBase: Double = 0.5, retryAttempts: Int = 6) throws {
        self.settings = settings
        self.signer = SigV4Signer(credentials: credentials, region: settings.region, service: "ec2")
        self.http = try HTTPClient()
        self.retryBase = retryBase
        self.retryAttempts = max(1, retryAttempts)
    }

    /// Calls `action` with `parameters`; returns the parsed answer or throws an `EC2APIError` (the API's
    /// error answer) or a `ProviderError` (no usable answer). Throttling, 5xx and transport errors are retried.
    func call(_ action: String, _ parameters: [(String, String)]) throws -> AnswerNode {
        let body = Array(SigV4Signer.formBody([("Action", action), ("Version", "2016-11-15")] + parameters).utf8)
        var url = settings.endpoint
        if URLComponents(string: url)?.path.isEmpty ?? false { url += "/" }
        var attempt = 0
        while true {
            attempt += 1
            let signed = signer.sign(method: "POST", url: url, headers: [("Content-Type", EC2Client.contentType)],
                                     body: body, date: Date())
            let failure: Error
            do {
                let response = try http.request(method: "POST", url: url, headers: signed.headers, body: body,
                                                timeout: timeout)
                let answer = AnswerNode.parse(response.body)
                if (200..<300).contains(response.status), let answer { return answer }
                let error = answer?.first("Error")
                let code = error?.child("Code")?.text.nonEmpty ?? "HTTP \(response.status)"
                let message = error?.child("Message")?.text.nonEmpty
                    ?? String(decoding: response.body.prefix(300), as: UTF8.self)
                let apiError = EC2APIError(action: action, status: response.status, code: code,
                                           message: EC2Client.oneLine(message))
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

    /// Whitespace runs made one space, cut at 400 characters: an error message fit for one line.
    static func oneLine(_ text: String) -> String {
        let squeezed = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return squeezed.count > 400 ? squeezed.prefix(400) + "…" : squeezed
    }
}
