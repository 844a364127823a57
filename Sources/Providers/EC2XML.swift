// Reading the EC2 query API's XML answers: FoundationXML's XMLParser builds a small tree of elements, and
// `EC2Provider.instances(in:)` reads the instances of a RunInstances or DescribeInstances answer from it.
import Foundation
import FoundationXML

// MARK: - The tree

/// An element of a parsed answer: its name (namespace prefix dropped), its child elements, and its own text
/// (entities decoded, CDATA included). Attributes are not kept: the answers we read carry nothing in them.
final class AnswerNode {
    let name: String
    fileprivate(set) var children: [AnswerNode] = []
    fileprivate(set) var text = ""
    init(_ name: String) { self.name = name }

    /// The first child element named `name`.
    func child(_ name: String) -> AnswerNode? { children.first { $0.name == name } }

    /// Every descendant named `name`, outermost first, not looking inside a match.
    func all(_ name: String) -> [AnswerNode] {
        children.flatMap { $0.name == name ? [$0] : $0.all(name) }
    }

    /// The first descendant named `name`, depth first.
    func first(_ name: String) -> AnswerNode? {
        for child in children {
            if child.name == name { return child }
            if let found = child.first(name) { return found }
        }
        return nil
    }

    /// The document's root element, or nil when `bytes` is not well-formed XML with one root.
    /// External entities are never loaded (XMLParser's default).
    static func parse(_ bytes: [UInt8]) -> AnswerNode? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldProcessNamespaces = true  // names arrive without their prefix
        parser.delegate = builder
        // Linux's XMLParser can return true after a fatal error (a mismatched tag, content after the root),
        // so its parserError decides too.
        guard parser.parse(), parser.parserError == nil, builder.open.count == 1,
              builder.document.children.count == 1 else { return nil }
        return builder.document.children[0]
    }
}

/// Builds the tree from XMLParser's events; `open` holds the elements not yet closed, the document first.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    let document = AnswerNode("#document")
    lazy var open = [document]

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        let element = AnswerNode(elementName)
        open.last!.children.append(element)
        open.append(element)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName: String?) {
        if open.count > 1 { open.removeLast() }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        open.last!.text += string
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        open.last!.text += String(decoding: CDATABlock, as: UTF8.self)
    }
}

// MARK: - Instances

extension EC2Provider {
    /// What the API says of one instance.
    struct InstanceInfo {
        var id: String
        var state: String
        var publicIP: String?
        var privateIP: String?
        var reason: String?
        var tags: [String: String]
        /// The public IP, else the private one.
        var address: String? { publicIP ?? privateIP }
    }

    /// The instances of a RunInstances or DescribeInstances answer.
    static func instances(in answer: AnswerNode) -> [InstanceInfo] {
        let items = answer.all("instancesSet").flatMap { $0.children.filter { $0.name == "item" } }
        return items.compactMap { item -> InstanceInfo? in
            guard let id = item.child("instanceId")?.text.nonEmpty else { return nil }
            var tags: [String: String] = [:]
            for tag in item.child("tagSet")?.children ?? [] {
                if let key = tag.child("key")?.text { tags[key] = tag.child("value")?.text ?? "" }
            }
            let reason = item.child("stateReason")?.child("message")?.text.nonEmpty
                ?? item.child("reason")?.text.nonEmpty
            return InstanceInfo(id: id, state: item.child("instanceState")?.child("name")?.text ?? "unknown",
                                publicIP: item.child("ipAddress")?.text.nonEmpty,
                                privateIP: item.child("privateIpAddress")?.text.nonEmpty, reason: reason, tags: tags)
        }
    }
}

extension String {
    /// The text trimmed of whitespace, or nil when nothing is left.
    var nonEmpty: String? {
        let trimmed = trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
