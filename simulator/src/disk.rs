//! `SimDisk`: an in-memory [`Disk`] that follows kvapp's durability contract to the letter and
//! loses, tears and damages data the way the contract allows.
//!
//! # Files
//!
//! A file is its current bytes plus an undo log of the content changes made since its last
//! `sync` (each change records what it overwrote). The durable contents are the current bytes
//! with every pending change undone; they are only rebuilt at a crash, so a `sync` costs
//! nothing but clearing the log.
//!
//! # What a crash does
//!
//! | state at the crash | what survives | physical cause |
//! |---|---|---|
//! | content changes since the last `sync` of a file | a prefix of them in order, the next one cut at a sector boundary, the rest lost | the page cache writes a file back in order; a sector is written whole or not at all |
//! | names created, renamed or removed since the last `sync_dir` | each change kept or lost on its own; a rename moves its name as one change | directory blocks are written back independently; rename is atomic |
//! | a file that no durable name reaches | nothing | its inode is freed at recovery |
//! | damaged sectors (injected) | stay damaged | media errors do not heal |
//!
//! Ordered write-back is what a single-file append gives in practice, and kvapp's WAL relies on
//! it: it truncates a torn tail but treats a lost earlier write followed by a surviving later
//! record as corruption.
//!
//! # Crashing inside a write
//!
//! [`IoState::arm_crash`] makes the disk die during the node's n-th next operation: that
//! operation half happens (a write lands as a pending change that the crash may tear; a sync
//! does not happen) and it and every later operation fail. The node's `process_ready` then
//! returns an error, the transport drops whatever the node sends after that point, and the
//! world crashes the node: exactly a power cut in the middle of persisting a `Ready`.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::rc::Rc;

use kvapp::disk::{validate_file_name, Disk};
use kvapp::wal::RecordSummary;
use raft::HardState;

use crate::random::SimRng;

/// What a node's disk and transport share: whether the process died inside a disk operation,
/// and how long the current burst of fsyncs took.
#[derive(Debug, Default)]
pub struct IoState {
    crashed: Cell<bool>,
    /// The operation the armed crash struck, for the trace.
    struck: std::cell::RefCell<Option<String>>,
    operations_until_crash: Cell<Option<u64>>,
    latency_ms: Cell<u64>,
    /// Reads that met injected damage (a bad sector, or a file with a flipped bit), over every
    /// life of the node.
    damaged_reads: Cell<u64>,
    /// Changes not yet durable that a message could promise: WAL writes that hold entries, a
    /// snapshot marker, or a new term or vote, and new WAL segment names (see
    /// [`SimDisk::promises_pending`]).
    promises_pending: Cell<u64>,
}

impl IoState {
    /// A live process.
    pub fn new() -> Rc<IoState> {
        Rc::new(IoState::default())
    }

    /// Whether the process died inside a disk operation.
    pub fn crashed(&self) -> bool {
        self.crashed.get()
    }

    /// Dies during the `operations`-th next disk operation (0: the very next).
    pub fn arm_crash(&self, operations: u64) {
        self.operations_until_crash.set(Some(operations));
    }

    /// Whether a crash is armed and has not fired.
    pub fn crash_armed(&self) -> bool {
        self.operations_until_crash.get().is_some()
    }

    /// Cancels an armed crash that has not fired.
    pub fn disarm(&self) {
        self.operations_until_crash.set(None);
    }

    /// The operation an armed crash struck, if one did.
    pub fn struck_operation(&self) -> Option<String> {
        self.struck.borrow().clone()
    }

    fn strike(&self, operation: &str, name: &str) {
        *self.struck.borrow_mut() = Some(format!("{operation} {name:?}"));
    }

    /// Changes a message could promise that are not durable yet: while there is one, a
    /// message that promises durable state (a granted vote, a vote request, an accepted
    /// append) breaks the Ready contract. kvapp syncs every such write before it sends.
    pub fn promises_pending(&self) -> u64 {
        self.promises_pending.get()
    }

    /// Reads that met injected damage, over every life of the node.
    pub fn damaged_reads(&self) -> u64 {
        self.damaged_reads.get()
    }

