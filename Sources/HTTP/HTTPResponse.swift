// What an HTTP request returns, and the error a failed transfer becomes.
import CCurl

/// A complete HTTP response; any status, including 4xx and 5xx, arrives here rather than as an error.
public struct HTTPResponse: Sendable {
    public let status: Int
    /// Header fields in the order received, names as the server spelled them.
    public let headers: [(String, String)]
    public let body: [UInt8]

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A failed curl transfer: curl's code and message, its detail for this transfer, and what we were doing.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    /// The `CURLcode`, e.g. 7 for "Couldn't connect to server".
    public let code: Int
    /// `curl_easy_strerror(code)`.
    public let message: String
    /// curl's error buffer for this transfer (may be empty).
    public let detail: String
    /// What we were doing, naming the URL: `GET http://…` or `sending mail via smtp://…`.
    public let action: String

    init(_ code: CURLcode, detail: String, action: String) {
        self.code = Int(code.rawValue)
        self.message = String(cString: curl_easy_strerror(code))
        self.detail = detail
        self.action = action
    }

    public var description: String {
        let why = detail.isEmpty || detail == message ? message : "\(message): \(detail)"
        return "curl error \(code) (\(why)) while \(action)"
    }
}
