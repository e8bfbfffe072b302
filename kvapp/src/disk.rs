//! The file system as kvapp sees it: one flat directory of named files per node.
//!
//! The WAL and the snapshot files are written only through [`Disk`], so that the real server
//! ([`StdDisk`]), kvapp's own tests ([`crate::memory_disk::MemDisk`]) and the simulator's disk
//! with injected crashes and torn writes all run the same storage code.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A flat directory of named files that belongs to one node.
///
/// # Names
///
/// A name is one path component: not empty, not `.` or `..`, without `/`, `\` or NUL. There are
/// no subdirectories. Every method rejects other names with [`io::ErrorKind::InvalidInput`]
/// (see [`validate_file_name`]).
///
/// # Errors
///
/// A method on a file that does not exist fails with [`io::ErrorKind::NotFound`]
/// ([`Disk::create`] excepted). Any error leaves the durable state as unknown as a crash would:
/// callers must not assume that a failed write wrote nothing, nor that a failed `sync` synced
/// anything.
///
/// # Durability contract
///
/// An implementation keeps, per file, the bytes a reader sees now and the bytes that would
/// survive a crash; and for the directory, the names a reader sees now and the names that would
/// survive a crash. The rules, which a simulated disk models and the WAL and snapshot code rely
/// on, are:
///
/// | operation | visible at once | durable after |
/// |---|---|---|
/// | `create`, `append`, `write_at`, `truncate` (file contents) | yes | `sync(name)` of that file |
/// | a name appearing (`create` of a new name, `rename` target) | yes | `sync_dir()` |
/// | a name disappearing (`remove`, `rename` source) | yes | `sync_dir()` |
///
/// At a crash, content changes made since the file's last `sync` may each be kept, lost, or torn
/// (kept in part, in sector-sized pieces); nothing else about them is promised. Directory
/// changes made since the last `sync_dir` may each be kept or lost, but a `rename` is atomic: the
/// target name refers to either the old file or the new one, never to a mixture or to nothing
/// (when it existed before). A file whose contents were synced but whose name was never made
/// durable may vanish whole. `sync` does not make a name durable and `sync_dir` does not make
/// contents durable; crash-safe replacement of a file is therefore: write a temporary file,
/// `sync` it, `rename` it over the target, `sync_dir`.
///
/// Methods take `&mut self`, reads included, so that a simulated disk can draw faults from its
/// random stream on any call.
pub trait Disk {
    /// Creates `name` empty, or truncates it to empty if it exists.
    fn create(&mut self, name: &str) -> io::Result<()>;

    /// Appends `bytes` at the end of `name`.
    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()>;

    /// Overwrites `name` at `offset` with `bytes`, extending the file if the write runs past its
    /// end. `offset` must not exceed the file's length (no holes): a larger one fails with
    /// [`io::ErrorKind::InvalidInput`].
    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Cuts `name` to `length` bytes. `length` must not exceed the file's length: a larger one
    /// fails with [`io::ErrorKind::InvalidInput`].
    fn truncate(&mut self, name: &str, length: u64) -> io::Result<()>;

    /// Reads the whole of `name`.
    fn read(&mut self, name: &str) -> io::Result<Vec<u8>>;

    /// Makes the current contents of `name` durable (fsync).
    fn sync(&mut self, name: &str) -> io::Result<()>;

    /// Renames `from` to `to`, atomically replacing `to` if it exists.
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()>;

    /// Removes `name`.
    fn remove(&mut self, name: &str) -> io::Result<()>;

    /// The names of all files, sorted.
    fn list(&mut self) -> io::Result<Vec<String>>;

    /// Makes the current set of names durable (fsync of the directory).
    fn sync_dir(&mut self) -> io::Result<()>;
}

/// Checks that `name` is a single, plain path component; see [`Disk`].
pub fn validate_file_name(name: &str) -> io::Result<()> {
    let forbidden = name.is_empty()
        || name == "."
        || name == ".."
        || name.bytes().any(|byte| matches!(byte, b'/' | b'\\' | 0));
    if forbidden {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file name {name:?}: must be one plain path component"),
        ));
    }
    Ok(())
}

/// [`Disk`] over a real directory through `std::fs`.
///
/// Every call opens the file anew; the WAL writes in batches, so the extra `open` per batch is
/// small next to the fsync, and no file handle outlives a call (nothing to leak or invalidate on
/// rename).
#[derive(Debug, Clone)]
pub struct StdDisk {
    directory: PathBuf,
}

