//! Valid records, then damage: the segment is cut at an offset or one bit is flipped. Recovery
//! must lose no complete record before the damage and accept nothing from the damage on:
//!
//! - a cut is a torn tail: recovery succeeds with exactly the records that end at or before it;
//! - a flipped bit in the last record is a torn tail too, with the same rule;
//! - a flipped bit in an earlier record, or in the segment header, is corruption: an error.

#![no_main]

use arbitrary::Arbitrary;
use kvapp::disk::Disk;
use kvapp::memory_disk::MemDisk;
use kvapp::wal::{SnapshotMarker, Wal, WalConfig, WalError};
use libfuzzer_sys::fuzz_target;
use raft::{Entry, HardState};

const SEGMENT_HEADER_SIZE_BYTES: usize = 32;

#[derive(Arbitrary, Debug)]
enum Damage {
    Cut(u32),
    Flip(u32, u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    payload_sizes: Vec<u8>,
    damage: Damage,
}

fuzz_target!(|input: Input| {
    if input.payload_sizes.is_empty() || input.payload_sizes.len() > 24 {
        return;
    }
    let config = WalConfig {
        segment_size_bytes_limit: u64::MAX,
    };
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, config).expect("a new WAL");
    let segment = disk
        .list()
        .expect("listing memory")
        .into_iter()
        .find(|name| name.starts_with("wal-"))
        .expect("one segment");
    // One record per save: entries only (an empty hard state is not written).
    let mut record_ends = Vec::new();
    let mut written = Vec::new();
    for (k, &size) in input.payload_sizes.iter().enumerate() {
        let entry = Entry {
            term: 1,
            index: k as u64 + 1,
            data: vec![k as u8; size as usize],
            ..Entry::default()
        };
        wal.save(
            &mut disk,
            &HardState::default(),
            std::slice::from_ref(&entry),
            true,
        )
        .expect("writing to memory");
        written.push(entry);
        record_ends.push(disk.contents(&segment).expect("segment").len());
    }
    let mut bytes = disk.contents(&segment).expect("segment").to_vec();
    let (damage_offset, is_cut) = match input.damage {
        Damage::Cut(at) => {
            let at = at as usize % (bytes.len() + 1);
            bytes.truncate(at);
            (at, true)
        }
        Damage::Flip(at, bit) => {
            let at = at as usize % bytes.len();
            bytes[at] ^= 1 << (bit % 8);
            (at, false)
        }
    };
    disk.put_durable(&segment, &bytes);

    // Records that end at or before the damage are intact.
    let intact = record_ends
        .iter()
        .filter(|&&end| end <= damage_offset)
        .count();
    let damaged_record = record_ends.iter().position(|&end| end > damage_offset);
    let in_header = damage_offset < SEGMENT_HEADER_SIZE_BYTES;
    let torn_tail = !in_header && (is_cut || damaged_record == Some(written.len() - 1));

    let result = Wal::usable_snapshots(&mut disk)
        .and_then(|_| Wal::open(&mut disk, config, SnapshotMarker::default()));
    match result {
        Ok((_, recovered)) => {
            // A cut inside the header may be read as an empty log; any other accepted damage
            // must be a torn tail.
            assert!(
                torn_tail || is_cut,
                "damage before the tail was accepted: {:?}",
                input.damage
            );
            assert_eq!(
                recovered.entries,
                written[..intact].to_vec(),
                "recovered records differ from the intact prefix ({:?})",
                input.damage
            );
        }
        Err(error) => {
            assert!(
                !torn_tail,
                "a torn tail was refused: {error} ({:?})",
                input.damage
            );
            if !in_header {
                assert!(
                    matches!(error, WalError::Corrupt { .. }),
                    "not a corruption error: {error}"
                );
            }
        }
    }
});
