//! What each file of a generation held when its build finished, so that a damaged file is an
//! error that names it rather than a wrong answer.
//!
//! The manifest records every file's length and CRC-32 ([`FileSums`]). Opening a generation
//! checks that each file is there at its length, which catches a deleted or truncated file at
//! no cost, and reads every byte against its CRC-32 while the generation is small enough for
//! that to be quick ([`VERIFY_CONTENT_UP_TO`]), which catches flipped bytes too. A flipped byte
//! in a vector file would otherwise be read as a valid float, and answered with.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// One file's length and CRC-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub bytes: u64,
    pub crc32: u32,
}

/// Every file of a generation by its path relative to the generation (`/`-separated).
pub type FileSums = BTreeMap<String, FileSum>;

/// Generations up to this many bytes have every byte checked when they are opened: some tens
/// of milliseconds (CRC-32 runs at several GB/s; reading is the cost), about 10,000 pairs.
/// Larger ones are checked for each file's presence and length only.
pub const VERIFY_CONTENT_UP_TO: u64 = 256 << 20;

/// Files a generation holds that are not part of its content: lock files, empty and
/// rewritten by readers, and the manifest that holds the sums.
fn is_content(name: &str) -> bool {
    !name.ends_with(".lock") && name != super::MANIFEST
}

/// The sums of every content file under `dir`.
pub fn sum_files(dir: &Path) -> Result<FileSums> {
    let mut sums = FileSums::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries =
            std::fs::read_dir(&next).context(|| format!("cannot list {}", next.display()))?;
        for entry in entries {
            let entry = entry.context(|| format!("cannot list {}", next.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .context(|| format!("cannot read {}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = relative_name(dir, &path);
            if is_content(&entry.file_name().to_string_lossy()) {
                let (bytes, crc32) = crc_of(&path)?;
                sums.insert(relative, FileSum { bytes, crc32 });
            }
        }
    }
    Ok(sums)
}

/// Checks the files of the generation in `dir` against `sums`: each there at its length, and,
/// when the generation is at most [`VERIFY_CONTENT_UP_TO`] bytes, each byte by its CRC-32.
/// Manifests written before sums were kept have none, and nothing is checked.
pub fn verify(dir: &Path, sums: &FileSums) -> Result<()> {
    let damaged = |name: &str, what: String| {
        Error::index(
            dir,
            format!("{name} is damaged ({what}); rebuild the index with `antwort index`"),
        )
    };
    for (name, sum) in sums {
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() == sum.bytes => {}
            Ok(meta) => {
                let what = format!("{} bytes where the build wrote {}", meta.len(), sum.bytes);
                return Err(damaged(name, what));
            }
            Err(e) => return Err(damaged(name, format!("cannot read it: {e}"))),
        }
    }
    let total: u64 = sums.values().map(|s| s.bytes).sum();
    if total > VERIFY_CONTENT_UP_TO {
        return Ok(());
    }
    for (name, sum) in sums {
        let (_, crc32) = crc_of(&dir.join(name))?;
        if crc32 != sum.crc32 {
            let what = format!("CRC-32 {crc32:08x} where the build wrote {:08x}", sum.crc32);
            return Err(damaged(name, what));
        }
    }
    Ok(())
}

fn relative_name(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
    parts.join("/")
}

/// The length and CRC-32 of the file at `path`, read in blocks so that memory stays flat.
fn crc_of(path: &Path) -> Result<(u64, u32)> {
    let mut file =
        std::fs::File::open(path).context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            return Ok((bytes, hasher.finalize()));
        }
        bytes += read as u64;
        hasher.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("vectors")).unwrap();
        std::fs::write(dir.path().join("vectors/points.f32"), [1u8; 64]).unwrap();
        std::fs::write(dir.path().join("corpus.jsonl"), b"{}\n").unwrap();
        std::fs::write(dir.path().join(".reader.lock"), b"").unwrap();
        std::fs::write(dir.path().join(super::super::MANIFEST), b"{}").unwrap();
        dir
    }

    #[test]
    fn sums_cover_the_content_and_verify_until_a_byte_changes() {
        let dir = generation();
        let sums = sum_files(dir.path()).unwrap();
        let names: Vec<&str> = sums.keys().map(String::as_str).collect();
        assert_eq!(names, ["corpus.jsonl", "vectors/points.f32"]);
        verify(dir.path(), &sums).unwrap();

        // Locks and the manifest may change; content may not.
        std::fs::write(dir.path().join(".reader.lock"), b"x").unwrap();
        verify(dir.path(), &sums).unwrap();
        let mut points = std::fs::read(dir.path().join("vectors/points.f32")).unwrap();
        points[31] ^= 0x10;
        std::fs::write(dir.path().join("vectors/points.f32"), &points).unwrap();
        let message = verify(dir.path(), &sums).unwrap_err().to_string();
        assert!(
            message.contains("vectors/points.f32 is damaged (CRC-32"),
            "{message}"
        );
        assert!(message.contains("antwort index"), "{message}");
    }

    #[test]
    fn a_missing_or_shortened_file_is_named() {
        let dir = generation();
        let sums = sum_files(dir.path()).unwrap();
        std::fs::write(dir.path().join("vectors/points.f32"), [1u8; 10]).unwrap();
        let message = verify(dir.path(), &sums).unwrap_err().to_string();
        assert!(
            message.contains("10 bytes where the build wrote 64"),
            "{message}"
        );
        std::fs::remove_file(dir.path().join("corpus.jsonl")).unwrap();
        let message = verify(dir.path(), &sums).unwrap_err().to_string();
        assert!(
            message.contains("corpus.jsonl is damaged (cannot read it"),
            "{message}"
        );
        assert!(verify(dir.path(), &FileSums::new()).is_ok());
    }
}
