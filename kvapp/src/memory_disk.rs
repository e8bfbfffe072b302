//! An in-memory [`Disk`] that models durability, for kvapp's own tests.
//!
//! Each file keeps the bytes a reader sees and the bytes that survive a crash; the directory
//! keeps the names a reader sees and the names that survive a crash, exactly as the contract on
//! [`Disk`] describes. [`MemDisk::crash`] throws away everything not yet made durable, the most
//! pessimistic outcome the contract allows, and [`MemDisk::set_operation_budget`] makes the disk
//! fail after a given number of changes, so that a test can stop a sequence of writes at every
//! step. Torn writes are left to tests that cut bytes themselves and to the simulator's richer
//! disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use crate::disk::{validate_file_name, Disk};

/// A file's contents, reachable through zero or more names (like an inode).
#[derive(Debug, Clone, Default)]
struct FileData {
    /// What a reader sees now.
    current: Vec<u8>,
    /// What survives a crash: the contents as of the last `sync`.
    durable: Vec<u8>,
}

/// An in-memory [`Disk`] with separate current and durable state; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct MemDisk {
    files: BTreeMap<u64, FileData>,
    /// Names as a reader sees them now.
    names_current: BTreeMap<String, u64>,
    /// Names as of the last `sync_dir`.
    names_durable: BTreeMap<String, u64>,
    next_file_id: u64,
    /// How many more changing operations succeed; `None` means no limit.
    operation_budget: Option<u64>,
    /// Names whose reads fail, to tell I/O errors from corruption in tests.
    failing_reads: BTreeSet<String>,
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

impl MemDisk {
    /// An empty disk.
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// Loses everything not made durable: every file's contents go back to their last `sync`,
    /// the set of names goes back to the last `sync_dir`, and files no name reaches are gone.
    /// Any operation budget is lifted, as a restarted machine would have.
    pub fn crash(&mut self) {
        self.names_current = self.names_durable.clone();
        let reachable: BTreeSet<u64> = self.names_durable.values().copied().collect();
        self.files.retain(|id, _| reachable.contains(id));
        for file in self.files.values_mut() {
            file.current = file.durable.clone();
        }
        self.operation_budget = None;
    }

    /// Lets only `budget` more changing operations (everything but `read` and `list`) succeed;
    /// later ones fail with an error and change nothing. `None` lifts the limit.
    pub fn set_operation_budget(&mut self, budget: Option<u64>) {
        self.operation_budget = budget;
    }

    /// Makes every read of `name` fail with an I/O error (or succeed again, with `false`).
    pub fn set_read_failure(&mut self, name: &str, failing: bool) {
        if failing {
            self.failing_reads.insert(name.to_string());
        } else {
            self.failing_reads.remove(name);
        }
    }

    /// The bytes a reader of `name` sees now, if it exists.
    pub fn contents(&self, name: &str) -> Option<&[u8]> {
        let id = self.names_current.get(name)?;
        self.files.get(id).map(|file| file.current.as_slice())
    }

    /// Replaces `name` with `bytes`, durably and at once (name included), bypassing the budget:
    /// a test's way to plant a damaged or hand-made file.
    pub fn put_durable(&mut self, name: &str, bytes: &[u8]) {
        let id = self.next_file_id;
        self.next_file_id += 1;
        self.files.insert(
            id,
            FileData {
                current: bytes.to_vec(),
                durable: bytes.to_vec(),
            },
        );
        self.names_current.insert(name.to_string(), id);
        self.names_durable.insert(name.to_string(), id);
        self.drop_unreachable();
    }

    fn drop_unreachable(&mut self) {
        let reachable: BTreeSet<u64> = self
            .names_current
            .values()
            .chain(self.names_durable.values())
            .copied()
            .collect();
        self.files.retain(|id, _| reachable.contains(id));
    }

    /// Spends one unit of the operation budget, or fails if none is left.
    fn spend(&mut self, operation: &str, name: &str) -> io::Result<()> {
        match self.operation_budget {
            None => Ok(()),
            Some(0) => Err(io::Error::other(format!(
                "injected failure: {operation} {name:?} beyond the operation budget"
            ))),
            Some(left) => {
                self.operation_budget = Some(left - 1);
                Ok(())
            }
        }
    }

    fn file_mut(&mut self, name: &str) -> io::Result<&mut FileData> {
        let id = *self
            .names_current
            .get(name)
            .ok_or_else(|| not_found(name))?;
        // A name always refers to a live file: files are dropped only when unreachable.
        Ok(self.files.entry(id).or_default())
    }

    fn checked_file_mut(&mut self, operation: &str, name: &str) -> io::Result<&mut FileData> {
        validate_file_name(name)?;
        if !self.names_current.contains_key(name) {
            return Err(not_found(name));
        }
        self.spend(operation, name)?;
        self.file_mut(name)
    }
}

impl Disk for MemDisk {
    fn create(&mut self, name: &str) -> io::Result<()> {
        validate_file_name(name)?;
        self.spend("create", name)?;
        match self.names_current.get(name) {
            Some(_) => self.file_mut(name)?.current.clear(),
            None => {
                let id = self.next_file_id;
                self.next_file_id += 1;
                self.files.insert(id, FileData::default());
                self.names_current.insert(name.to_string(), id);
            }
        }
        Ok(())
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let file = self.checked_file_mut("append", name)?;
        file.current.extend_from_slice(bytes);
        Ok(())
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        validate_file_name(name)?;
        let length = self.contents(name).ok_or_else(|| not_found(name))?.len();
        let start = usize::try_from(offset)
            .ok()
            .filter(|start| *start <= length)
            .ok_or_else(|| past_end(offset, length, name))?;
        let file = self.checked_file_mut("write_at", name)?;
        let end = start + bytes.len();
        if end > file.current.len() {
            file.current.resize(end, 0);
        }
        file.current[start..end].copy_from_slice(bytes);
        Ok(())
    }

