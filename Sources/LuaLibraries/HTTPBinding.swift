// The `http` library every Lua state of ours gets (ctsh, Lua providers): `http.request` over libcurl.
import Foundation
import HTTP
import LuaVM

/// `http.request{url = ..., method = "GET", headers = {...}, body = "...", timeout = 30}` -> {status, headers, body}.
public enum HTTPBinding {
    /// Defines the global `http` in `lua`.
    public static func register(_ lua: LuaState) {
        lua.register("__ct_http") { call in
            guard case .table(let options) = try call.value(1), let url = options[.string("url")]?.text else {
                throw LuaArgumentError("bad argument #1 to 'request' (table with url expected)")
            }
            var headers: [(String, String)] = []
            if case .table(let entries)? = options[.string("headers")] {
                for (key, value) in entries { if let k = key.text, let v = value.text { headers.append((k, v)) } }
            }
            let body = options[.string("body")]?.text.map { Array($0.utf8) }
            let timeout: Double = options[.string("timeout")].flatMap {
                if case .number(let d) = $0 { return d }
                return $0.integer.map(Double.init)
            } ?? 30
            let client = try HTTPClient()
            let method = options[.string("method")]?.text ?? (body == nil ? "GET" : "POST")
            let response = try client.request(method: method, url: url,
                                              headers: headers, body: body, timeout: timeout)
            var responseHeaders: [LuaValue: LuaValue] = [:]
            for (name, value) in response.headers { responseHeaders[.string(name.lowercased())] = .string(value) }
            return [.table([.string("status"): .integer(Int(response.status)),
                            .string("body"): .string(String(decoding: response.body, as: UTF8.self)),
                            .string("headers"): .table(responseHeaders)])]
        }
        _ = try? lua.run("http = {request = __ct_http}; __ct_http = nil", name: "=http")
    }
}

/// A message raised as the Lua error of a library call, as it stands.
struct LuaArgumentError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