    /// Back to a live process (after a restart).
    pub fn reset(&self) {
        *self.struck.borrow_mut() = None;
        self.crashed.set(false);
        self.operations_until_crash.set(None);
        self.latency_ms.set(0);
    }

    /// The fsync time accumulated since [`IoState::take_latency_ms`].
    pub fn latency_ms(&self) -> u64 {
        self.latency_ms.get()
    }

    /// Returns and clears the accumulated fsync time.
    pub fn take_latency_ms(&self) -> u64 {
        self.latency_ms.replace(0)
    }

    /// Counts one operation against an armed crash. `Ok(true)`: this operation is the one the
    /// crash strikes (the caller half-does it); `Err`: the process is already dead.
    fn enter(&self) -> io::Result<bool> {
        if self.crashed.get() {
            return Err(io::Error::other("the process crashed"));
        }
        match self.operations_until_crash.get() {
            None => Ok(false),
            Some(0) => {
                self.crashed.set(true);
                self.operations_until_crash.set(None);
                Ok(true)
            }
            Some(left) => {
                self.operations_until_crash.set(Some(left - 1));
                Ok(false)
            }
        }
    }
}

/// Whether `name` is a WAL segment in place (not a temporary one).
fn is_wal_segment(name: &str) -> bool {
    name.starts_with("wal-") && name.ends_with(".log")
}

fn crashed_error() -> io::Error {
    io::Error::other("the process crashed during this operation")
}

/// One content change since the last sync: the file became
/// `old[..offset] ++ new ++ old[offset + length..]` (a write of `length` bytes) or
/// `old[..length]` (a truncation). Only what undoes it is kept: the new bytes are in the
/// current contents, and a crash rebuilds any earlier state by undoing later changes.
#[derive(Clone, Debug)]
enum PendingChange {
    Write {
        offset: usize,
        length: usize,
        length_before: usize,
        overwritten: Vec<u8>,
    },
    Truncate {
        removed: Vec<u8>,
    },
}

#[derive(Clone, Debug, Default)]
struct SimFile {
    current: Vec<u8>,
    /// Changes since the last sync, oldest first.
    pending: Vec<PendingChange>,
    /// Sectors that fail every read.
    bad_sectors: BTreeSet<u64>,
    /// A bit of the file was flipped on purpose.
    flipped: bool,
}

impl SimFile {
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        let length_before = self.current.len();
        let overlap_end = (offset + bytes.len()).min(length_before);
        let overwritten = self.current[offset.min(overlap_end)..overlap_end].to_vec();
        if offset + bytes.len() > length_before {
            self.current.resize(offset + bytes.len(), 0);
        }
        self.current[offset..offset + bytes.len()].copy_from_slice(bytes);
        self.pending.push(PendingChange::Write {
            offset,
            length: bytes.len(),
            length_before,
            overwritten,
        });
    }

    fn truncate(&mut self, length: usize) {
        let removed = self.current[length..].to_vec();
        self.current.truncate(length);
        self.pending.push(PendingChange::Truncate { removed });
    }

    /// Crash recovery: the pending changes reach the platter in order and the power cut stops
    /// them at a random point: changes `0..kept` whole, change `kept` (if any) torn at a sector
    /// boundary, the rest lost. Built by undoing, newest first, what did not land. With
    /// `tear_newest` the cut falls in the newest change. Returns whether some change was torn
    /// or lost.
    fn crash(&mut self, sector_size_bytes: u64, tear_newest: bool, rng: &mut SimRng) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let pending = std::mem::take(&mut self.pending);
        let kept = if tear_newest {
            pending.len() - 1
        } else {
            rng.below(pending.len() as u64 + 1) as usize
        };
        for change in pending[kept.min(pending.len())..].iter().skip(1).rev() {
            undo(&mut self.current, change);
        }
        match pending.get(kept) {
            None => {}
            Some(PendingChange::Write {
                offset,
                length,
                length_before,
                overwritten,
            }) => {
                let cut =
                    torn_length(*offset as u64, *length as u64, sector_size_bytes, rng) as usize;
                // Bytes past the cut are as they were before the write.
                let restore_end = (offset + length).min(*length_before);
                if offset + cut < restore_end {
                    self.current[offset + cut..restore_end]
                        .copy_from_slice(&overwritten[cut..restore_end - offset]);
                }
                self.current.truncate((*length_before).max(offset + cut));
            }
            // Metadata: all or nothing.
            Some(change @ PendingChange::Truncate { .. }) if rng.chance(0.5) => {
                undo(&mut self.current, change);
            }
            Some(PendingChange::Truncate { .. }) => {}
        }
        kept < pending.len()
    }
}

