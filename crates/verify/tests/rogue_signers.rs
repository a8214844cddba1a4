//! What a holder of a trusted key of the wrong kind can do: a de-identification service's key
//! signs a `deidentified` seal, and rule M7 (seal-format §3.1) bounds it. It cannot alter the
//! pixels or a kept attribute behind an honest-looking account; the verifier re-checks M7
//! itself rather than trusting the de-identifier's software to have done so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::Path;

use scanseal_canon::{canonicalize, CanonOptions, DicomInstance};
use scanseal_fixtures::{tags, EncodeOptions, Encoding, Fixture, VR};
use scanseal_keys::SigningKey;
use scanseal_seal::{
    seal_canonical, Action, AttributeAction, Deidentification, Envelope, SealChain, SealOptions,
};
use scanseal_trust::{Role, TrustStore, TrustedKey};
use scanseal_verify::{verify_chain, Report, Verdict};

/// An acquisition key, a de-identification key, and a trust store trusting each in its role.
fn keys_and_trust() -> (SigningKey, SigningKey, TrustStore) {
    let acquisition_key = SigningKey::from_seed(&[1; 32]);
    let deid_key = SigningKey::from_seed(&[2; 32]);
    let mut trust = TrustStore::new();
    for (name, role, key) in [
        ("ct-01", Role::Acquisition, &acquisition_key),
        ("deid-01", Role::Deidentification, &deid_key),
    ] {
        trust
            .add(TrustedKey::new(name, role, key.public_key()))
            .unwrap();
    }
    (acquisition_key, deid_key, trust)
}

fn instance(fixture: &Fixture) -> DicomInstance {
    let bytes = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    DicomInstance::from_bytes(&bytes).unwrap()
}

/// Seals `original` at acquisition (key 1), then lets key 2 — trusted only to de-identify —
/// sign a `deidentified` seal over `changed` that declares every attribute `kept`. Both seals
/// derive their salts from one seed, so unchanged attributes get equal commitments as M7
/// wants of kept ones. Returns the verdict and reason for `changed`.
fn rogue_deidentification(original: &Fixture, changed: &Fixture) -> (Verdict, String) {
    let (acquisition_key, rogue_key, trust) = keys_and_trust();

    let mut options = SealOptions::new();
    options.salt_seed = Some(b"one seed for both seals".to_vec());
    let before = canonicalize(&instance(original), &CanonOptions::new()).unwrap();
    let acquisition = seal_canonical(&before, &acquisition_key, &options, None).unwrap();

    let changed_instance = instance(changed);
    let after = canonicalize(&changed_instance, &CanonOptions::new()).unwrap();
    // seal_deidentified checks M7 and refuses; a rogue signer builds the manifest itself.
    let mut record = seal_canonical(&after, &rogue_key, &options, Some(&acquisition)).unwrap();
    let mut manifest = Envelope::parse(&record.envelope)
        .unwrap()
        .unverified_manifest()
        .unwrap();
    manifest.action = Action::Deidentified;
    manifest.deidentification = Some(Deidentification::new(
        "basic".into(),
        Vec::new(),
        manifest
            .attributes
            .iter()
            .map(|(id, _)| (id.clone(), AttributeAction::Kept))
            .collect(),
    ));
    record.envelope = Envelope::sign(&manifest, &rogue_key).unwrap();

    let chain = SealChain {
        seals: vec![acquisition, record],
    };
    let report = verify_chain(
        Report::new(Path::new("scan.dcm")),
        &changed_instance,
        &chain,
        &trust,
    );
    (report.verdict, report.reason)
}

#[test]
fn a_deidentification_key_cannot_vouch_for_changed_pixels_or_kept_attributes() {
    let original = Fixture::ct_slice(5);

    // Control: the same construction over an unchanged instance is a valid chain.
    let (verdict, reason) = rogue_deidentification(&original, &original);
    assert_eq!(verdict, Verdict::Intact, "{reason}");

    let mut pixels = original.clone();
    let value = pixels.sample(0, 20, 30, 0).unwrap();
    pixels.set_sample(0, 20, 30, 0, value ^ 0x10).unwrap();
    let (verdict, reason) = rogue_deidentification(&original, &pixels);
    assert_eq!(verdict, Verdict::Invalid, "{reason}");
    assert!(
        reason.starts_with("seal 2 (de-identification) does not match the seal before it"),
        "{reason}"
    );

    let mut attribute = original.clone();
    attribute.set_attribute(tags::PIXEL_SPACING, VR::DS, "0.5\\0.5");
    let (verdict, reason) = rogue_deidentification(&original, &attribute);
    assert_eq!(verdict, Verdict::Invalid, "{reason}");
    assert!(
        reason.starts_with("seal 2 (de-identification) does not match the seal before it"),
        "{reason}"
    );
}

