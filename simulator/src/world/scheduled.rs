//! Scheduled faults: the world fires a plan's ticks instead of the injector's draws. Each
//! action does what the same fault drawn at random does (the same helpers, so a recorded run
//! replays event for event), after resolving `"leader"` and `"follower"` and checking that the
//! fault can happen now; one that cannot is skipped with a note in the trace.

use kvapp::store::Operation;
use raft::NodeId;

use super::{Life, MembershipChange, Stop, World};

/// A membership entry of the first kinds: checked against what the leader could do.
#[derive(Clone, Copy, Debug)]
enum Classic {
    Add(NodeId),
    Remove(NodeId),
    Replace(NodeId, NodeId),
}
use crate::event::Event;
use crate::partition::Connectivity;
use crate::schedule::{self, Action, NodeRef};
use crate::workload::Scripted;

/// The schedule entry of a drawn partition: its groups when it has some, else its cut links.
pub(super) fn partition_entry(
    connectivity: &Connectivity,
    shape: &str,
    duration_ms: u64,
) -> schedule::Partition {
    let ids = |nodes: Vec<u64>| nodes.into_iter().map(NodeRef::Id).collect::<Vec<_>>();
    let (groups, cut) = match connectivity.as_groups() {
        Some(groups) => (Some(groups.into_iter().map(ids).collect()), None),
        None => (
            None,
            Some(
                connectivity
                    .cut_links()
                    .into_iter()
                    .map(|[from, to]| [NodeRef::Id(from), NodeRef::Id(to)])
                    .collect(),
            ),
        ),
    };
    schedule::Partition {
        groups,
        cut,
        duration_ms: Some(duration_ms),
        shape: Some(shape.to_string()),
    }
}

impl World {
    /// Fires the next tick of the plan and schedules the one after it.
    pub(super) fn scheduled_tick(&mut self) -> Result<(), Stop> {
        let Some(tick) = self.ticks.get(self.next_tick).cloned() else {
            return Ok(());
        };
        self.next_tick += 1;
        for action in &tick.actions {
            self.fire(action)?;
        }
        if let Some(next) = self.ticks.get(self.next_tick) {
            self.queue.push(next.at_ms, Event::FaultTick);
        }
        Ok(())
    }

    fn skip(&mut self, action: &Action, why: String) {
        self.trace.note(
            self.now_ms,
            format!("scheduled {} skipped: {why}", action.name()),
        );
    }

    /// The node `node` names now, or `None` (noted) when nobody holds the role.
    fn resolve(&mut self, node: NodeRef, action: &Action) -> Option<NodeId> {
        let resolved = match node {
            NodeRef::Id(id) => Some(id),
            NodeRef::Leader => self.current_leader(),
            NodeRef::Follower => {
                let leader = self.current_leader();
                self.processes
                    .iter()
                    .find(|process| process.is_running() && Some(process.id) != leader)
                    .map(|process| process.id)
            }
        };
        if resolved.is_none() {
            self.skip(action, format!("no {node} now"));
        }
        resolved
    }

    /// The running leader of the highest term (the lowest id on a tie).
    fn current_leader(&self) -> Option<NodeId> {
        self.processes
            .iter()
            .filter_map(|process| {
                let node = process.node().filter(|_| process.is_running())?;
                node.is_leader()
                    .then(|| (node.raw().raft.term, std::cmp::Reverse(process.id)))
            })
            .max()
            .map(|(_, std::cmp::Reverse(id))| id)
    }

