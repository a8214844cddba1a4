//! Looking a file up in a ledger (`verify --ledger`).

use scanseal_canon::{canonicalize, CanonOptions, Canonical, DicomInstance, PixelMode};
use scanseal_ledger::{instance_key, sop_instance_uid, Entry, Ledger, LedgerError};
use scanseal_seal::{format_time, SealChain};
use scanseal_trust::{Role, TrustStore};

use crate::report::{LedgerCheck, LedgerEntryRef, Report, Signer, Verdict};

/// A sealed file: is its newest seal recorded? The verdict stays what the seal says; the
/// reason and the report's `ledger` say whether the ledger knows the seal.
pub(crate) fn sealed(
    mut report: Report,
    chain: &SealChain,
    ledger: &Ledger,
    trust: &TrustStore,
) -> Report {
    if matches!(report.verdict, Verdict::Invalid | Verdict::Error) {
        return report;
    }
    let Some(record) = chain.latest() else {
        return report;
    };
    let check = match ledger.find_by_envelope(&record.envelope_digest()) {
        Ok(entries) => match entries.first() {
            Some(entry) => {
                report
                    .reason
                    .push_str(&format!("; recorded in the ledger as entry #{}", entry.seq));
                LedgerCheck {
                    status: "recorded".into(),
                    matched_by: Some("envelope".into()),
                    message: format!(
                        "the seal is recorded in ledger {} as entry #{} at {}",
                        ledger.origin(),
                        entry.seq,
                        time_text(entry)
                    ),
                    entry: Some(entry_ref(entry, trust)),
                }
            }
            None => {
                report
                    .reason
                    .push_str("; the seal is NOT recorded in the ledger");
                LedgerCheck {
                    status: "not-recorded".into(),
                    matched_by: None,
                    entry: None,
                    message: format!(
                        "the seal is not recorded in ledger {}: it was made without the ledger, \
                         or recorded in another one",
                        ledger.origin()
                    ),
                }
            }
        },
        Err(e) => lookup_failed(&mut report, &e),
    };
    report.ledger = Some(check);
    report
}

/// A file without a seal: find the instance in the ledger and compare its pixels.
pub(crate) fn unsealed(
    mut report: Report,
    instance: &DicomInstance,
    ledger: &Ledger,
    trust: &TrustStore,
) -> Report {
    let canonical = match canonicalize(instance, &CanonOptions::new()) {
        Ok(canonical) => canonical,
        Err(e) => {
            report.ledger = Some(LedgerCheck {
                status: "error".into(),
                matched_by: None,
                entry: None,
                message: format!("cannot canonicalize the file to compare it with the ledger: {e}"),
            });
            return report;
        }
    };
    let result = match sop_instance_uid(&canonical) {
        Some(uid) => ledger.find_by_instance(&instance_key(Some(&uid))),
        None => Ok(Vec::new()),
    };
    let by_instance = match result {
        Ok(entries) => entries,
        Err(e) => {
            let check = lookup_failed(&mut report, &e);
            report.ledger = Some(check);
            return report;
        }
    };
    if by_instance.is_empty() {
        return by_pixels(report, &canonical, ledger, trust);
    }

    let mut differing: Option<&Entry> = None;
    let mut uncomparable: Option<(&Entry, String)> = None;
    for entry in &by_instance {
        match compare_pixels(entry, instance, &canonical) {
            PixelComparison::Match => {
                let message = format!(
                    "no seal, but its pixels match ledger entry #{} ({} {}); the header is not \
                     covered without the seal",
                    entry.seq,
                    entry.content.kind,
                    sealed_by(entry, trust)
                );
                return conclude(
                    report,
                    Verdict::Unsigned,
                    message,
                    "pixels-match",
                    "instance",
                    entry,
                    trust,
                );
            }
            PixelComparison::Differ => {
                differing.get_or_insert(entry);
            }
            PixelComparison::NotComparable(why) => {
                uncomparable.get_or_insert((entry, why));
            }
        }
    }
    if let Some(entry) = differing {
        let message = format!(
            "seal removed: ledger entry #{} records this instance as {} {}, and its pixels now differ",
            entry.seq,
            entry.content.kind,
            sealed_by(entry, trust)
        );
        return conclude(
            report,
            Verdict::Altered,
            message,
            "pixels-differ",
            "instance",
            entry,
            trust,
        );
    }
    match uncomparable {
        Some((entry, why)) => {
            let message = format!(
                "no seal; ledger entry #{} records this instance ({} {}), but {why}",
                entry.seq,
                entry.content.kind,
                sealed_by(entry, trust)
            );
            conclude(
                report,
                Verdict::Unsigned,
                message,
                "not-comparable",
                "instance",
                entry,
                trust,
            )
        }
        None => report,
    }
}

