//! Client sessions do not pile up: each run of a server closes, through the log, the sessions
//! its node's earlier runs left in every replica's store, and removing a node closes all of
//! its sessions. Real processes.

mod support;

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use support::cluster::{Cluster, ClusterOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_kvapp");
const WAIT: Duration = Duration::from_secs(15);

/// The "closed client sessions" entries in `id`'s log: the `ended=` figure of each, in log
/// order. A restarted node applies its log again, so its log may repeat an entry; it counts
/// once, by index.
fn closes_applied(cluster: &Cluster, id: u64) -> Vec<u64> {
    let log = std::fs::read_to_string(cluster.log_path(id)).unwrap_or_default();
    let field = |line: &str, name: &str| -> u64 {
        let (_, after) = line
            .split_once(&format!("{name}="))
            .unwrap_or_else(|| panic!("no {name}= in {line}"));
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().expect("a number")
    };
    let closes: BTreeMap<u64, u64> = log
        .lines()
        .filter(|line| line.contains("closed client sessions"))
        .map(|line| (field(line, "index"), field(line, "ended")))
        .collect();
    closes.into_values().collect()
}

/// Waits until the logs of `nodes` show `expected` closes applied.
fn wait_for_closes(cluster: &Cluster, nodes: &[u64], expected: &[u64]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen: Vec<Vec<u64>> = nodes
            .iter()
            .map(|&id| closes_applied(cluster, id))
            .collect();
        if seen.iter().all(|closes| closes == expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "closes applied per node {seen:?}, expected {expected:?} on each"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_run_closes_the_sessions_of_its_node_s_earlier_runs_on_every_replica() {
    let mut cluster = Cluster::start(BINARY, ClusterOptions::new(3));
    cluster.wait_for_leader(WAIT);
    // The first runs have nothing to close.
    for index in 0..3 {
        assert_eq!(cluster.put(2, &format!("first-{index}"), "a"), 204);
    }
    assert!(closes_applied(&cluster, 1).is_empty());

    // Node 2's first run wrote one PUT at a time: one slot, one session, which its second
    // run closes on all three nodes.
    cluster.restart(2);
    wait_for_closes(&cluster, &[1, 2, 3], &[1]);
    let log = std::fs::read_to_string(cluster.log_path(2)).unwrap();
    assert!(
        log.contains("closed the client sessions of this node's earlier runs"),
        "{log}"
    );

    // The new run's own client ids stay open: its writes are applied.
    assert!(
        put_until_done(&cluster, 2, "second", "b"),
        "node 2 never took a write again"
    );
    cluster.wait_for_value(1, "second", "b", WAIT).unwrap();

    // The third run closes the second run's session, and only it: the first's is gone.
    cluster.restart(2);
    wait_for_closes(&cluster, &[1, 2, 3], &[1, 1]);
    cluster.wait_for_value(3, "first-2", "a", WAIT).unwrap();

    // Node 3 takes a write (one session), then is removed through node 1. Each node that
    // remains closes every client id of node 3: the first close applied ends its session, the
    // other member's copy finds nothing left.
    assert!(
        put_until_done(&cluster, 3, "third", "c"),
        "node 3 never took a write"
    );
    let response = cluster.request(1, "DELETE", "/3", b"").unwrap();
    assert_eq!(response.status, 204, "{}", response.text());
    cluster
        .wait_for_exit(3, WAIT)
        .expect("the removed node exits");
    wait_for_closes(&cluster, &[1, 2], &[1, 1, 1, 0]);
    for id in [1, 2] {
        let log = std::fs::read_to_string(cluster.log_path(id)).unwrap();
        assert!(
            log.contains("closed the client sessions of removed node 3"),
            "node {id}: {log}"
        );
    }
}

fn put_until_done(cluster: &Cluster, id: u64, key: &str, value: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cluster.put(id, key, value) == 204 {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}
