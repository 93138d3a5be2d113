import Foundation
import ServiceLifecycle

/// A blocking loop as a service: `body` runs on a thread of its own (it waits on I/O or a
/// semaphore, which must not hold a cooperative thread), and a graceful shutdown of the group
/// calls `stop`, which makes `body` return. For parkd's summary loop and parkd-central's
/// worker alike.
public struct ThreadService: Service {
    public let name: String
    private let body: @Sendable () throws -> Void
    private let stop: @Sendable () -> Void

    public init(name: String, body: @escaping @Sendable () throws -> Void, stop: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        self.stop = stop
    }

    public func run() async throws {
        let (name, body) = (name, body)
        // Cancellation (another service failed, or the graceful stop ran out of time) stops
        // the loop too, or the group would wait for it forever.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await onThread(name, body)
        } onCancelOrGracefulShutdown: { [stop] in
            stop()
        }
    }
}

/// Runs `work` on a thread of its own and waits for it without holding one of the few
/// cooperative threads (a blocking loop, stopping a connection, flushing a writer): the one
/// bridge from a thread to async code.
public func onThread(_ name: String, _ work: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
        let thread = Thread {
            do {
                try work()
                done.resume()
            } catch {
                done.resume(throwing: error)
            }
        }
        thread.name = name
        thread.start()
    }
}

/// A service with nothing to run, only something to do when the group stops it (flush a
/// writer, stop a sender thread), at its place in the group's order.
public struct ShutdownStep: Service {
    private let start: @Sendable () -> Void
    private let stop: @Sendable () -> Void

    public init(start: @escaping @Sendable () -> Void = {}, stop: @escaping @Sendable () -> Void) {
        self.start = start
        self.stop = stop
    }

    public func run() async throws {
        start()
        // Returns when the group shuts down (or is cancelled); `stop` runs in either case.
        try? await gracefulShutdown()
        try? await onThread("parkd-shutdown", stop)
    }
}
