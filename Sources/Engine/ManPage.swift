// The man pages: SYNOPSIS, ARGUMENTS and OPTIONS come from each command's table (Commands.swift), the prose from
// the README's section for the command, turned into roff here; so a page cannot drift from --help or the README.
import Foundation

public enum ManPage {
    /// One page: the command whose table gives its synopsis and options (none for the FAQ), the NAME line's
    /// purpose, and the README heading whose section is its prose.
    public struct Page: Sendable {
        public let name: String
        public let section: Int
        let command: Command?
        let purpose: String
        let source: String

        /// The file name the page is installed as: `cloudtask.1`.
        public var fileName: String { "\(name).\(section)" }
    }

    /// A README heading the pages need is missing.
    public struct MissingSection: Error, CustomStringConvertible {
        let heading: String
        public var description: String { "README has no section headed '\(heading)' (ManPage.pages names it)" }
    }

    public static let pages: [Page] = [
        Page(name: "cloudtask", section: 1, command: .cloudtask,
             purpose: "run a batch of shell-command jobs in parallel on SSH workers", source: "cloudtask(1)"),
        Page(name: "ctsh", section: 1, command: .ctsh,
             purpose: "the CloudTask Lua shell: workers, tasks and sessions as Lua values", source: "ctsh(1)"),
        Page(name: "cloudtask-logalyzer", section: 1, command: .logalyzer,
             purpose: "print the report of a cloudtask session", source: "cloudtask-logalyzer"),
        Page(name: "cloudtask-launch-workers", section: 1, command: .launchWorkers,
             purpose: "launch a pool of workers and write their addresses", source: "cloudtask-launch-workers"),
        Page(name: "cloudtask-destroy-workers", section: 1, command: .destroyWorkers,
             purpose: "destroy launched workers of a session or a workers file", source: "cloudtask-destroy-workers"),
        Page(name: "cloudtask-put", section: 1, command: .put,
             purpose: "copy a file or folder to every worker", source: "Copying files to and from the fleet"),
        Page(name: "cloudtask-get", section: 1, command: .get,
             purpose: "copy a file or folder from every worker", source: "Copying files to and from the fleet"),
        Page(name: "cloudtask-faq", section: 7, command: nil,
             purpose: "questions and answers about CloudTask", source: "Questions and answers"),
    ]

    /// The page as roff (man(7) macros). `date` goes in the header (YYYY-MM-DD).
    public static func render(_ page: Page, readme: String, date: String) throws -> String {
        guard let section = Markdown.section(readme, heading: page.source) else { throw MissingSection(heading: page.source) }
        var out = Roff()
        out.macro("TH", page.name.uppercased(), String(page.section), date, "CloudTask \(Command.version)", "CloudTask Manual")
        out.macro("nh")  // no hyphens inside option names, paths and variables
        out.macro("ad", "l")  // ragged right: long code words leave justified lines gappy (and groff warns)
        out.macro("SH", "NAME")
        out.text("\(page.name) \\- \(Roff.escape(page.purpose))")

        var description = section.body
        var options: [String]?
        var rest: [(String, [String])] = []
        for child in section.children {
            switch child.title {
            case "Synopsis": continue  // the table's synopsis, below
            case "Description": description += [""] + child.body + child.grandchildren
            case "Options": options = child.body + child.grandchildren
            default: rest.append((child.title, child.body + child.grandchildren))
            }
        }
        if let command = page.command {
            out.macro("SH", "SYNOPSIS")
            out.macro("nf")
            for line in command.synopsis { out.text(Roff.synopsis(line, program: command.name)) }
            out.macro("fi")
        }
        out.macro("SH", "DESCRIPTION")
        if description.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }), let command = page.command {
            out.paragraph(Roff.inline(command.summary.split(separator: "\n").joined(separator: " ")))
        } else {
            Markdown.roff(description, into: &out)
        }
        if let command = page.command {
            let described = command.positionals.filter { !$0.help.isEmpty }
            if !described.isEmpty {
                out.macro("SH", "ARGUMENTS")
                for positional in described {
                    out.macro("TP")
                    out.text("\\fI\(Roff.escape(positional.name))\\fR")
                    out.text(Roff.inline(positional.help))
                }
            }
            out.macro("SH", "OPTIONS")
            if let options {
                Markdown.roff(options, into: &out)
            } else {
                for spec in command.options {
                    out.macro("TP")
                    out.text(Roff.flags(spec))
                    out.text(Roff.inline(spec.help))
                }
            }
        }
        for (title, body) in rest {
            out.macro("SH", Markdown.plain(title).uppercased())
            Markdown.roff(body, into: &out)
        }
        if let command = page.command, !command.footer.isEmpty {
            let footer = command.footer.split(separator: "\n").joined(separator: " ")
            let parts = footer.components(separatedBy: "exit status: ")
            if !parts[0].trimmingCharacters(in: .whitespaces).isEmpty {
                out.macro("SH", "ENVIRONMENT")
                out.paragraph(Roff.inline(parts[0].trimmingCharacters(in: .whitespaces)))
            }
            if parts.count > 1 && !rest.contains(where: { $0.0 == "Exit status" }) {
                out.macro("SH", "EXIT STATUS")
                out.paragraph(Roff.inline(parts[1].trimmingCharacters(in: .whitespaces)))
            }
        }
        out.macro("SH", "SEE ALSO")
        let others = pages.filter { $0.name != page.name }.map { "\\fB\($0.name.replacingOccurrences(of: "-", with: "\\-"))\\fR(\($0.section))" }
        out.text((others + ["\\fBssh\\fR(1)", "\\fBssh_config\\fR(5)"]).joined(separator: ", "))
        return out.text
    }
}

