// Small parts the scheduler uses: its queue of job indices, a monotonic clock, and the authorized_keys edit.
import Foundation

/// A FIFO of job indices with cheap pops at the front and requeues at either end.
struct JobQueue {
    /// Job indices, 4 bytes each (a resumed session may queue millions).
    private var items: [Int32] = []
    private var head = 0
    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    mutating func reserve(_ count: Int) { items.reserveCapacity(count) }
    mutating func pushBack(_ index: Int) { items.append(Int32(index)) }
    mutating func pushFront(_ index: Int) {
        if head > 0 { head -= 1; items[head] = Int32(index) } else { items.insert(Int32(index), at: 0) }
    }
    mutating func popFront() -> Int? {
        guard !isEmpty else { return nil }
        defer { head += 1; if head > 4096 && head * 2 > items.count { items.removeFirst(head); head = 0 } }
        return Int(items[head])
    }
    func firstIndex(limit: Int, where match: (Int) -> Bool) -> Int? {
        var i = head
        while i < items.count && i < head + limit { if match(Int(items[i])) { return i }; i += 1 }
        return nil
    }
    mutating func remove(at position: Int) -> Int {
        if position == head { return popFront()! }
        return Int(items.remove(at: position))
    }
}

/// Seconds on a monotonic clock.
func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The shell edits of authorized_keys: atomic (temp file and rename), locked against concurrent runs,
/// touching only the lines tagged with this session.
enum AuthorizedKeys {
    static func edit(removing tag: String, adding key: String?) -> String {
        let q = { (s: String) in String(decoding: ShellQuote.quote(Array(s.utf8)), as: UTF8.self) }
        let add = key.map { " && printf '%s\\n' \(q($0))" } ?? ""
        // grep exits 1 when no line is left, 2 on an error: only an error must stop the rewrite, or a missing or
        // failing grep would leave authorized_keys holding our key alone.
        return """
        umask 077; \(MissingTool.check(["flock", "grep", "mv"])); d="$HOME/.ssh"; f="$d/authorized_keys"; \
        mkdir -p "$d" && touch "$f" && \
        ( flock 9 && { grep -v -F -e \(q(tag)) "$f"; [ $? -lt 2 ]\(add); } > "$f.cloudtask.$$" && \
        mv -f "$f.cloudtask.$$" "$f" ) 9>"$d/.cloudtask.lock"
        """
    }
}
