//! The scenario on tikv's raft-rs 0.7, following the Ready contract documented in its crate
//! root: send `messages`, apply `committed_entries`, persist `entries` and the hard state, send
//! `persisted_messages`, `advance`, then handle the `LightReady` (commit index, messages,
//! committed entries) and `advance_apply`.

use std::collections::VecDeque;
use std::hint::black_box;

use raft_rs::eraftpb::{Entry, Message};
use raft_rs::storage::MemStorage;
use raft_rs::{Config, RawNode, StateRole, Storage, NO_LIMIT};

use crate::{Scenario, COMPACT_EVERY_ENTRIES, PAYLOAD};

/// The settings of our `Config::new(id)`, spelled out for raft-rs.
fn config(id: u64) -> Config {
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 1,
        applied: 0,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 256,
        check_quorum: false,
        pre_vote: false,
        max_uncommitted_size: NO_LIMIT,
        max_committed_size_per_ready: NO_LIMIT,
        ..Config::default()
    }
}

pub struct Bench {
    nodes: Vec<RawNode<MemStorage>>,
    queue: VecDeque<Message>,
}

/// "Applies" committed entries: returns the index of the last one.
fn apply(entries: Vec<Entry>, last_applied: &mut u64) {
    if let Some(entry) = entries.last() {
        *last_applied = entry.index;
    }
    black_box(&entries);
}

impl Bench {
    /// Handles node k's Ready; returns the index of the last entry it applied.
    fn handle_ready(&mut self, k: usize) -> u64 {
        let mut last_applied = 0;
        while self.nodes[k].has_ready() {
            let node = &mut self.nodes[k];
            let mut ready = node.ready();
            // 1. Messages that may be sent before persisting (a leader's appends).
            self.queue.extend(ready.take_messages());
            // 2. No snapshot ever occurs in this scenario.
            debug_assert!(ready.snapshot().is_empty());
            // 3. Committed entries (already persisted).
            apply(ready.take_committed_entries(), &mut last_applied);
            // 4, 5. Persist entries and the hard state.
            {
                let mut store = node.mut_store().wl();
                if !ready.entries().is_empty() {
                    store.append(ready.entries()).unwrap();
                }
                if let Some(hard_state) = ready.hs() {
                    store.set_hardstate(hard_state.clone());
                }
            }
            // 6. Messages that must wait for persistence (votes, append responses).
            self.queue.extend(ready.take_persisted_messages());
            // 7. Advance; the LightReady holds what the persisted acknowledgement made possible.
            let mut light = node.advance(ready);
            if let Some(commit) = light.commit_index() {
                node.mut_store().wl().mut_hard_state().set_commit(commit);
            }
            self.queue.extend(light.take_messages());
            apply(light.take_committed_entries(), &mut last_applied);
            node.advance_apply();
        }
        if last_applied > 0 && last_applied % COMPACT_EVERY_ENTRIES == 0 {
            // Keep the entries after `last_applied - COMPACT_EVERY_ENTRIES / 2`, like ours:
            // raft-rs's `compact(i)` makes `i` the first index, ours makes `i` the dummy.
            let keep_from = last_applied - COMPACT_EVERY_ENTRIES / 2 + 1;
            let store = self.nodes[k].mut_store();
            let first = store.first_index().unwrap();
            if keep_from > first {
                store.wl().compact(keep_from).unwrap();
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
    const NAME: &'static str = "raft-rs";

    fn new(voters: u64) -> Bench {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let ids: Vec<u64> = (1..=voters).collect();
        let nodes = ids
            .iter()
            .map(|&id| {
                let storage = MemStorage::new_with_conf_state((ids.clone(), vec![]));
                let config = config(id);
                config.validate().unwrap();
                RawNode::new(&config, storage, &logger).unwrap()
            })
            .collect();
        let mut bench = Bench {
            nodes,
            queue: VecDeque::new(),
        };
        bench.nodes[0].campaign().unwrap();
        bench.settle();
        assert_eq!(bench.nodes[0].raft.state, StateRole::Leader);
        bench
    }

    fn propose_and_commit(&mut self) {
        let target = self.nodes[0].raft.raft_log.last_index() + 1;
        self.nodes[0].propose(vec![], PAYLOAD.to_vec()).unwrap();
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
                assert_eq!(node.store().rl().hard_state().commit, start + 5000);
                assert!(node.store().first_index().unwrap() > 1, "compacted");
            }
            let last = bench.nodes[0].raft.raft_log.last_index();
            let entry = &bench.nodes[0]
                .store()
                .entries(
                    last,
                    last + 1,
                    None,
                    raft_rs::GetEntriesContext::empty(false),
                )
                .unwrap()[0];
            assert_eq!(&entry.data[..], &PAYLOAD[..]);
            assert!(bench.queue.is_empty());
        }
    }
}
