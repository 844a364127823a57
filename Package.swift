// swift-tools-version:6.0
// CloudTask: parallel batch jobs over SSH. See README.md and ../shared/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "CloudTask",
    products: [
        .executable(name: "cloudtask", targets: ["cloudtask"]),
        .executable(name: "ctsh", targets: ["ctsh"]),
        .executable(name: "cloudtask-destroy-workers", targets: ["cloudtask-destroy-workers"]),
        .executable(name: "cloudtask-logalyzer", targets: ["cloudtask-logalyzer"]),
        .executable(name: "cloudtask-launch-workers", targets: ["cloudtask-launch-workers"]),
        .executable(name: "cloudtask-put", targets: ["cloudtask-put"]),
        .executable(name: "cloudtask-get", targets: ["cloudtask-get"]),
    ],
    dependencies: [
        // SHA-256 and HMAC for SigV4 (Linux has no CryptoKit).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // MARK: - C libraries, one system-library target each
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // RSA-SHA-2 signatures for RSA keys, which libssh2 1.10 signs only with SHA-1 (OpenSSH 8.8+ refuses those).
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // MARK: - Engine: jobs, tasks, scheduler, sessions. Imports no C module.
        .target(name: "Engine"),
        // Reading a finished session back (the report, its text, the output files): Engine only, no HTTP, no Lua.
        .target(name: "SessionReading", dependencies: ["Engine"]),

        // MARK: - Adapters: the only modules that import a C library
        .target(name: "SSH", dependencies: ["CLibSSH2", "CCrypto", "Engine"]),
        .target(name: "LuaVM", dependencies: ["CLua"]),
        .target(name: "LineEditor", dependencies: ["CEditLine"]),
        .target(name: "HTTP", dependencies: ["CCurl"]),
        .target(name: "LuaLibraries", dependencies: ["Engine", "LuaVM", "HTTP"]),
        .target(name: "Providers", dependencies: ["Engine", "HTTP", "LuaVM", "LuaLibraries",
                                          .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Reports", dependencies: ["Engine", "SessionReading", "HTTP", "LuaVM"]),

        // MARK: - Rendering a run on a terminal (the engine draws nothing)
        .target(name: "Terminal", dependencies: ["Engine"]),

        // MARK: - Bindings: the engine as Lua functions, and the REPL
        .target(name: "LuaShell", dependencies: ["Engine", "SSH", "LuaVM", "LuaLibraries", "LineEditor", "Providers", "Terminal"]),

        // MARK: - Front ends
        .executableTarget(name: "cloudtask", dependencies: ["Engine", "SSH", "Providers", "Reports", "Terminal"]),
        .executableTarget(name: "cloudtask-destroy-workers", dependencies: ["Engine", "Providers"]),
        .executableTarget(name: "cloudtask-logalyzer", dependencies: ["Engine", "SessionReading"]),
        .executableTarget(name: "cloudtask-launch-workers", dependencies: ["Engine", "Providers"]),
        .executableTarget(name: "ctsh", dependencies: ["LuaShell"]),
        // cloudtask-put and cloudtask-get: one shared front end, each main one line.
        .target(name: "FleetCopyCommand", dependencies: ["Engine", "SSH", "Providers", "Terminal"]),
        .executableTarget(name: "cloudtask-put", dependencies: ["FleetCopyCommand"]),
        .executableTarget(name: "cloudtask-get", dependencies: ["FleetCopyCommand"]),
        // One Transport.copy from the command line, for scripts/bench-transfer and tests, until cloudtask-put/-get.
        .executableTarget(name: "cloudtask-copy-debug", dependencies: ["Engine", "SSH"]),
        // Writes the man pages from the command tables and README.md (scripts/man); a build tool, not installed.
        .executableTarget(name: "cloudtask-man", dependencies: ["Engine"]),

        // MARK: - Tests
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "SessionReadingTests", dependencies: ["SessionReading", "Engine"]),
        .testTarget(name: "AdapterTests", dependencies: ["SSH", "LuaVM", "LineEditor", "HTTP", "Engine"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Engine", "SSH", "LuaShell"]),  // LuaShell: HelpTests checks the README against its help
        .testTarget(name: "ProviderTests", dependencies: ["Providers", "Engine", "HTTP"]),
    ],
    swiftLanguageModes: [.v6]
)
