//! Events and the queue that orders them by (time, sequence number): two events at the same
//! millisecond run in the order they were scheduled, so a run is a pure function of its seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

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
        /// Which send it is (the world numbers sends; the copies of a duplicated message share
        /// the number). Not part of the trace hash: it only feeds coverage counts.
        send: u64,
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

/// Milliseconds covered by the queue's wheel of buckets; later events wait in a heap until the
/// clock comes within this distance of them. Message delays and ticks fall well inside; client
/// timeouts, restarts and heals, a few per second, go through the heap. Every bucket allocates
/// on its first use in each world, so a wheel no longer than needed keeps short runs cheap
/// (512 against 2048: 0.5% fewer instructions for swarm seeds 0..20, the same for steady load).
const WHEEL_MS: u64 = 512;

/// The pending events: a calendar queue. Events due within `WHEEL_MS` of the current time
/// sit in one bucket per millisecond, in scheduling order, so that pushing and popping cost a
/// few instructions rather than a heap's sift (the simulator pushes and pops once per message).
/// Later events (heals, long timeouts) wait in a heap ordered by (time, sequence number) and
/// move to their bucket when the clock comes within reach, before anything else can be pushed
/// there, so each bucket stays in sequence order.
#[derive(Debug)]
pub struct EventQueue {
    /// Bucket `t % WHEEL_MS` holds the events due at `t`, for `now_ms <= t < now_ms + WHEEL_MS`.
    wheel: Vec<VecDeque<(u64, Event)>>,
    /// Events in the wheel.
    wheel_len: usize,
    /// Events due at or after `now_ms + WHEEL_MS`, keyed (time, sequence, slot in `far_events`).
    far: BinaryHeap<Reverse<(u64, u64, u32)>>,
    far_events: Vec<Option<Event>>,
    far_free: Vec<u32>,
    /// The time of the last event popped: nothing may be scheduled before it.
    now_ms: u64,
    next_sequence: u64,
}

impl Default for EventQueue {
    fn default() -> EventQueue {
        EventQueue {
            wheel: (0..WHEEL_MS).map(|_| VecDeque::new()).collect(),
            wheel_len: 0,
            far: BinaryHeap::new(),
            far_events: Vec::new(),
            far_free: Vec::new(),
            now_ms: 0,
            next_sequence: 0,
        }
    }
}

impl EventQueue {
    /// An empty queue.
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    /// Schedules `event` at `time_ms`, which must not be before the last event popped.
    pub fn push(&mut self, time_ms: u64, event: Event) {
        assert!(
            time_ms >= self.now_ms,
            "event {event:?} scheduled at {time_ms} ms, before the current time {} ms",
            self.now_ms
        );
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        if time_ms < self.now_ms + WHEEL_MS {
            self.wheel[(time_ms % WHEEL_MS) as usize].push_back((sequence, event));
            self.wheel_len += 1;
        } else {
            let slot = match self.far_free.pop() {
                Some(slot) => {
                    self.far_events[slot as usize] = Some(event);
                    slot
                }
                None => {
                    let slot = u32::try_from(self.far_events.len())
                        .unwrap_or_else(|_| panic!("more than {} events pending", u32::MAX));
                    self.far_events.push(Some(event));
                    slot
                }
            };
            // (time, sequence) is unique, so the slot never decides the order.
            self.far.push(Reverse((time_ms, sequence, slot)));
        }
    }

    /// The earliest event.
    pub fn pop(&mut self) -> Option<Scheduled> {
        if self.wheel_len == 0 {
            // Jump the clock to the first far event, bringing it and its neighbours into reach.
            let &Reverse((time_ms, _, _)) = self.far.peek()?;
            self.advance_to(time_ms);
        }
        let mut time_ms = self.now_ms;
        loop {
            let bucket = &mut self.wheel[(time_ms % WHEEL_MS) as usize];
            if let Some((sequence, event)) = bucket.pop_front() {
                self.wheel_len -= 1;
                self.advance_to(time_ms);
                return Some(Scheduled {
                    time_ms,
                    sequence,
                    event,
                });
            }
            time_ms += 1;
        }
    }

