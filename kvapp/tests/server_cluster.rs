//! Three real `kvapp` processes on 127.0.0.1: writes and reads over HTTP, a SIGKILLed leader
//! that comes back with everything acknowledged, a node added (caught up by snapshot) and a node
//! removed (which then exits).

mod support;

use std::time::{Duration, Instant};

use support::cluster::{Cluster, ClusterOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_kvapp");
const WAIT: Duration = Duration::from_secs(15);

#[test]
fn acknowledged_writes_survive_a_leader_kill_and_membership_changes() {
    let started = Instant::now();
    let mut options = ClusterOptions::new(3);
    // Small, so that the log is compacted and the new node catches up from a snapshot.
    options.snapshot_count = 16;
    let mut cluster = Cluster::start(BINARY, options);
    let leader = cluster.wait_for_leader(WAIT);
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let other = (1..=3).find(|&id| id != leader && id != follower).unwrap();

    // A write through a follower, a linearizable read on another node, then a local one.
    assert_eq!(cluster.put(follower, "greeting", "hello"), 204);
    cluster
        .wait_for_value(other, "greeting", "hello", WAIT)
        .unwrap();
    assert_eq!(
        cluster.get_local(leader, "greeting").as_deref(),
        Some("hello")
    );
    assert_eq!(cluster.get(leader, "absent").unwrap().status, 404);

    let mut acknowledged = vec![("greeting".to_string(), "hello".to_string())];
    let mut write = |cluster: &mut Cluster, key: String| {
        let value = format!("value-of-{key}");
        if cluster.put_until_acknowledged(&key, &value, WAIT) {
            acknowledged.push((key, value));
        }
    };
    for index in 0..20 {
        write(&mut cluster, format!("before-{index}"));
    }

    // SIGKILL the leader and keep writing through the others.
    cluster.kill(leader);
    for index in 0..20 {
        write(&mut cluster, format!("during-{index}"));
    }
    let new_leader = cluster.wait_for_leader(WAIT);
    assert_ne!(new_leader, leader);
    cluster.spawn(leader);
    for index in 0..10 {
        write(&mut cluster, format!("after-{index}"));
    }
    assert_eq!(
        acknowledged.len(),
        51,
        "every write was acknowledged in time"
    );

    // Every acknowledged write is on every node, the restarted one included.
    for id in 1..=3 {
        cluster
            .wait_for_local_values(id, &acknowledged, WAIT)
            .unwrap();
        for (key, value) in &acknowledged {
            cluster.wait_for_value(id, key, value, WAIT).unwrap();
        }
    }

    // Add node 4: it starts empty with --join and is added with POST /4 (its peer URL).
    let joiner = cluster.add_joining_node();
    assert_eq!(joiner, 4);
    cluster.spawn(joiner);
    let url = cluster.peer_url(joiner);
    let response = cluster
        .request(follower, "POST", &format!("/{joiner}"), url.as_bytes())
        .unwrap();
    assert_eq!(response.status, 204, "{}", response.text());
    let response = cluster
        .request(follower, "POST", &format!("/{joiner}"), url.as_bytes())
        .unwrap();
    assert_eq!(response.status, 409, "adding a member twice");
    cluster
        .wait_for_local_values(joiner, &acknowledged, WAIT)
        .unwrap();
    let snapshots = std::fs::read_dir(cluster.data_dir(joiner))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".snap"))
        .count();
    assert!(snapshots > 0, "node 4 caught up from a snapshot");

    // Remove node 3 through another node: it applies its removal and exits.
    let removed = 3;
    let response = cluster
        .request(1, "DELETE", &format!("/{removed}"), b"")
        .unwrap();
    assert_eq!(response.status, 204, "{}", response.text());
    let status = cluster
        .wait_for_exit(removed, WAIT)
        .expect("the removed node exits");
    assert!(status.success(), "{status:?}");
    assert_eq!(cluster.request(1, "DELETE", "/3", b"").unwrap().status, 404);

    // The remaining three go on.
    assert!(cluster.put_until_acknowledged("final", "word", WAIT));
    for id in [1, 2, 4] {
        cluster.wait_for_value(id, "final", "word", WAIT).unwrap();
    }
    eprintln!(
        "cluster scenario took {:?}; write statuses seen: {:?}",
        started.elapsed(),
        cluster.put_statuses
    );
}
