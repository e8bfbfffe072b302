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

/// Saves entries `1..=last` of term 1, one synced write each, each committing the one before.
fn save_one_entry_per_write(
    wal: &mut Wal,
    disk: &mut MemDisk,
    last: Index,
) -> Result<(), WalError> {
    for index in 1..=last {
        wal.save(disk, &hard_state(1, index - 1), &[entry(index, 1)], true)?;
    }
    Ok(())
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
        assert_eq!(recovered.tail_cut, cut != *boundary, "cut at {cut}");
        // The tail is cut at the record boundary, durably, and a second recovery agrees.
        disk.crash();
        assert_eq!(
            disk.contents(&written.file).map(<[u8]>::len),
            Some(*boundary),
            "cut at {cut}: the truncation is missing or was not synced"
        );
        let (_, again) = reopen(&mut disk, WalConfig::default())?;
        assert!(
            !again.tail_cut,
            "cut at {cut}: the second recovery cut again"
        );
        let recovered = Recovered {
            tail_cut: false,
            ..recovered
        };
        assert_eq!(again, recovered, "cut at {cut}: second recovery differs");
    }
    Ok(())
}

/// Found by the cluster_schedule fuzz target: a node that became the leader of a new term
/// wrote its first entry and then its hard state; a crash that tore the write between them
/// kept an entry of a term the node did not know it had voted in.
#[test]
fn every_cut_of_a_new_leaders_first_write_keeps_its_vote_with_its_entries() -> Result<(), WalError>
{
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    let old = HardState {
        term: 3,
        vote: 1,
        commit: 5,
    };
    wal.save(&mut disk, &old, &entries(1, 6, 3), true)?;
    let file = segment_names(&mut disk).remove(0);
    let before = disk.contents(&file).expect("segment").len();
    // Elected in term 4 with its own vote: the empty entry of the new term, and a commit.
    let new = HardState {
        term: 4,
        vote: 2,
        commit: 7,
    };
    wal.save(&mut disk, &new, &[entry(7, 4)], true)?;
    let bytes = disk.contents(&file).expect("segment").to_vec();
    for cut in before..=bytes.len() {
        let mut disk = MemDisk::new();
        disk.put_durable(&file, &bytes[..cut]);
        let (_, recovered) = reopen(&mut disk, WalConfig::default())
            .unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        let last_term = recovered.entries.last().map_or(0, |entry| entry.term);
        assert!(
            recovered.hard_state.term >= last_term,
            "cut at {cut}: entries of term {last_term} kept with {:?}",
            recovered.hard_state
        );
        if last_term == 4 {
            assert_eq!(recovered.hard_state.vote, 2, "cut at {cut}");
        }
        assert!(
            recovered.hard_state.commit <= recovered.entries.last().map_or(0, |entry| entry.index),
            "cut at {cut}: a commit index without its entries"
        );
        assert!(recovered.hard_state == old || recovered.hard_state.term == 4);
    }
    let (_, whole) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(whole.hard_state, new);
    Ok(())
}

/// A WAL of several synced segments, and the record offsets in each segment.
fn several_segments() -> (MemDisk, Vec<(String, Vec<u64>)>) {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments()).expect("create");
    save_one_entry_per_write(&mut wal, &mut disk, 12).expect("save");
    assert!(wal.segment_count() >= 3, "the test wants several segments");
    let names = segment_names(&mut disk);
    let last = names.len() - 1;
    let layout = names
        .into_iter()
        .enumerate()
        .map(|(position, name)| {
            let bytes = disk.contents(&name).expect("segment").to_vec();
            let contents = segment::read_segment(&bytes, position == last).expect("clean");
            let offsets = contents.records.iter().map(|(offset, _)| *offset).collect();
            (name, offsets)
        })
        .collect();
    (disk, layout)
}

fn flip_bit(disk: &mut MemDisk, name: &str, offset: usize) {
    let mut bytes = disk.contents(name).expect("file").to_vec();
    bytes[offset] ^= 0x04;
    disk.put_durable(name, &bytes);
}