    fn fire(&mut self, action: &Action) -> Result<(), Stop> {
        match action {
            Action::Nothing(_) => {}
            Action::Crash(crash) => {
                let Some(node) = self.resolve(crash.node, action) else {
                    return Ok(());
                };
                if self.process(node).node().is_none() {
                    self.skip(action, format!("node {node} is not up"));
                    return Ok(());
                }
                self.scheduled_restart_ms[node as usize - 1] = crash.restart_after_ms;
                self.crash_node(node, crash.during_operation);
            }
            Action::Restart(schedule::OnNode { node }) => {
                let Some(node) = self.resolve(*node, action) else {
                    return Ok(());
                };
                match self.process(node).life {
                    Life::Down(_) => self.open(node)?,
                    Life::Up(_) | Life::Destroyed(_) | Life::Removed(_) => {
                        self.skip(action, format!("node {node} is not down"));
                    }
                }
            }
            Action::Destroy(schedule::OnNode { node }) => {
                if let Some(node) = self.resolve(*node, action) {
                    self.destroy(node);
                }
            }
            Action::Pause(pause) => {
                let Some(node) = self.resolve(pause.node, action) else {
                    return Ok(());
                };
                if !self.process(node).is_running() {
                    self.skip(action, format!("node {node} is not running"));
                    return Ok(());
                }
                self.pause(node, pause.duration_ms);
            }
            Action::Partition(partition) => self.fire_partition(partition, action),
            Action::Heal(_) => {
                self.partition_epoch += 1;
                self.network.heal(self.now_ms);
                self.trace.note(
                    self.now_ms,
                    "scheduled heal: partitions and clogs".to_string(),
                );
            }
            Action::Clog(clog) => {
                let (Some(from), Some(to)) = (
                    self.resolve(clog.from, action),
                    self.resolve(clog.to, action),
                ) else {
                    return Ok(());
                };
                if from == to {
                    self.skip(action, format!("both ends are node {from}"));
                    return Ok(());
                }
                self.clog(from, to, clog.duration_ms);
            }
            Action::TearPendingWrites(schedule::OnNode { node }) => {
                let Some(node) = self.resolve(*node, action) else {
                    return Ok(());
                };
                let disk = match &mut self.process(node).life {
                    Life::Up(running) => Some(running.disk_mut()),
                    Life::Down(disk) => Some(&mut **disk),
                    Life::Destroyed(_) | Life::Removed(_) => None,
                };
                match disk {
                    Some(disk) => {
                        disk.tear_at_next_crash();
                        self.trace.note(
                            self.now_ms,
                            format!("node {node}: its next crash tears its newest writes"),
                        );
                    }
                    None => self.skip(action, format!("node {node} has no disk")),
                }
            }
            Action::Corrupt(corrupt) => {
                if let Some(node) = self.resolve(corrupt.node, action) {
                    self.corrupt(node, corrupt.bad_sector);
                }
            }
            Action::AddNode(schedule::OnNode { node }) => {
                if let Some(node) = self.resolve(*node, action) {
                    self.scheduled_membership(Classic::Add(node), action)?;
                }
            }
            Action::RemoveNode(schedule::OnNode { node }) => {
                if let Some(node) = self.resolve(*node, action) {
                    self.scheduled_membership(Classic::Remove(node), action)?;
                }
            }
            Action::ReplaceNode(schedule::ReplaceNode { add, remove }) => {
                if let (Some(add), Some(remove)) =
                    (self.resolve(*add, action), self.resolve(*remove, action))
                {
                    self.scheduled_membership(Classic::Replace(add, remove), action)?;
                }
            }
            Action::ChangeMembership(change) => {
                let resolve_all = |world: &mut World, nodes: &[schedule::NodeRef]| {
                    nodes
                        .iter()
                        .map(|&node| world.resolve(node, action))
                        .collect::<Option<Vec<NodeId>>>()
                };
                let (Some(voters), Some(learners), Some(remove), Some(through)) = (
                    resolve_all(self, &change.voters),
                    resolve_all(self, &change.learners),
                    resolve_all(self, &change.remove),
                    self.resolve(change.through, action),
                ) else {
                    return Ok(());
                };
                if !self.process(through).is_running() {
                    self.skip(action, format!("node {through} is not running"));
                    return Ok(());
                }
                self.change_membership(&MembershipChange {
                    voters,
                    learners,
                    remove,
                    transition: change.transition,
                    through,
                    classic: false,
                })?;
            }
            Action::TransferLeader(transfer) => {
                if let Some(to) = self.resolve(transfer.to, action) {
                    self.transfer_leader(to)?;
                }
            }
            Action::Campaign(schedule::OnNode { node }) => {
                if let Some(node) = self.resolve(*node, action) {
                    self.campaign(node)?;
                }
            }
            Action::Put(put) => self.fire_client(
                put.client,
                Operation::Put {
                    key: put.key.clone(),
                    value: put.value.clone(),
                },
                false,
                put.node,
                action,
            )?,
            Action::Append(append) => self.fire_client(
                append.client,
                Operation::Append {
                    key: append.key.clone(),
                    value: append.value.clone(),
                },
                false,
                append.node,
                action,
            )?,
            Action::Get(get) => self.fire_client(
                get.client,
                Operation::Get {
                    key: get.key.clone(),
                },
                get.through_log,
                get.node,
                action,
            )?,
            Action::Delete(delete) => self.fire_client(
                delete.client,
                Operation::Delete {
                    key: delete.key.clone(),
                },
                false,
                delete.node,
                action,
            )?,
            Action::Cas(cas) => self.fire_client(
                cas.client,
                Operation::CompareAndSet {
                    key: cas.key.clone(),
                    expected: cas.expected.clone(),
                    value: cas.value.clone(),
                },
                false,
                cas.node,
                action,
            )?,
        }
        Ok(())
    }

