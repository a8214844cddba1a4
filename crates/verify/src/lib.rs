//! Verifying sealed DICOM files (verdicts and findings: `spec/seal-format.md` §7).
//!
//! [`verify_file`] reads a file, finds its seal chain (embedded block or sidecar), checks every
//! envelope against a [`TrustStore`], recomputes the canonical form and compares it with the
//! newest seal's manifest. The outcome is a [`Report`] — a verdict with its reason and the
//! findings behind it. A verdict is data, never an `Err`: an unreadable file is a report with
//! verdict [`Verdict::Error`].
//!
//! With [`VerifyOptions::ledger`] it also looks the file up in a ledger: a sealed file's seal
//! must be recorded there; a file without a seal is matched by SOP Instance UID (then pixel
//! digest), so a removed seal over altered pixels is `ALTERED`.
//!
//! [`verify_all`] verifies many files on a pool of worker threads and hands the reports back
//! in input order; [`Summary`] counts a run. The JSON records (`Report::record`,
//! `Summary::record`) follow `spec/report.md`.
//!
//! It does **not** sign, write files, walk directories, verify the ledger itself
//! (`scanseal_ledger::audit`) or render pictures (`scanseal-render`).
//!
//! ```no_run
//! use scanseal_trust::TrustStore;
//! use scanseal_verify::{verify_file, Verdict, VerifyOptions};
//!
//! let trust = TrustStore::load(std::path::Path::new("keys-example/trust.toml"))?;
//! let report = verify_file(std::path::Path::new("scan.dcm"), &trust, &VerifyOptions::default());
//! println!("{} {}", report.verdict, report.reason);
//! assert!(matches!(report.verdict, Verdict::Intact | Verdict::Modified));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod archive;
mod compare;
mod ledger_check;
mod report;

use std::fs::File;
use std::path::{Path, PathBuf};

use scanseal_canon::{canonicalize, merkle_root, CanonOptions, DicomInstance};
use scanseal_seal::{
    format_time, read_chain, sidecar_path, Action, AttributeAction, Envelope, Manifest, SealChain,
    SealError, SealSource,
};
use scanseal_trust::{Role, TrustDecision, TrustStore};

pub use archive::{
    verify_all, ArchiveError, ArchiveInput, ArchiveOptions, FileRecord, Summary, SummaryRecord,
    VerdictCounts, Verified, REPORT_SCHEMA, VERDICTS,
};
pub use report::{
    AttributeRef, ChainLink, DeidentificationReport, Finding, FrameChange, LedgerCheck,
    LedgerEntryRef, PictureRef, ReplacedAttribute, Report, Signer, TileRef, Verdict,
};

/// What the newest de-identification seal of `manifests` did, by attribute name (never a
/// value), for the report.
fn deidentification_summary(
    manifests: &[Manifest],
    chain: &[ChainLink],
) -> Option<DeidentificationReport> {
    let (index, map) = manifests
        .iter()
        .enumerate()
        .rev()
        .find_map(|(index, m)| m.deidentification.as_ref().map(|map| (index, map)))?;
    let link = chain.get(index)?;
    let mut summary = DeidentificationReport {
        signer: link.signer.clone(),
        created: link.created.clone(),
        profile: map.profile.clone(),
        options: map.options.clone(),
        kept: 0,
        withheld: Vec::new(),
        replaced: Vec::new(),
        added: Vec::new(),
    };
    for (id, action) in &map.actions {
        let name = compare::attribute_ref(id).name();
        match action {
            AttributeAction::Kept => summary.kept += 1,
            AttributeAction::Removed => summary.withheld.push(name),
            AttributeAction::Added => summary.added.push(name),
            other => summary.replaced.push(ReplacedAttribute {
                attribute: name,
                action: other.to_string(),
            }),
        }
    }
    Some(summary)
}

/// Options of [`verify_file`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions<'a> {
    /// Look for sidecars (`FILE.seal`) in this directory instead of next to the file.
    pub sidecar_dir: Option<PathBuf>,
    /// Also look the file up in this ledger.
    pub ledger: Option<&'a scanseal_ledger::Ledger>,
}

/// The sidecar to look for (spec/seal-format.md §6.2): `FILE.seal`, in `dir` when given; in a
/// sidecar directory that has no `FILE.seal`, the instance's `KEY.seal` when it exists, KEY
/// being the hex of its ledger key (the gateway names its sidecars so, spec/gateway.md §5: the
/// name carries no UID, and any copy of the instance, however named, finds its sidecar).
fn sidecar_for(path: &Path, instance: &DicomInstance, dir: Option<&Path>) -> PathBuf {
    let by_name = sidecar_path(path, dir);
    if let Some(dir) = dir {
        if !by_name.exists() {
            let uid = instance.text_value(&[], dicom_core::Tag(0x0008, 0x0018));
            if let Some(uid) = uid {
                let by_key = dir.join(format!(
                    "{}.seal",
                    scanseal_ledger::instance_key(Some(&uid)).to_hex()
                ));
                if by_key.exists() {
                    return by_key;
                }
            }
        }
    }
    by_name
}

