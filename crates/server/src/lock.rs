//! One serving hub per data folder: `serve` holds an exclusive lock (`flock`) on
//! `switchboard.lock` in its data folder for as long as it runs, with its process id written
//! in it. A second hub on the same folder stops at once, naming the folder and the holder,
//! rather than split the queues, history and names between two processes. The admin commands
//! (`accounts`, `whitelist`) take no lock: SQLite keeps their writes safe beside a running hub.
//! The kernel drops the lock when its holder dies, however it dies: a stale file never blocks.

use anyhow::Context;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The lock file's name in the data folder.
pub const FILE: &str = "switchboard.lock";

/// The data folder's lock, held until dropped.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Takes the lock on `dir` (creating the folder if needed), or says who holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<DataLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the data folder {}", dir.display()))?;
        let path = dir.join(FILE);
        // Opened without truncating: the holder's process id stays readable until it is ours.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_owned(),
                    pid => format!("process {pid}"),
                };
                anyhow::bail!(
                    "the data folder {} is in use by another switchboard serve ({holder} holds {FILE}): \
                     stop it first, or give this one another --data-dir",
                    dir.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DataLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataLock::acquire(dir.path()).unwrap();
        let refused = DataLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(refused.contains(&dir.path().display().to_string()), "{refused}");
        assert!(refused.contains(&format!("process {}", std::process::id())), "{refused}");
        drop(first);
        let again = DataLock::acquire(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(FILE)).unwrap(), format!("{}\n", std::process::id()));
        drop(again);
    }
}