    /// Moves the clock to `time_ms` and the far events now within reach into the wheel, in
    /// (time, sequence) order.
    fn advance_to(&mut self, time_ms: u64) {
        self.now_ms = time_ms;
        while let Some(&Reverse((due_ms, sequence, slot))) = self.far.peek() {
            if due_ms >= time_ms + WHEEL_MS {
                break;
            }
            self.far.pop();
            let event = self.far_events[slot as usize]
                .take()
                .unwrap_or_else(|| unreachable!("slot {slot} of a queued event is empty"));
            self.far_free.push(slot);
            self.wheel[(due_ms % WHEEL_MS) as usize].push_back((sequence, event));
            self.wheel_len += 1;
        }
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.wheel_len + self.far.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn far_events_join_their_bucket_ahead_of_later_pushes_at_the_same_time() {
        let mut queue = EventQueue::new();
        let far = WHEEL_MS + 5;
        queue.push(far, Event::ClientWake { client: 1 });
        queue.push(1, Event::ClientWake { client: 2 });
        assert_eq!(queue.pop().map(|s| s.time_ms), Some(1));
        // `far` is now within reach: the event scheduled for it earlier must still come first.
        queue.push(far, Event::ClientWake { client: 3 });
        queue.push(2 * WHEEL_MS + 1, Event::ClientWake { client: 4 });
        assert_eq!(queue.len(), 3);
        let order = drain(&mut queue);
        assert_eq!(
            order,
            vec![
                (far, Event::ClientWake { client: 1 }),
                (far, Event::ClientWake { client: 3 }),
                (2 * WHEEL_MS + 1, Event::ClientWake { client: 4 }),
            ]
        );
        assert!(queue.is_empty());
    }

    #[test]
    #[should_panic(expected = "before the current time")]
    fn scheduling_in_the_past_is_refused() {
        let mut queue = EventQueue::new();
        queue.push(10, Event::Heal);
        queue.pop();
        queue.push(9, Event::Heal);
    }

    proptest::proptest! {
        /// The calendar queue pops exactly what a plain heap ordered by (time, sequence) pops,
        /// for delays that straddle the wheel's reach and pops interleaved with pushes.
        #[test]
        fn the_queue_orders_like_a_heap_of_time_and_sequence(
            steps in proptest::collection::vec(
                (0u64..3, proptest::prop_oneof![0u64..8, 0u64..3 * WHEEL_MS]),
                1..400,
            )
        ) {
            let mut queue = EventQueue::new();
            let mut model: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
            let mut now = 0;
            let mut pushed = 0u64;
            for (action, delay) in steps {
                if action == 0 {
                    let expected = model.pop().map(|Reverse(key)| key);
                    let got = queue.pop().map(|scheduled| {
                        let Event::ClientWake { client } = scheduled.event else {
                            unreachable!("only client wakes are pushed")
                        };
                        (scheduled.time_ms, client)
                    });
                    proptest::prop_assert_eq!(got, expected);
                    if let Some((time, _)) = got {
                        now = time;
                    }
                } else {
                    queue.push(now + delay, Event::ClientWake { client: pushed });
                    model.push(Reverse((now + delay, pushed)));
                    pushed += 1;
                }
                proptest::prop_assert_eq!(queue.len(), model.len());
            }
            while let Some(Reverse(key)) = model.pop() {
                let scheduled = queue.pop().expect("as many events as the model");
                proptest::prop_assert_eq!(
                    (scheduled.time_ms, scheduled.event),
                    (key.0, Event::ClientWake { client: key.1 })
                );
            }
            proptest::prop_assert!(queue.pop().is_none());
        }
    }
}
