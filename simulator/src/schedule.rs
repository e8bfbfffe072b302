//! An explicit schedule of faults and client operations: what a scenario file lists and what
//! `raftsim run --record` writes. The world fires the entries of one time together, as one
//! fault tick, in file order (see `World::with_plan`).
//!
//! Entries name nodes by id, or by role (`"leader"`, `"follower"`), resolved when the entry
//! fires: the leader is the running leader of the highest term (the lowest id on a tie), a
//! follower the lowest-id running node that is not that leader. An entry whose role nobody
//! holds does nothing and says so in the trace.

use std::fmt;

use raft::NodeId;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A node named in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRef {
    /// This node.
    Id(NodeId),
    /// Whoever leads when the entry fires.
    Leader,
    /// A running node other than the leader when the entry fires.
    Follower,
}

impl NodeRef {
    /// The node id, when the reference names one.
    pub fn id(self) -> Option<NodeId> {
        match self {
            NodeRef::Id(id) => Some(id),
            NodeRef::Leader | NodeRef::Follower => None,
        }
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Id(id) => write!(formatter, "{id}"),
            NodeRef::Leader => formatter.write_str("leader"),
            NodeRef::Follower => formatter.write_str("follower"),
        }
    }
}

impl Serialize for NodeRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            NodeRef::Id(id) => serializer.serialize_u64(*id),
            NodeRef::Leader => serializer.serialize_str("leader"),
            NodeRef::Follower => serializer.serialize_str("follower"),
        }
    }
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<NodeRef, D::Error> {
        struct NodeRefVisitor;
        impl Visitor<'_> for NodeRefVisitor {
            type Value = NodeRef;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a node id (1, 2, …) or \"leader\" or \"follower\"")
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<NodeRef, E> {
                if id == 0 {
                    return Err(E::custom("node ids start at 1"));
                }
                Ok(NodeRef::Id(id))
            }
            fn visit_i64<E: de::Error>(self, id: i64) -> Result<NodeRef, E> {
                Err(E::custom(format!("node ids start at 1, not {id}")))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<NodeRef, E> {
                match name {
                    "leader" => Ok(NodeRef::Leader),
                    "follower" => Ok(NodeRef::Follower),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(NodeRefVisitor)
    }
}

/// Power loss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// The node.
    pub node: NodeRef,
    /// Lose power inside the node's n-th next disk operation (0: the very next one) rather
    /// than at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during_operation: Option<u64>,
    /// Restart this long after the power goes; absent: the node stays down until a `restart`
    /// entry or the heal at the end of the fault window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after_ms: Option<u64>,
}

/// An entry that names one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnNode {
    /// The node.
    pub node: NodeRef,
}

/// A joint-consensus change that adds one node and removes another in one step (Raft thesis
/// §4.3); raft leaves the joint configuration by itself once it is applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceNode {
    /// The node that left and comes back as a voter.
    pub add: NodeRef,
    /// The voter that goes.
    pub remove: NodeRef,
}

/// How a membership change moves between configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// raft's `Auto`: one step when at most one voter changes (Raft thesis §4.1), else a
    /// joint configuration that the leader leaves by itself.
    Auto,
    /// Through a joint configuration (thesis §4.3) that the leader leaves by itself.
    Joint,
    /// Through a joint configuration that is left only when a `leave` change asks.
    JointExplicit,
    /// Leaves the current joint configuration (the lists stay empty).
    Leave,
}

fn is_leader(node: &NodeRef) -> bool {
    *node == NodeRef::Leader
}

fn leader() -> NodeRef {
    NodeRef::Leader
}

/// A membership change of any form: nodes made voters (added, or learners promoted), nodes
/// made learners (added, or voters demoted) and nodes removed, in one configuration change
/// proposed through one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeMembership {
    /// Nodes that become voters: nodes that left come back (with the disk they left with),
    /// learners are promoted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub voters: Vec<NodeRef>,
    /// Nodes that become learners: nodes that left come back as learners, voters are demoted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learners: Vec<NodeRef>,
    /// Nodes removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<NodeRef>,
    /// How the configuration changes.
    pub transition: Transition,
    /// The node the change is proposed to (a follower forwards it to the leader).
    #[serde(default = "leader", skip_serializing_if = "is_leader")]
    pub through: NodeRef,
}

