//! The two locks that let builds and readers share an index directory; the [module
//! documentation](super) says who takes which, and why that is enough.
//!
//! Both are advisory operating-system file locks taken through [`std::fs::File`] (`flock` on
//! Unix, `LockFileEx` on Windows). They belong to an open file, not to a path: the system
//! releases them when the file is closed or the process ends, however it ends, so a killed build
//! or reader never leaves a stale lock behind, and there is nothing to clean up by hand.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::IndexDir;
use crate::error::{Error, IoContext, Result};

/// In the index directory: locked exclusively for the whole of a build.
pub(crate) const BUILD_LOCK: &str = ".build.lock";
/// In each generation: locked shared by every open [`Index`](super::Index) of it, and
/// exclusively by garbage collection while it deletes the generation.
pub(crate) const READER_LOCK: &str = ".reader.lock";

/// An index directory's build lock file, locked exclusively by this process.
#[derive(Debug)]
pub(crate) struct HeldBuildLock {
    /// The lock lasts as long as this file stays open.
    _file: File,
    /// Builds in this process through handles that share this lock take turns here.
    building: Mutex<()>,
}

impl HeldBuildLock {
    /// Waits for any other build of this process through the same lock to finish.
    pub(crate) fn building(&self) -> MutexGuard<'_, ()> {
        self.building.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Proof that this process holds an index directory's build lock: while it lives, no other
/// process and no other `BuildLock` builds into the directory.
///
/// It dereferences to the [`IndexDir`], so that whatever is decided under the lock (whether the
/// index is still stale) and the build itself go through it; [`IndexDir::build`] on it does not
/// lock again. The lock is released when the `BuildLock` and every `IndexDir` cloned from it are
/// dropped.
#[derive(Debug)]
pub struct BuildLock {
    dir: IndexDir,
    held: Arc<HeldBuildLock>,
    waited: bool,
}

impl BuildLock {
    /// Whether another build held the lock when this one asked for it. The live index may then
    /// have changed, and become fresh, while this one waited.
    pub fn waited(&self) -> bool {
        self.waited
    }

    pub(crate) fn held(&self) -> &HeldBuildLock {
        &self.held
    }
}

impl Deref for BuildLock {
    type Target = IndexDir;

