// The command tables (Commands.swift): the one parser's rules for cloudtask and each companion, their --help,
// and the completion scripts generated from them (Completion.swift; run by IntegrationTests/CompletionTests).
import XCTest
@testable import Engine

final class CommandTests: XCTestCase {
    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    // MARK: - cloudtask (Options.parse keeps its rules)

    func testCloudtaskOptionsEndAtTheFirstWordAndAtDoubleDash() throws {
        let (config, flags) = try Options.parse(["--split", "2", "--tag", "-h", "sh", "-c", "--split=3"], environment: [:])
        XCTAssertEqual(config.split, 2)
        XCTAssertTrue(config.tag)
        XCTAssertTrue(flags.help)
        XCTAssertEqual(config.command, ["sh", "-c", "--split=3"])
        XCTAssertEqual(try Options.parse(["--", "--tag"], environment: [:]).0.command, ["--tag"])
        XCTAssertEqual(try Options.parse(["-x", "--tag"], environment: [:]).0.command, ["-x", "--tag"], "a dashed word starts the command")
        XCTAssertEqual(message { try Options.parse(["--frobnicate"], environment: [:]) }, "unknown option --frobnicate (see --help)")
        XCTAssertEqual(message { try Options.parse(["--tag=1"], environment: [:]) }, "option --tag takes no value")
        XCTAssertEqual(message { try Options.parse(["--split"], environment: [:]) }, "option --split needs a value (N)")
        XCTAssertEqual(try Options.parse(["--report=sh: a", "--report", "sh: b"], environment: [:]).0.reports, ["sh: a", "sh: b"])
    }

    func testCompletionFlagIsParsedAndValidated() throws {
        XCTAssertEqual(try Options.parse(["--generate-completion-script", "zsh"], environment: [:]).1.completionScript, "zsh")
        XCTAssertEqual(message { try Options.parse(["--generate-completion-script=tcsh"], environment: [:]) },
                       "--generate-completion-script=tcsh: expected one of bash, zsh, fish")
        for command in Command.all {
            let parsed = try command.parse(["--generate-completion-script=fish"])
            XCTAssertEqual(command.answer(parsed), Completion.script(for: command, shell: .fish), command.name)
            XCTAssertEqual(command.answer(try command.parse(["-h"])), command.help, command.name)
            XCTAssertNil(command.answer(try command.parse([])), command.name)
        }
    }

    // MARK: - The companions' tables

    func testLogalyzerTakesRepeatedPricesAnywhereAndNothingElse() throws {
        let parsed = try Command.logalyzer.parse(["--price", "t3.micro=0.5", "7", "--price=c7g.large=1", "out"])
        XCTAssertEqual(parsed.values("price"), ["t3.micro=0.5", "c7g.large=1"])
        XCTAssertEqual(parsed.positionals, ["7", "out"])
        XCTAssertEqual(try Command.logalyzer.parse(["--", "--price"]).positionals, ["--price"])
        XCTAssertEqual(try Command.logalyzer.parse(["-"]).positionals, ["-"])
        XCTAssertEqual(message { try Command.logalyzer.parse(["--price=x"]) }, "--price=x: expected TYPE=USD_PER_HOUR, e.g. --price=t3.micro=0.0104")
        XCTAssertEqual(message { try Command.logalyzer.parse(["--price"]) }, "option --price needs a value (TYPE=USD_PER_HOUR)")
        XCTAssertEqual(message { try Command.logalyzer.parse(["--html"]) }, "option --html needs a value (FILE)")
        XCTAssertEqual(try Command.logalyzer.parse(["--html=/tmp/s.html", "7"]).value("html"), "/tmp/s.html")
        XCTAssertEqual(message { try Command.logalyzer.parse(["--svg=x"]) }, "unknown option --svg (see --help)")
        XCTAssertEqual(message { try Command.logalyzer.parse(["1", "-x"]) }, "unknown option -x (see --help)")
    }

    func testDestroyWorkersTakesASessionIdOrAFile() throws {
        let parsed = try Command.destroyWorkers.parse(["--session=3", "--sessions", "/s"])
        XCTAssertEqual(parsed.value("session"), "3")
        XCTAssertEqual(parsed.value("sessions"), "/s")
        XCTAssertEqual(try Command.destroyWorkers.parse(["pool.txt", "--sessions=/s"]).positionals, ["pool.txt"])
        XCTAssertEqual(message { try Command.destroyWorkers.parse(["--session=x"]) }, "--session=x: expected a session id")
        XCTAssertEqual(message { try Command.destroyWorkers.parse(["--session"]) }, "option --session needs a value (ID)")
        XCTAssertEqual(message { try Command.destroyWorkers.parse(["--split=2"]) }, "unknown option --split (see --help)")
    }

    func testLaunchWorkersTakesProviderOptionsOnly() throws {
        let (config, _) = try Options.parse(["--provider=ec2", "--image", "ami-1", "--sessions=/s", "2", "-"],
                                            environment: ["CLOUDTASK_EC2_ENDPOINT": "http://127.0.0.1:5000", "CLOUDTASK_SPLIT": "x"],
                                            command: .launchWorkers)
        XCTAssertEqual(config.provider, "ec2")
        XCTAssertEqual(config.image, "ami-1")
        XCTAssertEqual(config.ec2Endpoint, "http://127.0.0.1:5000", "provider options come from the environment too")
        XCTAssertEqual(config.sessions, "/s")
        XCTAssertEqual(config.command, ["2", "-"])
        XCTAssertEqual(message { try Options.parse(["--split=2", "2", "-"], environment: [:], command: .launchWorkers) },
                       "unknown option --split (see --help)")
    }

