//! Sealing files and finding their seals: the embedded block or the sidecar, written
//! atomically (temporary file in the destination directory, fsync, rename, fsync directory).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use scanseal_canon::{canonicalize, CanonOptions, Canonical, DicomInstance};
use scanseal_keys::SigningKey;

use crate::chain::{SealChain, SealRecord};
use crate::embed;
use crate::envelope::Envelope;
use crate::sealer::{seal_canonical, SealOptions};
use crate::SealError;

/// Where [`seal_file`] puts the seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Write the sealed DICOM file to `output` (which may be the input itself, to seal in
    /// place). A different output must not exist yet.
    Embedded {
        /// The sealed file to write.
        output: PathBuf,
    },
    /// Leave the DICOM file untouched and write the chain to `path` (conventionally
    /// `FILE.seal`, see [`sidecar_path`]).
    Sidecar {
        /// The sidecar file to write.
        path: PathBuf,
    },
}

/// Where a chain was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealSource {
    /// In the file's seal block.
    Embedded,
    /// In a sidecar file.
    Sidecar(PathBuf),
}

impl SealSource {
    /// `embedded` or `sidecar`.
    pub fn kind(&self) -> &'static str {
        match self {
            SealSource::Embedded => "embedded",
            SealSource::Sidecar(_) => "sidecar",
        }
    }
}

/// What [`seal_file`] did.
#[derive(Debug, Clone)]
pub struct SealOutcome {
    /// The new seal.
    pub record: SealRecord,
    /// How many seals the chain now holds.
    pub chain_length: usize,
    /// The file written (sealed DICOM file or sidecar).
    pub written: PathBuf,
}

/// A chain found by [`read_chain`], still unparsed so that a malformed seal can be reported
/// as such rather than as an unreadable file.
#[derive(Debug, Clone)]
pub struct FoundChain {
    /// Where it was found.
    pub source: SealSource,
    /// The parsed chain, or why it does not parse.
    pub chain: Result<SealChain, String>,
}

/// The conventional sidecar of `path`: `path` with `.seal` appended, in `dir` when given.
pub fn sidecar_path(path: &Path, dir: Option<&Path>) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".seal");
    match dir {
        Some(dir) => dir.join(name),
        None => path.with_file_name(name),
    }
}