impl StdDisk {
    /// Uses `directory`, creating it (and its parents) if missing.
    pub fn open(directory: impl Into<PathBuf>) -> io::Result<StdDisk> {
        let directory = directory.into();
        fs::create_dir_all(&directory)?;
        Ok(StdDisk { directory })
    }

    /// The directory this disk works in.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        validate_file_name(name)?;
        Ok(self.directory.join(name))
    }

    fn open_existing(&self, name: &str, writable: bool) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(writable)
            .open(self.path(name)?)
    }
}

fn length_check(requested: u64, length: u64, what: &str, name: &str) -> io::Result<()> {
    if requested > length {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {requested} is past the end ({length} bytes) of {name}"),
        ));
    }
    Ok(())
}

impl Disk for StdDisk {
    fn create(&mut self, name: &str) -> io::Result<()> {
        File::create(self.path(name)?)?;
        Ok(())
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().append(true).open(self.path(name)?)?;
        file.write_all(bytes)
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut file = self.open_existing(name, true)?;
        length_check(offset, file.metadata()?.len(), "write offset", name)?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)
    }

    fn truncate(&mut self, name: &str, length: u64) -> io::Result<()> {
        let file = self.open_existing(name, true)?;
        length_check(length, file.metadata()?.len(), "truncation length", name)?;
        file.set_len(length)
    }

    fn read(&mut self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(name)?)
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        // Opened for writing because some platforms refuse fsync on a read-only handle.
        self.open_existing(name, true)?.sync_all()
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from)?, self.path(to)?)
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name)?)
    }

    fn list(&mut self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.directory)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // A name that is not UTF-8 was not written by kvapp; it cannot be named through
            // this trait, so it is left out rather than failing the whole listing.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        // On Unix a directory opened read-only can be fsynced, and that is how a directory
        // entry is made durable. Windows offers no directory fsync; there this is a no-op.
        #[cfg(unix)]
        {
            File::open(&self.directory)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> (tempfile::TempDir, StdDisk) {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let disk = StdDisk::open(directory.path()).expect("open the directory");
        (directory, disk)
    }

    #[test]
    fn files_can_be_written_read_and_listed() -> io::Result<()> {
        let (_directory, mut disk) = scratch();
        disk.create("b")?;
        disk.append("b", b"hello")?;
        disk.append("b", b" world")?;
        disk.write_at("b", 0, b"J")?;
        disk.write_at("b", 11, b"!")?;
        disk.sync("b")?;
        disk.create("a")?;
        disk.sync_dir()?;
        assert_eq!(disk.read("b")?, b"Jello world!");
        assert_eq!(disk.list()?, vec!["a".to_string(), "b".to_string()]);
        disk.truncate("b", 5)?;
        assert_eq!(disk.read("b")?, b"Jello");
        disk.create("b")?;
        assert_eq!(disk.read("b")?, b"");
        Ok(())
    }

    #[test]
    fn rename_replaces_and_remove_deletes() -> io::Result<()> {
        let (_directory, mut disk) = scratch();
        disk.create("old")?;
        disk.append("old", b"old")?;
        disk.create("new")?;
        disk.append("new", b"new")?;
        disk.rename("new", "old")?;
        assert_eq!(disk.read("old")?, b"new");
        assert_eq!(disk.list()?, vec!["old".to_string()]);
        disk.remove("old")?;
        assert!(disk.list()?.is_empty());
        Ok(())
    }

    #[test]
    fn bad_names_offsets_and_missing_files_are_errors() -> io::Result<()> {
        let (_directory, mut disk) = scratch();
        for name in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert_eq!(
                disk.create(name).map_err(|error| error.kind()),
                Err(io::ErrorKind::InvalidInput),
                "name {name:?}"
            );
        }
        assert_eq!(
            disk.read("missing").map_err(|error| error.kind()),
            Err(io::ErrorKind::NotFound)
        );
        assert_eq!(
            disk.append("missing", b"x").map_err(|error| error.kind()),
            Err(io::ErrorKind::NotFound)
        );
        disk.create("short")?;
        assert_eq!(
            disk.write_at("short", 1, b"x")
                .map_err(|error| error.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
        assert_eq!(
            disk.truncate("short", 1).map_err(|error| error.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
        Ok(())
    }
}