// MARK: - roff

/// Text for man(7): lines that are macros or filled text, escaped so that nothing in the text reads as a request.
struct Roff {
    private(set) var text = ""

    mutating func macro(_ name: String, _ arguments: String...) {
        // a request (.ad, .RS's number) takes no quotes; a macro argument with spaces needs them
        text += "." + name + arguments.map { argument in
            let escaped = Roff.escape(argument).replacingOccurrences(of: "\"", with: "\\(dq")
            return " " + (argument.contains(" ") || argument.isEmpty ? "\"" + escaped + "\"" : escaped)
        }.joined() + "\n"
    }

    /// A request written as it is (`.IP \(bu 2`: its glyph must not be escaped).
    mutating func request(_ line: String) { text += line + "\n" }

    /// One line, already escaped; a leading `.` or `'` would start a request, so it is guarded.
    mutating func text(_ line: String) {
        text += (line.hasPrefix(".") || line.hasPrefix("'") ? "\\&" : "") + line + "\n"
    }

    mutating func paragraph(_ line: String) {
        macro("PP")
        text(line)
    }

    /// Escapes plain text: `\` as `\e`, `-` as `\-` (a minus, so options copy and paste), anything outside ASCII as
    /// a named or Unicode glyph (no preconv needed).
    static func escape(_ plain: String) -> String {
        var out = ""
        for scalar in plain.unicodeScalars {
            switch scalar {
            case "\\": out += "\\e"
            case "-": out += "\\-"
            case "\u{2014}": out += "\\(em"
            case "\u{2013}": out += "\\(en"
            case "\u{00D7}": out += "\\(mu"
            case "\u{00B1}": out += "\\(+-"
            case "\u{2192}": out += "\\(->"
            case "\u{2026}": out += "..."
            case "\t": out += " "
            case _ where scalar.value < 0x80: out.unicodeScalars.append(scalar)
            default: out += String(format: "\\[u%04X]", scalar.value)
            }
        }
        return out
    }

    /// Markdown's inline marks as fonts: `code` and **strong** bold, *emphasis* italic, [text](url) as its text;
    /// a backslash before punctuation is that punctuation.
    static func inline(_ markdown: String) -> String {
        let chars = Array(markdown)
        var out = ""
        var plain = ""
        var i = 0
        func flush() { out += escape(plain); plain = "" }
        func closing(_ mark: String, from start: Int) -> Int? {
            let m = Array(mark)
            var j = start
            while j + m.count <= chars.count {
                if Array(chars[j..<j + m.count]) == m { return j }
                j += 1
            }
            return nil
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count, chars[i + 1].isPunctuation || chars[i + 1].isSymbol {
                plain.append(chars[i + 1]); i += 2; continue
            }
            if c == "`" {
                var ticks = 0
                while i + ticks < chars.count && chars[i + ticks] == "`" { ticks += 1 }
                if let end = closing(String(repeating: "`", count: ticks), from: i + ticks) {
                    var code = String(chars[i + ticks..<end])
                    if ticks > 1 { code = code.trimmingCharacters(in: .whitespaces) }
                    // a long path or list may break after a `/` or `,` (no hyphen shown), not stick out of the line
                    let breakable = code.count > 30
                        ? escape(code).replacingOccurrences(of: "/", with: "/\\:").replacingOccurrences(of: ",", with: ",\\:")
                        : escape(code)
                    flush(); out += "\\fB" + breakable + "\\fR"
                    i = end + ticks; continue
                }
            }
            if c == "*", i + 1 < chars.count, chars[i + 1] == "*", let end = closing("**", from: i + 2), end > i + 2 {
                flush(); out += "\\fB" + inline(String(chars[i + 2..<end])) + "\\fR"
                i = end + 2; continue
            }
            if c == "*", i + 1 < chars.count, !chars[i + 1].isWhitespace, chars[i + 1] != "*",
               let end = closing("*", from: i + 1), !chars[end - 1].isWhitespace {
                flush(); out += "\\fI" + inline(String(chars[i + 1..<end])) + "\\fR"
                i = end + 1; continue
            }
            if c == "[", let close = closing("](", from: i + 1), let paren = closing(")", from: close + 2) {
                flush(); out += inline(String(chars[i + 1..<close]))
                i = paren + 1; continue
            }
            plain.append(c); i += 1
        }
        flush()
        return out
    }