/// Finds the seal chain of the file open as `file` (a `File`, or the file's bytes in a
/// `Cursor`): its embedded block, or else the sidecar at `sidecar` if that exists. `Ok(None)`
/// when there is neither.
///
/// # Errors
/// `SeveralBlocks` when the file has more than one seal block; `Embed` when its data set
/// cannot be walked; `Io` when an existing sidecar cannot be read.
pub fn read_chain<R: Read + Seek + ?Sized>(
    file: &mut R,
    sidecar: Option<&Path>,
) -> Result<Option<FoundChain>, SealError> {
    if let Some(block) = embedded_block(file, Path::new("<input>"))? {
        // B7: elements of the block other than the chain would sit outside every seal.
        let chain = if block.is_well_formed() {
            SealChain::from_cbor(&block.chain).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "the seal block ({:04X},{:02X}xx) holds {} instead of exactly one chain element",
                block.group,
                block.block,
                if block.chain_element.is_none() {
                    "no chain element".to_string()
                } else {
                    format!("{} other element(s)", block.extra_elements.len())
                }
            ))
        };
        return Ok(Some(FoundChain {
            source: SealSource::Embedded,
            chain,
        }));
    }
    let Some(sidecar) = sidecar else {
        return Ok(None);
    };
    match std::fs::read(sidecar) {
        Ok(bytes) => Ok(Some(FoundChain {
            source: SealSource::Sidecar(sidecar.to_path_buf()),
            chain: SealChain::from_cbor(&bytes).map_err(|e| e.to_string()),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SealError::Io {
            path: sidecar.to_path_buf(),
            source,
        }),
    }
}

/// The file's one seal block, if it has one (spec B5: more than one is an error).
fn embedded_block<R: Read + Seek + ?Sized>(
    file: &mut R,
    path: &Path,
) -> Result<Option<embed::SealBlock>, SealError> {
    file.seek(SeekFrom::Start(0))
        .map_err(|source| SealError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let mut blocks = embed::find_seal_blocks(file)?;
    if blocks.len() > 1 {
        return Err(SealError::SeveralBlocks {
            count: blocks.len(),
        });
    }
    Ok(blocks.pop())
}

/// Seals the DICOM file at `input` with `key` and writes the result as `placement` says.
///
/// The file is read once through one handle: canonicalized, then (embedded) copied with the
/// seal block spliced in. A file that already has a seal where this one would go is refused
/// unless `options.append`, which adds a `countersigned` seal to its chain. Every write is
/// atomic: an interrupted run leaves either the old state or the complete new one.
///
/// # Errors
/// `AlreadySealed`, `NotSealed`, `OutputExists`, `Canon` (not a readable DICOM instance),
/// `Embed`, `Io`, or a malformed existing chain when appending.
pub fn seal_file(
    input: &Path,
    placement: &Placement,
    key: &SigningKey,
    options: &SealOptions,
) -> Result<SealOutcome, SealError> {
    seal_file_with(input, placement, key, options, |_, _| {
        Ok::<(), SealError>(())
    })
}

/// [`seal_file`] with a step between making the seal and putting it in place: the output is
/// written and fsynced to a temporary file, then `before_commit` runs with the new seal and
/// the canonical form it covers, and only if it succeeds is the output moved into place.
/// This is how a ledger entry is committed before a seal is reported done: if the hook fails,
/// nothing is written; if it succeeds, the only failure left is the final rename.
///
/// # Errors
/// As [`seal_file`], or the hook's error.
pub fn seal_file_with<E: From<SealError>>(
    input: &Path,
    placement: &Placement,
    key: &SigningKey,
    options: &SealOptions,
    before_commit: impl FnOnce(&SealRecord, &Canonical) -> Result<(), E>,
) -> Result<SealOutcome, E> {
    // The hook's own error is kept aside; the placeholder error stands in for it inside
    // `seal_with_hook` and never reaches the caller.
    let mut hook_error = None;
    let result = seal_with_hook(input, placement, key, options, |record, canonical| {
        before_commit(record, canonical).map_err(|e| {
            hook_error = Some(e);
            SealError::Io {
                path: input.to_path_buf(),
                source: std::io::Error::other("the step before writing failed"),
            }
        })
    });
    match (result, hook_error) {
        (_, Some(e)) => Err(e),
        (Ok(outcome), None) => Ok(outcome),
        (Err(e), None) => Err(e.into()),
    }
}

fn seal_with_hook(
    input: &Path,
    placement: &Placement,
    key: &SigningKey,
    options: &SealOptions,
    before_commit: impl FnOnce(&SealRecord, &Canonical) -> Result<(), SealError>,
) -> Result<SealOutcome, SealError> {
    let staged = stage_seal(input, placement, key, options)?;
    staged.output.sync()?;
    before_commit(&staged.record, &staged.canonical)?;
    let outcome = staged.put_in_place()?;
    sync_directory(&outcome.written);
    Ok(outcome)
}

/// A seal made and written to a temporary file next to where it goes, not yet synced to disk
/// nor put in place: the first half of [`seal_file_with`], for callers that seal many files
/// and make them durable together (`scanseal sign` syncs a batch of outputs at once, commits
/// their ledger entries in one transaction, then puts them in place).
#[derive(Debug)]
pub struct StagedSeal {
    /// The new seal.
    pub record: SealRecord,
    /// The canonical form it covers.
    pub canonical: Canonical,
    /// How many seals the chain holds with it.
    pub chain_length: usize,
    /// The output (sealed DICOM file or sidecar), written to a temporary file.
    pub output: StagedOutput,
}

impl StagedSeal {
    /// Moves the output into place (see [`StagedOutput::put_in_place`]). The caller has
    /// synced it ([`StagedOutput::sync`]) and, after this, syncs its directory
    /// ([`sync_directory`]) to make the rename durable.
    ///
    /// # Errors
    /// As [`StagedOutput::put_in_place`].
    pub fn put_in_place(self) -> Result<SealOutcome, SealError> {
        let written = self.output.target().to_path_buf();
        self.output.put_in_place()?;
        Ok(SealOutcome {
            record: self.record,
            chain_length: self.chain_length,
            written,
        })
    }
}

/// Seals `input` as [`seal_file`] does, up to writing the output to a temporary file in its
/// destination directory: nothing is synced or put in place yet.
///
/// # Errors
/// As [`seal_file`].
pub fn stage_seal(
    input: &Path,
    placement: &Placement,
    key: &SigningKey,
    options: &SealOptions,
) -> Result<StagedSeal, SealError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SealError::Io { path, source }
    };
    let mut file = File::open(input).map_err(io(input))?;
    let instance = DicomInstance::from_file(&file)?;
    let mut canon_options = CanonOptions::new();
    if let Some(tile_size) = options.tile_size {
        canon_options = canon_options.tile_size(tile_size);
    }
    let canonical = canonicalize(&instance, &canon_options)?;
    drop(instance);

    // The embedded block is looked for in every case: a sidecar next to an embedded seal would
    // be ignored by verifiers (spec §6.2), and a file whose data set cannot be walked cannot
    // be verified, so it is not sealed either way.
    let embedded = embedded_block(&mut file, input)?;
    let existing = match placement {
        Placement::Embedded { .. } => embedded.map(|block| (block.chain, "embedded")),
        Placement::Sidecar { .. } if embedded.is_some() => {
            return Err(SealError::EmbeddedSealPresent {
                path: input.to_path_buf(),
            })
        }
        Placement::Sidecar { path } => match std::fs::read(path) {
            Ok(bytes) => Some((bytes, "sidecar")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(SealError::Io {
                    path: path.clone(),
                    source,
                })
            }
        },
    };
    let mut chain = match (existing, options.append) {
        (Some((_, source_kind)), false) => {
            return Err(SealError::AlreadySealed {
                path: input.to_path_buf(),
                source_kind,
            })
        }
        (Some((bytes, _)), true) => {
            let chain = SealChain::from_cbor(&bytes)?;
            check_chain_to_extend(&chain)?;
            chain
        }
        (None, true) => {
            return Err(SealError::NotSealed {
                path: input.to_path_buf(),
            })
        }
        (None, false) => SealChain { seals: Vec::new() },
    };
    let record = seal_canonical(&canonical, key, options, chain.latest())?;
    chain.seals.push(record.clone());
    let encoded = chain.to_cbor()?;

    let output = match placement {
        Placement::Embedded { output } => {
            let replace = same_file(input, output);
            file.seek(SeekFrom::Start(0)).map_err(io(input))?;
            let permissions = file.metadata().map_err(io(input))?.permissions();
            StagedOutput::stage(output, replace, Some(permissions), |sink| {
                embed::write_with_chain(&mut file, sink, &encoded)?;
                Ok(())
            })?
        }
        Placement::Sidecar { path } => StagedOutput::stage(path, options.append, None, |sink| {
            sink.write_all(&encoded).map_err(io(path))
        })?,
    };
    Ok(StagedSeal {
        record,
        canonical,
        chain_length: chain.seals.len(),
        output,
    })
}

