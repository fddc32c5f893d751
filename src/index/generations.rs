//! Which generation is live, locking it for reading although a build may move `CURRENT` on at
//! any moment, and collecting the generations and staging directories nobody needs any more.

use std::path::PathBuf;
use std::time::Duration;

use super::lock::{self, HeldBuildLock, ReaderLock};
use super::{IndexDir, BUILD_PREFIX, CURRENT, CURRENT_PREFIX, GENERATION_PREFIX};
use crate::error::{Error, Result};

/// Times a reader reads `CURRENT` and locks what it names before it gives up. `CURRENT` moves
/// once per build, so a second try nearly always succeeds; running out of tries takes builds
/// finishing one after another for over half a second.
const OPEN_ATTEMPTS: u32 = 7;

impl IndexDir {
    /// The name `CURRENT` holds, if it holds one: the live generation's, which a rebuild
    /// changes. A long-running reader compares it with [`super::Index::generation`] to know
    /// when to open the new one.
    pub fn current_name(&self) -> Option<String> {
        let name = std::fs::read_to_string(self.root.join(CURRENT)).ok()?;
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_string())
    }

    /// `file` of the live generation, with the generation's directory, or `None` if there is no
    /// live generation. Without a lock: a build may collect the generation between reading
    /// `CURRENT` and reading the file, so a file that vanished along with its generation is
    /// read again from the one `CURRENT` names now.
    pub(super) fn read_live(&self, file: &str) -> Option<(PathBuf, std::io::Result<Vec<u8>>)> {
        for _ in 0..OPEN_ATTEMPTS {
            let name = self.current_name()?;
            let dir = self.root.join(&name);
            let read = std::fs::read(dir.join(file));
            if read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                if self.current_name().as_deref() != Some(name.as_str()) {
                    continue;
                }
                if !dir.is_dir() {
                    return None;
                }
            }
            return Some((dir, read));
        }
        None
    }

    /// The live generation, locked so that no build deletes it while the lock lives.
    ///
    /// Garbage collection may delete the generation between reading `CURRENT` and locking it.
    /// So `CURRENT` is read again once the lock is held: if it still names the same
    /// generation, that generation was live while locked, and garbage collection, which only
    /// deletes generations that are no longer live and only when it can lock them itself, will
    /// leave it alone. If `CURRENT` moved on, the lock is dropped and the new one tried.
    pub(super) fn lock_live(&self) -> Result<(PathBuf, ReaderLock)> {
        let no_index = || Error::index(&self.root, "no index here; build one with `antwort index`");
        for attempt in 0..OPEN_ATTEMPTS {
            let name = self.current_name().ok_or_else(no_index)?;
            let dir = self.root.join(&name);
            let moved = || self.current_name().as_deref() != Some(name.as_str());
            match ReaderLock::try_acquire(&dir) {
                Ok(Some(reader)) if !moved() => return Ok((dir, reader)),
                // Locked by garbage collection, or CURRENT moved on meanwhile: try again.
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !moved() {
                        return Err(no_index());
                    }
                }
                Err(e) => {
                    return Err(Error::index(
                        &dir,
                        format!(
                            "cannot lock {} for reading ({e}); check the directory's \
                             permissions, or rebuild the index with `antwort index`",
                            lock::READER_LOCK
                        ),
                    ))
                }
            }
            if attempt + 1 < OPEN_ATTEMPTS {
                std::thread::sleep(Duration::from_millis(10 << attempt));
            }
        }
        Err(Error::index(
            &self.root,
            format!(
                "the live generation changed or stayed locked through {OPEN_ATTEMPTS} attempts \
                 to open it; another process keeps rebuilding it: try again when it is done"
            ),
        ))
    }

    /// Deletes the generations other than `live` that no reader holds; those a reader holds
    /// are left for a later build. Best effort: a generation that cannot be deleted now is
    /// tried again next time.
    pub(super) fn remove_old_generations(&self, _held: &HeldBuildLock, live: &str) {
        for entry in self.entries() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with(GENERATION_PREFIX) || name == live {
                continue;
            }
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            // Held while deleting, so that a reader arriving meanwhile backs off.
            if let Ok(Some(_removal)) = lock::try_lock_for_removal(&path) {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }

    /// Staging directories and `CURRENT` replacements left by builds that were killed. Only a
    /// build holding the build lock writes them, and this one holds it: whatever is there,
    /// however young, belongs to a build that ended.
    pub(super) fn remove_abandoned_builds(&self, _held: &HeldBuildLock) {
        for entry in self.entries() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            if name.starts_with(BUILD_PREFIX) && path.is_dir() {
                let _ = std::fs::remove_dir_all(&path);
            } else if name.starts_with(CURRENT_PREFIX) && path.is_file() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    fn entries(&self) -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(&self.root)
            .map(|rd| rd.flatten().collect())
            .unwrap_or_default()
    }
}