    /// A synopsis line with the program's name in bold and the rest as typed.
    static func synopsis(_ line: String, program: String) -> String {
        guard let range = line.range(of: program + " ") ?? (line.hasSuffix(program) ? line.range(of: program) : nil) else {
            return escape(line)
        }
        return escape(String(line[..<range.lowerBound])) + "\\fB" + escape(program) + "\\fR "
            + escape(String(line[range.upperBound...]))
    }

    /// `\fB\-0\fR, \fB\-\-null\fR` or `\fB\-\-split\fR=\fIN\fR`.
    static func flags(_ spec: Options.Spec) -> String {
        let names = spec.flags.components(separatedBy: ", ").map { "\\fB" + escape($0) + "\\fR" }.joined(separator: ", ")
        if spec.value.isEmpty { return names }
        return names + (spec.name.count == 1 ? " " : "=") + "\\fI" + escape(spec.value) + "\\fR"
    }
}

// MARK: - The README's Markdown

/// The part of Markdown the README uses: headings, paragraphs, fenced code, lists, tables, inline marks.
enum Markdown {
    struct Section {
        let body: [String]
        let children: [Child]
    }
    struct Child {
        let title: String
        let body: [String]
        /// Deeper headings and their text, as lines (they become .SS).
        let grandchildren: [String]
    }