/// Reverts one change of `bytes`, which must be the contents just after it.
fn undo(bytes: &mut Vec<u8>, change: &PendingChange) {
    match change {
        PendingChange::Write {
            offset,
            length_before,
            overwritten,
            ..
        } => {
            bytes[*offset..*offset + overwritten.len()].copy_from_slice(overwritten);
            bytes.truncate(*length_before);
        }
        PendingChange::Truncate { removed } => bytes.extend_from_slice(removed),
    }
}

/// How much of a write of `length` bytes at `offset` survives a tear: a whole number of the
/// sectors it touches, cut at a sector boundary of the file (possibly nothing).
fn torn_length(offset: u64, length: u64, sector_size_bytes: u64, rng: &mut SimRng) -> u64 {
    let sector = sector_size_bytes.max(1);
    let first_boundary = offset.div_ceil(sector) * sector;
    let mut cuts = vec![0];
    let mut boundary = first_boundary.max(offset + 1);
    boundary = boundary.div_ceil(sector) * sector;
    while boundary < offset + length {
        cuts.push(boundary - offset);
        boundary += sector;
    }
    *rng.pick(&cuts)
}

/// A directory change since the last `sync_dir`.
#[derive(Clone, Debug)]
enum DirectoryChange {
    Link { name: String, file: u64 },
    Rename { from: String, to: String, file: u64 },
    Unlink { name: String, file: u64 },
}

/// Counters for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Content changes.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// File syncs.
    pub syncs: u64,
    /// Crashes that tore or lost a pending write.
    pub torn_crashes: u64,
    /// Bit flips placed.
    pub bit_flips: u64,
    /// Sectors made unreadable.
    pub bad_sectors: u64,
}

/// The simulator's disk of one node; see the module docs.
#[derive(Debug)]
pub struct SimDisk {
    files: BTreeMap<u64, SimFile>,
    names: BTreeMap<String, u64>,
    names_durable: BTreeMap<String, u64>,
    directory_pending: Vec<DirectoryChange>,
    /// The pending changes of all files together: [`SimDisk::is_synced`] runs after every
    /// step, and this spares it a walk over the files.
    pending_file_changes: usize,
    next_file: u64,
    sector_size_bytes: u64,
    sync_latency_ms_max: u64,
    rng: SimRng,
    io: Rc<IoState>,
    /// The next crash tears each file's newest pending change (a scheduled fault).
    tear_at_next_crash: bool,
    /// Per file, its pending changes that a message could promise (see
    /// [`IoState::promises_pending`]); and the pending name changes that could.
    promise_changes: BTreeMap<u64, u64>,
    promise_names: u64,
    /// The last hard state written to the WAL in this life of the node, if one was: a hard
    /// state with the same term and vote only moves the commit index, which may be written
    /// lazily.
    last_hard_state: Option<HardState>,
    /// Counters.
    pub stats: DiskStats,
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file named {name:?}"))
}

fn past_end(requested: u64, length: usize, name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("offset {requested} is past the end ({length} bytes) of {name}"),
    )
}

impl SimDisk {
    /// An empty disk.
    pub fn new(
        sector_size_bytes: u64,
        sync_latency_ms_max: u64,
        rng: SimRng,
        io: Rc<IoState>,
    ) -> SimDisk {
        SimDisk {
            files: BTreeMap::new(),
            names: BTreeMap::new(),
            names_durable: BTreeMap::new(),
            directory_pending: Vec::new(),
            pending_file_changes: 0,
            next_file: 0,
            sector_size_bytes: sector_size_bytes.max(1),
            sync_latency_ms_max,
            rng,
            io,
            tear_at_next_crash: false,
            promise_changes: BTreeMap::new(),
            promise_names: 0,
            last_hard_state: None,
            stats: DiskStats::default(),
        }
    }

