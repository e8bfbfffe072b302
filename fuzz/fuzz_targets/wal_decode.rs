//! Arbitrary bytes as WAL segments into recovery: recovery never panics, and whatever it
//! accepts is a well-formed log (consecutive entries from the snapshot on).
//!
//! A real WAL of a few segments is written first, so that the fuzzer starts from valid headers
//! and records; then one segment (chosen by the input) is replaced by the fuzzer's bytes, either
//! whole or after its valid header.

#![no_main]

use kvapp::disk::Disk;
use kvapp::memory_disk::MemDisk;
use kvapp::wal::{SnapshotMarker, Wal, WalConfig};
use libfuzzer_sys::fuzz_target;
use raft::{Entry, HardState};

const SEGMENT_HEADER_SIZE_BYTES: usize = 32;

fn written_wal(config: WalConfig) -> MemDisk {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, config).expect("a new WAL");
    let mut index = 1;
    for batch in 0..6u64 {
        let entries: Vec<Entry> = (0..3)
            .map(|k| {
                let entry = Entry {
                    term: 1 + batch / 2,
                    index,
                    data: vec![k as u8; 40],
                    ..Entry::default()
                };
                index += 1;
                entry
            })
            .collect();
        let hard_state = HardState {
            term: 1 + batch / 2,
            vote: 1,
            commit: index - 4,
        };
        wal.save(&mut disk, &hard_state, &entries, true)
            .expect("writing to memory");
    }
    disk
}

fuzz_target!(|input: (u8, bool, Vec<u8>)| {
    let (choice, keep_header, body) = input;
    let config = WalConfig {
        segment_size_bytes_limit: 300,
    };
    let mut disk = written_wal(config);
    let segments: Vec<String> = disk
        .list()
        .expect("listing memory")
        .into_iter()
        .filter(|name| name.starts_with("wal-"))
        .collect();
    assert!(segments.len() > 1, "the setup rotates segments");
    let victim = &segments[choice as usize % segments.len()];
    let mut bytes = Vec::new();
    if keep_header {
        let original = disk.contents(victim).expect("segment exists");
        bytes.extend_from_slice(&original[..SEGMENT_HEADER_SIZE_BYTES.min(original.len())]);
    }
    bytes.extend_from_slice(&body);
    disk.put_durable(victim, &bytes);

    let Ok(usable) = Wal::usable_snapshots(&mut disk) else {
        return;
    };
    let marker = usable.last().copied().unwrap_or_default();
    if let Ok((_, recovered)) = Wal::open(&mut disk, config, marker) {
        let mut expected = recovered.snapshot.index + 1;
        for entry in &recovered.entries {
            assert_eq!(
                entry.index, expected,
                "recovered entries are not consecutive"
            );
            expected += 1;
        }
        assert!(
            recovered.hard_state.commit <= expected - 1 || recovered.hard_state.commit == 0,
            "recovered commit {} beyond the recovered log {}",
            recovered.hard_state.commit,
            expected - 1
        );
    }
    let _ = SnapshotMarker::default();
});
