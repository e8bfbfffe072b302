//! The fault injector: at random ticks during the fault window it draws crashes (between
//! events or inside a disk write), pauses, partitions, clogged links and disk damage.
//!
//! # The fault atlas
//!
//! Disk damage is confined to a fixed minority of the nodes, drawn once per run (at most
//! `(n - 1) / 2` of them). Whatever the damage, a majority of the nodes keeps every byte it
//! synced, so no log index is ever damaged on a quorum and every violation the oracles report
//! is a bug, not bad luck. A damaged node whose recovery refuses its disk is destroyed: counted
//! in the report and left out of the liveness judgement, but never taken for a bug.

use std::collections::BTreeMap;

use raft::NodeId;
use serde::Serialize;

use crate::clock::Drift;
use crate::options::{DiskOptions, FaultOptions, PartitionMode};
use crate::partition::Connectivity;
use crate::random::SimRng;

/// One fault to inject now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Power loss: between events (`None`), or during the node's n-th next disk operation.
    Crash {
        /// The node.
        node: NodeId,
        /// Disk operations to let through before the power goes.
        during_operation: Option<u64>,
    },
    /// The process stops for a while.
    Pause {
        /// The node.
        node: NodeId,
        /// For how long.
        duration_ms: u64,
    },
    /// The network splits.
    Partition {
        /// Which links carry messages.
        connectivity: Connectivity,
        /// The shape.
        mode: PartitionMode,
        /// The groups, for the trace.
        description: String,
        /// For how long.
        duration_ms: u64,
    },
    /// One directed link holds its messages back.
    Clog {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
        /// For how long.
        duration_ms: u64,
    },
    /// The leader (if one runs) is asked to hand leadership over to `to`.
    TransferLeader {
        /// The node to hand over to.
        to: NodeId,
    },
    /// The leader removes a voter or adds a removed node back; the world picks which.
    ChangeMembership {
        /// A random number for the world's choice.
        choice: u64,
    },
    /// The node campaigns at once.
    ForceElection {
        /// The node.
        node: NodeId,
    },
    /// A synced sector of the node's disk goes bad.
    Corrupt {
        /// The node (always one of the corruptible minority).
        node: NodeId,
        /// An unreadable sector rather than a flipped bit.
        bad_sector: bool,
    },
}

/// What was injected, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    /// Crashes between events.
    pub crashes: u64,
    /// Crashes inside a disk operation (armed; counted when armed).
    pub crashes_during_write: u64,
    /// Restarts.
    pub restarts: u64,
    /// Crashes that tore or lost unsynced writes.
    pub torn_writes: u64,
    /// Pauses.
    pub pauses: u64,
    /// Partitions by shape.
    pub partitions: BTreeMap<String, u64>,
    /// Clogged links.
    pub clogs: u64,
    /// Bits flipped on disks.
    pub bit_flips: u64,
    /// Sectors made unreadable.
    pub bad_sectors: u64,
    /// Nodes whose damaged disk could not be recovered.
    pub destroyed_nodes: u64,
    /// Leadership transfers asked for.
    pub leader_transfers: u64,
    /// Elections forced.
    pub forced_elections: u64,
    /// Membership changes proposed.
    pub membership_changes: u64,
    /// Nodes that applied their own removal and shut down.
    pub nodes_removed: u64,
}

impl FaultStats {
    /// Every fault injected.
    pub fn total(&self) -> u64 {
        self.crashes
            + self.crashes_during_write
            + self.pauses
            + self.partitions.values().sum::<u64>()
            + self.clogs
            + self.bit_flips
            + self.bad_sectors
            + self.leader_transfers
            + self.forced_elections
            + self.membership_changes
    }
}

/// What the injector may aim at: the nodes up and not paused, and the roles among them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Targets<'a> {
    /// Nodes up and not paused.
    pub running: &'a [NodeId],
    /// The running leader, if one runs.
    pub leader: Option<NodeId>,
    /// Running nodes that campaign (candidates and pre-candidates).
    pub campaigning: &'a [NodeId],
}

/// Draws faults; see the module docs.
#[derive(Debug)]
pub struct FaultInjector {
    options: FaultOptions,
    disk: DiskOptions,
    node_count: u64,
    rng: SimRng,
    corruptible: Vec<NodeId>,
    /// Counters.
    pub stats: FaultStats,
}

impl FaultInjector {
    /// An injector for nodes `1..=node_count`.
    pub fn new(
        options: FaultOptions,
        disk: DiskOptions,
        node_count: u64,
        mut rng: SimRng,
    ) -> FaultInjector {
        let mut nodes: Vec<NodeId> = (1..=node_count).collect();
        rng.shuffle(&mut nodes);
        nodes.truncate(((node_count.saturating_sub(1)) / 2) as usize);
        nodes.sort_unstable();
        FaultInjector {
            options,
            disk,
            node_count,
            rng,
            corruptible: nodes,
            stats: FaultStats::default(),
        }
    }

