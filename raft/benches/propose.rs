//! Propose → commit through `RawNode` with no I/O: every `Ready` is persisted into `MemStorage`,
//! messages are delivered in-process at once, and an operation ends when the leader has applied
//! the proposed entry. Measured for 1 voter and 3 voters, in time per operation.
//!
//! The same scenario on tikv's raft-rs lives in `bench/raft-rs-compare` (outside the workspace)
//! so that both can be measured in one run: `make bench-compare`.

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use raft::{ConfState, Config, MemStorage, Message, RawNode, StateRole, Storage};

/// Compact storage every this many entries so that a long run does not grow without bound.
const COMPACT_EVERY_ENTRIES: u64 = 4096;

struct Bench {
    nodes: Vec<RawNode<MemStorage>>,
    queue: VecDeque<Message>,
}

impl Bench {
    fn new(voters: u64) -> Bench {
        let ids: Vec<u64> = (1..=voters).collect();
        let nodes = ids
            .iter()
            .map(|&id| {
                let storage = MemStorage::new_with_conf_state(ConfState::with_voters(ids.clone()));
                RawNode::new(&Config::new(id), storage).unwrap()
            })
            .collect();
        let mut bench = Bench {
            nodes,
            queue: VecDeque::new(),
        };
        bench.nodes[0].campaign().unwrap();
        bench.settle();
        assert_eq!(bench.nodes[0].raft.role, StateRole::Leader);
        bench
    }

    /// Handles node k's Ready; returns the index of the last entry it applied.
    fn handle_ready(&mut self, k: usize) -> u64 {
        let mut last_applied = 0;
        while self.nodes[k].has_ready() {
            let node = &mut self.nodes[k];
            let ready = node.ready();
            if let Some(hard_state) = ready.hard_state {
                node.storage_mut().set_hard_state(hard_state);
            }
            node.storage_mut().append(&ready.entries).unwrap();
            self.queue.extend(ready.messages);
            if let Some(entry) = ready.committed_entries.last() {
                last_applied = entry.index;
            }
            black_box(&ready.committed_entries);
            node.advance();
        }
        if last_applied > 0 && last_applied % COMPACT_EVERY_ENTRIES == 0 {
            let storage = self.nodes[k].storage_mut();
            let first = storage.first_index().unwrap();
            if last_applied > first + COMPACT_EVERY_ENTRIES / 2 {
                storage
                    .compact(last_applied - COMPACT_EVERY_ENTRIES / 2)
                    .unwrap();
            }
        }
        last_applied
    }

    fn settle(&mut self) {
        for k in 0..self.nodes.len() {
            self.handle_ready(k);
        }
        while let Some(message) = self.queue.pop_front() {
            let k = (message.to - 1) as usize;
            self.nodes[k].step(message).unwrap();
            self.handle_ready(k);
        }
    }

    fn propose_and_commit(&mut self) {
        let target = self.nodes[0].raft.raft_log.last_index() + 1;
        self.nodes[0].propose(b"0123456789abcdef".to_vec()).unwrap();
        let mut applied = self.handle_ready(0);
        while applied < target {
            let message = self.queue.pop_front().expect("the entry commits");
            let k = (message.to - 1) as usize;
            self.nodes[k].step(message).unwrap();
            let done = self.handle_ready(k);
            if k == 0 {
                applied = applied.max(done);
            }
        }
        // Let the followers learn the commit index too, as the next heartbeat would.
        self.settle();
    }
}

fn propose_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("propose_commit");
    for voters in [1u64, 3] {
        let mut bench = Bench::new(voters);
        group.bench_function(format!("{voters}_voter"), |b| {
            b.iter(|| bench.propose_and_commit())
        });
    }
    group.finish();
}

criterion_group!(benches, propose_commit);
criterion_main!(benches);
