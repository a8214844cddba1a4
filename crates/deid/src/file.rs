//! De-identifying a sealed file and extending its seal chain (spec/deidentification.md §3).

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use dicom_core::Tag;
use scanseal_canon::{canonicalize, AttributeId, CanonOptions, Canonical, DicomInstance, FileMeta};
use scanseal_keys::SigningKey;
use scanseal_seal::{
    embed, read_chain, same_file, seal_deidentified, sidecar_path, write_atomically,
    AttributeAction, Deidentification, Envelope, FoundChain, SealChain, SealError, SealOptions,
    SealRecord, SealSource,
};

use crate::{AppliedAction, DeidError, Deidentifier, Outcome};

/// The Implementation Class UID scanseal writes into the File Meta Information of the files
/// it writes: a UUID-derived UID (PS3.5 B.2) fixed for the project.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.163014326403391227129418567916584553823";

/// What [`deidentify_file`] did to one file.
#[derive(Debug, Clone)]
pub struct DeidentifiedFile {
    /// The de-identification seal just made (the newest of the chain).
    pub record: SealRecord,
    /// How many seals the output's chain holds.
    pub chain_length: usize,
    /// The file written.
    pub written: PathBuf,
    /// The output's SOP Instance UID (for the ledger's instance key; not PHI after
    /// de-identification, and never logged by scanseal).
    pub sop_instance_uid: Option<String>,
    /// Attributes kept unchanged.
    pub kept: usize,
    /// Attributes removed (withheld).
    pub withheld: usize,
    /// Attributes present with a new value.
    pub replaced: usize,
    /// Attributes added.
    pub added: usize,
}