    /// The lines under `heading` (any level) up to the next heading of its level or above, split at its
    /// sub-headings; headings inside fenced code do not count.
    static func section(_ text: String, heading: String) -> Section? {
        let lines = text.components(separatedBy: "\n")
        var fenced = false
        var headings: [(index: Int, level: Int, title: String)] = []
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("```") { fenced.toggle(); continue }
            guard !fenced, line.hasPrefix("#") else { continue }
            let level = line.prefix { $0 == "#" }.count
            guard line.dropFirst(level).first == " " else { continue }
            headings.append((index, level, String(line.dropFirst(level + 1)).trimmingCharacters(in: .whitespaces)))
        }
        guard let at = headings.firstIndex(where: { $0.title == heading }) else { return nil }
        let level = headings[at].level
        let end = headings[(at + 1)...].first { $0.level <= level }?.index ?? lines.count
        let inside = headings[(at + 1)...].filter { $0.index < end }
        let firstChild = inside.first?.index ?? end
        let body = Array(lines[(headings[at].index + 1)..<firstChild])
        var children: [Child] = []
        let childHeadings = inside.filter { $0.level == level + 1 }
        for (k, child) in childHeadings.enumerated() {
            let childEnd = k + 1 < childHeadings.count ? childHeadings[k + 1].index : end
            let deeper = inside.filter { $0.index > child.index && $0.index < childEnd }
            let bodyEnd = deeper.first?.index ?? childEnd
            var grandchildren: [String] = []
            if let first = deeper.first {
                // kept as Markdown lines; `roff` turns headings deeper than the page's .SH into .SS
                grandchildren = Array(lines[first.index..<childEnd])
            }
            children.append(Child(title: child.title, body: Array(lines[(child.index + 1)..<bodyEnd]), grandchildren: grandchildren))
        }
        return Section(body: body, children: children)
    }

    /// Renders Markdown lines as roff: a heading as .SS, a paragraph as .PP, a fenced block as an indented .nf block,
    /// a table as .TP rows (first cell the tag; a header row is dropped), list items as .IP bullets.
    static func roff(_ lines: [String], into out: inout Roff) {
        var i = 0
        var depth = 0  // open .RS levels of a nested list
        func closeList() { while depth > 0 { out.macro("RE"); depth -= 1 } }
        func blank(_ line: String) -> Bool { line.trimmingCharacters(in: .whitespaces).isEmpty }
        func startsBlock(_ line: String) -> Bool {
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("```") || t.hasPrefix("|") || t.hasPrefix("#") || t.hasPrefix("- ") || numbered(t) != nil
        }
        while i < lines.count {
            let line = lines[i]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if blank(line) { i += 1; continue }
            if trimmed.hasPrefix("```") {
                closeList()
                i += 1
                out.macro("PP")
                out.macro("RS", "4")
                out.macro("nf")
                while i < lines.count && !lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                    out.text(Roff.escape(lines[i]))
                    i += 1
                }
                out.macro("fi")
                out.macro("RE")
                i += 1
                continue
            }
            if trimmed.hasPrefix("#") {
                closeList()
                let level = trimmed.prefix { $0 == "#" }.count
                out.macro("SS", Self.plain(String(trimmed.dropFirst(level)).trimmingCharacters(in: .whitespaces)))
                i += 1
                continue
            }
            if trimmed.hasPrefix("|") {
                closeList()
                var rows: [[String]] = []
                while i < lines.count && lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("|") {
                    rows.append(cells(lines[i]))
                    i += 1
                }
                if rows.count > 1 && rows[1].allSatisfy({ $0.allSatisfy { "-: ".contains($0) } }) { rows.removeFirst(2) }
                for row in rows {
                    out.macro("TP")
                    out.text(Roff.inline(row.first ?? ""))
                    out.text(Roff.inline(row.dropFirst().joined(separator: " ")))
                }
                continue
            }
            let indent = line.prefix { $0 == " " }.count
            if trimmed.hasPrefix("- ") || numbered(trimmed) != nil {
                let level = indent / 2
                while depth < level { out.macro("RS", "2"); depth += 1 }
                while depth > level { out.macro("RE"); depth -= 1 }
                var item = trimmed.hasPrefix("- ") ? String(trimmed.dropFirst(2)) : numbered(trimmed)!.rest
                i += 1
                while i < lines.count, !blank(lines[i]), !startsBlock(lines[i]),
                      lines[i].prefix(while: { $0 == " " }).count > indent {
                    item += " " + lines[i].trimmingCharacters(in: .whitespaces)
                    i += 1
                }
                if let number = numbered(trimmed)?.number { out.macro("IP", "\(number).", "4") } else { out.request(".IP \\(bu 2") }
                out.text(Roff.inline(item))
                continue
            }
            closeList()
            var paragraph = [trimmed]
            i += 1
            while i < lines.count, !blank(lines[i]), !startsBlock(lines[i]) {
                paragraph.append(lines[i].trimmingCharacters(in: .whitespaces))
                i += 1
            }
            out.paragraph(Roff.inline(paragraph.joined(separator: " ")))
        }
        closeList()
    }

    /// A heading's text without its marks (`code` and **bold**), escaped for a macro argument.
    static func plain(_ title: String) -> String {
        title.replacingOccurrences(of: "`", with: "").replacingOccurrences(of: "**", with: "")
    }

    private static func numbered(_ line: String) -> (number: Int, rest: String)? {
        let digits = line.prefix { $0.isNumber }
        guard !digits.isEmpty, line.dropFirst(digits.count).hasPrefix(". "), let number = Int(digits) else { return nil }
        return (number, String(line.dropFirst(digits.count + 2)))
    }

    /// A table row's cells: split at `|` except `\|`, which is a literal bar.
    static func cells(_ row: String) -> [String] {
        var cells: [String] = []
        var cell = ""
        var previous: Character = " "
        for c in row.trimmingCharacters(in: .whitespaces).dropFirst() {
            if c == "|" && previous != "\\" {
                cells.append(cell.trimmingCharacters(in: .whitespaces)); cell = ""
            } else if c == "|" {
                cell.removeLast(); cell.append(c)
            } else {
                cell.append(c)
            }
            previous = c
        }
        if !cell.trimmingCharacters(in: .whitespaces).isEmpty { cells.append(cell.trimmingCharacters(in: .whitespaces)) }
        return cells
    }
}