#[test]
fn a_flipped_bit_before_the_tail_is_reported_with_file_and_offset() {
    let (pristine, layout) = several_segments();
    let last_segment = layout.len() - 1;
    for (position, (name, offsets)) in layout.iter().enumerate() {
        for (record_number, offset) in offsets.iter().enumerate() {
            let is_tail = position == last_segment && record_number + 1 == offsets.len();
            // A bit in the header's length field, one in its checksum, one in the payload.
            for within in [1, 13, 17] {
                let mut disk = pristine.clone();
                flip_bit(&mut disk, name, *offset as usize + within);
                let result = reopen(&mut disk, small_segments());
                if is_tail {
                    let (_, recovered) = result.unwrap_or_else(|error| {
                        panic!("{name} at {offset}+{within}: tail refused: {error}")
                    });
                    // The tail is the last save's hard state record.
                    assert_eq!(recovered.entries, entries(1, 12, 1));
                    assert_eq!(recovered.hard_state, hard_state(1, 10), "torn record kept");
                    continue;
                }
                match result {
                    Err(WalError::Corrupt {
                        file,
                        offset: found,
                        ..
                    }) => {
                        assert_eq!((&file, found), (name, *offset), "byte {within} flipped");
                    }
                    other => {
                        panic!("{name} at {offset}+{within}: expected corruption, got {other:?}")
                    }
                }
            }
        }
        // A damaged segment header is corruption at offset zero, wherever the segment is.
        let mut disk = pristine.clone();
        flip_bit(&mut disk, name, 9);
        assert!(
            matches!(
                reopen(&mut disk, small_segments()),
                Err(WalError::Corrupt { ref file, offset: 0, .. }) if file == name
            ),
            "{name}: damaged header accepted"
        );
    }
}

#[test]
fn damage_in_the_last_record_of_an_earlier_segment_is_not_a_torn_tail() {
    let (mut disk, layout) = several_segments();
    let (name, offsets) = &layout[0];
    let last_record = *offsets.last().expect("records") as usize;
    let length = disk.contents(name).expect("segment").len();
    let bytes = disk.contents(name).expect("segment")[..length - 1].to_vec();
    disk.put_durable(name, &bytes);
    assert_eq!(
        reopen(&mut disk, small_segments()).map(|_| ()),
        Err(WalError::Corrupt {
            file: name.clone(),
            offset: last_record as u64,
            reason: Corruption::RecordIncomplete
        })
    );
}

#[test]
fn a_missing_middle_segment_is_corruption() -> Result<(), WalError> {
    let (mut disk, layout) = several_segments();
    disk.remove(&layout[1].0).expect("remove");
    assert!(matches!(
        reopen(&mut disk, small_segments()),
        Err(WalError::Corrupt {
            reason: Corruption::SegmentSequenceGap {
                expected: 1,
                found: 2
            },
            ..
        })
    ));
    Ok(())
}

#[test]
fn segments_rotate_and_release_keeps_what_recovery_needs() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments())?;
    save_one_entry_per_write(&mut wal, &mut disk, 40)?;
    let before = wal.segment_count();
    assert!(before >= 5, "only {before} segments");
    assert_eq!(segment_names(&mut disk).len(), before);

    wal.save_snapshot_marker(&mut disk, SnapshotMarker { index: 30, term: 1 })?;
    // Saving the marker may itself have started a segment.
    let before = wal.segment_count();
    let removed = wal.release_to(&mut disk, 30)?;
    assert!(removed > 0, "nothing released");
    assert_eq!(wal.segment_count(), before - removed);
    assert_eq!(
        segment_names(&mut disk).len(),
        wal.segment_count(),
        "{:?} {wal:?}",
        segment_names(&mut disk)
    );
    assert!(wal.oldest_first_index() <= 31);

    disk.crash();
    assert_eq!(
        Wal::usable_snapshots(&mut disk)?,
        vec![SnapshotMarker { index: 30, term: 1 }]
    );
    let (_, recovered) = reopen(&mut disk, small_segments())?;
    assert_eq!(recovered.entries, entries(31, 40, 1));
    assert_eq!(
        recovered.hard_state,
        hard_state(1, 39),
        "hard state lost with old segments"
    );
    assert!(matches!(
        Wal::open(&mut disk, small_segments(), SnapshotMarker::default()),
        Err(WalError::EntriesMissing { .. })
    ));
    Ok(())
}

#[test]
fn release_keeps_every_entry_after_a_snapshot_older_than_the_log_end() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments())?;
    save_one_entry_per_write(&mut wal, &mut disk, 40)?;
    // Applying lagged: the snapshot at 5 is recorded while the last segment starts far later.
    wal.save_snapshot_marker(&mut disk, SnapshotMarker { index: 5, term: 1 })?;
    wal.release_to(&mut disk, 5)?;
    let (_, recovered) = reopen(&mut disk, small_segments())?;
    assert_eq!(recovered.snapshot, SnapshotMarker { index: 5, term: 1 });
    assert_eq!(recovered.entries, entries(6, 40, 1));
    Ok(())
}