    fn deref(&self) -> &IndexDir {
        &self.dir
    }
}

impl IndexDir {
    /// Takes the directory's build lock, creating the directory if there is none. If another
    /// build holds the lock, calls `on_wait` (to tell the user, say) and waits until that build
    /// ends; [`BuildLock::waited`] tells afterwards. An `IndexDir` that came from a `BuildLock`
    /// already holds the lock and gets it again at once.
    pub fn lock_for_build(&self, on_wait: impl FnOnce()) -> Result<BuildLock> {
        if let Some(held) = &self.build_lock {
            return Ok(BuildLock {
                dir: self.clone(),
                held: Arc::clone(held),
                waited: false,
            });
        }
        std::fs::create_dir_all(&self.root)
            .context(|| format!("cannot create index directory {}", self.root.display()))?;
        let path = self.root.join(BUILD_LOCK);
        let cannot_lock = |e: io::Error| {
            Error::index(
                &self.root,
                format!(
                    "cannot lock {BUILD_LOCK} for building ({e}); a build needs write access \
                     to the index directory, on a file system that supports file locks"
                ),
            )
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(cannot_lock)?;
        let waited = match file.try_lock() {
            Ok(()) => false,
            Err(TryLockError::WouldBlock) => {
                on_wait();
                file.lock().map_err(cannot_lock)?;
                true
            }
            Err(TryLockError::Error(e)) => return Err(cannot_lock(e)),
        };
        let held = Arc::new(HeldBuildLock {
            _file: file,
            building: Mutex::new(()),
        });
        Ok(BuildLock {
            dir: IndexDir {
                root: self.root.clone(),
                build_lock: Some(Arc::clone(&held)),
            },
            held,
            waited,
        })
    }
}

/// A shared lock on one generation: while it lives, garbage collection leaves the generation
/// on disk.
#[derive(Debug)]
pub(crate) struct ReaderLock {
    /// The lock lasts as long as this file stays open.
    _file: File,
}

impl ReaderLock {
    /// Locks `generation` for reading; `Ok(None)` if garbage collection holds it, that is, is
    /// deleting it. A generation without a lock file (built before there were any) gets one.
    pub(crate) fn try_acquire(generation: &Path) -> io::Result<Option<ReaderLock>> {
        let path = generation.join(READER_LOCK);
        // Read-only, so that an index on a read-only disk can still be read.
        let file = match File::open(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && generation.is_dir() => {
                open_for_writing(&path)?
            }
            opened => opened?,
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(ReaderLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Gives a generation being built its reader lock file.
pub(crate) fn create_reader_lock(generation: &Path) -> io::Result<()> {
    open_for_writing(&generation.join(READER_LOCK)).map(drop)
}

/// Locks `generation` exclusively if no reader holds it: the right to delete it, for as long
/// as the returned file stays open. `Ok(None)` if a reader holds it.
pub(crate) fn try_lock_for_removal(generation: &Path) -> io::Result<Option<File>> {
    let file = open_for_writing(&generation.join(READER_LOCK))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn open_for_writing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    /// An index directory with generations `names` (empty but for their lock files) and
    /// `CURRENT` naming `live`.
    fn index_with(names: &[&str], live: &str) -> (tempfile::TempDir, IndexDir) {
        let tmp = tempfile::tempdir().unwrap();
        for name in names {
            let generation = tmp.path().join(name);
            std::fs::create_dir(&generation).unwrap();
            create_reader_lock(&generation).unwrap();
            std::fs::write(generation.join("manifest.json"), "{}").unwrap();
        }
        std::fs::write(tmp.path().join("CURRENT"), live).unwrap();
        let dir = IndexDir::new(tmp.path());
        (tmp, dir)
    }

    fn generations(dir: &IndexDir) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.root())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("gen-"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_build_lock_excludes_a_second_build_until_released() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = IndexDir::new(tmp.path().join("index"));
        let first = dir
            .lock_for_build(|| panic!("nobody holds the lock yet"))
            .unwrap();
        assert!(!first.waited());
        assert!(tmp.path().join("index").join(BUILD_LOCK).is_file());

        // Another open file of the lock, as another process would have, cannot take it.
        let other = File::options()
            .write(true)
            .open(dir.root().join(BUILD_LOCK))
            .unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));

        // Nor can another handle of this process: it waits, and says so first.
        let told = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let second = scope.spawn(|| {
                let lock = IndexDir::new(dir.root())
                    .lock_for_build(|| told.store(true, Ordering::SeqCst))
                    .unwrap();
                assert!(told.load(Ordering::SeqCst));
                lock.waited()
            });
            while !told.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            assert!(!second.is_finished(), "the second build did not wait");
            drop(first);
            assert!(second.join().unwrap());
        });
        other.try_lock().expect("every build lock was released");
    }

    #[test]
    fn a_held_build_lock_is_taken_again_without_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = IndexDir::new(tmp.path())
            .lock_for_build(|| panic!("nobody holds the lock yet"))
            .unwrap();
        let again = lock
            .lock_for_build(|| panic!("a held lock does not wait for itself"))
            .unwrap();
        assert!(!again.waited());
        let clone: IndexDir = (*lock).clone();
        drop((lock, again));
        // The clone keeps the lock.
        let other = File::options()
            .write(true)
            .open(tmp.path().join(BUILD_LOCK))
            .unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(clone);
        other.try_lock().unwrap();
    }

