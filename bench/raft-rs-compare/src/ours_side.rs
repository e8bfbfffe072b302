//! The scenario on our `raft`: the harness of `raft/benches/propose.rs`, unchanged but for the
//! shared constants.

use std::collections::VecDeque;
use std::hint::black_box;

use raft::{ConfState, Config, MemStorage, Message, RawNode, StateRole, Storage};

use crate::{Scenario, COMPACT_EVERY_ENTRIES, PAYLOAD};

pub struct Bench {
    nodes: Vec<RawNode<MemStorage>>,
    queue: VecDeque<Message>,
}

impl Bench {
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

    fn deliver(&mut self, message: Message) -> (usize, u64) {
        let k = (message.to - 1) as usize;
        self.nodes[k].step(message).unwrap();
        (k, self.handle_ready(k))
    }

    fn settle(&mut self) {
        for k in 0..self.nodes.len() {
            self.handle_ready(k);
        }
        while let Some(message) = self.queue.pop_front() {
            self.deliver(message);
        }
    }
}

impl Scenario for Bench {
    const NAME: &'static str = "ours";

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

    fn propose_and_commit(&mut self) {
        let target = self.nodes[0].raft.raft_log.last_index() + 1;
        self.nodes[0].propose(PAYLOAD.to_vec()).unwrap();
        let mut applied = self.handle_ready(0);
        while applied < target {
            let message = self.queue.pop_front().expect("the entry commits");
            let (k, done) = self.deliver(message);
            if k == 0 {
                applied = applied.max(done);
            }
        }
        // Let the followers learn the commit index too, as the next heartbeat would.
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_and_compacts() {
        for voters in [1, 3] {
            let mut bench = Bench::new(voters);
            let start = bench.nodes[0].raft.raft_log.applied;
            for _ in 0..5000 {
                bench.propose_and_commit();
            }
            for node in &bench.nodes {
                assert_eq!(node.raft.raft_log.applied, start + 5000);
                assert_eq!(node.raft.raft_log.committed, start + 5000);
                assert_eq!(node.storage().hard_state().commit, start + 5000);
                assert!(node.storage().first_index().unwrap() > 1, "compacted");
            }
            assert!(bench.queue.is_empty());
        }
    }
}