#[test]
fn a_leader_snapshot_replaces_the_log_and_release_keeps_its_marker() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments())?;
    for index in 1..=20 {
        wal.save(&mut disk, &hard_state(1, 3), &[entry(index, 1)], true)?;
    }
    let snapshot = SnapshotMarker {
        index: 100,
        term: 2,
    };
    wal.save_installed_snapshot(&mut disk, snapshot, &hard_state(2, 100), &[])?;
    for index in 101..=110 {
        wal.save(&mut disk, &hard_state(2, 100), &[entry(index, 2)], true)?;
    }
    assert!(wal.release_to(&mut disk, 100)? > 0);
    disk.crash();
    assert_eq!(Wal::usable_snapshots(&mut disk)?, vec![snapshot]);
    let (_, recovered) = reopen(&mut disk, small_segments())?;
    assert_eq!(recovered.snapshot, snapshot);
    assert_eq!(recovered.entries, entries(101, 110, 2));
    Ok(())
}

#[test]
fn a_leader_snapshot_interrupted_before_its_hard_state_is_cut_away() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    wal.save(&mut disk, &hard_state(1, 5), &entries(1, 8, 1), true)?;
    let file = segment_names(&mut disk).remove(0);
    let before_install = disk.contents(&file).expect("segment").len();
    let snapshot = SnapshotMarker { index: 50, term: 2 };
    // A crash tore the install's write after its entries: the marker and the entries made it
    // to disk, the hard state did not.
    wal.write_records(
        &mut disk,
        Some((snapshot, SnapshotSource::Leader)),
        &HardState::default(),
        &entries(51, 52, 2),
        true,
    )?;
    disk.crash();

    assert_eq!(
        Wal::usable_snapshots(&mut disk)?,
        vec![SnapshotMarker::default()]
    );
    let (mut wal, recovered) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(recovered.entries, entries(1, 8, 1));
    assert_eq!(recovered.hard_state, hard_state(1, 5));
    disk.crash();
    assert_eq!(disk.contents(&file).map(<[u8]>::len), Some(before_install));

    // The install is retried and completes this time.
    wal.save_installed_snapshot(&mut disk, snapshot, &hard_state(2, 50), &entries(51, 52, 2))?;
    disk.crash();
    let (_, recovered) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(recovered.snapshot, snapshot);
    assert_eq!(recovered.entries, entries(51, 52, 2));
    Ok(())
}

/// Found by the cluster_schedule fuzz target: a leader's snapshot installed when the active
/// segment was nearly full. Written as a marker and then a separate save, the marker filled the
/// segment, the save started a new one, and a crash that kept that segment (its header and the
/// old hard state) but not the new hard state stranded the marker before the tail: an undamaged
/// disk that would not open. Every fill level of the segment, crashed after every disk step.
#[test]
fn a_leader_snapshot_install_recovers_from_a_crash_at_any_step_at_any_fill() -> Result<(), WalError>
{
    let snapshot = SnapshotMarker { index: 50, term: 2 };
    let mut installs_that_started_a_segment = 0;
    let saved = 3;
    // The last entry's size moves the segment's fill byte by byte.
    for padding in 0..300 {
        for budget in 0.. {
            let mut disk = MemDisk::new();
            let mut wal = Wal::create(&mut disk, small_segments())?;
            save_one_entry_per_write(&mut wal, &mut disk, saved - 1)?;
            let padded = Entry {
                data: vec![b'p'; padding],
                ..entry(saved, 1)
            };
            wal.save(
                &mut disk,
                &hard_state(1, saved - 1),
                std::slice::from_ref(&padded),
                true,
            )?;
            let mut before = entries(1, saved - 1, 1);
            before.push(padded);
            let segments_before = wal.segment_count();
            disk.set_operation_budget(Some(budget));
            let result = wal.save_installed_snapshot(
                &mut disk,
                snapshot,
                &hard_state(2, 50),
                &entries(51, 52, 2),
            );
            disk.crash();
            let (_, recovered) = reopen(&mut disk, small_segments()).unwrap_or_else(|error| {
                panic!("padding {padding}, crash after {budget} steps of the install: {error}")
            });
            let case = format!("padding {padding}, crash after {budget} steps");
            if recovered.snapshot == snapshot {
                assert_eq!(recovered.entries, entries(51, 52, 2), "{case}");
                assert_eq!(recovered.hard_state, hard_state(2, 50), "{case}");
            } else {
                assert!(
                    result.is_err(),
                    "{case}: the install returned Ok but was lost"
                );
                assert_eq!(recovered.snapshot, SnapshotMarker::default(), "{case}");
                assert_eq!(recovered.entries, before, "{case}");
                assert_eq!(recovered.hard_state, hard_state(1, saved - 1), "{case}");
            }
            if result.is_ok() {
                if wal.segment_count() > segments_before {
                    installs_that_started_a_segment += 1;
                }
                break;
            }
        }
    }
    assert!(
        installs_that_started_a_segment > 0,
        "the test wants some installs to start a segment"
    );
    Ok(())
}

