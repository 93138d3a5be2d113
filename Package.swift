// swift-tools-version: 6.0
import Foundation
import PackageDescription

/// `make fuzz` sets this: the input-side modules get libFuzzer's coverage instrumentation and
/// the `parkfuzz` executable is added (it links libFuzzer, so it exists only in that build).
let fuzzing = ProcessInfo.processInfo.environment["PARKTELEMETRY_FUZZ"] != nil
/// `make fuzz-asan` sets this too: AddressSanitizer on the same modules, so an out-of-bounds
/// read through an unsafe buffer stops the fuzzer instead of passing unseen.
let sanitizers = ProcessInfo.processInfo.environment["PARKTELEMETRY_FUZZ_ASAN"] != nil ? "fuzzer,address" : "fuzzer"
let instrumented: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=\(sanitizers)"])] : []

let package = Package(
    name: "ParkTelemetry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parkd", targets: ["parkd"]),
        .executable(name: "parkd-central", targets: ["parkd-central"]),
        .executable(name: "parksim", targets: ["parksim"]),
        .library(name: "MQTTClient", targets: ["MQTTClient"]),
        .library(name: "TelemetryCore", targets: ["TelemetryCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // HTTP endpoint (/metrics, /healthz, JSON API) and Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        // Already in the graph through Hummingbird; named for the in-process HTTP tests.
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        // Templates of the daily compliance report and the status page (HTML escaping included).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        // Sparkplug B payloads (the generated code is committed: no protoc in the build).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMosquitto",
            path: "Sources/CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // The gateway's history: SQLite from Debian (libsqlite3-dev), through its C API.
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // glibc's allocator settings (mallopt), which the Glibc module leaves out.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // The province's central sink: libpq from Debian (libpq-dev), through its C API.
        .systemLibrary(
            name: "CPostgres",
            path: "Sources/CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "MQTTClient",
            dependencies: ["CMosquitto", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "TelemetryCore", swiftSettings: instrumented),
        // Sparkplug B's payload (protobuf, code generated from Proto/ and committed) and topics.
        // Pure: no I/O.
        .target(
            name: "Sparkplug", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: instrumented),
        // The uplink's wire format: one Codable batch both sides compile, item kinds and ids,
        // the name rules. Pure: no I/O.
        .target(name: "UplinkWire", dependencies: ["TelemetryCore"], swiftSettings: instrumented),
        // The ingest pipeline, its stages and the domain records (parks, compliance records,
        // rollups, summaries). Pure: no clock, no file, no network; every time is handed in.
        .target(
            name: "ParkIngest",
            dependencies: [
                "TelemetryCore", "UplinkWire", "Sparkplug", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: instrumented
        ),
        // YAML into typed, Equatable configuration, and back (the printer). Reads files only
        // where the YAML names them (rule packs, tariffs).
        .target(
            name: "ParkConfig",
            dependencies: [
                "ParkIngest", "TelemetryCore", "UplinkWire", "MQTTClient", "Sparkplug",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: instrumented
        ),
        // What parkd and parkd-central share to run: a blocking loop as a service, the HTTP
        // headers, the allocator's setting.
        .target(
            name: "ServiceSupport",
            dependencies: [
                "CMalloc",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The gateway: MQTT ingest, summaries, history (SQLite), the uplink sender, the HTTP
        // endpoint, replay and the daily report. No libpq.
        .target(
            name: "ParkGateway",
            dependencies: [
                "ParkIngest", "ParkConfig", "UplinkWire", "MQTTClient", "TelemetryCore", "CSQLite", "ServiceSupport",
                "Sparkplug",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                // Already built for Hummingbird: the endpoint's own event-loop threads.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        // The province's central worker (`parkd-central`): uplink batches into PostgreSQL.
        .target(
            name: "ParkCentral",
            dependencies: [
                "UplinkWire", "ParkConfig", "MQTTClient", "TelemetryCore", "CPostgres", "ServiceSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "parkd",
            dependencies: [
                "ParkGateway", "ParkConfig", "ParkIngest", "MQTTClient", "TelemetryCore", "ServiceSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "parkd-central",
            dependencies: [
                "ParkCentral", "ParkConfig", "ServiceSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ParkSimulation",
            dependencies: ["TelemetryCore", "Sparkplug", .product(name: "Yams", package: "Yams")],
            path: "Simulators/ParkSimulation"
        ),
        .executableTarget(
            name: "parksim",
            dependencies: [
                "ParkSimulation", "MQTTClient", "TelemetryCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Simulators/parksim"
        ),
        // Starts real mosquitto brokers on loopback for tests and benchmarks.
        .target(name: "BrokerHarness", path: "Tests/Support/BrokerHarness"),
        // The fuzz targets, shared by `make fuzz` and the regression test in `make test`.
        .target(
            name: "FuzzHarness",
            dependencies: [
                "TelemetryCore", "ParkIngest", "ParkConfig", "UplinkWire", "Sparkplug",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Support/FuzzHarness", swiftSettings: instrumented),
        .executableTarget(
            name: "parkbench",
            dependencies: [
                "BrokerHarness", "MQTTClient", "ParkSimulation", "TelemetryCore", "ParkIngest", "ParkConfig",
                "Sparkplug",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/parkbench"
        ),
        .testTarget(name: "MQTTClientTests", dependencies: ["MQTTClient", "BrokerHarness"]),
        .testTarget(name: "TelemetryCoreTests", dependencies: ["TelemetryCore"]),
        .testTarget(
            name: "ParkDaemonTests",
            dependencies: [
                "ParkIngest", "ParkConfig", "ParkGateway", "ParkCentral", "UplinkWire", "BrokerHarness", "FuzzHarness",
                "Sparkplug",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            exclude: ["Fixtures"]),
        .testTarget(name: "ParkSimulationTests", dependencies: ["ParkSimulation", "TelemetryCore"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "BrokerHarness", "MQTTClient", "ParkSimulation", "TelemetryCore", "ParkIngest", "ParkConfig",
                "ParkGateway",
                "ParkCentral",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

if fuzzing {
    package.targets.append(
        .executableTarget(
            name: "parkfuzz", dependencies: ["FuzzHarness"], path: "Fuzz/parkfuzz",
            linkerSettings: [.unsafeFlags(["-sanitize=\(sanitizers)", "-use-ld=lld"])]))
}