/// A process stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// The node.
    pub node: NodeRef,
    /// For how long.
    pub duration_ms: u64,
}

/// A network split: `groups` (nodes talk within their group; nodes named in no group form one
/// more group) or `cut` (these directed links carry nothing, the rest everything).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Groups of nodes that talk among themselves only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<NodeRef>>>,
    /// `[from, to]` links that carry nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<Vec<[NodeRef; 2]>>,
    /// Ends after this long; absent: at the next `heal` or at the end of the fault window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// What the report counts it as (a random run writes its partition mode here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
}

/// A directed link holds its messages back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clog {
    /// Sender side.
    pub from: NodeRef,
    /// Receiver side.
    pub to: NodeRef,
    /// For how long.
    pub duration_ms: u64,
}

/// Disk damage on a synced sector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corrupt {
    /// The node.
    pub node: NodeRef,
    /// An unreadable sector rather than a flipped bit.
    #[serde(default)]
    pub bad_sector: bool,
}

/// The leader is asked to hand leadership over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferLeader {
    /// The node to hand over to.
    pub to: NodeRef,
}

/// Fields every client operation has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Put {
    /// The client (from 0).
    pub client: u64,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The node the first attempt goes to (retries choose as the client does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRef>,
}

/// A read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Get {
    /// The client (from 0).
    pub client: u64,
    /// The key.
    pub key: String,
    /// Through the log instead of ReadIndex.
    #[serde(default)]
    pub through_log: bool,
    /// The node the first attempt goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRef>,
}

/// A delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delete {
    /// The client (from 0).
    pub client: u64,
    /// The key.
    pub key: String,
    /// The node the first attempt goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRef>,
}

/// A compare-and-set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareAndSet {
    /// The client (from 0).
    pub client: u64,
    /// The key.
    pub key: String,
    /// The value the key must hold (`null`: the key must be absent).
    pub expected: Option<String>,
    /// The new value.
    pub value: String,
    /// The node the first attempt goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRef>,
}

/// No fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// What one schedule entry does. The names are the JSON keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing: a recorded fault tick at which the random injector drew no fault. It keeps a
    /// recorded run's events in step with the original.
    Nothing(Empty),
    /// Power loss, at once or inside a coming disk operation.
    Crash(Crash),
    /// A crashed node starts again from its disk.
    Restart(OnNode),
    /// The machine and its disk are lost for good: the node never comes back and the liveness
    /// phase leaves it out (but still needs a healthy majority).
    Destroy(OnNode),
    /// The process stops for a while.
    Pause(Pause),
    /// The network splits.
    Partition(Partition),
    /// Every partition and clog ends now (the fault window goes on).
    Heal(Empty),
    /// A directed link holds its messages back.
    Clog(Clog),
    /// At the node's next crash, its newest unsynced write is torn or lost (rather than
    /// whatever the crash model draws).
    TearPendingWrites(OnNode),
    /// A synced sector of the node's disk is damaged where recovery must notice.
    Corrupt(Corrupt),
    /// The leader is asked to add a node that left (it comes back with the disk it left with).
    AddNode(OnNode),
    /// The leader is asked to remove a voter.
    RemoveNode(OnNode),
    /// The leader is asked to add a node that left and remove a voter, through a joint
    /// configuration.
    ReplaceNode(ReplaceNode),
    /// A membership change of any form, proposed through any node.
    ChangeMembership(ChangeMembership),
    /// The leader is asked to hand leadership over (Raft thesis §3.10).
    TransferLeader(TransferLeader),
    /// The node starts an election at once.
    Campaign(OnNode),
    /// A client writes a key.
    Put(Put),
    /// A client appends to a key.
    Append(Put),
    /// A client reads a key.
    Get(Get),
    /// A client deletes a key.
    Delete(Delete),
    /// A client compares and sets a key.
    Cas(CompareAndSet),
}

/// The JSON keys of [`Action`], for error messages.
pub const ACTION_NAMES: &[&str] = &[
    "nothing",
    "crash",
    "restart",
    "destroy",
    "pause",
    "partition",
    "heal",
    "clog",
    "tear_pending_writes",
    "corrupt",
    "add_node",
    "remove_node",
    "replace_node",
    "change_membership",
    "transfer_leader",
    "campaign",
    "put",
    "append",
    "get",
    "delete",
    "cas",
];

