//! Three real `kvapp` processes on 127.0.0.1: writes and reads over HTTP, a SIGKILLed leader
//! that comes back with everything acknowledged, a node added (caught up by snapshot) and the
//! leader removed (which then exits).

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::cluster::{put_through_any, Cluster, ClusterOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_kvapp");
const WAIT: Duration = Duration::from_secs(15);
const WRITERS: usize = 4;
/// A bound only: the writers stop once the killed leader is back.
const WRITES_PER_WRITER_MAX: usize = 10_000;

/// Writes `key` through any running node; records it once acknowledged.
fn write(cluster: &mut Cluster, acknowledged: &mut Vec<(String, String)>, key: String) {
    let value = format!("value-of-{key}");
    if cluster.put_until_acknowledged(&key, &value, WAIT) {
        acknowledged.push((key, value));
    }
}

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
    for index in 0..20 {
        write(&mut cluster, &mut acknowledged, format!("before-{index}"));
    }

    // Concurrent clients keep writing while the leader is SIGKILLed and later restarted.
    let addresses: Vec<SocketAddr> = (1..=3).map(|id| cluster.http_address(id)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (addresses, stop) = (addresses.clone(), stop.clone());
            thread::spawn(move || {
                let mut written = Vec::new();
                let (mut lost, mut retries) = (0, 0);
                for index in 0..WRITES_PER_WRITER_MAX {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = format!("writer-{writer}-{index}");
                    let value = format!("value-of-{key}");
                    match put_through_any(&addresses, writer, &key, &value, WAIT) {
                        Some(attempts) => {
                            retries += attempts - 1;
                            written.push((key, value));
                        }
                        None => lost += 1,
                    }
                }
                (written, lost, retries)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(150));
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(WAIT);
    assert_ne!(new_leader, leader);
    thread::sleep(Duration::from_millis(200));
    cluster.spawn(leader);
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let mut retries = 0;
    for writer in writers {
        let (written, lost, writer_retries) = writer.join().expect("writer thread");
        assert_eq!(lost, 0, "writes never acknowledged");
        acknowledged.extend(written);
        retries += writer_retries;
    }
    for index in 0..10 {
        write(&mut cluster, &mut acknowledged, format!("after-{index}"));
    }
    eprintln!(
        "{} writes acknowledged; concurrent writers retried {retries} times",
        acknowledged.len()
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

    // Remove the leader, asked through another node: it applies its own removal and exits, and
    // the other three elect a new leader.
    let removed = cluster.wait_for_leader(WAIT);
    let asked = [1, 2, 3, 4].into_iter().find(|&id| id != removed).unwrap();
    let response = cluster
        .request(asked, "DELETE", &format!("/{removed}"), b"")
        .unwrap();
    assert_eq!(response.status, 204, "{}", response.text());
    let status = cluster
        .wait_for_exit(removed, WAIT)
        .expect("the removed node exits");
    assert!(status.success(), "{status:?}");
    let response = cluster
        .request(asked, "DELETE", &format!("/{removed}"), b"")
        .unwrap();
    assert_eq!(response.status, 404, "removing a non-member");

    // The remaining three go on.
    assert!(cluster.put_until_acknowledged("final", "word", WAIT));
    for id in cluster.running() {
        cluster.wait_for_value(id, "final", "word", WAIT).unwrap();
    }
    assert_eq!(cluster.running().len(), 3);
    eprintln!(
        "cluster scenario took {:?}; write statuses seen: {:?}",
        started.elapsed(),
        cluster.put_statuses
    );
}
