// The session's `instances` ledger: JSON lines, fsynced, one per event of a launched instance (`launch` before
// the call that creates it, `up`, `destroyed` after it succeeds). Written and read here only.
import Foundation

/// One line of the ledger: an event and the instance as known then.
public struct LedgerRecord: Sendable {
    public enum Event: String, Sendable { case launch, up, destroyed }
    /// nil: an event this version does not know (the line still names its instance).
    public var event: Event?
    public var id: String
    /// Missing in hand-made or damaged lines; a full record names all four.
    public var provider: String?
    public var host: String?
    public var port: Int?
    public var user: String?
    public var at: Double?

    public init(_ event: Event, _ instance: Instance, at: Double) {
        self.event = event
        id = instance.id; provider = instance.provider; host = instance.host; port = instance.port; user = instance.user
        self.at = at
    }

    /// The instance, when the line names all of it.
    public var instance: Instance? {
        guard let provider, let host, let port, let user else { return nil }
        return Instance(id: id, provider: provider, host: host, port: port, user: user)
    }

    /// The line, as every version wrote it: keys sorted, Foundation's number and string forms.
    func encoded() throws -> [UInt8] {
        var fields: [String: Any] = ["event": event?.rawValue ?? "", "id": id]
        if let provider { fields["provider"] = provider }
        if let host { fields["host"] = host }
        if let port { fields["port"] = port }
        if let user { fields["user"] = user }
        if let at { fields["at"] = at }
        return Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) + [10]
    }

    /// Reads one line; nil when it is not a JSON object with an `event` and an `id` string.
    init?<Line: Collection>(line: Line) where Line.Element == UInt8 {
        guard let object = JSONLine(line), let event = object["event"]?.string, let id = object["id"]?.string else {
            return nil
        }
        self.event = Event(rawValue: event)
        self.id = id
        provider = object["provider"]?.string
        host = object["host"]?.string
        port = object["port"]?.int
        user = object["user"]?.string
        at = object["at"]?.double
    }
}

/// The session's `instances` file.
public final class Ledger: Sendable {
    public let path: String
    public init(sessionPath: String) { path = sessionPath + "/instances" }

    /// Appends one record and fsyncs it; a failure is thrown (with the path) and leaves no torn line.
    public func record(_ event: LedgerRecord.Event, _ instance: Instance) throws {
        let file = try AppendFile(path)
        let before = try file.length()
        do {
            try file.write(try LedgerRecord(event, instance, at: Date().timeIntervalSince1970).encoded())
            try file.sync()
            try file.close()
        } catch {
            // A torn line would swallow the next one (a later `destroyed` or `launch`): cut it off.
            try? file.truncate(to: before)
            try? file.sync()
            throw error
        }
    }

    /// Every readable record in file order, and how many lines could not be read.
    public func records() -> (records: [LedgerRecord], unreadable: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], 0) }
        var records: [LedgerRecord] = []
        var unreadable = 0
        for line in data.split(separator: 10) {
            if let record = LedgerRecord(line: line) { records.append(record) } else { unreadable += 1 }
        }
        return (records, unreadable)
    }

    /// Instances launched and not recorded as destroyed, in launch order.
    public func live() -> [Instance] {
        var order: [String] = []
        var alive: [String: Instance] = [:]
        for record in records().records {
            guard let event = record.event, let instance = record.instance else { continue }
            switch event {
            case .launch, .up:
                if alive[instance.id] == nil { order.append(instance.id) }
                alive[instance.id] = instance
            case .destroyed: alive[instance.id] = nil
            }
        }
        return order.compactMap { alive[$0] }
    }
}