/// An archive writer strips the newest seal of a de-identified file's chain, leaving the
/// acquisition seal (whose salts of everything not kept were withheld). The file no longer
/// matches it: never INTACT.
#[test]
fn a_chain_truncated_to_its_acquisition_seal_does_not_verify_the_deidentified_file() {
    let (acquisition_key, deid_key, trust) = keys_and_trust();
    let original = Fixture::ct_slice(6);
    let before = canonicalize(&instance(&original), &CanonOptions::new()).unwrap();
    let acquisition = seal_canonical(&before, &acquisition_key, &SealOptions::new(), None).unwrap();

    // An honest de-identification: Patient Name removed.
    let mut deidentified = original.clone();
    deidentified.remove_attribute(tags::PATIENT_NAME);
    let deidentified = instance(&deidentified);
    let after = canonicalize(&deidentified, &CanonOptions::new()).unwrap();
    let name_id = scanseal_canon::AttributeId::Standard(tags::PATIENT_NAME)
        .encode()
        .unwrap();
    let actions = before
        .attributes
        .iter()
        .map(|attribute| {
            let id = attribute.id.encode().unwrap();
            let action = if id == name_id {
                AttributeAction::Removed
            } else {
                AttributeAction::Kept
            };
            (id, action)
        })
        .collect();
    let mut earlier = acquisition.clone();
    earlier.withhold_salts(|id| id != name_id.as_slice());
    let record = scanseal_seal::seal_deidentified(
        &after,
        &deid_key,
        &SealOptions::new(),
        &acquisition,
        Deidentification::new("basic".into(), Vec::new(), actions),
    )
    .unwrap();
    let verify = |seals: Vec<scanseal_seal::SealRecord>| {
        let chain = SealChain { seals };
        verify_chain(
            Report::new(Path::new("scan.dcm")),
            &deidentified,
            &chain,
            &trust,
        )
    };
    let report = verify(vec![earlier.clone(), record]);
    assert_eq!(report.verdict, Verdict::Intact, "{}", report.reason);

    let report = verify(vec![earlier]);
    assert_eq!(report.verdict, Verdict::Altered, "{}", report.reason);
    assert!(report.reason.contains("PatientName"), "{}", report.reason);
}

/// A second trusted acquisition key countersigns a file altered after the first seal: the
/// countersignature covers the altered content, but the file no longer matches the acquisition
/// seal, and that is what is reported (seal-format R6).
#[test]
fn a_countersignature_cannot_launder_an_alteration() {
    let (acquisition_key, _, mut trust) = keys_and_trust();
    let second_key = SigningKey::from_seed(&[3; 32]);
    trust
        .add(TrustedKey::new(
            "ct-02",
            Role::Acquisition,
            second_key.public_key(),
        ))
        .unwrap();
    let original = Fixture::ct_slice(7);
    let before = canonicalize(&instance(&original), &CanonOptions::new()).unwrap();
    let acquisition = seal_canonical(&before, &acquisition_key, &SealOptions::new(), None).unwrap();
    let countersign = |fixture: &Fixture| {
        let now = instance(fixture);
        let canonical = canonicalize(&now, &CanonOptions::new().tile_size(32)).unwrap();
        let mut options = SealOptions::new();
        options.tile_size = Some(32);
        let record = seal_canonical(&canonical, &second_key, &options, Some(&acquisition)).unwrap();
        let chain = SealChain {
            seals: vec![acquisition.clone(), record],
        };
        verify_chain(Report::new(Path::new("scan.dcm")), &now, &chain, &trust)
    };

    // Control: countersigning the unchanged file (at another tile size) is INTACT.
    let report = countersign(&original);
    assert_eq!(report.verdict, Verdict::Intact, "{}", report.reason);

    let mut altered = original.clone();
    let value = altered.sample(0, 3, 4, 0).unwrap();
    altered.set_sample(0, 3, 4, 0, value ^ 0x40).unwrap();
    altered.set_attribute(tags::IMAGE_COMMENTS, VR::LT, "no finding");
    let report = countersign(&altered);
    assert_eq!(report.verdict, Verdict::Altered, "{}", report.reason);
    assert!(
        report.reason.contains("pixels changed in frame 1"),
        "{}",
        report.reason
    );
    assert!(report.reason.contains("ImageComments"), "{}", report.reason);
}
