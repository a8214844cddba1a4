//! Looking a file up in a ledger (`verify --ledger`).

use scanseal_canon::{canonicalize, CanonOptions, Canonical, DicomInstance, PixelMode};
use scanseal_ledger::{instance_key, sop_instance_uid, Entry, EntryKind, Ledger, LedgerError};
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
                    entry: Some(entry_ref(entry, ledger, trust)),
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
    check_revoked_signers(report, chain, ledger, trust)
}

/// keys-and-trust T6.2: a seal by a key revoked since is trusted because the time it claims
/// is before the revocation, and a thief of the key can claim any time. The ledger bounds the
/// claim: a seal it recorded before the revocation existed then; any other is untrusted.
fn check_revoked_signers(
    mut report: Report,
    chain: &SealChain,
    ledger: &Ledger,
    trust: &TrustStore,
) -> Report {
    if !matches!(
        report.verdict,
        Verdict::Intact | Verdict::Modified | Verdict::Altered
    ) {
        return report;
    }
    let links = report.chain.clone();
    for (index, (link, record)) in links.iter().zip(&chain.seals).enumerate() {
        let Some((key, revoked_at)) = crate::revoked_signer(link, trust) else {
            continue;
        };
        let entries = match ledger.find_by_envelope(&record.envelope_digest()) {
            Ok(entries) => entries,
            Err(e) => {
                let check = lookup_failed(&mut report, &e);
                report.ledger = Some(check);
                return report;
            }
        };
        let revoked = format_time(revoked_at).unwrap_or_default();
        let number = index + 1;
        if let Some(entry) = entries.iter().find(|entry| entry.recorded < revoked_at) {
            report.reason.push_str(&format!(
                "; seal {number} was recorded as entry #{} at {}, before {}'s revocation",
                entry.seq,
                time_text(entry),
                key.name
            ));
            continue;
        }
        let recorded = match entries.first() {
            Some(entry) => format!(
                "recorded it only at {} (entry #{})",
                time_text(entry),
                entry.seq
            ),
            None => "does not record it".to_string(),
        };
        let reason = format!(
            "seal {number} is signed by {}, revoked at {revoked}; the seal claims {}, before \
             the revocation, but ledger {} {recorded}, so nothing shows it was made before the \
             key was compromised",
            key.name,
            link.created,
            ledger.origin()
        );
        return report.conclude(Verdict::Untrusted, reason);
    }
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
    let uid = sop_instance_uid(&canonical);
    let result = match &uid {
        Some(uid) => ledger.find_by_instance(&instance_key(Some(uid))),
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
        let has_uid = uid.is_some();
        return by_pixels(report, &canonical, has_uid, ledger, trust);
    }

    let mut matching: Vec<&Entry> = Vec::new();
    let mut differing: Option<&Entry> = None;
    let mut uncomparable: Option<(&Entry, String)> = None;
    for entry in &by_instance {
        match compare_pixels(entry, instance, &canonical) {
            PixelComparison::Match => matching.push(entry),
            PixelComparison::Differ => {
                differing.get_or_insert(entry);
            }
            PixelComparison::NotComparable(why) => {
                uncomparable.get_or_insert((entry, why));
            }
        }
    }
    if let Some(entry) = preferred(matching) {
        let message = format!("no seal; {}", pixels_match(entry, trust));
        return conclude(
            report,
            Verdict::Unsigned,
            message,
            "pixels-match",
            "instance",
            entry_ref(entry, ledger, trust),
        );
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
            entry_ref(entry, ledger, trust),
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
                entry_ref(entry, ledger, trust),
            )
        }
        None => report,
    }
}