impl Action {
    /// Every node the action names, with the field that names it.
    pub fn nodes(&self) -> Vec<(String, NodeRef)> {
        let one = |field: &str, node: NodeRef| vec![(field.to_string(), node)];
        match self {
            Action::Nothing(_) | Action::Heal(_) => Vec::new(),
            Action::Crash(Crash { node, .. })
            | Action::Restart(OnNode { node })
            | Action::Destroy(OnNode { node })
            | Action::Pause(Pause { node, .. })
            | Action::TearPendingWrites(OnNode { node })
            | Action::Corrupt(Corrupt { node, .. })
            | Action::AddNode(OnNode { node })
            | Action::RemoveNode(OnNode { node })
            | Action::Campaign(OnNode { node }) => one("node", *node),
            Action::TransferLeader(TransferLeader { to }) => one("to", *to),
            Action::ReplaceNode(ReplaceNode { add, remove }) => {
                vec![("add".to_string(), *add), ("remove".to_string(), *remove)]
            }
            Action::ChangeMembership(change) => {
                let mut nodes = Vec::new();
                for (field, list) in [
                    ("voters", &change.voters),
                    ("learners", &change.learners),
                    ("remove", &change.remove),
                ] {
                    for (position, node) in list.iter().enumerate() {
                        nodes.push((format!("{field}[{position}]"), *node));
                    }
                }
                nodes.push(("through".to_string(), change.through));
                nodes
            }
            Action::Clog(Clog { from, to, .. }) => {
                vec![("from".to_string(), *from), ("to".to_string(), *to)]
            }
            Action::Partition(partition) => {
                let mut nodes = Vec::new();
                for (group_index, group) in partition.groups.iter().flatten().enumerate() {
                    for (position, node) in group.iter().enumerate() {
                        nodes.push((format!("groups[{group_index}][{position}]"), *node));
                    }
                }
                for (link_index, link) in partition.cut.iter().flatten().enumerate() {
                    for (end, node) in link.iter().enumerate() {
                        nodes.push((format!("cut[{link_index}][{end}]"), *node));
                    }
                }
                nodes
            }
            Action::Put(Put { node, .. })
            | Action::Append(Put { node, .. })
            | Action::Get(Get { node, .. })
            | Action::Delete(Delete { node, .. })
            | Action::Cas(CompareAndSet { node, .. }) => {
                node.map(|node| one("node", node)).unwrap_or_default()
            }
        }
    }

    /// The fields every client operation has (its client, key and chosen node), to change
    /// whichever operation this is; `None` for a fault.
    pub fn operation_fields(&mut self) -> Option<OperationFields<'_>> {
        let (client, key, node) = match self {
            Action::Put(Put {
                client, key, node, ..
            })
            | Action::Append(Put {
                client, key, node, ..
            }) => (client, key, node),
            Action::Get(Get {
                client, key, node, ..
            }) => (client, key, node),
            Action::Delete(Delete { client, key, node }) => (client, key, node),
            Action::Cas(CompareAndSet {
                client, key, node, ..
            }) => (client, key, node),
            Action::Nothing(_)
            | Action::Crash(_)
            | Action::Restart(_)
            | Action::Destroy(_)
            | Action::Pause(_)
            | Action::Partition(_)
            | Action::Heal(_)
            | Action::Clog(_)
            | Action::TearPendingWrites(_)
            | Action::Corrupt(_)
            | Action::AddNode(_)
            | Action::RemoveNode(_)
            | Action::ReplaceNode(_)
            | Action::ChangeMembership(_)
            | Action::TransferLeader(_)
            | Action::Campaign(_) => return None,
        };
        Some(OperationFields { client, key, node })
    }

    /// The client of a client operation.
    pub fn client(&self) -> Option<u64> {
        match self {
            Action::Put(Put { client, .. })
            | Action::Append(Put { client, .. })
            | Action::Get(Get { client, .. })
            | Action::Delete(Delete { client, .. })
            | Action::Cas(CompareAndSet { client, .. }) => Some(*client),
            Action::Nothing(_)
            | Action::Crash(_)
            | Action::Restart(_)
            | Action::Destroy(_)
            | Action::Pause(_)
            | Action::Partition(_)
            | Action::Heal(_)
            | Action::Clog(_)
            | Action::TearPendingWrites(_)
            | Action::Corrupt(_)
            | Action::AddNode(_)
            | Action::RemoveNode(_)
            | Action::ReplaceNode(_)
            | Action::ChangeMembership(_)
            | Action::TransferLeader(_)
            | Action::Campaign(_) => None,
        }
    }

    /// The JSON key.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Nothing(_) => "nothing",
            Action::Crash(_) => "crash",
            Action::Restart(_) => "restart",
            Action::Destroy(_) => "destroy",
            Action::Pause(_) => "pause",
            Action::Partition(_) => "partition",
            Action::Heal(_) => "heal",
            Action::Clog(_) => "clog",
            Action::TearPendingWrites(_) => "tear_pending_writes",
            Action::Corrupt(_) => "corrupt",
            Action::AddNode(_) => "add_node",
            Action::RemoveNode(_) => "remove_node",
            Action::ReplaceNode(_) => "replace_node",
            Action::ChangeMembership(_) => "change_membership",
            Action::TransferLeader(_) => "transfer_leader",
            Action::Campaign(_) => "campaign",
            Action::Put(_) => "put",
            Action::Append(_) => "append",
            Action::Get(_) => "get",
            Action::Delete(_) => "delete",
            Action::Cas(_) => "cas",
        }
    }
}

