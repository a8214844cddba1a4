//! `scanseal inspect`: a sealed file's chain in human form. Shows what each seal claims;
//! checks signatures only when a trust store is given (otherwise nothing shown is verified).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use scanseal_canon::AttributeId;
use scanseal_seal::{format_time, read_chain, sidecar_path, Envelope, Manifest, SealSource};
use scanseal_trust::TrustStore;
use serde_json::json;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Check each seal's signature against this trust store and name the signers.
    #[arg(long, value_name = "STORE")]
    trust: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Look for the sidecar (FILE.seal) in DIR instead of next to the file.
    #[arg(long, value_name = "DIR")]
    sidecar_dir: Option<PathBuf>,
    /// A DICOM file.
    path: PathBuf,
}

pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let trust = match &args.trust {
        Some(path) => Some(
            TrustStore::load(path)
                .with_context(|| format!("cannot use trust store {}", path.display()))?,
        ),
        None => None,
    };
    let mut file =
        File::open(&args.path).with_context(|| format!("cannot open {}", args.path.display()))?;
    let sidecar = sidecar_path(&args.path, args.sidecar_dir.as_deref());
    let Some(found) = read_chain(&mut file, Some(&sidecar))
        .with_context(|| format!("{}: cannot read the seal", args.path.display()))?
    else {
        println!(
            "{}: no seal (no scanseal block, no sidecar)",
            args.path.display()
        );
        return Ok(ExitCode::from(1));
    };
    let source = match &found.source {
        SealSource::Embedded => "embedded block".to_string(),
        SealSource::Sidecar(path) => format!("sidecar {}", path.display()),
    };
    let chain = match found.chain {
        Ok(chain) => chain,
        Err(reason) => bail!(
            "{}: malformed seal in {source}: {reason}",
            args.path.display()
        ),
    };
    let mut seals = Vec::new();
    for (index, record) in chain.seals.iter().enumerate() {
        let which = || format!("{}: seal {}", args.path.display(), index + 1);
        let envelope = Envelope::parse(&record.envelope).with_context(which)?;
        let key_id = envelope.key_id();
        let (manifest, signature): (Manifest, String) = match &trust {
            Some(store) => match store.find(&key_id) {
                Some(key) => match envelope.verify(&key.public_key) {
                    Ok(manifest) => (manifest, format!("valid, by {} ({})", key.name, key.role)),
                    Err(e) => (
                        envelope.unverified_manifest().with_context(which)?,
                        format!("DOES NOT VERIFY: {e}"),
                    ),
                },
                None => (
                    envelope.unverified_manifest().with_context(which)?,
                    "not checked: key not in the trust store".into(),
                ),
            },
            None => (
                envelope.unverified_manifest().with_context(which)?,
                "not checked (give --trust, or use verify)".into(),
            ),
        };
        seals.push((index + 1, record, manifest, signature));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = seals
            .iter()
            .map(|(number, record, manifest, signature)| {
                json!({
                    "seal": number,
                    "action": manifest.action.as_str(),
                    "signer": manifest.signer.to_hex(),
                    "created": format_time(manifest.created).unwrap_or_default(),
                    "signature": signature,
                    "device_id": manifest.claims.device_id,
                    "operator_id": manifest.claims.operator_id,
                    "pixels": manifest.pixels.as_ref().map(|p| json!({
                        "digest": p.digest.to_hex(),
                        "mode": p.mode.name(),
                        "tile_size": p.tile_size,
                        "frames": p.frames.len(),
                        "rows": p.descriptor.rows,
                        "columns": p.descriptor.columns,
                        "bits_allocated": p.descriptor.bits_allocated,
                        "photometric_interpretation": p.descriptor.photometric_interpretation,
                    })),
                    "attributes": manifest.attributes.len(),
                    "salts": record.salts.len(),
                    "tiles": record.tiles.iter().map(Vec::len).sum::<usize>(),
                    "predecessor": manifest.predecessor.map(|d| d.to_hex()),
                    "envelope_sha256": record.envelope_digest().to_hex(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(
            &mut out,
            &json!({"path": args.path.display().to_string(), "source": found.source.kind(), "seals": list}),
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}: {} seal{} in {source}",
        args.path.display(),
        seals.len(),
        if seals.len() == 1 { "" } else { "s" }
    )?;
    for (number, record, manifest, signature) in &seals {
        writeln!(out)?;
        writeln!(out, "seal {number}: {}", manifest.action)?;
        writeln!(out, "  signer      {}", manifest.signer)?;
        writeln!(out, "  signature   {signature}")?;
        writeln!(
            out,
            "  created     {} (asserted by the signer)",
            format_time(manifest.created)?
        )?;
        if let Some(device) = &manifest.claims.device_id {
            writeln!(out, "  device      {device}")?;
        }
        if let Some(operator) = &manifest.claims.operator_id {
            writeln!(out, "  operator    {operator}")?;
        }
        match &manifest.pixels {
            Some(p) => {
                writeln!(out, "  pixels      {} ({})", p.digest, p.mode.name())?;
                writeln!(
                    out,
                    "              {}x{}, {} frame{}, {} bits, {}, tiles of {}",
                    p.descriptor.columns,
                    p.descriptor.rows,
                    p.frames.len(),
                    if p.frames.len() == 1 { "" } else { "s" },
                    p.descriptor.bits_allocated,
                    p.descriptor.photometric_interpretation,
                    p.tile_size
                )?;
            }
            None => writeln!(out, "  pixels      none")?,
        }
        let key_count = manifest
            .attributes
            .iter()
            .filter(|(id, _)| AttributeId::decode(id).is_some_and(|id| id.is_key()))
            .count();
        writeln!(
            out,
            "  attributes  {} committed ({key_count} key attributes), {} salts beside the seal",
            manifest.attributes.len(),
            record.salts.len()
        )?;
        match &manifest.predecessor {
            Some(digest) => writeln!(out, "  follows     {digest}")?,
            None => writeln!(out, "  follows     nothing (first seal)")?,
        }
        if let Some(map) = &manifest.deidentification {
            use scanseal_seal::AttributeAction as A;
            let options = if map.options.is_empty() {
                String::new()
            } else {
                format!(" with {}", map.options.join(", "))
            };
            writeln!(
                out,
                "  profile     {}{options}: {} kept, {} removed, {} replaced, {} added",
                map.profile,
                map.count(|a| a == A::Kept),
                map.count(|a| a == A::Removed),
                map.count(A::is_replacement),
                map.count(|a| a == A::Added),
            )?;
        }
        writeln!(out, "  envelope    sha256 {}", record.envelope_digest())?;
    }
    Ok(ExitCode::SUCCESS)
}