    /// The nodes whose disks may be damaged.
    pub fn corruptible(&self) -> &[NodeId] {
        &self.corruptible
    }

    /// Each node's clock drift: drawn, unless `clock_drift_ppm_fixed` sets it (the draw is
    /// made either way, so that fixing a drift changes nothing else of the run).
    pub fn drifts(&mut self) -> Vec<Drift> {
        let max = self.options.clock_drift_ppm_max as i64;
        (0..self.node_count)
            .map(|node| {
                let drawn = if max == 0 {
                    0
                } else {
                    self.rng.between(0, 2 * max as u64) as i64 - max
                };
                Drift {
                    drift_ppm: self
                        .options
                        .clock_drift_ppm_fixed
                        .get(node as usize)
                        .copied()
                        .unwrap_or(drawn),
                }
            })
            .collect()
    }

    /// Time to the next fault tick.
    pub fn next_tick_delay_ms(&mut self) -> u64 {
        1 + self.rng.exponential(self.options.fault_interval_ms_mean)
    }

    /// How long a crashed node stays down: a few milliseconds for the share of quick
    /// restarts, else exponential around the mean.
    pub fn restart_delay_ms(&mut self) -> u64 {
        // Drawn only when quick restarts are on, so that runs without them draw as before.
        if self.options.crash_quick_restart_probability > 0.0
            && self
                .rng
                .chance(self.options.crash_quick_restart_probability)
        {
            return self.rng.between(1, QUICK_RESTART_MS_MAX);
        }
        1 + self
            .rng
            .exponential(self.options.node_restart_delay_ms_mean)
    }

    /// The faults of one tick, aimed at `targets`.
    pub fn tick(&mut self, targets: Targets<'_>) -> Vec<FaultAction> {
        let running = targets.running;
        let mut actions = Vec::new();
        if !running.is_empty() && self.rng.chance(self.options.node_crash_probability) {
            let mut node = *self.rng.pick(running);
            // The new draws come only with the new options on, so that runs without them
            // draw as they always did.
            if self.options.crash_leader_probability > 0.0
                && self.rng.chance(self.options.crash_leader_probability)
            {
                if !targets.campaigning.is_empty() {
                    node = *self.rng.pick(targets.campaigning);
                } else if let Some(leader) = targets.leader {
                    node = leader;
                }
            }
            let during_operation = self
                .rng
                .chance(self.options.crash_mid_write_probability)
                .then(|| self.rng.below(12));
            actions.push(FaultAction::Crash {
                node,
                during_operation,
            });
        }
        if !running.is_empty() && self.rng.chance(self.options.node_pause_probability) {
            let mut node = *self.rng.pick(running);
            // Drawn only with the option on, as for crashes.
            if self.options.pause_leader_probability > 0.0
                && self.rng.chance(self.options.pause_leader_probability)
            {
                if let Some(leader) = targets.leader {
                    node = leader;
                }
            }
            let duration_ms = 1 + self
                .rng
                .exponential(self.options.node_pause_duration_ms_mean);
            actions.push(FaultAction::Pause { node, duration_ms });
        }
        if self.node_count > 1
            && !self.options.partition_modes.is_empty()
            && self.rng.chance(self.options.partition_probability)
        {
            let mode = *self.rng.pick(&self.options.partition_modes);
            let (connectivity, description) =
                Connectivity::draw(mode, self.node_count as usize, &mut self.rng);
            let duration_ms = 1 + self
                .rng
                .exponential(self.options.partition_duration_ms_mean);
            actions.push(FaultAction::Partition {
                connectivity,
                mode,
                description,
                duration_ms,
            });
        }
        if self.node_count > 1 && self.rng.chance(self.options.link_clog_probability) {
            let mut from = self.rng.between(1, self.node_count);
            let mut to = self.rng.between(1, self.node_count - 1);
            if to >= from {
                to += 1;
            }
            if let Some(leader) = targets.leader {
                if self.options.clog_leader_probability > 0.0
                    && self.rng.chance(self.options.clog_leader_probability)
                {
                    // The leader's end of the link, either way, with the other end kept when it
                    // is another node.
                    let other = if from == leader { to } else { from };
                    let other = if other == leader {
                        (leader % self.node_count) + 1
                    } else {
                        other
                    };
                    (from, to) = if self.rng.chance(0.5) {
                        (leader, other)
                    } else {
                        (other, leader)
                    };
                }
            }
            let duration_ms = 1 + self
                .rng
                .exponential(self.options.link_clog_duration_ms_mean);
            actions.push(FaultAction::Clog {
                from,
                to,
                duration_ms,
            });
        }
        if self.node_count > 1 && self.rng.chance(self.options.leader_transfer_probability) {
            let to = self.rng.between(1, self.node_count);
            actions.push(FaultAction::TransferLeader { to });
        }
        if !running.is_empty() && self.rng.chance(self.options.forced_election_probability) {
            let node = *self.rng.pick(running);
            actions.push(FaultAction::ForceElection { node });
        }
        if self.node_count > 1 && self.rng.chance(self.options.membership_change_probability) {
            let choice = self.rng.next_u64();
            actions.push(FaultAction::ChangeMembership { choice });
        }
        if !self.corruptible.is_empty() && self.rng.chance(self.disk.corruption_probability) {
            let node = *self.rng.pick(&self.corruptible);
            let bad_sector = self.rng.chance(self.disk.corruption_bad_sector_probability);
            actions.push(FaultAction::Corrupt { node, bad_sector });
        }
        actions
    }
}