/// No entry for the SOP Instance UID: look for the pixels alone (a de-identifier may have
/// replaced the UIDs).
fn by_pixels(
    mut report: Report,
    canonical: &Canonical,
    ledger: &Ledger,
    trust: &TrustStore,
) -> Report {
    if let Some(pixels) = &canonical.pixels {
        match ledger.find_by_pixels(&pixels.digest) {
            Ok(entries) => {
                let matching = entries.iter().find(|entry| {
                    entry
                        .content
                        .pixels
                        .is_some_and(|p| p.mode == pixels.mode && p.tile_size == pixels.tile_size)
                });
                if let Some(entry) = matching {
                    let message = format!(
                        "no seal and its SOP Instance UID is not in the ledger, but its pixels \
                         match ledger entry #{} ({} {}); the header is not covered by a seal",
                        entry.seq,
                        entry.content.kind,
                        sealed_by(entry, trust)
                    );
                    return conclude(
                        report,
                        Verdict::Unsigned,
                        message,
                        "pixels-match",
                        "pixels",
                        entry,
                        trust,
                    );
                }
            }
            Err(e) => {
                let check = lookup_failed(&mut report, &e);
                report.ledger = Some(check);
                return report;
            }
        }
    }
    report.reason = "no seal, and the ledger has no entry for this instance or its pixels".into();
    report.ledger = Some(LedgerCheck {
        status: "not-found".into(),
        matched_by: None,
        entry: None,
        message: format!(
            "ledger {} has no entry for this SOP Instance UID or these pixels",
            ledger.origin()
        ),
    });
    report
}

enum PixelComparison {
    Match,
    Differ,
    NotComparable(String),
}

fn compare_pixels(
    entry: &Entry,
    instance: &DicomInstance,
    canonical: &Canonical,
) -> PixelComparison {
    let recorded = match (&entry.content.pixels, &canonical.pixels) {
        (None, None) => {
            return PixelComparison::NotComparable("neither has pixel data to compare".into())
        }
        (Some(_), None) | (None, Some(_)) => return PixelComparison::Differ,
        (Some(recorded), Some(_)) => recorded,
    };
    if recorded.mode != canonical.pixel_mode() {
        return PixelComparison::NotComparable(format!(
            "its pixels were recorded as {} and the file's are {}",
            recorded.mode.name(),
            canonical.pixel_mode().name()
        ));
    }
    // The digest depends on the tile size; recompute with the one the seal used.
    let digest = match canonical.pixels.as_ref() {
        Some(pixels)
            if recorded.mode == PixelMode::EncodedFrames
                || pixels.tile_size == recorded.tile_size =>
        {
            pixels.digest
        }
        _ => match canonicalize(instance, &CanonOptions::new().tile_size(recorded.tile_size)) {
            Ok(Canonical {
                pixels: Some(pixels),
                ..
            }) => pixels.digest,
            Ok(_) => return PixelComparison::Differ,
            Err(e) => {
                return PixelComparison::NotComparable(format!(
                    "its pixels cannot be recomputed: {e}"
                ))
            }
        },
    };
    if digest == recorded.digest {
        PixelComparison::Match
    } else {
        PixelComparison::Differ
    }
}

fn conclude(
    mut report: Report,
    verdict: Verdict,
    message: String,
    status: &str,
    matched_by: &str,
    entry: &Entry,
    trust: &TrustStore,
) -> Report {
    report.ledger = Some(LedgerCheck {
        status: status.into(),
        matched_by: Some(matched_by.into()),
        entry: Some(entry_ref(entry, trust)),
        message: message.clone(),
    });
    report.conclude(verdict, message)
}

fn lookup_failed(report: &mut Report, error: &LedgerError) -> LedgerCheck {
    report.reason.push_str("; the ledger lookup failed");
    LedgerCheck {
        status: "error".into(),
        matched_by: None,
        entry: None,
        message: error.to_string(),
    }
}

fn time_text(entry: &Entry) -> String {
    format_time(entry.recorded).unwrap_or_default()
}

fn signer_of(entry: &Entry, trust: &TrustStore) -> Signer {
    let decision = trust.evaluate(&entry.content.signer, Role::Acquisition, entry.recorded);
    Signer {
        key_id: entry.content.signer.to_hex(),
        name: decision.key().map(|k| k.name.clone()),
        role: decision.key().map(|k| k.role.to_string()),
    }
}

/// "sealed at T by K" for a sentence.
fn sealed_by(entry: &Entry, trust: &TrustStore) -> String {
    let signer = signer_of(entry, trust);
    let who = match signer.name {
        Some(name) => format!("{name} ({})", signer.key_id),
        None => format!("key {} (not in the trust store)", signer.key_id),
    };
    format!("at {} by {who}", time_text(entry))
}

fn entry_ref(entry: &Entry, trust: &TrustStore) -> LedgerEntryRef {
    LedgerEntryRef {
        seq: entry.seq,
        kind: entry.content.kind.to_string(),
        recorded: time_text(entry),
        signer: signer_of(entry, trust),
        envelope_sha256: entry.content.envelope.to_hex(),
    }
}