    func testHelpListsEveryOptionAndArgumentOfItsTable() {
        for command in Command.all {
            let help = command.help
            XCTAssertTrue(help.hasPrefix("usage: \(command.name) ") || help.hasPrefix("usage: cat jobs | \(command.name) "), help)
            for spec in command.options { XCTAssertTrue(help.contains(spec.flag), "\(command.name): \(spec.flag)") }
            for positional in command.positionals where !positional.help.isEmpty {
                XCTAssertTrue(help.contains("  " + positional.name + " "), "\(command.name): \(positional.name)")
            }
        }
        XCTAssertTrue(Command.logalyzer.help.contains("--price=TYPE=USD_PER_HOUR"))
        XCTAssertTrue(Command.logalyzer.help.contains("--html=FILE"))
        XCTAssertEqual(Options.help(program: "checksum"), Command.cloudtask(named: "checksum").help)
        XCTAssertTrue(Options.help(program: "cloudtask").contains("usage: cat jobs | cloudtask [OPTIONS] [COMMAND [ARGS...]]\n       cloudtask [OPTIONS] --resume=ID"))
    }

    // MARK: - The generator

    func testValueHintsFollowTheKinds() {
        func hint(_ name: String, in command: Command = .cloudtask) -> ValueHint { command.options.first { $0.name == name }!.completion }
        XCTAssertEqual(hint("host-key-policy").words, ["accept-new", "strict", "off"])
        XCTAssertEqual(hint("provider"), ValueHint(words: ["local", "ec2"], fileSuffix: ".lua"))
        XCTAssertEqual(hint("workers"), ValueHint(files: true, hosts: true))
        for name in ["resume", "retry", "status"] { XCTAssertEqual(hint(name), .sessions, name) }
        XCTAssertEqual(hint("session", in: .destroyWorkers), .sessions)
        XCTAssertEqual(hint("overlay"), .directories)
        XCTAssertEqual(hint("sessions"), .directories)
        XCTAssertEqual(hint("ssh-identity"), .files)
        XCTAssertEqual(hint("split"), .none)
        XCTAssertEqual(hint("generate-completion-script").words, ["bash", "zsh", "fish"])
    }

    func testEveryScriptNamesEveryOptionWithItsValues() {
        for command in Command.all {
            let bash = Completion.script(for: command, shell: .bash)
            let zsh = Completion.script(for: command, shell: .zsh)
            let fish = Completion.script(for: command, shell: .fish)
            XCTAssertTrue(bash.contains("complete -F _\(Completion.identifier(command.name)) \(command.name)\n"), command.name)
            XCTAssertTrue(zsh.hasPrefix("#compdef \(command.name)\n"), command.name)
            for spec in command.options {
                XCTAssertTrue(bash.contains(spec.flag), "\(command.name) bash: \(spec.flag)")
                XCTAssertTrue(zsh.contains("'" + spec.flag) || zsh.contains("'*" + spec.flag), "\(command.name) zsh: \(spec.flag)")
                XCTAssertTrue(fish.contains("complete -c \(command.name) " + (spec.name.count == 1 ? "-s " : "-l ") + spec.name + " "),
                              "\(command.name) fish: \(spec.flag)")
            }
        }
        let zsh = Completion.script(for: .cloudtask, shell: .zsh)
        XCTAssertTrue(zsh.contains("'--host-key-policy=[accept-new]:POLICY:(accept-new strict off)'") ||
                      zsh.contains("--host-key-policy=[") && zsh.contains(":POLICY:(accept-new strict off)'"), zsh)
        XCTAssertTrue(zsh.contains(":NAME:{compadd -- local ec2; _files -g \"*.lua\"}'"), zsh)
        XCTAssertTrue(zsh.contains("'*--report=["), "a repeatable option is offered again")
        XCTAssertTrue(zsh.contains("'1:COMMAND:_command_names -e'") && zsh.contains("'*::ARGS:_normal'"), zsh)
        let fish = Completion.script(for: .cloudtask, shell: .fish)
        XCTAssertTrue(fish.contains("complete -c cloudtask -l host-key-policy -x -a 'accept-new strict off'"), fish)
        XCTAssertTrue(fish.contains("complete -c cloudtask -l resume -x -a '(__cloudtask_sessions)'"), fish)
        XCTAssertTrue(Completion.script(for: .logalyzer, shell: .bash).contains("--price) : ;;"), "no values to offer for a price")
    }

    func testHelpTextWithBracketsAndQuotesIsEscaped() {
        XCTAssertEqual(Completion.zshEscaped("a [b]: c\\"), "a \\[b\\]\\: c\\\\")
        XCTAssertEqual(Completion.fishQuoted("it's \\"), "'it\\'s \\\\'")
        XCTAssertEqual(Completion.singleQuoted("it's"), "'it'\\''s'")
        XCTAssertEqual(Completion.identifier("cloudtask-destroy-workers"), "cloudtask_destroy_workers")
    }
}
