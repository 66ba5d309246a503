import Foundation

/// A blocking queue between two pipeline threads. Its bound keeps memory flat: a fast decoder
/// waits for slow encoders instead of piling up decoded 1080p pictures (3 MB each).
///
/// `@unchecked Sendable`: all state is guarded by `condition`; elements are handed over, never
/// shared — after `push` the producer no longer touches what it pushed.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    // Popped slots are set to nil at once: a popped picture must not stay alive in the array.
    private var items: [Element?] = []
    private var head = 0
    private var finished = false
    private var aborted = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room, then appends. Returns false when the queue was aborted (the element is dropped).
    func push(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !aborted { condition.wait() }
        if aborted { return false }
        items.append(element)
        condition.broadcast()
        return true
    }

    /// Appends only if there is room now; false when full or aborted (the element is dropped).
    /// For a live reader that must never wait on an encoder.
    func offer(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !aborted, items.count - head < capacity else { return false }
        items.append(element)
        condition.broadcast()
        return true
    }

    /// Waits for an element; nil once the producer finished and the queue is empty, or on abort.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !finished && !aborted { condition.wait() }
        if aborted || head == items.count { return nil }
        let element = items[head]
        items[head] = nil
        head += 1
        if head > 64 {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return element
    }

    /// No more elements will come; consumers drain what is left.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Wakes everyone and drops what is queued: the pipeline is stopping.
    func abort() {
        condition.lock()
        aborted = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }
}
