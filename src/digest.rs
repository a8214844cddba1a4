//! Output of `scanseal digest`.

use std::io::Write;
use std::path::Path;

use scanseal_canon::{canonicalize, CanonError, CanonOptions, Canonical, DicomInstance};
use serde_json::{json, Value};

/// What `digest` reports for one file.
pub struct DigestReport {
    canonical: Canonical,
    /// Per attribute, the commitment under a seed-derived salt.
    commitments: Option<Vec<String>>,
    with_tiles: bool,
}

pub fn digest_file(
    path: &Path,
    options: &CanonOptions,
    seed: Option<&[u8]>,
    with_tiles: bool,
) -> Result<DigestReport, CanonError> {
    let instance = DicomInstance::open(path)?;
    let canonical = canonicalize(&instance, options)?;
    let commitments = match seed {
        Some(seed) => Some(
            canonical
                .attributes
                .iter()
                .map(|a| Ok(a.commit(&a.derived_salt(seed)?).to_hex()))
                .collect::<Result<Vec<_>, CanonError>>()?,
        ),
        None => None,
    };
    Ok(DigestReport {
        canonical,
        commitments,
        with_tiles,
    })
}

pub fn to_json(path: &Path, report: &Result<DigestReport, CanonError>) -> Value {
    let path = path.display().to_string();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            return json!({ "path": path, "error": error.to_string(), "error_kind": error.kind() })
        }
    };
    let canonical = &report.canonical;
    let pixels = canonical.pixels.as_ref();
    let descriptor = pixels.map(|p| {
        let d = &p.descriptor;
        json!({
            "rows": d.rows,
            "columns": d.columns,
            "samples_per_pixel": d.samples_per_pixel,
            "bits_allocated": d.bits_allocated,
            "bits_stored": d.bits_stored,
            "high_bit": d.high_bit,
            "pixel_representation": d.pixel_representation,
            "photometric_interpretation": d.photometric_interpretation,
            "number_of_frames": d.number_of_frames,
            "sample_format": d.sample_format.name(),
        })
    });
    let attributes: Vec<Value> = canonical
        .attributes
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let mut entry = json!({
                "id": a.id.key(),
                "tag": format!("({:04X},{:04X})", a.tag.0, a.tag.1),
                "keyword": a.keyword().unwrap_or(""),
                "vr": a.vr.to_string(),
                "key": a.key,
                "canonical_length": a.canonical_len(),
            });
            if let scanseal_canon::AttributeId::Private { creator, .. } = &a.id {
                entry["private_creator"] = json!(creator);
            }
            if let Some(commitment) = report.commitments.as_ref().and_then(|c| c.get(index)) {
                entry["commitment"] = json!(commitment);
            }
            entry
        })
        .collect();
    let mut out = json!({
        "path": path,
        "canon_version": scanseal_canon::CANON_VERSION,
        "transfer_syntax": canonical.transfer_syntax,
        "pixel_mode": canonical.pixel_mode().name(),
        "pixel_digest": pixels.map(|p| p.digest.to_hex()),
        "descriptor": descriptor,
        "tile_size": pixels.map(|p| p.tile_size),
        "frames": pixels.map(|p| p.frames.len()).unwrap_or(0),
        "tiles": pixels.map(|p| p.tile_count()).unwrap_or(0),
        "frame_digests": pixels.map(|p| p.frames.iter().map(|f| f.digest.to_hex()).collect::<Vec<_>>()).unwrap_or_default(),
        "key_attributes": scanseal_canon::KEY_ATTRIBUTES_VERSION,
        "attributes": attributes,
    });
    if report.with_tiles {
        out["tile_digests"] = json!(pixels
            .map(|p| p
                .frames
                .iter()
                .map(|f| f.tiles.iter().map(|t| t.to_hex()).collect::<Vec<_>>())
                .collect::<Vec<_>>())
            .unwrap_or_default());
    }
    out
}

pub fn write_text(
    out: &mut impl Write,
    path: &Path,
    report: &Result<DigestReport, CanonError>,
) -> std::io::Result<()> {
    let report = match report {
        Ok(report) => report,
        Err(error) => return writeln!(out, "{}: ERROR {error}", path.display()),
    };
    let canonical = &report.canonical;
    writeln!(out, "{}", path.display())?;
    writeln!(out, "  transfer syntax  {}", canonical.transfer_syntax)?;
    match &canonical.pixels {
        Some(p) => {
            let d = &p.descriptor;
            writeln!(out, "  pixel digest     {}", p.digest)?;
            writeln!(out, "  pixel mode       {}", p.mode.name())?;
            writeln!(
                out,
                "  descriptor       {}x{} {} spp={} bits {}/{}/{} {} {} frame(s) {}",
                d.columns,
                d.rows,
                d.photometric_interpretation,
                d.samples_per_pixel,
                d.bits_allocated,
                d.bits_stored,
                d.high_bit,
                if d.pixel_representation == 1 {
                    "signed"
                } else {
                    "unsigned"
                },
                d.number_of_frames,
                d.sample_format.name(),
            )?;
            writeln!(
                out,
                "  frames / tiles   {} / {} (tile size {})",
                p.frames.len(),
                p.tile_count(),
                p.tile_size
            )?;
        }
        None => writeln!(out, "  pixel mode       none (no pixel data: header only)")?,
    }
    writeln!(out, "  attributes       {}", canonical.attributes.len())?;
    for (index, a) in canonical.attributes.iter().enumerate() {
        let commitment = report
            .commitments
            .as_ref()
            .and_then(|c| c.get(index))
            .map(|c| format!("  {c}"))
            .unwrap_or_default();
        writeln!(
            out,
            "    {:<28} {:<34} {} {:>6}{}{}",
            a.id.to_string(),
            a.keyword().unwrap_or("-"),
            a.vr.to_string(),
            a.canonical_len(),
            if a.key { " key" } else { "    " },
            commitment
        )?;
    }
    Ok(())
}