    /// Whether a write of `bytes` to `name` holds something a message could promise: entries,
    /// a snapshot marker, or a hard state with a new term or vote, in a WAL segment.
    fn carries_promise(&mut self, name: &str, bytes: &[u8]) -> bool {
        if !is_wal_segment(name) {
            return false;
        }
        let mut promise = false;
        for record in kvapp::wal::inspect_write(bytes) {
            match record {
                RecordSummary::Entries { .. } | RecordSummary::SnapshotMarker(_) => promise = true,
                RecordSummary::HardState(hard_state) => {
                    if self.last_hard_state.is_some_and(|last| {
                        last.term != hard_state.term || last.vote != hard_state.vote
                    }) {
                        promise = true;
                    }
                    self.last_hard_state = Some(hard_state);
                }
            }
        }
        promise
    }

    /// Recounts [`IoState::promises_pending`] from the per-file counts.
    fn publish_promises(&self) {
        self.io
            .promises_pending
            .set(self.promise_changes.values().sum::<u64>() + self.promise_names);
    }

    /// At the next crash, the newest pending change of each file is torn at a sector boundary
    /// (possibly to nothing) and everything older lands, instead of a random cut.
    pub fn tear_at_next_crash(&mut self) {
        self.tear_at_next_crash = true;
    }

    /// The state shared with the node's transport.
    pub fn io(&self) -> &Rc<IoState> {
        &self.io
    }

    /// Whether everything written is durable: no content change awaits a `sync` and no name
    /// change awaits a `sync_dir`.
    pub fn is_synced(&self) -> bool {
        debug_assert_eq!(
            self.pending_file_changes,
            self.files
                .values()
                .map(|file| file.pending.len())
                .sum::<usize>(),
            "the count of pending file changes is off"
        );
        self.directory_pending.is_empty() && self.pending_file_changes == 0
    }

    /// Bytes a reader of `name` sees now.
    pub fn contents(&self, name: &str) -> Option<&[u8]> {
        let file = self.names.get(name)?;
        self.files.get(file).map(|file| file.current.as_slice())
    }

