// The man pages (ManPage.swift): every command has one, each renders through man-db and groff without a warning,
// and the README they are made from agrees with the command tables (its option table, the options its FAQ names).
import Foundation
import XCTest
@testable import Engine

final class ManPageTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var readme: String { (try? String(contentsOfFile: root + "/README.md", encoding: .utf8)) ?? "" }

    func testEveryCommandHasAPage() {
        XCTAssertEqual(Set(ManPage.pages.compactMap { $0.command?.name }), Set(Command.all.map(\.name)))
        XCTAssertEqual(ManPage.pages.filter { $0.section == 7 }.map(\.name), ["cloudtask-faq"])
    }

    /// `man --warnings` turns on groff's warnings; any on stderr fails, as does a page that renders empty.
    func testEveryPageRendersWithoutWarnings() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/man") else {
            return XCTFail("man is missing: scripts/deps installs man-db and groff-base")
        }
        let folder = NSTemporaryDirectory() + "manpages-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for page in ManPage.pages {
            let path = folder + "/" + page.fileName
            try ManPage.render(page, readme: Self.readme, date: "2026-11-29").write(toFile: path, atomically: true, encoding: .utf8)
            let r = try Subprocess.run(["man", "--warnings", "-l", "-Tutf8", path], environment: ["PATH": "/usr/bin:/bin", "MANWIDTH": "80"],
                                       output: .capture, error: .capture, timeout: 60)
            XCTAssertEqual(r.status, 0, page.name)
            XCTAssertEqual(r.errorText, "", page.name)
            // groff's bold is a character, a backspace and the character again (what col -b undoes)
            let shown = r.outputText.replacingOccurrences(of: ".\u{8}", with: "", options: .regularExpression)
            XCTAssertTrue(shown.contains("NAME\n       \(page.name) - "), "\(page.name): \(shown.prefix(300))")
            XCTAssertTrue(shown.contains(page.section == 7 ? "\nJOBS\n" : "\nOPTIONS\n"), page.name)
            XCTAssertGreaterThan(shown.split(separator: "\n").count, 30, "\(page.name) renders almost nothing")
        }
    }

    /// The README's option table is cloudtask(1)'s OPTIONS: it must name each option of the table exactly once.
    func testReadmeOptionTableListsEveryCloudtaskOption() throws {
        let section = try XCTUnwrap(Markdown.section(Self.readme, heading: "cloudtask(1)"))
        let options = try XCTUnwrap(section.children.first { $0.title == "Options" })
        var listed: [String] = []
        for line in options.body where line.hasPrefix("| `-") {
            let first = Markdown.cells(line)[0]
            listed += Self.flags(in: first)
        }
        // -h is the parser's own alias of --help
        let specs = Options.specs.flatMap { spec in [spec.flag] + (spec.short.map { ["-\($0)"] } ?? []) + (spec.name == "help" ? ["-h"] : []) }
        XCTAssertEqual(listed.sorted(), specs.sorted(), "README's option table and Options.specs differ")
    }

    /// Every `--option` the FAQ names is an option of some command, so that the answers cannot name a gone one.
    func testOptionsInTheFAQExist() throws {
        let section = try XCTUnwrap(Markdown.section(Self.readme, heading: "Questions and answers"))
        let text = (section.body + section.children.flatMap { $0.body + $0.grandchildren }).joined(separator: "\n")
        let known = Set(Command.all.flatMap { $0.options.map(\.flag) })
        let named = Self.flags(in: text).filter { $0.hasPrefix("--") }
        XCTAssertFalse(named.isEmpty)
        for flag in named { XCTAssertTrue(known.contains(flag), "the FAQ names \(flag), which no command has") }
    }

    static func flags(in text: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: "(?<![\\w-])--?[A-Za-z0-9][A-Za-z0-9-]*")
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
            .filter { $0 != "-" }
    }

    // MARK: - roff

    func testTextIsEscapedSoNothingReadsAsARequest() {
        XCTAssertEqual(Roff.escape(#"a\b --x — ×"#), #"a\eb \-\-x \(em \(mu"#)
        XCTAssertEqual(Roff.escape("é"), #"\[u00E9]"#)
        var out = Roff()
        out.text(".hidden")
        out.text("'quoted")
        out.text("plain")
        XCTAssertEqual(out.text, "\\&.hidden\n\\&'quoted\nplain\n")
        out = Roff()
        out.macro("SH", "EXIT STATUS")
        out.macro("RS", "4")
        out.macro("TH", "X", "say \"hi\"")
        XCTAssertEqual(out.text, ".SH \"EXIT STATUS\"\n.RS 4\n.TH X \"say \\(dqhi\\(dq\"\n")
    }

    func testInlineMarksBecomeFonts() {
        XCTAssertEqual(Roff.inline("run `cloudtask --split=2` **now**, *then* [see](x) \\*"),
                       #"run \fBcloudtask \-\-split=2\fR \fBnow\fR, \fIthen\fR see *"#)
        XCTAssertEqual(Roff.inline("a * b and `x` `` `y` ``"), #"a * b and \fBx\fR \fB`y`\fR"#)
    }

    func testBlocksBecomeMacros() {
        let markdown = """
        Text with
        two lines.

        ```
        .startswithdot \\ back
        ```

        | option | meaning |
        |---|---|
        | `--a\\|b` | one |

        - item
          continued
          - nested
        - back
        """
        var out = Roff()
        Markdown.roff(markdown.components(separatedBy: "\n"), into: &out)
        XCTAssertEqual(out.text, """
        .PP
        Text with two lines.
        .PP
        .RS 4
        .nf
        \\&.startswithdot \\e back
        .fi
        .RE
        .TP
        \\fB\\-\\-a|b\\fR
        one
        .IP \\(bu 2
        item continued
        .RS 2
        .IP \\(bu 2
        nested
        .RE
        .IP \\(bu 2
        back

        """)
    }

    func testAMissingReadmeSectionIsNamed() {
        XCTAssertThrowsError(try ManPage.render(ManPage.pages[0], readme: "# nothing\n", date: "2026-11-29")) { error in
            XCTAssertEqual("\(error)", "README has no section headed 'cloudtask(1)' (ManPage.pages names it)")
        }
    }
}