/// Verifies the file at `path` against `trust`.
pub fn verify_file(path: &Path, trust: &TrustStore, options: &VerifyOptions<'_>) -> Report {
    let mut report = Report::new(path);
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) => return report.conclude(Verdict::Error, format!("cannot open: {e}")),
    };
    let instance = match DicomInstance::from_file(&file) {
        Ok(instance) => instance,
        Err(e) => {
            return report.conclude(Verdict::Error, format!("not a readable DICOM file: {e}"))
        }
    };
    let sidecar = sidecar_for(path, &instance, options.sidecar_dir.as_deref());
    let found = match read_chain(&mut file, Some(&sidecar)) {
        Ok(Some(found)) => found,
        Ok(None) => {
            let report = report.conclude(
                Verdict::Unsigned,
                "no seal: no scanseal block in the file and no sidecar".into(),
            );
            return match options.ledger {
                Some(ledger) => ledger_check::unsealed(report, &instance, ledger, trust),
                None => report,
            };
        }
        Err(e @ SealError::SeveralBlocks { .. }) => {
            return report.conclude(Verdict::Invalid, e.to_string())
        }
        Err(e) => return report.conclude(Verdict::Error, format!("cannot read the seal: {e}")),
    };
    report.seal_source = Some(found.source.kind().to_string());
    if let SealSource::Sidecar(path) = &found.source {
        report.sidecar = Some(path.display().to_string());
    }
    match found.chain {
        Ok(chain) => {
            let report = verify_chain(report, &instance, &chain, trust);
            match options.ledger {
                Some(ledger) => ledger_check::sealed(report, &chain, ledger, trust),
                None => report,
            }
        }
        Err(reason) => report.conclude(Verdict::Invalid, format!("malformed seal: {reason}")),
    }
}