    /// The names a reader sees now.
    pub fn names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }

    /// Power loss: see the module docs. Returns whether a pending write was torn or lost.
    pub fn crash(&mut self) -> bool {
        let mut names = self.names_durable.clone();
        for change in std::mem::take(&mut self.directory_pending) {
            if !self.rng.chance(0.5) {
                continue;
            }
            match change {
                DirectoryChange::Link { name, file } => {
                    names.insert(name, file);
                }
                DirectoryChange::Rename { from, to, file } => {
                    if names.get(&from) == Some(&file) {
                        names.remove(&from);
                    }
                    names.insert(to, file);
                }
                DirectoryChange::Unlink { name, file } => {
                    if names.get(&name) == Some(&file) {
                        names.remove(&name);
                    }
                }
            }
        }
        let reachable: BTreeSet<u64> = names.values().copied().collect();
        self.files.retain(|file, _| reachable.contains(file));
        let mut torn = false;
        let tear_newest = std::mem::take(&mut self.tear_at_next_crash);
        for file in self.files.values_mut() {
            torn |= file.crash(self.sector_size_bytes, tear_newest, &mut self.rng);
        }
        self.pending_file_changes = 0;
        self.promise_changes.clear();
        self.promise_names = 0;
        self.last_hard_state = None;
        self.publish_promises();
        if torn {
            self.stats.torn_crashes += 1;
        }
        self.names_durable = names.clone();
        self.names = names;
        self.io.reset();
        torn
    }

    /// Flips one bit of a synced file, placed so that recovery must notice it (see
    /// [`crate::faults::damage_offset`]). Returns the file and offset, or `None` when no file qualifies.
    pub fn flip_bit(
        &mut self,
        pick: impl Fn(&str, &[u8], &mut SimRng) -> Option<u64>,
    ) -> Option<(String, u64)> {
        let candidates: Vec<(String, u64)> = self
            .names_durable
            .iter()
            .filter(|(name, file)| {
                self.names.get(*name) == Some(file)
                    && self
                        .files
                        .get(file)
                        .is_some_and(|file| file.pending.is_empty())
            })
            .map(|(name, file)| (name.clone(), *file))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let start = self.rng.below(candidates.len() as u64) as usize;
        for step in 0..candidates.len() {
            let (name, id) = &candidates[(start + step) % candidates.len()];
            let file = self.files.get(id).expect("a named file exists");
            let Some(offset) = pick(name, &file.current, &mut self.rng) else {
                continue;
            };
            let bit = self.rng.below(8);
            let file = self.files.get_mut(id).expect("a named file exists");
            file.current[offset as usize] ^= 1 << bit;
            file.flipped = true;
            self.stats.bit_flips += 1;
            return Some((name.clone(), offset));
        }
        None
    }

    /// Makes one sector of a synced file fail every read. Returns the file and sector.
    pub fn break_sector(
        &mut self,
        pick: impl Fn(&str, &[u8], &mut SimRng) -> Option<u64>,
    ) -> Option<(String, u64)> {
        let names: Vec<(String, u64)> = self
            .names_durable
            .iter()
            .filter(|(name, file)| self.names.get(*name) == Some(file))
            .map(|(name, file)| (name.clone(), *file))
            .collect();
        if names.is_empty() {
            return None;
        }
        let start = self.rng.below(names.len() as u64) as usize;
        for step in 0..names.len() {
            let (name, id) = &names[(start + step) % names.len()];
            let file = self.files.get(id).expect("a named file exists");
            let Some(offset) = pick(name, &file.current, &mut self.rng) else {
                continue;
            };
            let sector = offset / self.sector_size_bytes;
            self.files
                .get_mut(id)
                .expect("a named file exists")
                .bad_sectors
                .insert(sector);
            self.stats.bad_sectors += 1;
            return Some((name.clone(), sector));
        }
        None
    }

    fn file_id(&self, name: &str) -> io::Result<u64> {
        // Only valid names get in (create and rename check), so a name found is valid; a name
        // not found gets the error the contract gives it.
        if let Some(&id) = self.names.get(name) {
            return Ok(id);
        }
        validate_file_name(name)?;
        Err(not_found(name))
    }

    fn new_file(&mut self) -> u64 {
        let id = self.next_file;
        self.next_file += 1;
        self.files.insert(id, SimFile::default());
        id
    }

    fn drop_unreachable(&mut self) {
        let names = &self.names;
        let names_durable = &self.names_durable;
        let pending = &self.directory_pending;
        let mut dropped_changes = 0;
        self.files.retain(|id, sim_file| {
            let reachable = names.values().any(|file| file == id)
                || names_durable.values().any(|file| file == id)
                || pending.iter().any(|change| match change {
                    DirectoryChange::Link { file, .. }
                    | DirectoryChange::Rename { file, .. }
                    | DirectoryChange::Unlink { file, .. } => file == id,
                });
            if !reachable {
                dropped_changes += sim_file.pending.len();
            }
            reachable
        });
        self.pending_file_changes -= dropped_changes;
        let files = &self.files;
        self.promise_changes.retain(|id, _| files.contains_key(id));
        self.publish_promises();
    }

    fn write_change(&mut self, name: &str, offset: Option<u64>, bytes: &[u8]) -> io::Result<()> {
        let id = self.file_id(name)?;
        let length = self.files[&id].current.len();
        let offset = match offset {
            None => length,
            Some(offset) => usize::try_from(offset)
                .ok()
                .filter(|offset| *offset <= length)
                .ok_or_else(|| past_end(offset, length, name))?,
        };
        let strikes = self.io.enter()?;
        let file = self.files.get_mut(&id).expect("a named file exists");
        file.write(offset, bytes);
        self.pending_file_changes += 1;
        if self.carries_promise(name, bytes) {
            *self.promise_changes.entry(id).or_insert(0) += 1;
            self.publish_promises();
        }
        self.stats.writes += 1;
        self.stats.bytes_written += bytes.len() as u64;
        if strikes {
            self.io.strike(
                if offset == length {
                    "append"
                } else {
                    "write_at"
                },
                name,
            );
            return Err(crashed_error());
        }
        Ok(())
    }
}