/// The longest delay of a quick restart.
const QUICK_RESTART_MS_MAX: u64 = 10;

/// Where in a synced file a bit flip or bad sector must land for recovery to notice it: in a
/// WAL segment, anywhere before the start of its last record (a valid record then follows the
/// damage, so recovery cannot take it for a torn tail and must report it); in a snapshot file,
/// anywhere (every byte is checksummed). Other files are left alone.
pub fn damage_offset(name: &str, bytes: &[u8], rng: &mut SimRng) -> Option<u64> {
    if name.starts_with("wal-") && name.ends_with(".log") {
        let last_record = last_record_offset(bytes)?;
        return Some(rng.below(last_record));
    }
    if name.starts_with("snapshot-") && !name.ends_with(".tmp") && !bytes.is_empty() {
        return Some(rng.below(bytes.len() as u64));
    }
    None
}

/// The offset of the last whole record of a WAL segment (see `kvapp::wal`'s layout: a 32-byte
/// header, then records of a 16-byte header whose first 4 bytes are the payload length), or
/// `None` if the segment has fewer than two records.
fn last_record_offset(bytes: &[u8]) -> Option<u64> {
    const SEGMENT_HEADER_SIZE_BYTES: usize = 32;
    const RECORD_HEADER_SIZE_BYTES: usize = 16;
    let mut offset = SEGMENT_HEADER_SIZE_BYTES;
    let mut last = None;
    let mut count = 0;
    while offset + RECORD_HEADER_SIZE_BYTES <= bytes.len() {
        let length = u32::from_le_bytes(bytes[offset..offset + 4].try_into().ok()?) as usize;
        let end = offset + RECORD_HEADER_SIZE_BYTES + length;
        if end > bytes.len() {
            break;
        }
        last = Some(offset as u64);
        count += 1;
        offset = end;
    }
    (count >= 2).then_some(last?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_aimed_at_the_leader_hit_it_and_others_spread() {
        let paused = |share: f64| {
            let options = FaultOptions {
                node_pause_probability: 1.0,
                pause_leader_probability: share,
                ..FaultOptions::none()
            };
            let mut injector =
                FaultInjector::new(options, DiskOptions::default(), 5, SimRng::new(9));
            let running = [1, 2, 3, 4, 5];
            let mut hits = [0u32; 6];
            for _ in 0..200 {
                let targets = Targets {
                    running: &running,
                    leader: Some(3),
                    campaigning: &[],
                };
                for action in injector.tick(targets) {
                    if let FaultAction::Pause { node, .. } = action {
                        hits[node as usize] += 1;
                    }
                }
            }
            hits
        };
        assert_eq!(paused(1.0)[3], 200);
        let spread = paused(0.0);
        assert!(spread[3] < 80 && spread[1] > 0, "{spread:?}");
    }

    #[test]
    fn the_corruptible_set_is_a_minority() {
        for node_count in [1, 3, 5, 7] {
            let injector = FaultInjector::new(
                FaultOptions::default(),
                DiskOptions::default(),
                node_count,
                SimRng::new(node_count),
            );
            assert!(
                (injector.corruptible().len() as u64) * 2 < node_count.max(1),
                "{node_count}"
            );
        }
    }

    #[test]
    fn wal_damage_lands_before_the_last_record() {
        let mut segment = vec![0u8; 32];
        for payload in [3usize, 5, 2] {
            segment.extend_from_slice(&(payload as u32).to_le_bytes());
            segment.extend_from_slice(&[0; 12]);
            segment.extend_from_slice(&vec![7; payload]);
        }
        let last = 32 + 16 + 3 + 16 + 5;
        let mut rng = SimRng::new(1);
        for _ in 0..100 {
            let offset = damage_offset("wal-0-1.log", &segment, &mut rng).expect("an offset");
            assert!(offset < last as u64);
        }
        assert_eq!(
            damage_offset("wal-0-1.log", &segment[..32 + 16 + 3], &mut rng),
            None
        );
        assert_eq!(damage_offset("other", &segment, &mut rng), None);
    }
}