    #[test]
    fn readers_share_a_generation_and_keep_it_from_removal() {
        let (tmp, _dir) = index_with(&["gen-1"], "gen-1");
        let generation = tmp.path().join("gen-1");
        let first = ReaderLock::try_acquire(&generation).unwrap().unwrap();
        let second = ReaderLock::try_acquire(&generation).unwrap().unwrap();
        assert!(try_lock_for_removal(&generation).unwrap().is_none());
        drop(first);
        assert!(try_lock_for_removal(&generation).unwrap().is_none());
        drop(second);
        let removal = try_lock_for_removal(&generation).unwrap().unwrap();
        // And while it is being removed, no reader gets in.
        assert!(ReaderLock::try_acquire(&generation).unwrap().is_none());
        drop(removal);
    }

    #[test]
    fn a_generation_without_a_lock_file_gets_one_and_a_missing_one_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("gen-old");
        std::fs::create_dir(&old).unwrap();
        assert!(ReaderLock::try_acquire(&old).unwrap().is_some());
        assert!(old.join(READER_LOCK).is_file());
        let gone = ReaderLock::try_acquire(&tmp.path().join("gen-gone")).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn garbage_collection_skips_a_generation_being_read_and_never_the_live_one() {
        let (_tmp, dir) = index_with(&["gen-1", "gen-2", "gen-3"], "gen-3");
        let (opened, reader) = dir.lock_live().unwrap();
        assert!(opened.ends_with("gen-3"));
        let old_reader = ReaderLock::try_acquire(&dir.root().join("gen-1"))
            .unwrap()
            .unwrap();
        let build = dir.lock_for_build(|| {}).unwrap();

        build.remove_old_generations(build.held(), "gen-3");
        assert_eq!(generations(&dir), ["gen-1", "gen-3"]);

        drop(old_reader);
        build.remove_old_generations(build.held(), "gen-3");
        assert_eq!(generations(&dir), ["gen-3"]);

        // Being read or not, the live generation stays.
        drop(reader);
        build.remove_old_generations(build.held(), "gen-3");
        assert_eq!(generations(&dir), ["gen-3"]);
    }

    #[test]
    fn staging_directories_are_removed_under_the_build_lock_however_young() {
        let (tmp, dir) = index_with(&["gen-1"], "gen-1");
        let staging = tmp.path().join(".build-fresh");
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("corpus.jsonl"), "").unwrap();
        let pointer = tmp.path().join(".CURRENT-left");
        std::fs::write(&pointer, "gen-2").unwrap();

        let build = dir.lock_for_build(|| {}).unwrap();
        build.remove_abandoned_builds(build.held());
        assert!(!staging.exists());
        assert!(!pointer.exists());
        assert!(tmp.path().join(BUILD_LOCK).exists());
        assert_eq!(generations(&dir), ["gen-1"]);
    }

    #[test]
    fn a_reader_follows_current_past_a_generation_being_removed() {
        let (tmp, dir) = index_with(&["gen-1", "gen-2"], "gen-1");
        // Garbage collection holds gen-1 as if CURRENT had just moved on from it.
        let removal = try_lock_for_removal(&tmp.path().join("gen-1"))
            .unwrap()
            .unwrap();
        let root: PathBuf = tmp.path().to_path_buf();
        let opened = std::thread::scope(|scope| {
            let reader = scope.spawn(|| dir.lock_live());
            std::thread::sleep(Duration::from_millis(15));
            std::fs::write(root.join("CURRENT"), "gen-2").unwrap();
            reader.join().unwrap()
        });
        let (opened, _reader) = opened.unwrap();
        assert!(opened.ends_with("gen-2"));
        drop(removal);
    }

    #[test]
    fn a_generation_that_stays_locked_is_a_clear_error() {
        let (tmp, dir) = index_with(&["gen-1"], "gen-1");
        let _removal = try_lock_for_removal(&tmp.path().join("gen-1"))
            .unwrap()
            .unwrap();
        let message = dir.lock_live().unwrap_err().to_string();
        assert!(message.contains("try again"), "{message}");
        assert!(
            message.contains(&tmp.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn current_naming_a_missing_generation_is_no_index() {
        let (_tmp, dir) = index_with(&["gen-1"], "gen-9");
        let message = dir.lock_live().unwrap_err().to_string();
        assert!(message.contains("antwort index"), "{message}");
    }
}
