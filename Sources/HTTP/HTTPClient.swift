// HTTP requests and SMTP mail over one libcurl easy handle (which keeps connections alive between calls).
import CCurl

/// libcurl's process-wide setup, done once before the first handle.
private let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// A blocking HTTP and SMTP client over one curl easy handle. Use it from one thread only.
public final class HTTPClient {
    private var curl: UnsafeMutableRawPointer?
    /// curl writes the detail of a failure here (CURLOPT_ERRORBUFFER).
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    /// Creates the easy handle.
    public init() throws {
        errorBuffer[0] = 0
        guard curlGlobalInit == CURLE_OK else {
            throw HTTPError(curlGlobalInit, detail: "", action: "initializing libcurl")
        }
        guard let curl = curl_easy_init() else {
            throw HTTPError(CURLE_FAILED_INIT, detail: "", action: "creating a curl handle")
        }
        self.curl = curl
    }

    deinit {
        close()
        errorBuffer.deallocate()
    }

    /// Frees the handle and its connections; later calls on this object are a programming error.
    public func close() {
        guard let curl else { return }
        curl_easy_cleanup(curl)
        self.curl = nil
    }

    // MARK: - HTTP

    /// Performs one HTTP(S) request and returns the response, whatever its status. Redirects are
    /// not followed. `timeout` is in seconds for the whole transfer (0: none). A body is sent with
    /// curl's default `Content-Type: application/x-www-form-urlencoded` unless `headers` name another.
    public func request(method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                        timeout: Double) throws -> HTTPResponse {
        let action = "\(method) \(url)"
        let transfer = Transfer(upload: [])
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        var lines = headers.map { name, value in value.isEmpty ? "\(name);" : "\(name): \(value)" }
        if body != nil, !headers.contains(where: { $0.0.lowercased() == "expect" }) {
            lines.append("Expect:")  // no 100-continue round trip before large bodies
        }
        for line in lines {
            guard let appended = curl_slist_append(list, line) else {
                throw HTTPError(CURLE_OUT_OF_MEMORY, detail: "", action: action)
            }
            list = appended
        }

        try prepare(url: url, protocols: "http,https", timeout: timeout, action: action)
        try set(CURLOPT_FOLLOWLOCATION, 0, action)
        try set(CURLOPT_HTTPHEADER, UnsafeRawPointer(list), action)
        if method == "HEAD" {
            try set(CURLOPT_NOBODY, 1, action)
        } else if let body {
            try set(CURLOPT_POSTFIELDSIZE, body.count, action)
            if body.isEmpty {
                try set(CURLOPT_COPYPOSTFIELDS, "", action)
            } else {
                try body.withUnsafeBytes { try set(CURLOPT_COPYPOSTFIELDS, $0.baseAddress, action) }
            }
            if method != "POST" { try set(CURLOPT_CUSTOMREQUEST, method, action) }
        } else if method != "GET" {
            try set(CURLOPT_CUSTOMREQUEST, method, action)
        }
        try receive(into: transfer, action)
        try perform(transfer, action)

        var status = 0
        let code = ct_curl_easy_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        guard code == CURLE_OK else { throw HTTPError(code, detail: "", action: action) }
        return HTTPResponse(status: status, headers: transfer.headers, body: transfer.body)
    }

    // MARK: - SMTP

    /// Sends `message` (headers and body; lone LF line ends become CRLF) to `to` via the SMTP server
    /// at `url` (`smtp://host:port` tries STARTTLS when offered, `smtps://` is TLS from the start).
    public func sendMail(url: String, from: String, to: [String], message: [UInt8],
                         username: String? = nil, password: String? = nil, timeout: Double) throws {
        let action = "sending mail via \(url)"
        let transfer = Transfer(upload: Self.crlfLines(message))
        var recipients: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(recipients) }
        for address in to {
            guard let appended = curl_slist_append(recipients, Self.mailbox(address)) else {
                throw HTTPError(CURLE_OUT_OF_MEMORY, detail: "", action: action)
            }
            recipients = appended
        }

