//! Expanding command-line paths: files as given, directories recursively (sorted, so runs
//! are repeatable), skipping sidecars and scanseal's own temporary files.

use std::path::{Path, PathBuf};

/// One input file and its path relative to the argument it came from (its file name for a
/// file argument), used to mirror directory trees under `--out`.
pub struct Input {
    pub path: PathBuf,
    pub relative: PathBuf,
}

/// Expands `paths`. An unreadable directory entry is returned as an `Err` for that entry so
/// the caller reports it and carries on.
pub fn expand(paths: &[PathBuf]) -> Vec<Result<Input, (PathBuf, String)>> {
    let mut inputs = Vec::new();
    for root in paths {
        if root.is_dir() {
            for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
                match entry {
                    Ok(entry) if entry.file_type().is_file() => {
                        if skipped(entry.path()) {
                            continue;
                        }
                        let relative = entry
                            .path()
                            .strip_prefix(root)
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|_| entry.path().to_path_buf());
                        inputs.push(Ok(Input {
                            path: entry.path().to_path_buf(),
                            relative,
                        }));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let path = e
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| root.clone());
                        inputs.push(Err((path, e.to_string())));
                    }
                }
            }
        } else {
            let relative = root
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| root.clone());
            inputs.push(Ok(Input {
                path: root.clone(),
                relative,
            }));
        }
    }
    inputs
}

fn skipped(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".seal") || (name.starts_with(".scanseal-") && name.ends_with(".tmp"))
}