/// A countersignature attests the seals before it: refuses a chain holding a seal that is
/// not a well-formed envelope over a well-formed manifest (E1–E5) or that does not follow the
/// seal before it (R5), which every verifier reports INVALID whatever is added after it. The
/// signatures can only be checked against a trust store, which `verify` does.
fn check_chain_to_extend(chain: &SealChain) -> Result<(), SealError> {
    let mut previous: Option<&SealRecord> = None;
    for (index, record) in chain.seals.iter().enumerate() {
        let malformed = |reason: String| SealError::Malformed {
            what: "seal chain",
            reason: format!("seal {} of the chain to add to: {reason}", index + 1),
        };
        let manifest = Envelope::parse(&record.envelope)
            .and_then(|envelope| envelope.unverified_manifest())
            .map_err(|e| malformed(e.to_string()))?;
        if manifest.predecessor != previous.map(SealRecord::envelope_digest) {
            return Err(malformed("it does not follow the seal before it".into()));
        }
        previous = Some(record);
    }
    Ok(())
}

/// Whether `a` and `b` name the same existing file (after resolving links): writing to `b`
/// then replaces `a` (sealing or de-identifying in place).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes `target` through a temporary file in its directory: `fill`, fsync, `commit`, then
/// rename over `target` (`replace`) or link it into place only if `target` does not exist,
/// then fsync the directory. `permissions` are set on the new file when given. This is how
/// every sealed file is put in place (spec §6.3); crates that write sealed files (the
/// de-identifier) use it too, so an interrupted run leaves the old state or the new one.
///
/// # Errors
/// `OutputExists` when `target` exists and `replace` is false; `Io` for the temporary file,
/// the sync or the rename; `fill`'s or `commit`'s own error (then nothing is moved into place).
pub fn write_atomically(
    target: &Path,
    replace: bool,
    permissions: Option<std::fs::Permissions>,
    fill: impl FnOnce(&mut std::io::BufWriter<&File>) -> Result<(), SealError>,
    commit: impl FnOnce() -> Result<(), SealError>,
) -> Result<(), SealError> {
    let staged = StagedOutput::stage(target, replace, permissions, fill)?;
    staged.sync()?;
    commit()?;
    staged.put_in_place()?;
    sync_directory(target);
    Ok(())
}

