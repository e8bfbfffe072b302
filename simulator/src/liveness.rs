//! The liveness judgement. After the fault window everything heals (links, partitions, paused
//! and crashed nodes; only destroyed nodes stay down) and the clients stop starting new work
//! after one last write each. Within the bound every client operation must end and every
//! healthy node must run, agree on one commit index, and have applied up to it.

use raft::{Index, NodeId};

/// What the judgement looks at for one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeProgress {
    /// The node.
    pub id: NodeId,
    /// Not destroyed by injected disk damage.
    pub healthy: bool,
    /// Up and not paused.
    pub running: bool,
    /// Its commit index (when running).
    pub commit: Index,
    /// Its applied index (when running).
    pub applied: Index,
}

/// `Ok` when converged; otherwise why not.
pub fn converged(nodes: &[NodeProgress], clients_done: bool) -> Result<Index, String> {
    let healthy: Vec<&NodeProgress> = nodes.iter().filter(|node| node.healthy).collect();
    if healthy.len() * 2 <= nodes.len() {
        return Err(format!(
            "only {} of {} nodes are healthy: no quorum of healthy nodes",
            healthy.len(),
            nodes.len()
        ));
    }
    if let Some(node) = healthy.iter().find(|node| !node.running) {
        return Err(format!("node {} is not running", node.id));
    }
    if !clients_done {
        return Err("client operations are still outstanding".to_string());
    }
    let applied = healthy[0].applied;
    for node in &healthy {
        if node.commit != node.applied || node.applied != applied {
            let summary: Vec<String> = healthy
                .iter()
                .map(|node| {
                    format!(
                        "node {} commit {} applied {}",
                        node.id, node.commit, node.applied
                    )
                })
                .collect();
            return Err(format!("nodes disagree: {}", summary.join(", ")));
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        id: NodeId,
        healthy: bool,
        running: bool,
        commit: Index,
        applied: Index,
    ) -> NodeProgress {
        NodeProgress {
            id,
            healthy,
            running,
            commit,
            applied,
        }
    }

    #[test]
    fn convergence_needs_done_clients_and_equal_indexes_on_healthy_nodes() {
        let agreed = [
            node(1, true, true, 9, 9),
            node(2, true, true, 9, 9),
            node(3, false, false, 0, 0),
        ];
        assert_eq!(converged(&agreed, true), Ok(9));
        assert!(converged(&agreed, false).is_err());
        let lagging = [
            node(1, true, true, 9, 9),
            node(2, true, true, 9, 8),
            node(3, true, true, 9, 9),
        ];
        assert!(converged(&lagging, true).unwrap_err().contains("disagree"));
        let down = [
            node(1, true, true, 9, 9),
            node(2, true, false, 0, 0),
            node(3, true, true, 9, 9),
        ];
        assert!(converged(&down, true).unwrap_err().contains("node 2"));
        let no_quorum = [
            node(1, true, true, 9, 9),
            node(2, false, false, 0, 0),
            node(3, false, false, 0, 0),
        ];
        assert!(converged(&no_quorum, true).is_err());
    }
}
