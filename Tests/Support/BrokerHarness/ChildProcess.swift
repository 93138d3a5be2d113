import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process spawned with a clean signal mask and default signal handlers.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and Dispatch's worker
/// threads block SIGTERM and SIGINT: a broker or daemon started that way never sees them.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: CloseFrom.self)
    }

    private var exitStatus: Int32?
    private var usage = rusage()

    /// Output goes to `outputPath` (stdout and stderr together), or to /dev/null; input comes
    /// from `inputPath`, or /dev/null.
    public init(
        _ executable: String, _ arguments: [String], outputPath: String? = nil, inputPath: String? = nil,
        environment: [String: String]? = nil
    ) throws {
        self.executable = executable
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the test process (other tests' sockets and files) leaks into the child:
        // a child run under a descriptor limit must have all of it. (glibc 2.34+; Swift's Glibc
        // module does not declare it, so it is looked up.)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environ =
            (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { environ.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw HarnessError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    deinit {
        if isRunning {
            signal(SIGKILL)
            _ = wait()
        }
    }

    public func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus == nil { kill(pid, number) }
    }

    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus != nil { return false }
        return !reap(options: WNOHANG)
    }

    /// Waits for the child to end; its exit code (or 128 + signal).
    @discardableResult
    public func wait() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        while !reap(options: 0) {}
        return exitStatus!
    }

    /// Waits up to `timeout` seconds; nil if the child is still running.
    public func wait(timeout: Double) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if !isRunning { return wait() }
            usleep(10_000)
        }
        return isRunning ? nil : wait()
    }

    /// The ended child's peak resident memory, in MiB.
    public var peakResidentMiB: Double {
        lock.lock()
        defer { lock.unlock() }
        return Double(usage.ru_maxrss) / 1024
    }

    /// CPU time the ended child used, user plus system, in seconds.
    public var cpuSeconds: Double {
        lock.lock()
        defer { lock.unlock() }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Peak resident memory of the ended child, in bytes.
    public var maxResidentBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return usage.ru_maxrss * 1024
    }

    /// Must hold `lock`. True once the child is reaped.
    private func reap(options: Int32) -> Bool {
        var status: Int32 = 0
        let result = wait4(pid, &status, options, &usage)
        if result == pid {
            let low = status & 0x7f
            exitStatus = low == 0 ? (status >> 8) & 0xff : 128 + low
            return true
        }
        if result < 0 && errno != EINTR {
            exitStatus = -1
            return true
        }
        return false
    }
}

extension ChildProcess {
    /// Waits until the process accepts connections on loopback `port`: true; false as soon as
    /// it has exited; nil after `timeout` seconds of neither.
    public func waitUntilListening(on port: Int, timeout: Double = 10) -> Bool? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if !isRunning { return false }
            if FreePort.accepts(port) { return true }
            usleep(20_000)
        }
        return nil
    }
}