    fn fire_partition(&mut self, partition: &schedule::Partition, action: &Action) {
        let node_count = self.processes.len();
        let resolve_all = |world: &mut World, nodes: &[NodeRef]| -> Option<Vec<NodeId>> {
            nodes
                .iter()
                .map(|&node| world.resolve(node, action))
                .collect()
        };
        let (connectivity, description, default_shape) = match (&partition.groups, &partition.cut) {
            (Some(groups), None) => {
                let mut resolved = Vec::new();
                for group in groups {
                    let Some(group) = resolve_all(self, group) else {
                        return;
                    };
                    resolved.push(group);
                }
                let mut seen: Vec<NodeId> = resolved.iter().flatten().copied().collect();
                seen.sort_unstable();
                if let Some(pair) = seen.windows(2).find(|pair| pair[0] == pair[1]) {
                    let twice = pair[0];
                    self.skip(action, format!("node {twice} is in two groups"));
                    return;
                }
                let text: Vec<String> = resolved.iter().map(|group| format!("{group:?}")).collect();
                (
                    Connectivity::groups(node_count, &resolved),
                    format!("groups {}", text.join(" ")),
                    "groups",
                )
            }
            (None, Some(cut)) => {
                let mut links = Vec::new();
                for link in cut {
                    let Some(ends) = resolve_all(self, link) else {
                        return;
                    };
                    links.push([ends[0], ends[1]]);
                }
                let text: Vec<String> = links
                    .iter()
                    .map(|[from, to]| format!("{from}->{to}"))
                    .collect();
                (
                    Connectivity::cut(node_count, &links),
                    format!("cut {}", text.join(" ")),
                    "cut",
                )
            }
            // The scenario check refuses both and neither.
            (Some(_), Some(_)) | (None, None) => {
                self.skip(action, "it needs groups or cut".to_string());
                return;
            }
        };
        let shape = partition.shape.as_deref().unwrap_or(default_shape);
        self.start_partition(connectivity, shape, &description, partition.duration_ms);
    }

    /// A scheduled membership change, if the running leader can make it now.
    fn scheduled_membership(&mut self, change: Classic, action: &Action) -> Result<(), Stop> {
        let Some((leader, removable, outsiders)) = self.membership_candidates() else {
            self.skip(
                action,
                "no running leader outside a joint configuration".to_string(),
            );
            return Ok(());
        };
        let possible = match change {
            Classic::Add(node) => outsiders.contains(&node),
            Classic::Remove(node) => removable.contains(&node),
            Classic::Replace(add, remove) => {
                outsiders.contains(&add) && removable.contains(&remove)
            }
        };
        if !possible {
            self.skip(
                action,
                format!(
                    "leader {leader} can remove {removable:?} and add back {outsiders:?}, not \
                     {change:?}"
                ),
            );
            return Ok(());
        }
        let change = match change {
            Classic::Add(node) => MembershipChange::add(node, leader),
            Classic::Remove(node) => MembershipChange::remove(node, leader),
            Classic::Replace(add, remove) => MembershipChange::replace(add, remove, leader),
        };
        self.change_membership(&change)
    }

    /// A scheduled client operation: queued for the client, which starts it now if it is free.
    fn fire_client(
        &mut self,
        client: u64,
        operation: Operation,
        through_log: bool,
        node: Option<NodeRef>,
        action: &Action,
    ) -> Result<(), Stop> {
        let node = match node {
            Some(node) => self.resolve(node, action),
            None => None,
        };
        self.workload.script(
            client,
            Scripted {
                operation,
                through_log,
                node,
            },
        );
        self.client_wake(client)
    }

    /// The machine is lost with its disk: the node never comes back.
    fn destroy(&mut self, id: NodeId) {
        let now = self.now_ms;
        let process = self.process(id);
        if matches!(process.life, Life::Destroyed(_) | Life::Removed(_)) {
            let action = Action::Destroy(schedule::OnNode {
                node: NodeRef::Id(id),
            });
            self.skip(&action, format!("node {id} is already gone"));
            return;
        }
        let reason = "destroyed by the schedule".to_string();
        process.life = Life::Destroyed(reason.clone());
        process.paused_until_ms = None;
        process.inbox.clear();
        process.restart_pending = false;
        self.invariants.on_crash(id);
        self.promises.node_stopped(id, self.now_ms);
        self.promises.node_down(id);
        self.requests.retain(|(node, _, _), _| *node != id);
        self.faults.stats.destroyed_nodes += 1;
        self.stats.destroyed.push((id, reason));
        self.trace
            .note(now, format!("node {id} destroyed with its disk"));
    }
}
