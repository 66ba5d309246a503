import Crypto
import Foundation

/// Who is writing to which upload, and the running SHA-256 of each upload's bytes.
///
/// One request at a time writes an upload. A new PATCH or HEAD for an upload whose previous
/// connection died (a client on a flaky link resumes before the server noticed the old TCP
/// connection is gone) takes over: the old writer is cancelled, commits what it had made durable,
/// and only then does the new one proceed.
actor UploadRegistry {
    private struct Holder {
        var token: UInt64
        var cancel: @Sendable () -> Void
        var released: [CheckedContinuation<Void, Never>] = []
    }

    private var holders: [String: Holder] = [:]
    private var nextToken: UInt64 = 0
    /// SHA-256 of each upload's first `offset` bytes, computed as the bytes streamed in.
    private var hashes: [String: (offset: Int64, state: HashState)] = [:]

    /// Waits until `id` is free (cancelling its current writer), then holds it until `release`.
    func acquire(_ id: String, cancel: @escaping @Sendable () -> Void) async -> UInt64 {
        while let holder = holders[id] {
            holder.cancel()
            await withCheckedContinuation { continuation in holders[id]?.released.append(continuation) }
        }
        nextToken += 1
        holders[id] = Holder(token: nextToken, cancel: cancel)
        return nextToken
    }

    func release(_ id: String, token: UInt64) {
        guard let holder = holders[id], holder.token == token else { return }
        holders[id] = nil
        for continuation in holder.released { continuation.resume() }
    }

    /// The running hash, when it covers exactly `offset` bytes (after a restart it does not).
    func hash(_ id: String, offset: Int64) -> HashState? {
        guard let entry = hashes[id], entry.offset == offset else { return nil }
        return entry.state
    }

    func store(_ id: String, offset: Int64, hash: HashState) { hashes[id] = (offset, hash) }

    func forget(_ id: String) { hashes[id] = nil }
}