        try prepare(url: url, protocols: "smtp,smtps", timeout: timeout, action: action)
        if url.lowercased().hasPrefix("smtp://") {
            try set(CURLOPT_USE_SSL, Int(CURLUSESSL_TRY.rawValue), action)
        }
        if let username { try set(CURLOPT_USERNAME, username, action) }
        if let password { try set(CURLOPT_PASSWORD, password, action) }
        try set(CURLOPT_MAIL_FROM, Self.mailbox(from), action)
        try set(CURLOPT_MAIL_RCPT, UnsafeRawPointer(recipients), action)
        try set(CURLOPT_UPLOAD, 1, action)
        try check(ct_curl_easy_setopt_callback(curl, CURLOPT_READFUNCTION) { buffer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = min(size * count, transfer.upload.count - transfer.uploaded)
            transfer.upload.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer!).copyMemory(from: bytes.baseAddress! + transfer.uploaded,
                                                            byteCount: length)
            }
            transfer.uploaded += length
            return length
        }, action)
        try set(CURLOPT_READDATA, UnsafeRawPointer(Unmanaged.passUnretained(transfer).toOpaque()), action)
        try receive(into: transfer, action)
        try perform(transfer, action)
    }

    // MARK: - Helpers

    private func easy() -> UnsafeMutableRawPointer {
        guard let curl else { preconditionFailure("HTTPClient used after close()") }
        return curl
    }

    /// Resets the handle (keeping its connections) and sets what every transfer needs.
    private func prepare(url: String, protocols: String, timeout: Double, action: String) throws {
        curl_easy_reset(easy())
        errorBuffer[0] = 0
        try set(CURLOPT_ERRORBUFFER, UnsafeRawPointer(errorBuffer), action)
        try set(CURLOPT_URL, url, action)
        try set(CURLOPT_PROTOCOLS_STR, protocols, action)
        try set(CURLOPT_NOSIGNAL, 1, action)
        try set(CURLOPT_TCP_NODELAY, 1, action)
        try set(CURLOPT_TIMEOUT_MS, timeout > 0 ? max(Int(timeout * 1000), 1) : 0, action)
    }

    /// Collects the response body and headers into `transfer`.
    private func receive(into transfer: Transfer, _ action: String) throws {
        let context = UnsafeRawPointer(Unmanaged.passUnretained(transfer).toOpaque())
        try check(ct_curl_easy_setopt_callback(curl, CURLOPT_WRITEFUNCTION) { buffer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: size * count))
            return size * count
        }, action)
        try set(CURLOPT_WRITEDATA, context, action)
        try check(ct_curl_easy_setopt_callback(curl, CURLOPT_HEADERFUNCTION) { buffer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.header(String(decoding: UnsafeRawBufferPointer(start: buffer, count: size * count), as: UTF8.self))
            return size * count
        }, action)
        try set(CURLOPT_HEADERDATA, context, action)
    }

    private func perform(_ transfer: Transfer, _ action: String) throws {
        let code = withExtendedLifetime(transfer) { curl_easy_perform(easy()) }
        guard code == CURLE_OK else { throw HTTPError(code, detail: String(cString: errorBuffer), action: action) }
    }

    private func set(_ option: CURLoption, _ value: Int, _ action: String) throws {
        try check(ct_curl_easy_setopt_long(easy(), option, value), action)
    }

    private func set(_ option: CURLoption, _ value: UnsafeRawPointer?, _ action: String) throws {
        try check(ct_curl_easy_setopt_pointer(easy(), option, value), action)
    }

    /// curl copies string options, so the C string need only live through the call.
    private func set(_ option: CURLoption, _ value: String, _ action: String) throws {
        try check(ct_curl_easy_setopt_pointer(easy(), option, value), action)
    }

    private func check(_ code: CURLcode, _ action: String) throws {
        guard code == CURLE_OK else { throw HTTPError(code, detail: String(cString: errorBuffer), action: action) }
    }

    private static func mailbox(_ address: String) -> String {
        address.hasPrefix("<") ? address : "<\(address)>"
    }

    /// SMTP wants CRLF line ends; curl's own CURLOPT_CRLF would double existing CRs.
    static func crlfLines(_ message: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(message.count + message.count / 32)
        for (index, byte) in message.enumerated() {
            if byte == 0x0A, index == 0 || message[index - 1] != 0x0D { result.append(0x0D) }
            result.append(byte)
        }
        return result
    }
}

/// What one transfer sends and receives, reached from curl's callbacks through their data pointer.
final class Transfer {
    var upload: [UInt8]
    var uploaded = 0
    var body: [UInt8] = []
    var headers: [(String, String)] = []

    init(upload: [UInt8]) { self.upload = upload }

    /// Takes one header line; a status line starts a new response (after a 100 Continue or a proxy's).
    func header(_ line: String) {
        if line.hasPrefix("HTTP/") {
            headers = []
        } else if let colon = line.firstIndex(of: ":") {
            // Character.isWhitespace also covers "\r\n", which Swift counts as one Character.
            var value = line[line.index(after: colon)...]
            while let last = value.last, last.isWhitespace { value = value.dropLast() }
            headers.append((String(line[..<colon]), String(value.trimmingPrefix(while: \.isWhitespace))))
        }
    }
}