#[test]
fn an_uncommitted_marker_before_the_tail_is_corruption() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments())?;
    wal.save(&mut disk, &hard_state(1, 1), &entries(1, 2, 1), true)?;
    // A broken driver writes the marker without the commit the snapshot implies (the public
    // API refuses that) and goes on.
    wal.write_records(
        &mut disk,
        Some((
            SnapshotMarker { index: 50, term: 2 },
            SnapshotSource::Leader,
        )),
        &HardState::default(),
        &[],
        true,
    )?;
    for index in 51..=70 {
        wal.save(&mut disk, &HardState::default(), &[entry(index, 2)], true)?;
    }
    assert!(wal.segment_count() > 1);
    assert!(matches!(
        reopen(&mut disk, small_segments()),
        Err(WalError::Corrupt {
            reason: Corruption::SnapshotMarkerUncommitted {
                index: 50,
                commit: 1
            },
            ..
        })
    ));
    Ok(())
}

/// The log and commit index after a write.
type LogState = (Vec<Entry>, Index);

/// A run of saves (some unsynced), an overwrite, a local snapshot and a release, over small
/// segments. Records the state after every write attempted, and how many of those states had
/// been synced when the script stopped: recovery must land on one of the states from there on.
fn crash_script(
    disk: &mut MemDisk,
    states: &mut Vec<LogState>,
    synced: &mut usize,
) -> Result<(), WalError> {
    let mut wal = Wal::create(disk, small_segments())?;
    let mut log: Vec<Entry> = Vec::new();
    let mut commit = 0;
    states.push((Vec::new(), 0));
    *synced = 1;
    for step in 1..=14u64 {
        // Step 9 is a new leader of term 2 overwriting the uncommitted entries from 10 on.
        let (first, term) = match step {
            1..=8 => (log.len() as Index + 1, 1),
            9 => (10, 2),
            _ => (log.len() as Index + 1, 2),
        };
        let new = entries(first, first + 1, term);
        log.truncate(first as usize - 1);
        log.extend(new.clone());
        // Before the overwrite, nothing past 8 is committed.
        let committable = if step < 9 { 8 } else { first - 1 };
        commit = commit.max(committable.min(first - 1));
        let must_sync = step % 3 != 0;
        states.push((log.clone(), commit));
        wal.save(disk, &hard_state(term, commit), &new, must_sync)?;
        if must_sync {
            *synced = states.len();
        }
        if step == 6 {
            let marker = SnapshotMarker { index: 8, term: 1 };
            wal.save_snapshot_marker(disk, marker)?;
            *synced = states.len();
        }
        if step == 12 {
            assert!(
                wal.release_to(disk, 8)? > 0,
                "the script should release segments"
            );
        }
    }
    Ok(())
}