/// No entry for the SOP Instance UID (or none in the file): look for the pixels alone (a
/// de-identifier may have replaced the UIDs).
fn by_pixels(
    mut report: Report,
    canonical: &Canonical,
    has_uid: bool,
    ledger: &Ledger,
    trust: &TrustStore,
) -> Report {
    if let Some(pixels) = &canonical.pixels {
        match ledger.find_by_pixels(&pixels.digest) {
            Ok(entries) => {
                let matching = preferred(entries.iter().filter(|entry| {
                    entry
                        .content
                        .pixels
                        .is_some_and(|p| p.mode == pixels.mode && p.tile_size == pixels.tile_size)
                }));
                if let Some(entry) = matching {
                    let why = if has_uid {
                        "its SOP Instance UID is not in the ledger: a de-identifier may have \
                         replaced it"
                    } else {
                        "it has no SOP Instance UID"
                    };
                    let message = format!("no seal; {} ({why})", pixels_match(entry, trust));
                    return conclude(
                        report,
                        Verdict::Unsigned,
                        message,
                        "pixels-match",
                        "pixels",
                        entry_ref(entry, ledger, trust),
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
    entry: LedgerEntryRef,
) -> Report {
    report.ledger = Some(LedgerCheck {
        status: status.into(),
        matched_by: Some(matched_by.into()),
        entry: Some(entry),
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

/// "name (key id)", or "key <id> (not in the trust store)", for a sentence.
fn signer_text(entry: &Entry, trust: &TrustStore) -> String {
    let signer = signer_of(entry, trust);
    match signer.name {
        Some(name) => format!("{name} ({})", signer.key_id),
        None => format!("key {} (not in the trust store)", signer.key_id),
    }
}

/// "at T by K" for a sentence; T is the time the ledger recorded the entry.
fn sealed_by(entry: &Entry, trust: &TrustStore) -> String {
    format!("at {} by {}", time_text(entry), signer_text(entry, trust))
}

/// The entry kind as the noun before "entry": "acquisition entry #3".
fn kind_noun(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Acquired => "acquisition",
        EntryKind::Countersigned => "countersignature",
        EntryKind::Deidentified => "de-identification",
    }
}

/// "pixels match acquisition entry #N sealed by K at T; header not covered by a seal", where
/// T is the time the ledger recorded the entry (the ledger does not hold the seal's own time).
fn pixels_match(entry: &Entry, trust: &TrustStore) -> String {
    format!(
        "pixels match {} entry #{} sealed by {} at {}; header not covered by a seal",
        kind_noun(entry.content.kind),
        entry.seq,
        signer_text(entry, trust),
        time_text(entry)
    )
}

/// Of several entries whose pixels match, the one to name: the oldest acquisition entry (the
/// scan as acquired), else the oldest entry.
fn preferred<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Option<&'a Entry> {
    entries
        .into_iter()
        .min_by_key(|entry| (entry.content.kind != EntryKind::Acquired, entry.seq))
}

fn entry_ref(entry: &Entry, ledger: &Ledger, trust: &TrustStore) -> LedgerEntryRef {
    LedgerEntryRef {
        seq: entry.seq,
        kind: entry.content.kind.to_string(),
        recorded: time_text(entry),
        signer: signer_of(entry, trust),
        envelope_sha256: entry.content.envelope.to_hex(),
        checkpoint: signed_checkpoint_size(entry, ledger, trust),
    }
}

/// See [`LedgerEntryRef::checkpoint`]: proves the entry under the largest stored checkpoint
/// and verifies that proof as `verify-proof` would, with the ledger keys trusted now.
fn signed_checkpoint_size(entry: &Entry, ledger: &Ledger, trust: &TrustStore) -> Option<u64> {
    let ledger_keys = trust.trusted_keys(Role::Ledger, time::OffsetDateTime::now_utc());
    if ledger_keys.is_empty() {
        return None;
    }
    let proof = ledger.prove(entry.seq).ok()?;
    let verified = proof.verify(&ledger_keys).ok()?;
    (verified.entry == *entry).then_some(verified.checkpoint.checkpoint.size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::Path;

    use scanseal_canon::Digest;
    use scanseal_fixtures::{tags, EncodeOptions, Encoding, Fixture, VR};
    use scanseal_keys::{KeyId, SigningKey};
    use scanseal_ledger::{NewEntry, PixelRecord};
    use scanseal_trust::TrustedKey;

    use super::*;

    const RECORDED: &str = "2026-03-04T05:06:07Z";

    struct Lab {
        _dir: tempfile::TempDir,
        ledger: Ledger,
        trust: TrustStore,
        ct: KeyId,
        stranger: KeyId,
    }

    impl Lab {
        fn new() -> Lab {
            let dir = tempfile::tempdir().unwrap();
            let ledger =
                Ledger::create(&dir.path().join("ledger.db"), "test.example/ledger").unwrap();
            let ct = SigningKey::from_seed(&[1; 32]).public_key();
            let stranger = SigningKey::from_seed(&[2; 32]).key_id();
            let mut trust = TrustStore::new();
            let ct_id = ct.key_id();
            trust
                .add(TrustedKey::new("ct-01", Role::Acquisition, ct))
                .unwrap();
            Lab {
                _dir: dir,
                ledger,
                trust,
                ct: ct_id,
                stranger,
            }
        }

        /// Appends entries (kind, signer, instance key) with `canonical`'s pixels.
        fn record(&mut self, canonical: &Canonical, entries: &[(EntryKind, KeyId, Digest)]) {
            let pixels = canonical.pixels.as_ref().unwrap();
            let size = self.ledger.size().unwrap();
            let entries: Vec<NewEntry> = entries
                .iter()
                .enumerate()
                .map(|(i, (kind, signer, instance))| NewEntry {
                    kind: *kind,
                    signer: *signer,
                    envelope: Digest([(size as u8).wrapping_add(i as u8); 32]),
                    pixels: Some(PixelRecord {
                        mode: pixels.mode,
                        digest: pixels.digest,
                        tile_size: pixels.tile_size,
                    }),
                    instance: *instance,
                    predecessor: None,
                })
                .collect();
            self.ledger
                .append_recorded(&entries, scanseal_seal::parse_time(RECORDED).unwrap())
                .unwrap();
        }

        fn check(&self, instance: &DicomInstance) -> Report {
            // As verify_file hands it over.
            let report = Report::new(Path::new("scan.dcm")).conclude(
                Verdict::Unsigned,
                "no seal: no scanseal block in the file and no sidecar".into(),
            );
            unsealed(report, instance, &self.ledger, &self.trust)
        }
    }

    fn scan(uid: Option<&str>) -> (DicomInstance, Canonical) {
        let mut fixture = Fixture::ct_slice(3);
        match uid {
            Some(uid) => fixture.set_attribute(tags::SOP_INSTANCE_UID, VR::UI, uid),
            None => {
                fixture.remove_attribute(tags::SOP_INSTANCE_UID);
            }
        }
        let bytes = fixture
            .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
            .unwrap();
        let instance = DicomInstance::from_bytes(&bytes).unwrap();
        let canonical = canonicalize(&instance, &CanonOptions::new()).unwrap();
        (instance, canonical)
    }

    fn key_of(uid: &str) -> Digest {
        instance_key(Some(uid))
    }

    fn ledger_of(report: &Report) -> &LedgerCheck {
        report.ledger.as_ref().unwrap()
    }

    #[test]
    fn pixels_found_by_instance_name_the_acquisition_entry() {
        let mut lab = Lab::new();
        let (instance, canonical) = scan(Some("1.2.3.4"));
        let (ct, uid) = (lab.ct, key_of("1.2.3.4"));
        lab.record(
            &canonical,
            &[
                (EntryKind::Countersigned, ct, uid),
                (EntryKind::Acquired, ct, uid),
            ],
        );
        let report = lab.check(&instance);
        let want = format!(
            "no seal; pixels match acquisition entry #1 sealed by ct-01 ({}) at {RECORDED}; \
             header not covered by a seal",
            lab.ct.to_hex()
        );
        assert_eq!(report.verdict, Verdict::Unsigned);
        assert_eq!(report.reason, want);
        let check = ledger_of(&report);
        assert_eq!(check.status, "pixels-match");
        assert_eq!(check.matched_by.as_deref(), Some("instance"));
        assert_eq!(check.message, want);
        let entry = check.entry.as_ref().unwrap();
        assert_eq!((entry.seq, entry.kind.as_str()), (1, "acquired"));
        assert_eq!(entry.recorded, RECORDED);
    }

    #[test]
    fn pixels_found_without_the_uid_prefer_the_acquisition_entry() {
        let mut lab = Lab::new();
        let (_, recorded) = scan(Some("1.2.3.4"));
        let (ct, stranger) = (lab.ct, lab.stranger);
        lab.record(
            &recorded,
            &[
                (EntryKind::Deidentified, stranger, key_of("9.9.9")),
                (EntryKind::Acquired, stranger, key_of("1.2.3.4")),
                (EntryKind::Acquired, ct, key_of("1.2.3.4")),
            ],
        );
        // A de-identifier replaced the UID.
        let (instance, _) = scan(Some("2.25.777"));
        let report = lab.check(&instance);
        let want = format!(
            "no seal; pixels match acquisition entry #1 sealed by key {} (not in the trust \
             store) at {RECORDED}; header not covered by a seal (its SOP Instance UID is not in \
             the ledger: a de-identifier may have replaced it)",
            lab.stranger.to_hex()
        );
        assert_eq!(report.verdict, Verdict::Unsigned);
        assert_eq!(report.reason, want);
        let check = ledger_of(&report);
        assert_eq!(check.status, "pixels-match");
        assert_eq!(check.matched_by.as_deref(), Some("pixels"));
        assert_eq!(check.entry.as_ref().unwrap().seq, 1);

        // Without a UID at all, the reason says so.
        let (instance, _) = scan(None);
        let report = lab.check(&instance);
        assert!(
            report
                .reason
                .ends_with("; header not covered by a seal (it has no SOP Instance UID)"),
            "{}",
            report.reason
        );
        assert_eq!(ledger_of(&report).matched_by.as_deref(), Some("pixels"));
    }

    #[test]
    fn without_an_acquisition_entry_the_oldest_is_named_by_its_kind() {
        for (kinds, want) in [
            (
                [EntryKind::Deidentified, EntryKind::Countersigned],
                "de-identification entry #0",
            ),
            (
                [EntryKind::Countersigned, EntryKind::Deidentified],
                "countersignature entry #0",
            ),
        ] {
            let mut lab = Lab::new();
            let (_, recorded) = scan(Some("1.2.3.4"));
            let ct = lab.ct;
            lab.record(
                &recorded,
                &[(kinds[0], ct, key_of("5.5")), (kinds[1], ct, key_of("6.6"))],
            );
            let (instance, _) = scan(Some("7.7"));
            let report = lab.check(&instance);
            assert!(
                report
                    .reason
                    .starts_with(&format!("no seal; pixels match {want} sealed by ct-01 (")),
                "{}",
                report.reason
            );
        }
    }

    #[test]
    fn other_pixels_are_not_found() {
        let mut lab = Lab::new();
        let (_, recorded) = scan(Some("1.2.3.4"));
        let ct = lab.ct;
        lab.record(&recorded, &[(EntryKind::Acquired, ct, key_of("1.2.3.4"))]);
        let mut fixture = Fixture::ct_slice(3);
        fixture.set_attribute(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1");
        let value = fixture.sample(0, 1, 1, 0).unwrap();
        fixture.set_sample(0, 1, 1, 0, value ^ 1).unwrap();
        let bytes = fixture
            .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
            .unwrap();
        let report = lab.check(&DicomInstance::from_bytes(&bytes).unwrap());
        assert_eq!(report.verdict, Verdict::Unsigned);
        assert_eq!(ledger_of(&report).status, "not-found");
        assert!(!report.reason.contains("pixels match"), "{}", report.reason);
    }

    /// A seal claiming 2026-01-10 by ct-01, revoked at 2026-02-01, checked against a ledger
    /// that recorded it at `recorded` (or not at all).
    fn revoked_signer(recorded: Option<&str>) -> Report {
        let mut lab = Lab::new();
        lab.trust
            .revoke(
                "ct-01",
                scanseal_seal::parse_time("2026-02-01T00:00:00Z").unwrap(),
            )
            .unwrap();
        let (instance, canonical) = scan(Some("1.2.3.4"));
        let mut options = scanseal_seal::SealOptions::new();
        options.created = Some(scanseal_seal::parse_time("2026-01-10T00:00:00Z").unwrap());
        let key = SigningKey::from_seed(&[1; 32]);
        let record = scanseal_seal::seal_canonical(&canonical, &key, &options, None).unwrap();
        if let Some(at) = recorded {
            let entry = NewEntry::for_seal(&record, key_of("1.2.3.4")).unwrap();
            lab.ledger
                .append_recorded(&[entry], scanseal_seal::parse_time(at).unwrap())
                .unwrap();
        }
        let chain = SealChain {
            seals: vec![record],
        };
        let report = crate::verify_chain(
            Report::new(Path::new("scan.dcm")),
            &instance,
            &chain,
            &lab.trust,
        );
        assert_eq!(report.verdict, Verdict::Intact, "{}", report.reason);
        assert!(
            report.reason.contains(
                "; ct-01 (seal 1) was revoked at 2026-02-01T00:00:00Z, after the time the seal \
                 claims; only a ledger shows the seal is older than the revocation"
            ),
            "{}",
            report.reason
        );
        sealed(report, &chain, &lab.ledger, &lab.trust)
    }

    #[test]
    fn a_revoked_key_s_seal_is_trusted_only_if_the_ledger_recorded_it_before_the_revocation() {
        let report = revoked_signer(Some("2026-01-10T00:00:05Z"));
        assert_eq!(report.verdict, Verdict::Intact, "{}", report.reason);
        assert!(
            report.reason.ends_with(
                "; seal 1 was recorded as entry #0 at 2026-01-10T00:00:05Z, before ct-01's revocation"
            ),
            "{}",
            report.reason
        );

        // A thief backdates the seal and records it after the revocation, or not at all.
        let report = revoked_signer(Some("2026-02-01T00:00:00Z"));
        assert_eq!(report.verdict, Verdict::Untrusted);
        assert_eq!(
            report.reason,
            "seal 1 is signed by ct-01, revoked at 2026-02-01T00:00:00Z; the seal claims \
             2026-01-10T00:00:00Z, before the revocation, but ledger test.example/ledger recorded \
             it only at 2026-02-01T00:00:00Z (entry #0), so nothing shows it was made before the \
             key was compromised"
        );
        let report = revoked_signer(None);
        assert_eq!(report.verdict, Verdict::Untrusted);
        assert!(report
            .reason
            .contains("but ledger test.example/ledger does not record it"));
    }
}
