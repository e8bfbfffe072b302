//! WAL tests over [`MemDisk`] (crashes, damage) and [`StdDisk`] (the real thing).

use super::*;
use crate::disk::StdDisk;
use crate::memory_disk::MemDisk;

fn entry(index: Index, term: Term) -> Entry {
    Entry {
        index,
        term,
        data: format!("entry {index} of term {term}").into_bytes(),
        ..Entry::default()
    }
}

fn entries(first: Index, last: Index, term: Term) -> Vec<Entry> {
    (first..=last).map(|index| entry(index, term)).collect()
}

fn hard_state(term: Term, commit: Index) -> HardState {
    HardState {
        term,
        vote: 1,
        commit,
    }
}

fn small_segments() -> WalConfig {
    WalConfig {
        segment_size_bytes_limit: 256,
    }
}

/// Restarts the way the node driver does: from the newest usable snapshot.
fn reopen(disk: &mut MemDisk, config: WalConfig) -> Result<(Wal, Recovered), WalError> {
    let usable = Wal::usable_snapshots(disk)?;
    let newest = usable.last().copied().unwrap_or_default();
    Wal::open(disk, config, newest)
}

fn segment_names(disk: &mut MemDisk) -> Vec<String> {
    disk.list()
        .expect("list")
        .into_iter()
        .filter(|name| name.starts_with("wal-"))
        .collect()
}

fn indices_and_terms(entries: &[Entry]) -> Vec<(Index, Term)> {
    entries
        .iter()
        .map(|entry| (entry.index, entry.term))
        .collect()
}

#[test]
fn what_was_saved_is_recovered() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    wal.save(&mut disk, &hard_state(1, 0), &entries(1, 3, 1), true)?;
    wal.save(&mut disk, &hard_state(1, 3), &entries(4, 5, 1), true)?;
    wal.save(&mut disk, &HardState::default(), &[], true)?;
    let (wal, recovered) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(recovered.snapshot, SnapshotMarker::default());
    assert_eq!(recovered.hard_state, hard_state(1, 3));
    assert_eq!(recovered.entries, entries(1, 5, 1));
    assert_eq!(wal.last_index(), 5);
    assert_eq!(wal.hard_state(), hard_state(1, 3));
    Ok(())
}

#[test]
fn an_overwritten_suffix_is_replayed_as_overwritten() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments())?;
    wal.save(&mut disk, &hard_state(1, 2), &entries(1, 10, 1), true)?;
    // A new leader of term 2 overwrote the uncommitted entries from 6 on, but only to 8.
    wal.save(&mut disk, &hard_state(2, 5), &entries(6, 8, 2), true)?;
    // And a third leader overwrote 8 itself, after a segment change.
    wal.save(&mut disk, &hard_state(3, 7), &entries(8, 8, 3), true)?;
    assert!(
        wal.segment_count() > 1,
        "the test wants a rotation in between"
    );
    let (wal, recovered) = reopen(&mut disk, small_segments())?;
    let mut expected = entries(1, 5, 1);
    expected.extend(entries(6, 7, 2));
    expected.push(entry(8, 3));
    assert_eq!(recovered.entries, expected);
    assert_eq!(recovered.hard_state, hard_state(3, 7));
    assert_eq!(wal.last_index(), 8);
    Ok(())
}

#[test]
fn a_crash_loses_only_unsynced_writes() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    wal.save(&mut disk, &hard_state(1, 2), &entries(1, 2, 1), true)?;
    wal.save(&mut disk, &hard_state(1, 4), &entries(3, 4, 1), false)?;
    disk.crash();
    let (mut wal, recovered) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(recovered.entries, entries(1, 2, 1));
    assert_eq!(recovered.hard_state, hard_state(1, 2));
    // The log goes on after the recovered end.
    wal.save(&mut disk, &hard_state(2, 3), &entries(3, 3, 2), true)?;
    disk.crash();
    let (_, recovered) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(
        indices_and_terms(&recovered.entries),
        vec![(1, 1), (2, 1), (3, 2)]
    );
    Ok(())
}

/// A single segment written one batch per save, with its record boundaries.
struct Written {
    disk: MemDisk,
    file: String,
    /// After each record: (segment length, entries so far, hard state so far).
    boundaries: Vec<(usize, Vec<Entry>, HardState)>,
}

fn write_batches(count: u64) -> Written {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default()).expect("create");
    let file = segment_names(&mut disk).remove(0);
    let mut length = disk.contents(&file).expect("segment").len();
    let mut boundaries = vec![(length, Vec::new(), HardState::default())];
    let mut all = Vec::new();
    for batch in 0..count {
        let first = batch * 2 + 1;
        let new = entries(first, first + 1, 1);
        let state = hard_state(1, first);
        wal.save(&mut disk, &state, &new, true).expect("save");
        // The entries record comes first, then the hard state record.
        let mut entries_record = Vec::new();
        record::encode_entries(&new, &mut entries_record).expect("fits");
        all.extend(new);
        let previous_state = boundaries
            .last()
            .map(|boundary| boundary.2)
            .unwrap_or_default();
        boundaries.push((length + entries_record.len(), all.clone(), previous_state));
        length = disk.contents(&file).expect("segment").len();
        boundaries.push((length, all.clone(), state));
    }
    Written {
        disk,
        file,
        boundaries,
    }
}

#[test]
fn every_cut_of_the_tail_keeps_each_complete_record_and_nothing_else() -> Result<(), WalError> {
    let written = write_batches(6);
    let bytes = written
        .disk
        .contents(&written.file)
        .expect("segment")
        .to_vec();
    // Cut anywhere in the last three batches (six records).
    let cut_from = written.boundaries[written.boundaries.len() - 7].0;
    for cut in cut_from..=bytes.len() {
        let mut disk = MemDisk::new();
        disk.put_durable(&written.file, &bytes[..cut]);
        let (_, recovered) = reopen(&mut disk, WalConfig::default())
            .unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        let (boundary, expected_entries, expected_state) = written
            .boundaries
            .iter()
            .rev()
            .find(|(length, _, _)| *length <= cut)
            .expect("the header is never cut here");
        assert_eq!(&recovered.entries, expected_entries, "cut at {cut}");
        assert_eq!(recovered.hard_state, *expected_state, "cut at {cut}");
        // The tail is cut at the record boundary, durably, and a second recovery agrees.
        disk.crash();
        assert_eq!(
            disk.contents(&written.file).map(<[u8]>::len),
            Some(*boundary),
            "cut at {cut}: the truncation is missing or was not synced"
        );
        let (_, again) = reopen(&mut disk, WalConfig::default())?;
        assert_eq!(again, recovered, "cut at {cut}: second recovery differs");
    }
    Ok(())
}
