//! The storage layer end to end, the way the node driver will use it: commands go into the
//! WAL, are applied to the store, snapshots are taken and the WAL released; then the node
//! crashes and rebuilds the same store from snapshot file plus WAL.

use kvapp::memory_disk::MemDisk;
use kvapp::snapshotter::{snapshot_file_name, Snapshotter, SnapshotterConfig};
use kvapp::store::{decode_command, encode_command, Command, Operation, Store};
use kvapp::wal::{SnapshotMarker, Wal, WalConfig};
use raft::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};

const CONFIG: WalConfig = WalConfig {
    segment_size_bytes_limit: 1024,
};

fn command(sequence: u64) -> Command {
    Command {
        client_id: sequence % 3,
        sequence,
        operation: match sequence % 4 {
            0 => Operation::Put {
                key: format!("key {}", sequence % 5),
                value: format!("value {sequence}"),
            },
            1 => Operation::Append {
                key: format!("key {}", sequence % 5),
                value: "+".to_string(),
            },
            2 => Operation::Delete {
                key: format!("key {}", sequence % 7),
            },
            _ => Operation::CompareAndSet {
                key: "key 0".to_string(),
                expected: None,
                value: format!("set by {sequence}"),
            },
        },
    }
}

/// Runs `count` commands through WAL and store, snapshotting every tenth, keeping two
/// snapshot files and releasing the WAL to the older of them. Returns the store as applied.
fn run(disk: &mut MemDisk, count: u64) -> Store {
    let snapshotter = Snapshotter::new(SnapshotterConfig { kept_count: 2 });
    let mut wal = Wal::create(disk, CONFIG).expect("create");
    let mut store = Store::new();
    for index in 1..=count {
        let entry = Entry {
            term: 1,
            index,
            data: encode_command(&command(index)),
            ..Entry::default()
        };
        let state = HardState {
            term: 1,
            vote: 1,
            commit: index,
        };
        wal.save(disk, &state, &[entry], true).expect("save");
        store.apply(&command(index));
        if index % 10 == 0 {
            let snapshot = Snapshot {
                data: store.snapshot_data(),
                metadata: SnapshotMetadata {
                    conf_state: ConfState::with_voters([1]),
                    index,
                    term: 1,
                },
            };
            snapshotter.save(disk, &snapshot).expect("save snapshot");
            let marker = SnapshotMarker::of(&snapshot.metadata);
            wal.save_snapshot_marker(disk, marker).expect("marker");
            snapshotter.retain(disk).expect("retain");
            let oldest_kept = snapshotter.list(disk).expect("list")[0];
            wal.release_to(disk, oldest_kept.index).expect("release");
        }
    }
    store
}

/// Restarts: usable snapshots from the WAL, the newest loadable snapshot file, the WAL from
/// there, and the committed entries applied on top.
fn recover(disk: &mut MemDisk) -> (SnapshotMarker, Store) {
    let snapshotter = Snapshotter::new(SnapshotterConfig { kept_count: 2 });
    let usable = Wal::usable_snapshots(disk).expect("usable snapshots");
    let snapshot = snapshotter
        .load_newest(disk, &usable)
        .expect("load snapshot");
    let (marker, mut store) = match &snapshot {
        Some(snapshot) => (
            SnapshotMarker::of(&snapshot.metadata),
            Store::restore(&snapshot.data).expect("restore"),
        ),
        None => (SnapshotMarker::default(), Store::new()),
    };
    let (_, recovered) = Wal::open(disk, CONFIG, marker).expect("open");
    for entry in &recovered.entries {
        if entry.index <= recovered.hard_state.commit {
            store.apply(&decode_command(&entry.data).expect("a command"));
        }
    }
    (marker, store)
}

#[test]
fn a_crashed_node_rebuilds_the_same_store() {
    let mut disk = MemDisk::new();
    let applied = run(&mut disk, 57);
    disk.crash();
    let (marker, recovered) = recover(&mut disk);
    assert_eq!(marker, SnapshotMarker { index: 50, term: 1 });
    assert_eq!(recovered, applied);
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_older_one_and_loses_nothing() {
    let mut disk = MemDisk::new();
    let applied = run(&mut disk, 57);
    disk.crash();
    let newest = snapshot_file_name(SnapshotMarker { index: 50, term: 1 });
    let mut bytes = disk
        .contents(&newest)
        .expect("the newest snapshot")
        .to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    disk.put_durable(&newest, &bytes);
    let (marker, recovered) = recover(&mut disk);
    assert_eq!(marker, SnapshotMarker { index: 40, term: 1 });
    assert_eq!(recovered, applied);
}