/// The fields shared by every client operation, borrowed from an [`Action`].
pub struct OperationFields<'a> {
    /// The client.
    pub client: &'a mut u64,
    /// The key.
    pub key: &'a mut String,
    /// The node the client tries first, if chosen.
    pub node: &'a mut Option<NodeRef>,
}

/// One line of a schedule: a time and one action, written `{"at_ms": 500, "crash": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When, in simulated milliseconds from the start.
    pub at_ms: u64,
    /// What.
    pub action: Action,
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("at_ms", &self.at_ms)?;
        match &self.action {
            Action::Nothing(args) | Action::Heal(args) => {
                map.serialize_entry(self.action.name(), args)?
            }
            Action::Crash(args) => map.serialize_entry("crash", args)?,
            Action::Restart(args)
            | Action::Destroy(args)
            | Action::TearPendingWrites(args)
            | Action::AddNode(args)
            | Action::RemoveNode(args)
            | Action::Campaign(args) => map.serialize_entry(self.action.name(), args)?,
            Action::Pause(args) => map.serialize_entry("pause", args)?,
            Action::Partition(args) => map.serialize_entry("partition", args)?,
            Action::Clog(args) => map.serialize_entry("clog", args)?,
            Action::Corrupt(args) => map.serialize_entry("corrupt", args)?,
            Action::TransferLeader(args) => map.serialize_entry("transfer_leader", args)?,
            Action::ReplaceNode(args) => map.serialize_entry("replace_node", args)?,
            Action::ChangeMembership(args) => map.serialize_entry("change_membership", args)?,
            Action::Put(args) | Action::Append(args) => {
                map.serialize_entry(self.action.name(), args)?
            }
            Action::Get(args) => map.serialize_entry("get", args)?,
            Action::Delete(args) => map.serialize_entry("delete", args)?,
            Action::Cas(args) => map.serialize_entry("cas", args)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an entry such as {\"at_ms\": 500, \"crash\": {\"node\": 1}}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut at_ms = None;
        let mut action: Option<Action> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "at_ms" {
                if at_ms.is_some() {
                    return Err(de::Error::duplicate_field("at_ms"));
                }
                at_ms = Some(map.next_value::<u64>()?);
                continue;
            }
            if let Some(first) = &action {
                return Err(de::Error::custom(format!(
                    "one action per entry: {key:?} follows {:?}",
                    first.name()
                )));
            }
            action = Some(match key.as_str() {
                "nothing" => Action::Nothing(map.next_value()?),
                "crash" => Action::Crash(map.next_value()?),
                "restart" => Action::Restart(map.next_value()?),
                "destroy" => Action::Destroy(map.next_value()?),
                "pause" => Action::Pause(map.next_value()?),
                "partition" => Action::Partition(map.next_value()?),
                "heal" => Action::Heal(map.next_value()?),
                "clog" => Action::Clog(map.next_value()?),
                "tear_pending_writes" => Action::TearPendingWrites(map.next_value()?),
                "corrupt" => Action::Corrupt(map.next_value()?),
                "add_node" => Action::AddNode(map.next_value()?),
                "remove_node" => Action::RemoveNode(map.next_value()?),
                "replace_node" => Action::ReplaceNode(map.next_value()?),
                "change_membership" => Action::ChangeMembership(map.next_value()?),
                "transfer_leader" => Action::TransferLeader(map.next_value()?),
                "campaign" => Action::Campaign(map.next_value()?),
                "put" => Action::Put(map.next_value()?),
                "append" => Action::Append(map.next_value()?),
                "get" => Action::Get(map.next_value()?),
                "delete" => Action::Delete(map.next_value()?),
                "cas" => Action::Cas(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown field {other:?}, expected \"at_ms\" or one action of: {}",
                        ACTION_NAMES.join(", ")
                    )));
                }
            });
        }
        let at_ms = at_ms.ok_or_else(|| de::Error::missing_field("at_ms"))?;
        let action = action.ok_or_else(|| {
            de::Error::custom(format!(
                "the entry has no action (one of: {})",
                ACTION_NAMES.join(", ")
            ))
        })?;
        Ok(Entry { at_ms, action })
    }
}

