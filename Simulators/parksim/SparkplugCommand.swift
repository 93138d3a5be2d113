import ArgumentParser
import Foundation
import MQTTClient
import ParkSimulation
import Synchronization
import TelemetryCore

/// `parksim sparkplug`: Sparkplug B edge nodes, each on its own MQTT connection with its
/// NDEATH as the will. Each births (NBIRTH, then a DBIRTH per device), sends rounds of DATA by
/// alias, births again when a host asks (NCMD `Node Control/Rebirth`), and at the end dies: the
/// connection is cut so the broker publishes the will (or, with `silent_death`, it leaves
/// cleanly and no NDEATH is ever published).
struct SparkplugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparkplug",
        abstract: "Publish Sparkplug B edge nodes' traffic: births, data by alias, rebirths on request, death.",
        discussion: """
            Every reading sent is written to --ground-truth (JSON Lines), with the faults
            injected: seq_gap (a DDATA lost at round --gap-round), data_before_birth,
            bdseq_mismatch (an NDEATH of an old session), silent_death (no will).
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Sparkplug group id.") var group = "plant-a"
    @Option(help: "Edge nodes (node-1, node-2, ...).") var nodes = 1
    @Option(help: "Devices per edge node (meter-1, ...).") var devices = 2
    @Option(help: "Rounds of DATA per node.") var rounds = 20
    @Option(help: "Time between rounds, e.g. 100ms.") var interval = "100ms"
    @Option(help: "After the last round, keep answering rebirth requests this long, e.g. 2s.") var linger = "0s"
    @Option(help: "Faults to inject: seq_gap, data_before_birth, bdseq_mismatch, silent_death.")
    var fault: [String] = []
    @Option(help: "The round whose DATA the seq_gap fault loses.") var gapRound = 5
    @Option(help: "Only the first edge node gets the faults.") var faultNodes = 1
    @Option(help: "bdSeq of this session (the will's).") var bdSeq: UInt64 = 0
    @Option(help: "Write every reading sent and every fault here (JSON Lines).") var groundTruth: String?

    func validate() throws {
        guard nodes >= 1, nodes <= 1000, devices >= 0, devices <= 1000, rounds >= 0 else {
            throw ValidationError("--nodes 1-1000, --devices 0-1000, --rounds at least 0")
        }
        for name in fault where SparkplugEdge.Fault(rawValue: name) == nil {
            throw ValidationError(
                "--fault: '\(name)' is not one of \(SparkplugEdge.Fault.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard TimeText.seconds(interval) != nil, TimeText.seconds(linger) != nil else {
            throw ValidationError("--interval and --linger take durations such as 100ms or 2s")
        }
    }

    func run() throws {
        bootstrapLogging()
        let faults = Set(fault.compactMap(SparkplugEdge.Fault.init(rawValue:)))
        var edges = (1...nodes).map { n in
            SparkplugEdge(
                group: group, node: "node-\(n)", devices: devices == 0 ? [] : (1...devices).map { "meter-\($0)" },
                faults: n <= faultNodes ? faults : [], gapRound: gapRound, bdSeq: bdSeq)
        }
        let truth = try groundTruth.map(openForWriting)
        let rebirth = RebirthRequests()
        let url = try BrokerURL(parsing: broker.url)
        let clients = try edges.enumerated().map { (k, edge) -> MQTTClient in
            var configuration = MQTTClientConfiguration(
                url: url, protocolVersion: broker.protocolVersion == "5" ? .v5 : .v311,
                clientID: "\(broker.clientID)-\(edge.node)", cleanSession: true,
                subscriptions: [.init(edge.commandTopic, qos: .atLeastOnce)], maxInflight: 100)
            configuration.username = broker.username
            if let passwordFile = broker.passwordFile { configuration.password = try Secret.fromFile(passwordFile) }
            if let caFile = broker.caFile { configuration.tls = .init(caFile: caFile) }
            configuration.will = .init(topic: edge.deathTopic, payload: edge.deathPayload, qos: .atLeastOnce)
            let flag = rebirth
            let client = try MQTTClient(
                configuration: configuration,
                onMessage: { message in
                    if SparkplugEdge.isRebirthRequest(message.payload) { flag.note(k) }
                })
            client.start()
            try client.waitUntilConnected(timeout: 15)
            return client
        }
        // The NCMD subscriptions are granted before the first birth, so no request is missed.
        Thread.sleep(forTimeInterval: 0.3)
        var progress = Progress()
        var last = Int64.min
        /// Strictly increasing times: two messages of a node never share a millisecond.
        func now() -> EventTime {
            last = max(last + 1, Int64(Date().timeIntervalSince1970 * 1000))
            return EventTime(milliseconds: last)
        }
        func send(_ k: Int, _ messages: [SparkplugEdge.Message]) {
            for message in messages {
                if !message.topic.isEmpty {
                    do {
                        try clients[k].publish(message.topic, payload: message.payload, qos: broker.qosLevel)
                        progress.sent += 1
                    } catch {
                        progress.errors += 1
                    }
                }
                writeLines(message.truth, to: truth)
            }
        }
        func answerRebirths() {
            for k in rebirth.take() {
                writeLines([#"{"type":"rebirth_request","group":"\#(group)","node":"\#(edges[k].node)"}"#], to: truth)
                send(k, edges[k].birth(at: now()))
            }
        }
        for k in edges.indices {
            send(k, edges[k].start(at: now()))
            send(k, edges[k].birth(at: now()))
        }
        let step = TimeText.seconds(interval)!
        for _ in 0..<rounds {
            Thread.sleep(forTimeInterval: step)
            answerRebirths()
            for k in edges.indices { send(k, edges[k].data(at: now())) }
        }
        let lingerUntil = Date(timeIntervalSinceNow: TimeText.seconds(linger)!)
        while Date() < lingerUntil {
            Thread.sleep(forTimeInterval: 0.05)
            answerRebirths()
        }
        for k in edges.indices {
            try clients[k].flush(timeout: 30)
            writeLines([edges[k].end(at: now())], to: truth)
            if edges[k].faults.contains(.silentDeath) {
                clients[k].stop()  // DISCONNECT: the broker drops the will
            } else {
                clients[k].abortConnection()  // no DISCONNECT: the broker publishes the will
                clients[k].stop(timeout: 1)
            }
        }
        try? truth?.synchronize()
        progress.report("sparkplug")
        if progress.errors > 0 { throw ExitCode(1) }
    }
}

/// Edge nodes a host asked to rebirth, noted on the MQTT thread and taken by the main loop.
final class RebirthRequests: Sendable {
    private let asked = Mutex<Set<Int>>([])
    func note(_ k: Int) { asked.withLock { _ = $0.insert(k) } }
    func take() -> [Int] {
        asked.withLock { asked in
            defer { asked.removeAll() }
            return asked.sorted()
        }
    }
}
