//! The window of append messages sent to one follower and not yet acknowledged (etcd-io/raft
//! `tracker/inflights.go`).

use std::collections::VecDeque;

use crate::message::Index;

/// One append message in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InflightAppend {
    /// The index of the last entry the message carried.
    last_index: Index,
    /// The payload size of the message, counted against `Inflights::max_bytes`.
    size_bytes: u64,
}

/// A bounded window of in-flight append messages, each remembered by the index of its last
/// entry (and optionally its size in bytes).
///
/// The leader adds a message when it sends one in the Replicate state and frees every message
/// up to an index when the follower acknowledges that index. While the window is full the
/// leader sends nothing more, which bounds the memory and bandwidth a slow follower can claim.
///
/// The window is a ring (a `VecDeque`) that grows on demand up to `capacity`, so that idle
/// followers in a large cluster do not each hold a full-sized buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inflights {
    /// The messages in the order they were sent.
    ///
    /// Invariant: `last_index` strictly increases from front to back, and
    /// `appends.len() <= capacity`.
    appends: VecDeque<InflightAppend>,
    /// The most messages that may be in flight at once. Invariant: at least 1.
    capacity: usize,
    /// The most payload bytes that may be in flight at once; 0 means no limit.
    max_bytes: u64,
    /// Invariant: the sum of `size_bytes` over `appends`.
    bytes: u64,
}

impl Inflights {
    /// An empty window of at most `capacity` messages and no byte limit.
    ///
    /// Panics if `capacity` is zero: such a window would be full forever and replication to
    /// the follower would never start.
    pub fn new(capacity: usize) -> Self {
        Inflights::with_max_bytes(capacity, 0)
    }

    /// An empty window of at most `capacity` messages and at most `max_bytes` payload bytes
    /// (0 for no byte limit). A single message larger than `max_bytes` is still admitted when
    /// the window is otherwise empty, so that no entry is too large to ever send.
    pub fn with_max_bytes(capacity: usize, max_bytes: u64) -> Self {
        assert!(
            capacity > 0,
            "inflight window capacity must be at least 1, got 0"
        );
        Inflights {
            appends: VecDeque::new(),
            capacity,
            max_bytes,
            bytes: 0,
        }
    }

    /// Records an append message whose last entry is `last_index`.
    ///
    /// Panics if the window is [`full`](Inflights::full) or `last_index` is not larger than
    /// the last one added: the caller must check the window before sending, and sends entries
    /// in increasing index order.
    pub fn add(&mut self, last_index: Index) {
        self.add_with_bytes(last_index, 0);
    }

    /// Records an append message whose last entry is `last_index` and whose payload is
    /// `size_bytes` long. Panics as [`add`](Inflights::add) does.
    pub fn add_with_bytes(&mut self, last_index: Index, size_bytes: u64) {
        assert!(
            !self.full(),
            "add {last_index} to a full inflight window: {} messages of capacity {}, {} bytes of max {}",
            self.appends.len(),
            self.capacity,
            self.bytes,
            self.max_bytes
        );
        if let Some(back) = self.appends.back() {
            assert!(
                last_index > back.last_index,
                "inflight indexes must increase: add {last_index} after {}",
                back.last_index
            );
        }
        if self.appends.len() == self.appends.capacity() {
            // Grow by doubling as a Vec would, but never past the window's capacity.
            let target = (self.appends.len() * 2).clamp(1, self.capacity);
            self.appends.reserve_exact(target - self.appends.len());
        }
        self.appends.push_back(InflightAppend {
            last_index,
            size_bytes,
        });
        self.bytes += size_bytes;
    }

    /// Frees every message whose last index is at most `index`: the follower has acknowledged
    /// everything up to `index`, and so everything those messages carried.
    pub fn free_le(&mut self, index: Index) {
        while let Some(front) = self.appends.front() {
            if front.last_index > index {
                break;
            }
            self.bytes -= front.size_bytes;
            self.appends.pop_front();
        }
        if self.appends.is_empty() {
            assert!(
                self.bytes == 0,
                "inflight byte count {} with no messages in flight",
                self.bytes
            );
        }
    }

    /// True when no further message may be sent: `capacity` messages are in flight, or the
    /// byte limit is reached.
    pub fn full(&self) -> bool {
        self.appends.len() == self.capacity || (self.max_bytes != 0 && self.bytes >= self.max_bytes)
    }

    /// The number of messages in flight.
    pub fn count(&self) -> usize {
        self.appends.len()
    }