/// De-identifies the sealed DICOM file at `input` and writes the result to `output` (which may
/// be `input` itself, to replace it).
///
/// The input must carry a seal chain (embedded, or the sidecar `FILE.seal` in `sidecar_dir` or
/// next to it) and must still match its newest seal: de-identifying an altered file would
/// put a de-identification seal over a change nobody sealed. The output carries the input's
/// chain with the salts of every attribute that was not kept withheld (rule R1), followed by a
/// `deidentified` seal made with `key` (spec §3.1). Before anything is written, the output
/// bytes are read back and canonicalized, and must give exactly the canonical form that was
/// sealed. `before_commit` runs with the new seal once the output is complete and synced, and
/// only if it succeeds is the output moved into place (how a ledger entry is committed first).
///
/// # Errors
/// `NotSealed`, `InputDoesNotMatchSeal`, `RoundTrip` (the written file would not canonicalize
/// to what was sealed), the engine's errors, `Seal` and `Canon` errors, `Io`; or the hook's error.
pub fn deidentify_file<E: From<DeidError>>(
    input: &Path,
    output: &Path,
    sidecar_dir: Option<&Path>,
    deidentifier: &Deidentifier,
    key: &SigningKey,
    options: &SealOptions,
    before_commit: impl FnOnce(&SealRecord, &Canonical) -> Result<(), E>,
) -> Result<DeidentifiedFile, E> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DeidError::Io { path, source }
    };
    let bytes = std::fs::read(input).map_err(io(input))?;
    let permissions = std::fs::metadata(input).map_err(io(input))?.permissions();
    let mut instance = DicomInstance::from_bytes(&bytes).map_err(DeidError::from)?;
    let sidecar = sidecar_path(input, sidecar_dir);
    let FoundChain { source, chain } = read_chain(&mut Cursor::new(&bytes), Some(&sidecar))
        .map_err(DeidError::from)?
        .ok_or_else(|| DeidError::NotSealed {
            path: input.to_path_buf(),
        })?;
    let chain = chain.map_err(|reason| DeidError::MalformedChain {
        path: input.to_path_buf(),
        reason,
    })?;
    let newest = chain.latest().ok_or_else(|| DeidError::MalformedChain {
        path: input.to_path_buf(),
        reason: "no seals".into(),
    })?;
    let manifest = Envelope::parse(&newest.envelope)
        .and_then(|envelope| envelope.unverified_manifest())
        .map_err(DeidError::from)?;
    let canon_options = CanonOptions::new().tile_size(manifest.tile_size_or_default());
    let before = canonicalize(&instance, &canon_options).map_err(DeidError::from)?;
    check_matches_seal(input, &before, &manifest, newest)?;

    instance.data_set_mut().remove_seal_blocks();
    let outcome = deidentifier
        .apply(instance.data_set_mut())
        .map_err(E::from)?;
    let after = canonicalize(&instance, &canon_options).map_err(DeidError::from)?;
    let actions = attribute_actions(&before, &after, &outcome)?;
    let deidentification = Deidentification::new(
        "basic".into(),
        deidentifier
            .profile()
            .options()
            .iter()
            .map(|o| o.name().to_string())
            .collect(),
        actions,
    );
    let kept = deidentification.count(|a| a == AttributeAction::Kept);
    let withheld = deidentification.count(|a| a == AttributeAction::Removed);
    let replaced = deidentification.count(AttributeAction::is_replacement);
    let added = deidentification.count(|a| a == AttributeAction::Added);

    // The earlier seals keep their envelopes; only the salts of kept attributes stay.
    let mut seals = chain.seals;
    for record in &mut seals {
        record.withhold_salts(|id| deidentification.action(id) == Some(AttributeAction::Kept));
    }
    let previous = seals
        .last()
        .cloned()
        .ok_or_else(|| DeidError::MalformedChain {
            path: input.to_path_buf(),
            reason: "no seals".into(),
        })?;
    let record = seal_deidentified(&after, key, options, &previous, deidentification)
        .map_err(DeidError::from)?;
    seals.push(record.clone());
    let new_chain = SealChain { seals };
    let encoded = new_chain.to_cbor().map_err(DeidError::from)?;

    let identity = |tag: Tag, attribute: &'static str| {
        instance
            .text_value(&[], tag)
            .ok_or_else(|| DeidError::MissingIdentity {
                path: input.to_path_buf(),
                attribute,
            })
    };
    let sop_class_uid = identity(Tag(0x0008, 0x0016), "SOP Class UID (0008,0016)")?;
    let new_instance_uid = identity(Tag(0x0008, 0x0018), "SOP Instance UID (0008,0018)")?;
    let sop_instance_uid = Some(new_instance_uid.clone());
    let meta = FileMeta {
        media_storage_sop_class_uid: sop_class_uid,
        media_storage_sop_instance_uid: new_instance_uid,
        implementation_class_uid: IMPLEMENTATION_CLASS_UID.into(),
        implementation_version_name: Some(format!("SCANSEAL_{}", env!("CARGO_PKG_VERSION"))),
    };
    let mut unsealed = Vec::new();
    instance
        .write_part10(&meta, &mut unsealed)
        .map_err(DeidError::from)?;
    let mut sealed = Vec::with_capacity(unsealed.len() + encoded.len() + 64);
    embed::write_with_chain(&mut Cursor::new(&unsealed), &mut sealed, &encoded)
        .map_err(|e| DeidError::from(SealError::from(e)))?;
    drop(unsealed);
    check_round_trip(input, &sealed, &after, &canon_options)?;

    let replace = same_file(input, output);
    let mut hook_error = None;
    let written = write_atomically(
        output,
        replace,
        Some(permissions),
        |sink| {
            sink.write_all(&sealed).map_err(|source| SealError::Io {
                path: output.to_path_buf(),
                source,
            })
        },
        || {
            before_commit(&record, &after).map_err(|e| {
                hook_error = Some(e);
                SealError::Io {
                    path: output.to_path_buf(),
                    source: std::io::Error::other("the step before writing failed"),
                }
            })
        },
    );
    match (written, hook_error) {
        (_, Some(e)) => return Err(e),
        (Err(e), None) => return Err(DeidError::from(e).into()),
        (Ok(()), None) => {}
    }
    // The input's sidecar holds every salt of the identified instance: once the file it
    // belongs to is replaced by the de-identified one, it must not stay beside it.
    if let (true, SealSource::Sidecar(path)) = (replace, &source) {
        std::fs::remove_file(path).map_err(io(path))?;
    }
    Ok(DeidentifiedFile {
        record,
        chain_length: new_chain.seals.len(),
        written: output.to_path_buf(),
        sop_instance_uid,
        kept,
        withheld,
        replaced,
        added,
    })
}

