//! Events and the queue that orders them by (time, sequence number): two events at the same
//! millisecond run in the order they were scheduled, so a run is a pure function of its seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use raft::NodeId;

/// Something that happens at a point of simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message reaches `to`'s network interface.
    Deliver {
        /// Sender.
        from: NodeId,
        /// Recipient.
        to: NodeId,
        /// The message, encoded with `raft::codec`.
        bytes: Vec<u8>,
    },
    /// A node's timers may be due (Raft ticks, request timeouts).
    Timer {
        /// The node.
        node: NodeId,
        /// Which life of the node scheduled it; stale timers of a crashed life are ignored.
        incarnation: u64,
    },
    /// A client starts an operation or retries one.
    ClientWake {
        /// The client.
        client: u64,
    },
    /// A client's attempt has gone unanswered for too long.
    ClientTimeout {
        /// The client.
        client: u64,
        /// The attempt it concerns.
        attempt: u64,
    },
    /// The fault injector draws its next faults.
    FaultTick,
    /// A crashed node starts again from its disk.
    Restart {
        /// The node.
        node: NodeId,
    },
    /// A paused node runs again.
    Resume {
        /// The node.
        node: NodeId,
    },
    /// A partition ends (if it is still the current one).
    PartitionEnd {
        /// Which partition.
        epoch: u64,
    },
    /// The fault window closes: everything heals and the liveness phase starts.
    Heal,
    /// The liveness phase checks for convergence.
    LivenessCheck,
}

impl Event {
    /// A small number per kind, for hashing and records.
    pub fn tag(&self) -> u8 {
        match self {
            Event::Deliver { .. } => 1,
            Event::Timer { .. } => 2,
            Event::ClientWake { .. } => 3,
            Event::ClientTimeout { .. } => 4,
            Event::FaultTick => 5,
            Event::Restart { .. } => 6,
            Event::Resume { .. } => 7,
            Event::PartitionEnd { .. } => 8,
            Event::Heal => 9,
            Event::LivenessCheck => 10,
        }
    }

    /// The kind's name.
    pub fn kind_name(tag: u8) -> &'static str {
        match tag {
            1 => "deliver",
            2 => "timer",
            3 => "client-wake",
            4 => "client-timeout",
            5 => "fault-tick",
            6 => "restart",
            7 => "resume",
            8 => "partition-end",
            9 => "heal",
            10 => "liveness-check",
            _ => "?",
        }
    }

    /// Two numbers that identify the event within its kind (nodes, clients).
    pub fn operands(&self) -> (u64, u64) {
        match self {
            Event::Deliver { from, to, .. } => (*from, *to),
            Event::Timer { node, incarnation } => (*node, *incarnation),
            Event::ClientWake { client } => (*client, 0),
            Event::ClientTimeout { client, attempt } => (*client, *attempt),
            Event::Restart { node } | Event::Resume { node } => (*node, 0),
            Event::PartitionEnd { epoch } => (*epoch, 0),
            Event::FaultTick | Event::Heal | Event::LivenessCheck => (0, 0),
        }
    }
}

/// An event with its place in the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// When it happens.
    pub time_ms: u64,
    /// Breaks ties: the order of scheduling.
    pub sequence: u64,
    /// What happens.
    pub event: Event,
}

/// The pending events. The heap orders small keys (time, sequence number, slot) and the
/// events wait in a slab, so that sifting moves 24 bytes rather than whole events (a message
/// delivery carries its bytes' vector).
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slots: Vec<Option<Event>>,
    free_slots: Vec<u32>,
    next_sequence: u64,
}

impl EventQueue {
    /// An empty queue.
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    /// Schedules `event` at `time_ms`.
    pub fn push(&mut self, time_ms: u64, event: Event) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len())
                    .unwrap_or_else(|_| panic!("more than {} events pending", u32::MAX));
                self.slots.push(Some(event));
                slot
            }
        };
        // (time, sequence) is unique, so the slot never decides the order.
        self.heap.push(Reverse((time_ms, sequence, slot)));
    }

    /// The earliest event.
    pub fn pop(&mut self) -> Option<Scheduled> {
        let Reverse((time_ms, sequence, slot)) = self.heap.pop()?;
        let event = self.slots[slot as usize]
            .take()
            .unwrap_or_else(|| unreachable!("slot {slot} of a queued event is empty"));
        self.free_slots.push(slot);
        Some(Scheduled {
            time_ms,
            sequence,
            event,
        })
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops everything, as (time, event) in the order popped.
    fn drain(queue: &mut EventQueue) -> Vec<(u64, Event)> {
        std::iter::from_fn(|| queue.pop())
            .map(|scheduled| (scheduled.time_ms, scheduled.event))
            .collect()
    }

    #[test]
    fn events_come_out_by_time_then_by_scheduling_order() {
        let mut queue = EventQueue::new();
        queue.push(5, Event::Heal);
        queue.push(3, Event::ClientWake { client: 1 });
        queue.push(5, Event::FaultTick);
        queue.push(3, Event::ClientWake { client: 2 });
        let order = drain(&mut queue);
        assert_eq!(
            order,
            vec![
                (3, Event::ClientWake { client: 1 }),
                (3, Event::ClientWake { client: 2 }),
                (5, Event::Heal),
                (5, Event::FaultTick),
            ]
        );
    }

    #[test]
    fn reused_slots_keep_the_order() {
        let mut queue = EventQueue::new();
        queue.push(10, Event::ClientWake { client: 1 });
        queue.push(20, Event::ClientWake { client: 2 });
        assert_eq!(queue.pop().map(|s| s.time_ms), Some(10));
        // The freed slot goes to a later event; an earlier one takes a new slot.
        queue.push(30, Event::ClientWake { client: 3 });
        queue.push(15, Event::ClientWake { client: 4 });
        queue.push(20, Event::ClientWake { client: 5 });
        let order = drain(&mut queue);
        assert_eq!(
            order,
            vec![
                (15, Event::ClientWake { client: 4 }),
                (20, Event::ClientWake { client: 2 }),
                (20, Event::ClientWake { client: 5 }),
                (30, Event::ClientWake { client: 3 }),
            ]
        );
        assert!(queue.is_empty());
        assert_eq!(queue.slots.len(), 4, "five pushes, one freed slot reused");
    }
}
