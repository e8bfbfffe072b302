//! A follower that fell behind a compacted log catches up from a snapshot larger than one
//! chunk of the peer protocol (4 MiB), so the snapshot crosses the TCP transport in several.
//! Real processes. (Before the protocol sent messages in chunks, a snapshot over its 64 MiB
//! frame limit was dropped at every attempt; measured by hand, an 82 MB one never arrived.)

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::cluster::{put_through_any, Cluster, ClusterOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_kvapp");
const WAIT: Duration = Duration::from_secs(30);
/// One chunk of the peer protocol (`kvapp::server::frame::CHUNK_BYTES_MAX`).
const CHUNK_BYTES: u64 = 4 * 1024 * 1024;
const VALUE_BYTES: usize = 8 * 1024;
/// Enough values for a store of about 1.5 chunks.
const KEYS: usize = 800;
const WRITERS: usize = 4;

#[test]
fn a_follower_catches_up_from_a_snapshot_of_several_chunks() {
    let mut options = ClusterOptions::new(3);
    // Snapshot and compact every 50 entries, keeping 50 for slow followers.
    options.snapshot_count = 50;
    let mut cluster = Cluster::start(BINARY, options);
    cluster.wait_for_leader(WAIT);
    cluster.kill(3);

    let addresses = vec![cluster.http_address(1), cluster.http_address(2)];
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let addresses = addresses.clone();
            thread::spawn(move || {
                let value = format!("{writer}").repeat(VALUE_BYTES);
                (writer..KEYS).step_by(WRITERS).all(|key| {
                    put_through_any(&addresses, writer, &format!("key-{key}"), &value, WAIT)
                        .is_some()
                })
            })
        })
        .collect();
    for writer in writers {
        assert!(writer.join().unwrap(), "a write was never acknowledged");
    }

    cluster.spawn(3);
    let last = format!("key-{}", KEYS - 1);
    let expected = format!("{}", (KEYS - 1) % WRITERS).repeat(VALUE_BYTES);
    let deadline = Instant::now() + WAIT;
    while cluster.get_local(3, &last).as_deref() != Some(expected.as_str()) {
        assert!(Instant::now() < deadline, "node 3 never caught up");
        thread::sleep(Duration::from_millis(50));
    }
    // It caught up from a snapshot, one that took more than a chunk.
    let largest_snapshot = std::fs::read_dir(cluster.data_dir(3))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".snap"))
        .map(|entry| entry.metadata().unwrap().len())
        .max()
        .expect("node 3 holds a snapshot");
    assert!(
        largest_snapshot > CHUNK_BYTES,
        "node 3's largest snapshot is {largest_snapshot} bytes"
    );
    for key in (0..KEYS).step_by(97) {
        let value = format!("{}", key % WRITERS).repeat(VALUE_BYTES);
        assert_eq!(
            cluster.get_local(3, &format!("key-{key}")).as_deref(),
            Some(value.as_str()),
            "key-{key}"
        );
    }
}