/// The input must be exactly what its newest seal covers: same pixels, same attributes, every
/// commitment opening to the value in the file.
fn check_matches_seal(
    path: &Path,
    canonical: &Canonical,
    manifest: &scanseal_seal::Manifest,
    record: &SealRecord,
) -> Result<(), DeidError> {
    let mismatch = |what: String| DeidError::InputDoesNotMatchSeal {
        path: path.to_path_buf(),
        what,
    };
    let pixels_now = canonical.pixels.as_ref().map(|p| p.digest);
    let pixels_sealed = manifest.pixels.as_ref().map(|p| p.digest);
    if pixels_now != pixels_sealed {
        return Err(mismatch("the pixels differ from the seal".into()));
    }
    let sealed: BTreeMap<&[u8], &scanseal_canon::Digest> = manifest
        .attributes
        .iter()
        .map(|(id, commitment)| (id.as_slice(), commitment))
        .collect();
    let mut seen = 0usize;
    for attribute in &canonical.attributes {
        let id = attribute.id.encode()?;
        let Some(commitment) = sealed.get(id.as_slice()) else {
            return Err(mismatch(format!("{} is not in the seal", attribute.id)));
        };
        let Some(salt) = record.salt(&id) else {
            return Err(mismatch(format!(
                "{}'s salt is withheld, so it cannot be checked",
                attribute.id
            )));
        };
        if attribute.commit(salt) != **commitment {
            return Err(mismatch(format!(
                "{} changed since it was sealed",
                attribute.id
            )));
        }
        seen += 1;
    }
    if seen != sealed.len() {
        return Err(mismatch(format!(
            "{} sealed attribute(s) are missing from the file",
            sealed.len() - seen
        )));
    }
    Ok(())
}

/// The action of every attribute of `before` and `after`, by canonical `ID`: `kept` when the
/// canonical value is the same, `removed` / `added` when only one side has it, otherwise the
/// engine's account of what it did to the element.
fn attribute_actions(
    before: &Canonical,
    after: &Canonical,
    outcome: &Outcome,
) -> Result<Vec<(Vec<u8>, AttributeAction)>, DeidError> {
    let engine: BTreeMap<Tag, AppliedAction> =
        outcome.elements.iter().map(|e| (e.tag, e.action)).collect();
    let mut old = BTreeMap::new();
    for attribute in &before.attributes {
        old.insert(attribute.id.encode()?, attribute);
    }
    let mut new = BTreeMap::new();
    for attribute in &after.attributes {
        new.insert(attribute.id.encode()?, attribute);
    }
    let mut actions = Vec::with_capacity(old.len() + new.len());
    for (id, was) in &old {
        let action = match new.get(id) {
            None => AttributeAction::Removed,
            Some(now) if now.canonical_bytes() == was.canonical_bytes() => AttributeAction::Kept,
            Some(_) => {
                let applied = match &was.id {
                    AttributeId::Standard(tag) => engine.get(tag).copied(),
                    _ => None,
                };
                match applied {
                    Some(AppliedAction::Emptied) => AttributeAction::Emptied,
                    Some(AppliedAction::Dummy) => AttributeAction::Dummy,
                    Some(AppliedAction::UidReplaced) => AttributeAction::UidReplaced,
                    Some(AppliedAction::DatesShifted) => AttributeAction::DatesShifted,
                    Some(AppliedAction::ItemsDeidentified) => AttributeAction::ItemsDeidentified,
                    // A de-identification record attribute the input already had, given the
                    // value the profile prescribes.
                    Some(AppliedAction::Recorded) => AttributeAction::Dummy,
                    Some(AppliedAction::Kept) | Some(AppliedAction::Removed) => {
                        // The value changed although the engine says it kept (or removed) the
                        // element: something other than the profile changed it.
                        return Err(DeidError::UnexplainedChange {
                            attribute: was.id.to_string(),
                        });
                    }
                    _ => AttributeAction::Cleaned,
                }
            }
        };
        actions.push((id.clone(), action));
    }
    for id in new.keys() {
        if !old.contains_key(id) {
            actions.push((id.clone(), AttributeAction::Added));
        }
    }
    Ok(actions)
}

/// Reads the bytes about to be written and checks that they canonicalize to what was sealed.
fn check_round_trip(
    path: &Path,
    bytes: &[u8],
    sealed: &Canonical,
    options: &CanonOptions,
) -> Result<(), DeidError> {
    let reread = DicomInstance::from_bytes(bytes)?;
    let canonical = canonicalize(&reread, options)?;
    let differ = |what: String| DeidError::RoundTrip {
        path: path.to_path_buf(),
        what,
    };
    if canonical.pixels.as_ref().map(|p| p.digest) != sealed.pixels.as_ref().map(|p| p.digest) {
        return Err(differ("the pixels".into()));
    }
    if canonical.attributes.len() != sealed.attributes.len() {
        return Err(differ("the number of attributes".into()));
    }
    for (a, b) in canonical.attributes.iter().zip(&sealed.attributes) {
        if a.canonical_bytes() != b.canonical_bytes() {
            return Err(differ(b.id.to_string()));
        }
    }
    Ok(())
}