/// Verifies `instance` against `chain`: the part of [`verify_file`] after the chain is found.
pub fn verify_chain(
    mut report: Report,
    instance: &DicomInstance,
    chain: &SealChain,
    trust: &TrustStore,
) -> Report {
    let mut untrusted: Option<String> = None;
    let mut manifests: Vec<Manifest> = Vec::with_capacity(chain.seals.len());
    for (index, record) in chain.seals.iter().enumerate() {
        let number = index + 1;
        let envelope = match Envelope::parse(&record.envelope) {
            Ok(envelope) => envelope,
            Err(e) => {
                return report.conclude(Verdict::Invalid, format!("seal {number}: {e}"));
            }
        };
        let key_id = envelope.key_id();
        let trusted_key = trust.find(&key_id);
        let manifest = match trusted_key {
            Some(key) => match envelope.verify(&key.public_key) {
                Ok(manifest) => manifest,
                Err(e @ SealError::BadSignature { .. }) => {
                    return report.conclude(
                        Verdict::Invalid,
                        format!(
                            "seal {number}: {e} ({}): the seal is forged or damaged",
                            key.name
                        ),
                    )
                }
                Err(e) => return report.conclude(Verdict::Invalid, format!("seal {number}: {e}")),
            },
            None => match envelope.unverified_manifest() {
                Ok(manifest) => manifest,
                Err(e) => return report.conclude(Verdict::Invalid, format!("seal {number}: {e}")),
            },
        };
        let expected_predecessor = index
            .checked_sub(1)
            .and_then(|previous| chain.seals.get(previous))
            .map(|previous| previous.envelope_digest());
        if manifest.predecessor != expected_predecessor {
            return report.conclude(
                Verdict::Invalid,
                format!("seal {number} does not follow the seal before it in the chain"),
            );
        }
        if index == 0 && manifest.action != Action::Acquired {
            return report.conclude(
                Verdict::Invalid,
                "the chain does not start with an acquisition seal".into(),
            );
        }
        if let (Some(map), Some(previous)) = (&manifest.deidentification, manifests.last()) {
            if let Err(e) = map.check(previous, &manifest) {
                return report.conclude(
                    Verdict::Invalid,
                    format!(
                        "seal {number} (de-identification) does not match the seal before it: {e}"
                    ),
                );
            }
        }
        // A de-identification seal is made by a de-identification service, every other seal
        // at (or next to) acquisition.
        let role = match manifest.action {
            Action::Deidentified => Role::Deidentification,
            _ => Role::Acquisition,
        };
        let decision = trust.evaluate(&key_id, role, manifest.created);
        let signer = Signer {
            key_id: key_id.to_hex(),
            name: decision.key().map(|k| k.name.clone()),
            role: decision.key().map(|k| k.role.to_string()),
        };
        if untrusted.is_none() {
            untrusted = match decision {
                TrustDecision::Trusted(_) => None,
                TrustDecision::Unknown => Some(format!(
                    "seal {number} is signed by key {key_id}, which is not in the trust store \
                     (signature not checkable)"
                )),
                other => Some(format!("seal {number} has a valid signature, but {other}")),
            };
        }
        report.chain.push(ChainLink {
            action: manifest.action.to_string(),
            signer: signer.clone(),
            created: format_time(manifest.created).unwrap_or_default(),
            envelope_sha256: record.envelope_digest().to_hex(),
            trust: decision.word().to_string(),
            claims_device_id: manifest.claims.device_id.clone(),
            claims_operator_id: manifest.claims.operator_id.clone(),
        });
        report.signer = Some(signer);
        report.sealed_at = format_time(manifest.created).ok();
        manifests.push(manifest);
    }
    report.deidentification = deidentification_summary(&manifests, &report.chain);
    let (Some(manifest), Some(record)) = (manifests.last(), chain.latest()) else {
        return report.conclude(Verdict::Invalid, "malformed seal: no seals".into());
    };

    // The unsigned tile lists must hash to the signed frame digests before they are used.
    if let Some(pixels) = &manifest.pixels {
        if pixels.tile_size > 0 {
            let consistent = record.tiles.len() == pixels.frames.len()
                && record
                    .tiles
                    .iter()
                    .zip(&pixels.frames)
                    .all(|(tiles, frame)| !tiles.is_empty() && merkle_root(tiles) == *frame);
            if !consistent {
                return report.conclude(
                    Verdict::Invalid,
                    "the tile digests beside the seal do not match its signed frame digests".into(),
                );
            }
        }
    }

    let tile_size = manifest.tile_size_or_default();
    let canonical = match canonicalize(instance, &CanonOptions::new().tile_size(tile_size)) {
        Ok(canonical) => canonical,
        Err(e) => {
            return report.conclude(Verdict::Error, format!("cannot canonicalize the file: {e}"))
        }
    };
    report.findings = compare::compare(manifest, record, &canonical);
    report.attributes_checked = manifest.attributes.len();

    // seal-format R6: a countersignature adds a signature, not content. The file must still
    // match the seal that last set its content (the acquisition or a de-identification), or a
    // holder of any trusted acquisition key could countersign an altered file and have it
    // reported as sealed, unchanged, by the original signer.
    let anchor = manifests
        .iter()
        .rposition(|manifest| manifest.action != Action::Countersigned)
        .unwrap_or(0);
    if anchor + 1 < manifests.len() {
        if let (Some(anchor_manifest), Some(anchor_record)) =
            (manifests.get(anchor), chain.seals.get(anchor))
        {
            let anchor_tile_size = anchor_manifest.tile_size_or_default();
            let anchor_canonical = if anchor_tile_size == tile_size {
                Ok(canonical)
            } else {
                canonicalize(instance, &CanonOptions::new().tile_size(anchor_tile_size))
            };
            match anchor_canonical {
                Ok(anchor_canonical) => {
                    for finding in
                        compare::compare(anchor_manifest, anchor_record, &anchor_canonical)
                    {
                        if !report.findings.contains(&finding) {
                            report.findings.push(finding);
                        }
                    }
                }
                Err(e) => {
                    return report
                        .conclude(Verdict::Error, format!("cannot canonicalize the file: {e}"))
                }
            }
        }
    }

    if let Some(reason) = untrusted {
        return report.conclude(Verdict::Untrusted, reason);
    }
    let (verdict, reason) = compare::content_verdict(&report.findings, &report);
    let reason = reason + &revocation_notes(&report.chain, trust);
    report.conclude(verdict, reason)
}

/// For each trusted seal whose key has been revoked since the time the seal claims: the
/// claim is the signer's own (keys-and-trust T6.2), so the reason says so; `--ledger` checks
/// it (see `ledger_check`).
fn revocation_notes(chain: &[ChainLink], trust: &TrustStore) -> String {
    let mut notes = String::new();
    for (index, link) in chain.iter().enumerate() {
        if let Some((key, at)) = revoked_signer(link, trust) {
            notes.push_str(&format!(
                "; {} (seal {}) was revoked at {}, after the time the seal claims; only a \
                 ledger shows the seal is older than the revocation",
                key.name,
                index + 1,
                format_time(at).unwrap_or_default()
            ));
        }
    }
    notes
}

/// The trust store's entry for the signer of `link` and the time it was revoked, when it has
/// been revoked.
pub(crate) fn revoked_signer<'a>(
    link: &ChainLink,
    trust: &'a TrustStore,
) -> Option<(&'a scanseal_trust::TrustedKey, time::OffsetDateTime)> {
    let key_id = scanseal_keys::KeyId::from_hex(&link.signer.key_id).ok()?;
    let key = trust.find(&key_id)?;
    key.revoked_at.map(|at| (key, at))
}
