//! Determinism as a checked property: a running hash over every processed event (its time,
//! order, kind, operands and message bytes), and the comparison of two runs of one seed that
//! names the first event where they part.

use std::hash::Hasher;

use rustc_hash::FxHasher;
use serde::Serialize;

use crate::event::Event;
use crate::random::mix64;

/// What a run remembers of each event when determinism is being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// The event's position in the run.
    pub index: u64,
    /// When it happened.
    pub time_ms: u64,
    /// Its kind.
    pub tag: u8,
    /// Nodes or clients it concerns.
    pub operands: (u64, u64),
    /// The running hash after it.
    pub hash: u64,
}

impl EventRecord {
    /// One line.
    pub fn describe(&self) -> String {
        format!(
            "event #{} at {} ms: {} ({}, {}), running hash {:016x}",
            self.index,
            self.time_ms,
            Event::kind_name(self.tag),
            self.operands.0,
            self.operands.1,
            self.hash
        )
    }
}

/// The running hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunningHash(pub u64);

impl RunningHash {
    /// Folds one event in.
    pub fn absorb(&mut self, time_ms: u64, sequence: u64, event: &Event) {
        let mut hasher = FxHasher::default();
        hasher.write_u64(time_ms);
        hasher.write_u64(sequence);
        hasher.write_u8(event.tag());
        let (first, second) = event.operands();
        hasher.write_u64(first);
        hasher.write_u64(second);
        if let Event::Deliver { bytes, .. } = event {
            hasher.write(bytes);
        }
        self.0 = mix64(self.0 ^ hasher.finish());
    }

    /// Folds in any other value the run wants covered (a verdict, a fault decision).
    pub fn absorb_value(&mut self, value: u64) {
        self.0 = mix64(self.0 ^ value);
    }
}

/// Where two runs of one seed parted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The first event that differs, as each run saw it (`None`: that run had ended).
    pub first: Option<EventRecord>,
    /// The same position in the second run.
    pub second: Option<EventRecord>,
}

impl Divergence {
    /// One paragraph.
    pub fn describe(&self) -> String {
        let side = |record: &Option<EventRecord>| {
            record
                .as_ref()
                .map_or("the run had ended".to_string(), EventRecord::describe)
        };
        format!(
            "first run: {}; second run: {}",
            side(&self.first),
            side(&self.second)
        )
    }
}

/// The first position at which two runs' records differ, if any.
pub fn first_divergence(first: &[EventRecord], second: &[EventRecord]) -> Option<Divergence> {
    let length = first.len().max(second.len());
    (0..length)
        .find(|&position| first.get(position) != second.get(position))
        .map(|position| Divergence {
            first: first.get(position).copied(),
            second: second.get(position).copied(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(events: &[Event]) -> Vec<EventRecord> {
        let mut hash = RunningHash::default();
        events
            .iter()
            .enumerate()
            .map(|(index, event)| {
                hash.absorb(index as u64 * 10, index as u64, event);
                EventRecord {
                    index: index as u64,
                    time_ms: index as u64 * 10,
                    tag: event.tag(),
                    operands: event.operands(),
                    hash: hash.0,
                }
            })
            .collect()
    }

    #[test]
    fn identical_runs_agree_and_the_first_difference_is_named() {
        let run = [
            Event::FaultTick,
            Event::Deliver {
                from: 1,
                to: 2,
                bytes: vec![1, 2, 3],
                send: 1,
            },
            Event::Heal,
        ];
        assert_eq!(first_divergence(&records(&run), &records(&run)), None);
        let mut other = run.clone();
        other[1] = Event::Deliver {
            from: 1,
            to: 2,
            bytes: vec![1, 2, 4],
            send: 1,
        };
        let divergence = first_divergence(&records(&run), &records(&other)).expect("a difference");
        assert_eq!(divergence.first.map(|record| record.index), Some(1));
        let shorter = &records(&run)[..2];
        let divergence = first_divergence(&records(&run), shorter).expect("a difference");
        assert_eq!(divergence.second, None);
        assert!(divergence.describe().contains("heal"));
    }
}