impl Disk for SimDisk {
    fn create(&mut self, name: &str) -> io::Result<()> {
        validate_file_name(name)?;
        let strikes = self.io.enter()?;
        match self.names.get(name) {
            Some(&id) => {
                let file = self.files.get_mut(&id).expect("a named file exists");
                if !file.current.is_empty() {
                    file.truncate(0);
                    self.pending_file_changes += 1;
                }
            }
            None => {
                let id = self.new_file();
                self.names.insert(name.to_string(), id);
                if is_wal_segment(name) {
                    self.promise_names += 1;
                    self.publish_promises();
                }
                self.directory_pending.push(DirectoryChange::Link {
                    name: name.to_string(),
                    file: id,
                });
            }
        }
        if strikes {
            self.io.strike("create", name);
            return Err(crashed_error());
        }
        Ok(())
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.write_change(name, None, bytes)
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.write_change(name, Some(offset), bytes)
    }

    fn truncate(&mut self, name: &str, length: u64) -> io::Result<()> {
        let id = self.file_id(name)?;
        let current = self.files[&id].current.len();
        let length = usize::try_from(length)
            .ok()
            .filter(|length| *length <= current)
            .ok_or_else(|| past_end(length, current, name))?;
        let strikes = self.io.enter()?;
        self.files
            .get_mut(&id)
            .expect("a named file exists")
            .truncate(length);
        self.pending_file_changes += 1;
        if strikes {
            self.io.strike("truncate", name);
            return Err(crashed_error());
        }
        Ok(())
    }

    fn read(&mut self, name: &str) -> io::Result<Vec<u8>> {
        let id = self.file_id(name)?;
        if self.io.crashed() {
            return Err(crashed_error());
        }
        let file = &self.files[&id];
        let sectors = file.current.len() as u64 / self.sector_size_bytes + 1;
        if file.flipped {
            self.io.damaged_reads.set(self.io.damaged_reads.get() + 1);
        }
        if let Some(sector) = file.bad_sectors.range(..sectors).next() {
            self.io.damaged_reads.set(self.io.damaged_reads.get() + 1);
            return Err(io::Error::other(format!(
                "injected media error: sector {sector} of {name:?} is unreadable"
            )));
        }
        Ok(file.current.clone())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        let id = self.file_id(name)?;
        if self.io.enter()? {
            // The power went before the data reached the platter.
            self.io.strike("sync", name);
            return Err(crashed_error());
        }
        let pending = &mut self
            .files
            .get_mut(&id)
            .expect("a named file exists")
            .pending;
        self.pending_file_changes -= pending.len();
        pending.clear();
        if self.promise_changes.remove(&id).is_some() {
            self.publish_promises();
        }
        self.stats.syncs += 1;
        if self.sync_latency_ms_max > 0 {
            let latency = self.rng.between(0, self.sync_latency_ms_max);
            self.io.latency_ms.set(self.io.latency_ms.get() + latency);
        }
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        let id = self.file_id(from)?;
        validate_file_name(to)?;
        let strikes = self.io.enter()?;
        self.names.remove(from);
        self.names.insert(to.to_string(), id);
        if is_wal_segment(to) {
            self.promise_names += 1;
            self.publish_promises();
        }
        self.directory_pending.push(DirectoryChange::Rename {
            from: from.to_string(),
            to: to.to_string(),
            file: id,
        });
        self.drop_unreachable();
        if strikes {
            self.io.strike("rename", from);
            return Err(crashed_error());
        }
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        let id = self.file_id(name)?;
        let strikes = self.io.enter()?;
        self.names.remove(name);
        self.directory_pending.push(DirectoryChange::Unlink {
            name: name.to_string(),
            file: id,
        });
        self.drop_unreachable();
        if strikes {
            self.io.strike("remove", name);
            return Err(crashed_error());
        }
        Ok(())
    }

