//! Writing an output file whole or not at all: a temporary file in the target's directory,
//! fsync, then into place, then fsync of the directory so the new name survives a crash.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether an existing file at the target may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (`AlreadyExists`): proofs and checkpoints are never overwritten.
    Keep,
    /// Replace it atomically: pictures from an earlier run.
    Replace,
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8], existing: Existing) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".scanseal-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    match existing {
        Existing::Keep => temp.persist_noclobber(path).map_err(|e| e.error)?,
        Existing::Replace => temp.persist(path).map_err(|e| e.error)?,
    };
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