#[test]
fn a_crash_at_every_step_keeps_every_synced_write() {
    let mut budget = 0;
    loop {
        let mut disk = MemDisk::new();
        disk.set_operation_budget(Some(budget));
        let mut states = Vec::new();
        let mut synced = 0;
        let outcome = crash_script(&mut disk, &mut states, &mut synced);
        disk.crash();
        match reopen(&mut disk, small_segments()) {
            Err(WalError::NoSegments) => {
                assert_eq!(synced, 0, "budget {budget}: a created WAL vanished");
            }
            Err(error) => panic!("budget {budget}: recovery failed: {error}"),
            Ok((mut wal, recovered)) => {
                assert!(synced > 0, "budget {budget}: recovered a WAL never created");
                let snapshot_index = recovered.snapshot.index;
                let matches = |(log, commit): &LogState| {
                    let after: Vec<Entry> = log
                        .iter()
                        .filter(|entry| entry.index > snapshot_index)
                        .cloned()
                        .collect();
                    after == recovered.entries && *commit == recovered.hard_state.commit
                };
                assert!(
                    states[synced - 1..].iter().any(matches),
                    "budget {budget}: recovered {:?} commit {} from snapshot {snapshot_index}, \
                     not a state at or after the last sync",
                    indices_and_terms(&recovered.entries),
                    recovered.hard_state.commit
                );
                // The recovered WAL takes writes and recovers them.
                let next = wal.last_index() + 1;
                let term = recovered.entries.last().map_or(1, |entry| entry.term);
                wal.save(&mut disk, &HardState::default(), &[entry(next, term)], true)
                    .unwrap_or_else(|error| {
                        panic!("budget {budget}: write after recovery: {error}")
                    });
                disk.crash();
                let (_, again) = reopen(&mut disk, small_segments())
                    .unwrap_or_else(|error| panic!("budget {budget}: second recovery: {error}"));
                assert_eq!(again.entries.last().map(|entry| entry.index), Some(next));
            }
        }
        if outcome.is_ok() {
            break;
        }
        budget += 1;
    }
    assert!(
        budget > 40,
        "the script should take many operations, took {budget}"
    );
}

#[test]
fn io_errors_are_not_taken_for_corruption() -> Result<(), WalError> {
    let (mut disk, layout) = several_segments();
    disk.set_read_failure(&layout[1].0, true);
    assert!(matches!(
        reopen(&mut disk, small_segments()),
        Err(WalError::Io { ref file, .. }) if *file == layout[1].0
    ));
    disk.set_read_failure(&layout[1].0, false);
    reopen(&mut disk, small_segments())?;
    Ok(())
}

#[test]
fn a_failed_write_poisons_the_wal() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    disk.set_operation_budget(Some(0));
    assert!(matches!(
        wal.save(&mut disk, &hard_state(1, 0), &entries(1, 1, 1), true),
        Err(WalError::Io { .. })
    ));
    disk.set_operation_budget(None);
    assert_eq!(
        wal.save(&mut disk, &hard_state(1, 0), &entries(1, 1, 1), true),
        Err(WalError::Poisoned)
    );
    Ok(())
}

#[test]
fn an_oversized_entry_is_refused_before_any_write() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    let huge = Entry {
        index: 1,
        term: 1,
        data: vec![0; RECORD_PAYLOAD_SIZE_BYTES_MAX],
        ..Entry::default()
    };
    assert!(matches!(
        wal.save(&mut disk, &HardState::default(), &[huge], true),
        Err(WalError::EntryTooLarge { index: 1, .. })
    ));
    wal.save(&mut disk, &HardState::default(), &entries(1, 1, 1), true)?;
    Ok(())
}

#[test]
fn leftover_temporary_segments_are_removed() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let leftover = "wal-0000000000000000-0000000000000001.log.tmp";
    disk.put_durable(leftover, b"half a header");
    let mut wal = Wal::create(&mut disk, WalConfig::default())?;
    wal.save(&mut disk, &hard_state(1, 0), &entries(1, 1, 1), true)?;
    let rotated_leftover = "wal-0000000000000001-0000000000000002.log.tmp";
    disk.put_durable(rotated_leftover, b"");
    let (_, recovered) = reopen(&mut disk, WalConfig::default())?;
    assert_eq!(recovered.entries, entries(1, 1, 1));
    disk.crash();
    let names = disk.list().expect("list");
    assert!(
        !names.iter().any(|name| name.ends_with(".tmp")),
        "{names:?}"
    );
    Ok(())
}

#[test]
fn create_and_open_check_what_exists() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    assert!(!Wal::exists(&mut disk)?);
    assert_eq!(
        Wal::open(&mut disk, WalConfig::default(), SnapshotMarker::default()).map(|_| ()),
        Err(WalError::NoSegments)
    );
    Wal::create(&mut disk, WalConfig::default())?;
    assert!(Wal::exists(&mut disk)?);
    assert!(matches!(
        Wal::create(&mut disk, WalConfig::default()),
        Err(WalError::AlreadyExists { .. })
    ));
    Ok(())
}