    fn truncate(&mut self, name: &str, length: u64) -> io::Result<()> {
        validate_file_name(name)?;
        let current = self.contents(name).ok_or_else(|| not_found(name))?.len();
        let new_length = usize::try_from(length)
            .ok()
            .filter(|new_length| *new_length <= current)
            .ok_or_else(|| past_end(length, current, name))?;
        self.checked_file_mut("truncate", name)?
            .current
            .truncate(new_length);
        Ok(())
    }

    fn read(&mut self, name: &str) -> io::Result<Vec<u8>> {
        validate_file_name(name)?;
        if self.failing_reads.contains(name) {
            return Err(io::Error::other(format!(
                "injected read failure on {name:?}"
            )));
        }
        self.contents(name)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| not_found(name))
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        let file = self.checked_file_mut("sync", name)?;
        file.durable = file.current.clone();
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        validate_file_name(from)?;
        validate_file_name(to)?;
        let id = *self
            .names_current
            .get(from)
            .ok_or_else(|| not_found(from))?;
        self.spend("rename", from)?;
        self.names_current.remove(from);
        self.names_current.insert(to.to_string(), id);
        self.drop_unreachable();
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        validate_file_name(name)?;
        if !self.names_current.contains_key(name) {
            return Err(not_found(name));
        }
        self.spend("remove", name)?;
        self.names_current.remove(name);
        self.drop_unreachable();
        Ok(())
    }

    fn list(&mut self) -> io::Result<Vec<String>> {
        // BTreeMap keys come out sorted.
        Ok(self.names_current.keys().cloned().collect())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        self.spend("sync_dir", "")?;
        self.names_durable = self.names_current.clone();
        self.drop_unreachable();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_contents_are_lost_at_a_crash() -> io::Result<()> {
        let mut disk = MemDisk::new();
        disk.create("log")?;
        disk.sync_dir()?;
        disk.append("log", b"durable")?;
        disk.sync("log")?;
        disk.append("log", b" pending")?;
        assert_eq!(disk.read("log")?, b"durable pending");
        disk.crash();
        assert_eq!(disk.read("log")?, b"durable");
        Ok(())
    }

    #[test]
    fn names_need_sync_dir_and_contents_need_sync() -> io::Result<()> {
        let mut disk = MemDisk::new();
        disk.create("synced-contents-only")?;
        disk.append("synced-contents-only", b"x")?;
        disk.sync("synced-contents-only")?;
        disk.crash();
        assert!(
            disk.list()?.is_empty(),
            "a name never made durable survived"
        );

        disk.create("name-only")?;
        disk.append("name-only", b"x")?;
        disk.sync_dir()?;
        disk.crash();
        assert_eq!(disk.read("name-only")?, b"");
        Ok(())
    }

    #[test]
    fn rename_and_remove_are_undone_without_sync_dir() -> io::Result<()> {
        let mut disk = MemDisk::new();
        disk.create("target")?;
        disk.append("target", b"old")?;
        disk.sync("target")?;
        disk.create("temporary")?;
        disk.append("temporary", b"new")?;
        disk.sync("temporary")?;
        disk.sync_dir()?;

        disk.rename("temporary", "target")?;
        disk.crash();
        assert_eq!(disk.read("target")?, b"old");
        assert_eq!(disk.read("temporary")?, b"new");

        disk.rename("temporary", "target")?;
        disk.sync_dir()?;
        disk.crash();
        assert_eq!(disk.read("target")?, b"new");
        assert_eq!(disk.list()?, vec!["target".to_string()]);

        disk.remove("target")?;
        disk.crash();
        assert_eq!(disk.read("target")?, b"new");
        Ok(())
    }

    #[test]
    fn create_of_an_existing_file_truncates_its_contents_until_synced() -> io::Result<()> {
        let mut disk = MemDisk::new();
        disk.put_durable("file", b"kept");
        disk.create("file")?;
        assert_eq!(disk.read("file")?, b"");
        disk.crash();
        assert_eq!(disk.read("file")?, b"kept");
        Ok(())
    }

    #[test]
    fn the_operation_budget_fails_later_changes() -> io::Result<()> {
        let mut disk = MemDisk::new();
        disk.set_operation_budget(Some(2));
        disk.create("a")?;
        disk.append("a", b"1")?;
        assert!(disk.append("a", b"2").is_err());
        assert_eq!(disk.read("a")?, b"1", "a failed operation changed the file");
        disk.crash();
        disk.create("b")?;
        Ok(())
    }

    #[test]
    fn write_at_and_truncate_check_bounds() -> io::Result<()> {
        let mut disk = MemDisk::new();
        disk.create("f")?;
        disk.append("f", b"abc")?;
        disk.write_at("f", 2, b"CD")?;
        assert_eq!(disk.read("f")?, b"abCD");
        assert!(disk.write_at("f", 5, b"x").is_err());
        assert!(disk.truncate("f", 5).is_err());
        disk.truncate("f", 1)?;
        assert_eq!(disk.read("f")?, b"a");
        disk.set_read_failure("f", true);
        assert!(disk.read("f").is_err());
        Ok(())
    }
}