/// An output written to a temporary file in its target's directory (`.scanseal-*.tmp`),
/// removed if dropped before [`StagedOutput::put_in_place`]. The steps of
/// [`write_atomically`], for callers that sync many outputs together.
#[derive(Debug)]
pub struct StagedOutput {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    replace: bool,
}

impl StagedOutput {
    /// Creates the temporary file next to `target`, fills it and sets `permissions`. Refuses
    /// at once when `target` exists and `replace` is false.
    ///
    /// # Errors
    /// `OutputExists`, `Io`, or `fill`'s error (the temporary file is then removed).
    pub fn stage(
        target: &Path,
        replace: bool,
        permissions: Option<std::fs::Permissions>,
        fill: impl FnOnce(&mut std::io::BufWriter<&File>) -> Result<(), SealError>,
    ) -> Result<StagedOutput, SealError> {
        let io = |source| SealError::Io {
            path: target.to_path_buf(),
            source,
        };
        let dir = parent_dir(target);
        if !replace && target.symlink_metadata().is_ok() {
            return Err(SealError::OutputExists {
                path: target.to_path_buf(),
            });
        }
        let temp = tempfile::Builder::new()
            .prefix(".scanseal-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io)?;
        {
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, temp.as_file());
            fill(&mut sink)?;
            sink.flush().map_err(io)?;
        }
        if let Some(permissions) = permissions {
            temp.as_file().set_permissions(permissions).map_err(io)?;
        }
        Ok(StagedOutput {
            temp,
            target: target.to_path_buf(),
            replace,
        })
    }

    /// Where the output goes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Makes the temporary file's content durable (fsync).
    ///
    /// # Errors
    /// `Io` when the sync fails.
    pub fn sync(&self) -> Result<(), SealError> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|source| SealError::Io {
                path: self.target.clone(),
                source,
            })
    }

    /// Renames the temporary file over the target (`replace`) or links it into place only if
    /// the target does not exist. Call [`StagedOutput::sync`] first, and [`sync_directory`]
    /// after, for the new file to be durable.
    ///
    /// # Errors
    /// `OutputExists` when the target appeared meanwhile and `replace` is false; `Io` for the
    /// rename.
    pub fn put_in_place(self) -> Result<(), SealError> {
        let target = self.target;
        let io = |source| SealError::Io {
            path: target.clone(),
            source,
        };
        if !self.replace && target.symlink_metadata().is_ok() {
            return Err(SealError::OutputExists { path: target });
        }
        if self.replace {
            self.temp.persist(&target).map_err(|e| io(e.error))?;
        } else {
            self.temp.persist_noclobber(&target).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    SealError::OutputExists {
                        path: target.clone(),
                    }
                } else {
                    io(e.error)
                }
            })?;
        }
        Ok(())
    }
}

/// Makes renames into the directory holding `target` durable (fsyncs the directory). Best
/// effort: some platforms and file systems cannot sync a directory.
pub fn sync_directory(target: &Path) {
    if let Ok(dir) = File::open(parent_dir(target)) {
        let _ = dir.sync_all();
    }
}

fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