#[test]
fn the_wal_works_on_a_real_directory() -> Result<(), WalError> {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let mut disk = StdDisk::open(directory.path()).expect("open");
    let mut wal = Wal::create(&mut disk, small_segments())?;
    for index in 1..=30 {
        wal.save(
            &mut disk,
            &hard_state(1, index - 1),
            &[entry(index, 1)],
            index % 2 == 0,
        )?;
    }
    drop(wal);
    // A torn append at the end of the last segment.
    let last = disk
        .list()
        .expect("list")
        .into_iter()
        .rfind(|name| name.starts_with("wal-"))
        .expect("a segment");
    disk.append(&last, &[7, 0, 0, 0, 1]).expect("append");
    let usable = Wal::usable_snapshots(&mut disk)?;
    let (_, recovered) = Wal::open(&mut disk, small_segments(), usable[0])?;
    assert_eq!(recovered.entries, entries(1, 30, 1));
    assert_eq!(recovered.hard_state, hard_state(1, 29));
    Ok(())
}

#[test]
fn the_hard_state_survives_the_release_of_the_segment_that_recorded_it() -> Result<(), WalError> {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, small_segments())?;
    for index in 1..=29 {
        wal.save(&mut disk, &hard_state(3, 0), &[entry(index, 3)], true)?;
    }
    // The last hard state ever written, with an entry that fills its segment.
    let big = Entry {
        data: vec![7; 300],
        ..entry(30, 3)
    };
    wal.save(&mut disk, &hard_state(3, 30), &[big], true)?;
    let recorded_in = segment_names(&mut disk).pop().expect("a segment");
    // Later writes carry no new hard state (an unchanged one is skipped too).
    for index in 31..=40 {
        wal.save(&mut disk, &hard_state(3, 30), &[entry(index, 3)], true)?;
    }
    let snapshot = SnapshotMarker { index: 30, term: 3 };
    wal.save_snapshot_marker(&mut disk, snapshot)?;
    assert!(wal.release_to(&mut disk, 30)? > 0);
    assert!(
        !segment_names(&mut disk).contains(&recorded_in),
        "the test wants the segment with the hard state record released"
    );
    disk.crash();
    let (_, recovered) = reopen(&mut disk, small_segments())?;
    assert_eq!(recovered.snapshot, snapshot);
    assert_eq!(recovered.hard_state, hard_state(3, 30));
    assert_eq!(recovered.entries, entries(31, 40, 3));
    Ok(())
}

#[test]
#[should_panic(expected = "entries start at 5 but the log ends at 2")]
fn saving_entries_with_a_gap_is_a_caller_bug() {
    let mut disk = MemDisk::new();
    let mut wal = Wal::create(&mut disk, WalConfig::default()).expect("create");
    wal.save(&mut disk, &hard_state(1, 0), &entries(1, 2, 1), true)
        .expect("save");
    let _ = wal.save(&mut disk, &hard_state(1, 0), &entries(5, 5, 1), true);
}

/// `create_with_log` is all or nothing: a crash after any disk step leaves no WAL (so the
/// node bootstraps again) or one holding every entry and the hard state; and the WAL it
/// returns continues the log where the entries end.
#[test]
fn a_wal_created_with_a_log_appears_whole_or_not_at_all() -> Result<(), WalError> {
    let initial = entries(1, 3, 1);
    let state = hard_state(1, 3);
    let mut steps_before_success = 0;
    for budget in 0.. {
        let mut disk = MemDisk::new();
        disk.set_operation_budget(Some(budget));
        let created = Wal::create_with_log(&mut disk, small_segments(), &state, &initial);
        disk.crash();
        if Wal::exists(&mut disk)? {
            let (_, recovered) = reopen(&mut disk, small_segments())?;
            assert_eq!(recovered.entries, initial, "crash after {budget} steps");
            assert_eq!(recovered.hard_state, state, "crash after {budget} steps");
        } else {
            assert!(
                created.is_err(),
                "crash after {budget} steps: Ok but no WAL"
            );
        }
        if created.is_ok() {
            break;
        }
        steps_before_success += 1;
    }
    assert!(steps_before_success >= 3);

    let mut disk = MemDisk::new();
    let mut wal = Wal::create_with_log(&mut disk, small_segments(), &state, &initial)?;
    wal.save(&mut disk, &hard_state(1, 5), &entries(4, 5, 1), true)?;
    let (_, recovered) = reopen(&mut disk, small_segments())?;
    assert_eq!(recovered.entries, entries(1, 5, 1));
    assert_eq!(recovered.hard_state, hard_state(1, 5));
    Ok(())
}
