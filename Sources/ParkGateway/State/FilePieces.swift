#if canImport(Glibc)
    import Glibc
#endif

/// A state file read in pieces, from its start as often as asked: a 150 MiB window snapshot is
/// checked, then decoded, a few MiB at a time instead of held whole beside the series it
/// restores. Reads stop at the size the file had when it was opened, so a device at the path
/// (`/dev/zero`) ends at once instead of never. A read error ends the pieces and is kept: an
/// error (EIO, a folder at the path) is no file, not a corrupt one to move aside.
package final class FilePieces {
    private let descriptor: Int32
    private let size: Int
    private let pieceBytes: Int
    private var offset = 0
    package private(set) var readError: String?

    /// Nil when there is no file to open.
    package init?(_ path: String, pieceBytes: Int) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var info = stat()
        if fstat(descriptor, &info) != 0 {
            readError = String(cString: strerror(errno))
        } else if info.st_mode & S_IFMT == S_IFDIR {
            readError = "a folder is at its path"  // whatever size the file system gives it
        }
        size = readError == nil ? max(0, Int(info.st_size)) : 0
        self.pieceBytes = max(1, pieceBytes)
    }

    deinit { close(descriptor) }

    /// The file from its start: the function gives its next piece, nil at the end.
    package func fromStart() -> () -> [UInt8]? {
        offset = 0
        return { [self] in next() }
    }

    private func next() -> [UInt8]? {
        guard readError == nil, offset < size else { return nil }
        let wanted = min(pieceBytes, size - offset)
        var failed: Int32?
        let piece = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, count in
            count = 0
            while true {
                let got = pread(descriptor, buffer.baseAddress!, wanted, off_t(offset))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { failed = errno } else { count = got }
                return
            }
        }
        if let failed { readError = String(cString: strerror(failed)) }
        guard !piece.isEmpty else { return nil }  // an error, or shorter than it was
        offset += piece.count
        return piece
    }
}
