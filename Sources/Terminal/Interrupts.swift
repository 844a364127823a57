// Ctrl-C and SIGTERM for the front ends that run the engine on their main thread (cloudtask, cloudtask-put/-get):
// the handler only counts the signal for the engine's loop and wakes the transport's wait; the loop decides.
import Engine
import Foundation

nonisolated(unsafe) private var wakeDescriptor: Int32 = -1

public enum Interrupts {
    /// Installs the handlers for SIGINT and SIGTERM (each adds one to `Runner.interrupts` and writes a byte to
    /// `wake`, a transport's `wakeDescriptor`) and ignores SIGPIPE, so a closed pipe is a write error, not death.
    public static func install(wake: Int32) {
        wakeDescriptor = wake
        signal(SIGPIPE, SIG_IGN)
        let onSignal: @convention(c) (Int32) -> Void = { _ in
            Runner.interrupts += 1
            var byte: UInt8 = 1
            _ = write(wakeDescriptor, &byte, 1)
        }
        signal(SIGINT, onSignal)
        signal(SIGTERM, onSignal)
    }
}
