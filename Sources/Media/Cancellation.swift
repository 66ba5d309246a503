import Synchronization

/// A flag set when a transcode must stop: task cancellation, or another pipeline stage failing.
/// Checked by the packet loop, the tier threads and libav's `AVIOInterruptCB`.
final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isCancelled: Bool { value.load(ordering: .relaxed) }

    func cancel() { value.store(true, ordering: .relaxed) }
}