    fn list(&mut self) -> io::Result<Vec<String>> {
        if self.io.crashed() {
            return Err(crashed_error());
        }
        Ok(self.names.keys().cloned().collect())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        if self.io.enter()? {
            self.io.strike("sync_dir", "");
            return Err(crashed_error());
        }
        self.names_durable = self.names.clone();
        self.directory_pending.clear();
        self.promise_names = 0;
        self.drop_unreachable();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(seed: u64) -> SimDisk {
        SimDisk::new(4, 0, SimRng::new(seed), IoState::new())
    }

    #[test]
    fn writes_a_message_could_promise_stay_pending_until_synced() -> io::Result<()> {
        use kvapp::node::NodeConfig;
        // A real WAL's writes, through a kvapp node's bootstrap and one Ready's worth.
        let mut disk = disk(3);
        let io = disk.io().clone();
        let config = NodeConfig::new(1, vec![1]);
        let mut wal = kvapp::wal::Wal::create_with_log(
            &mut disk,
            config.wal,
            &raft::HardState {
                term: 1,
                vote: 0,
                commit: 0,
            },
            &[],
        )
        .expect("a new WAL");
        assert_eq!(io.promises_pending(), 0, "creation syncs everything");
        let entry = raft::Entry {
            term: 1,
            index: 1,
            ..raft::Entry::default()
        };
        let new_vote = raft::HardState {
            term: 2,
            vote: 1,
            commit: 0,
        };
        // Entries and a new vote, written without the sync a Ready asks for.
        wal.save(&mut disk, &new_vote, &[entry], false)
            .expect("a write");
        assert!(io.promises_pending() > 0, "unsynced entries are pending");
        wal.save(&mut disk, &new_vote, &[], true).expect("a sync");
        assert_eq!(io.promises_pending(), 0);
        // Only the commit index moves: nothing a message could promise.
        let commit_only = raft::HardState {
            commit: 1,
            ..new_vote
        };
        wal.save(&mut disk, &commit_only, &[], false)
            .expect("a lazy write");
        assert_eq!(
            io.promises_pending(),
            0,
            "a commit index may be written lazily"
        );
        // A crash forgets what was pending.
        wal.save(
            &mut disk,
            &raft::HardState {
                term: 3,
                ..commit_only
            },
            &[],
            false,
        )
        .expect("a write");
        assert!(io.promises_pending() > 0, "a new term is pending");
        disk.crash();
        assert_eq!(io.promises_pending(), 0);
        Ok(())
    }

    #[test]
    fn is_synced_follows_every_kind_of_change() -> io::Result<()> {
        let mut disk = disk(1);
        assert!(disk.is_synced());
        disk.create("a")?;
        assert!(!disk.is_synced(), "a new name awaits sync_dir");
        disk.sync_dir()?;
        assert!(disk.is_synced());
        disk.append("a", b"abcd")?;
        disk.write_at("a", 1, b"x")?;
        assert!(!disk.is_synced());
        disk.sync("a")?;
        assert!(disk.is_synced());
        disk.create("a")?;
        assert!(!disk.is_synced(), "creating an existing file empties it");
        disk.sync("a")?;
        disk.append("a", b"efgh")?;
        disk.truncate("a", 2)?;
        disk.sync("a")?;
        assert!(disk.is_synced());
        // A file unlinked with unsynced writes: once the unlink is durable the file is gone,
        // and so are its pending writes.
        disk.create("b")?;
        disk.sync_dir()?;
        disk.append("b", b"pending")?;
        disk.remove("b")?;
        disk.sync_dir()?;
        assert!(disk.is_synced(), "the unlinked file's writes went with it");
        disk.append("a", b"lost?")?;
        disk.crash();
        assert!(disk.is_synced(), "a crash settles every pending change");
        Ok(())
    }

    #[test]
    fn a_crash_keeps_an_ordered_prefix_cut_at_a_sector_boundary() -> io::Result<()> {
        let mut outcomes = BTreeSet::new();
        for seed in 0..200 {
            let mut disk = disk(seed);
            disk.create("log")?;
            disk.append("log", b"ab")?;
            disk.sync("log")?;
            disk.sync_dir()?;
            disk.append("log", b"cdefgh")?;
            disk.append("log", b"ijklmn")?;
            disk.crash();
            let after = disk.read("log")?;
            let whole = b"abcdefghijklmn";
            assert!(whole.starts_with(&after), "not a prefix: {after:?}");
            assert!(after.len() >= 2, "synced bytes lost: {after:?}");
            assert!(
                after.len() % 4 == 0 || after.len() == 2 || after.len() == 8 || after.len() == 14,
                "cut inside a sector: {} bytes",
                after.len()
            );
            outcomes.insert(after.len());
        }
        // Nothing kept, a torn first write, the first write whole, a torn second, everything.
        for length in [2, 4, 8, 12, 14] {
            assert!(
                outcomes.contains(&length),
                "never saw {length}: {outcomes:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn synced_data_and_names_survive_every_crash() -> io::Result<()> {
        for seed in 0..50 {
            let mut disk = disk(seed);
            disk.create("a")?;
            disk.append("a", b"durable")?;
            disk.sync("a")?;
            disk.sync_dir()?;
            disk.write_at("a", 0, b"XX")?;
            disk.truncate("a", 3)?;
            disk.crash();
            let after = disk.read("a")?;
            assert!(
                [&b"durable"[..], b"XXrable", b"XXr", b"dur"].contains(&after.as_slice()),
                "seed {seed}: {after:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_torn_overwrite_keeps_old_bytes_past_the_cut() -> io::Result<()> {
        let mut seen = BTreeSet::new();
        for seed in 0..100 {
            let mut disk = disk(seed);
            disk.create("f")?;
            disk.append("f", b"0123456789AB")?;
            disk.sync("f")?;
            disk.sync_dir()?;
            disk.write_at("f", 2, b"abcdefghijklmn")?;
            disk.crash();
            seen.insert(disk.read("f")?);
        }
        let expected: BTreeSet<Vec<u8>> = [
            &b"0123456789AB"[..],
            b"01ab456789AB",
            b"01abcdef89AB",
            b"01abcdefghij",
            b"01abcdefghijklmn",
        ]
        .iter()
        .map(|bytes| bytes.to_vec())
        .collect();
        assert_eq!(seen, expected);
        Ok(())
    }

    #[test]
    fn unsynced_names_may_vanish_and_rename_is_atomic() -> io::Result<()> {
        let mut seen = BTreeSet::new();
        for seed in 0..100 {
            let mut disk = disk(seed);
            disk.create("target")?;
            disk.append("target", b"old")?;
            disk.sync("target")?;
            disk.sync_dir()?;
            disk.create("new.tmp")?;
            disk.append("new.tmp", b"new")?;
            disk.sync("new.tmp")?;
            disk.rename("new.tmp", "target")?;
            disk.crash();
            let target = disk.read("target")?;
            assert!(target == b"old" || target == b"new", "{target:?}");
            seen.insert((target, disk.names()));
        }
        assert!(seen.len() >= 3, "{seen:?}");
        Ok(())
    }

    #[test]
    fn an_armed_crash_fails_the_operation_and_everything_after() -> io::Result<()> {
        let mut disk = disk(3);
        disk.create("f")?;
        disk.sync("f")?;
        disk.sync_dir()?;
        disk.io().arm_crash(1);
        disk.append("f", b"first")?;
        assert!(disk.append("f", b"second").is_err());
        assert!(disk.io().crashed());
        assert!(disk.sync("f").is_err());
        assert!(disk.read("f").is_err());
        disk.crash();
        assert!(!disk.io().crashed());
        let after = disk.read("f")?;
        assert!(b"firstsecond".starts_with(&after));
        Ok(())
    }

    #[test]
    fn a_bad_sector_stays_bad() -> io::Result<()> {
        let mut disk = disk(1);
        disk.create("f")?;
        disk.append("f", b"0123456789")?;
        disk.sync("f")?;
        disk.sync_dir()?;
        disk.break_sector(|_, _, _| Some(5)).expect("a sector");
        assert!(disk.read("f").is_err());
        disk.crash();
        assert!(disk.read("f").is_err());
        Ok(())
    }
}