/// Entries of one time, fired together as one fault tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    /// When.
    pub at_ms: u64,
    /// What, in order.
    pub actions: Vec<Action>,
}

/// Groups a time-ordered schedule into ticks.
pub fn ticks(entries: &[Entry]) -> Vec<Tick> {
    let mut ticks: Vec<Tick> = Vec::new();
    for entry in entries {
        match ticks.last_mut() {
            Some(tick) if tick.at_ms == entry.at_ms => tick.actions.push(entry.action.clone()),
            Some(_) | None => ticks.push(Tick {
                at_ms: entry.at_ms,
                actions: vec![entry.action.clone()],
            }),
        }
    }
    ticks
}

/// Where a run's faults come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultPlan {
    /// The fault injector draws them at random ticks (the options' probabilities).
    Random,
    /// These ticks, and nothing else.
    Scheduled(Vec<Tick>),
}

/// How a world runs besides its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The faults (and scripted client operations).
    pub faults: FaultPlan,
    /// The clients draw operations of their own (otherwise they run only scheduled ones, and
    /// one final write each in the liveness phase).
    pub generator: bool,
    /// The seed of the clients' random stream.
    pub workload_seed: u64,
    /// Keep every injected fault, resolved, as a schedule entry (for `run --record`).
    pub record_schedule: bool,
}

impl Plan {
    /// What a plain `raftsim run` does: random faults, the generator seeded from the run.
    pub fn random(seed: u64) -> Plan {
        Plan {
            faults: FaultPlan::Random,
            generator: true,
            workload_seed: seed,
            record_schedule: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_reject_two_actions() {
        let text = r#"[
            {"at_ms": 5, "crash": {"node": "leader", "restart_after_ms": 40}},
            {"at_ms": 5, "partition": {"groups": [[1], [2, 3]], "duration_ms": 9}},
            {"at_ms": 7, "put": {"client": 0, "key": "k", "value": "v"}}
        ]"#;
        let entries: Vec<Entry> = serde_json::from_str(text).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0].action,
            Action::Crash(Crash {
                node: NodeRef::Leader,
                during_operation: None,
                restart_after_ms: Some(40),
            })
        );
        let again: Vec<Entry> =
            serde_json::from_str(&serde_json::to_string(&entries).unwrap()).unwrap();
        assert_eq!(again, entries);
        let grouped = ticks(&entries);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].actions.len(), 2);

        let two = r#"{"at_ms": 1, "crash": {"node": 1}, "pause": {"node": 2, "duration_ms": 3}}"#;
        let error = serde_json::from_str::<Entry>(two).unwrap_err().to_string();
        assert!(error.contains("one action per entry"), "{error}");
        let unknown = r#"{"at_ms": 1, "explode": {}}"#;
        let error = serde_json::from_str::<Entry>(unknown)
            .unwrap_err()
            .to_string();
        assert!(error.contains("explode"), "{error}");
        let bad_node = r#"{"at_ms": 1, "crash": {"node": "boss"}}"#;
        let error = serde_json::from_str::<Entry>(bad_node)
            .unwrap_err()
            .to_string();
        assert!(error.contains("leader"), "{error}");
        let extra = r#"{"at_ms": 1, "crash": {"node": 1, "when": 2}}"#;
        assert!(serde_json::from_str::<Entry>(extra).is_err());
    }
}
