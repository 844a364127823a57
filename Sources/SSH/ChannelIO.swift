// Non-blocking reads, writes and exec requests on one libssh2 channel, shared by a command's own channel
// (Operation) and a slot's runner (AgentSlot).
import CLibSSH2
import Engine

enum ChannelIO {
    /// Reads stdout and stderr until both would block, each chunk to `take`. nil then, else the libssh2 error
    /// of the read that failed.
    static func read(_ channel: OpaquePointer, _ buffer: inout [CChar],
                     _ take: (Engine.OutputStream, [UInt8]) -> Void) -> Int32? {
        while true {
            var progressed = false
            for (stream, id) in [(Engine.OutputStream.stdout, Int32(0)), (.stderr, Int32(SSH_EXTENDED_DATA_STDERR))] {
                let n = buffer.withUnsafeMutableBufferPointer { ct_channel_read(channel, id, $0.baseAddress, $0.count) }
                if n > 0 {
                    take(stream, buffer.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0).prefix(n)) })
                    progressed = true
                } else if n < 0 && n != Int(LIBSSH2_ERROR_EAGAIN) {
                    return Int32(n)
                }
            }
            if !progressed { return nil }
        }
    }

    /// Writes what it can of `bytes` from `offset`: the count written, or a libssh2 error (EAGAIN included).
    static func write(_ channel: OpaquePointer, _ bytes: [UInt8], from offset: Int = 0) -> Int {
        bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { ct_channel_write(channel, $0.baseAddress! + offset, $0.count - offset) }
        }
    }

    /// Sends the exec request `request`: 0, or a libssh2 error (EAGAIN included).
    static func exec(_ channel: OpaquePointer, _ request: [UInt8]) -> Int32 {
        request.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { ct_channel_exec(channel, $0.baseAddress, UInt32($0.count)) }
        }
    }
}