    /// The payload bytes in flight.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The most messages that may be in flight at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The last index of the oldest message in flight, if any.
    pub fn first_index(&self) -> Option<Index> {
        self.appends.front().map(|append| append.last_index)
    }

    /// The last index of the newest message in flight, if any.
    pub fn last_index(&self) -> Option<Index> {
        self.appends.back().map(|append| append.last_index)
    }

    /// Forgets every message in flight (the follower left the Replicate state). Keeps the
    /// allocated buffer.
    pub fn reset(&mut self) {
        self.appends.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexes(inflights: &Inflights) -> Vec<Index> {
        inflights
            .appends
            .iter()
            .map(|append| append.last_index)
            .collect()
    }

    #[test]
    fn fills_up_to_capacity() {
        let mut inflights = Inflights::new(3);
        assert!(!inflights.full());
        inflights.add(1);
        inflights.add(2);
        assert!(!inflights.full());
        inflights.add(5);
        assert!(inflights.full());
        assert_eq!(inflights.count(), 3);
        assert_eq!(indexes(&inflights), [1, 2, 5]);
    }

    #[test]
    fn free_le_frees_a_prefix() {
        let mut inflights = Inflights::new(10);
        for index in [2, 4, 6, 8] {
            inflights.add(index);
        }
        inflights.free_le(1);
        assert_eq!(indexes(&inflights), [2, 4, 6, 8], "nothing at or below 1");
        inflights.free_le(5);
        assert_eq!(
            indexes(&inflights),
            [6, 8],
            "between two messages frees the lower ones"
        );
        inflights.free_le(6);
        assert_eq!(indexes(&inflights), [8]);
        inflights.free_le(100);
        assert_eq!(inflights.count(), 0);
        inflights.free_le(200);
        assert_eq!(inflights.count(), 0, "freeing an empty window is a no-op");
    }

    #[test]
    fn ring_wraps_around() {
        let mut inflights = Inflights::new(4);
        let mut next = 1;
        // Many rounds of adding two and freeing two move the window around the ring many times.
        for _round in 0..50 {
            while !inflights.full() {
                inflights.add(next);
                next += 1;
            }
            assert_eq!(indexes(&inflights), (next - 4..next).collect::<Vec<_>>());
            inflights.free_le(next - 3);
            assert_eq!(inflights.count(), 2);
            assert_eq!(inflights.first_index(), Some(next - 2));
            assert_eq!(inflights.last_index(), Some(next - 1));
        }
        assert!(inflights.appends.capacity() >= 4);
    }

    #[test]
    fn buffer_grows_lazily_and_not_past_capacity() {
        let mut inflights = Inflights::new(5);
        assert_eq!(
            inflights.appends.capacity(),
            0,
            "an idle window allocates nothing"
        );
        for index in 1..=5 {
            inflights.add(index);
        }
        assert!(inflights.full());
        assert!(inflights.appends.capacity() >= 5);
    }

    #[test]
    fn reset_empties_the_window() {
        let mut inflights = Inflights::with_max_bytes(3, 100);
        inflights.add_with_bytes(1, 10);
        inflights.add_with_bytes(2, 10);
        inflights.reset();
        assert_eq!(inflights.count(), 0);
        assert_eq!(inflights.bytes(), 0);
        inflights.add(1);
        assert_eq!(
            indexes(&inflights),
            [1],
            "indexes may start over after a reset"
        );
    }

    #[test]
    fn byte_limit_fills_the_window() {
        let mut inflights = Inflights::with_max_bytes(10, 100);
        inflights.add_with_bytes(1, 60);
        assert!(!inflights.full());
        inflights.add_with_bytes(2, 40);
        assert!(inflights.full(), "100 of 100 bytes in flight");
        inflights.free_le(1);
        assert_eq!(inflights.bytes(), 40);
        assert!(!inflights.full());
        // An oversized message is admitted while there is room, then fills the window.
        inflights.add_with_bytes(3, 500);
        assert!(inflights.full());
    }

    #[test]
    #[should_panic(expected = "full inflight window")]
    fn adding_to_a_full_window_panics() {
        let mut inflights = Inflights::new(1);
        inflights.add(1);
        inflights.add(2);
    }

    #[test]
    #[should_panic(expected = "inflight indexes must increase")]
    fn adding_out_of_order_panics() {
        let mut inflights = Inflights::new(4);
        inflights.add(5);
        inflights.add(5);
    }

    #[test]
    #[should_panic(expected = "capacity must be at least 1")]
    fn zero_capacity_panics() {
        Inflights::new(0);
    }
}
