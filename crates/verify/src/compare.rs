//! Comparing a file's canonical form with a seal's manifest.

use std::collections::BTreeMap;

use scanseal_canon::{AttributeId, Canonical, CanonicalPixels, PixelDescriptor};
use scanseal_seal::{Manifest, PixelManifest, SealRecord};

use crate::report::{AttributeRef, Finding, FrameChange, Report, TileRef, Verdict};

/// Everything that differs between `canonical` and the manifest, pixels first.
pub(crate) fn compare(
    manifest: &Manifest,
    record: &SealRecord,
    canonical: &Canonical,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    match (&manifest.pixels, &canonical.pixels) {
        (None, None) => {}
        (Some(_), None) => findings.push(Finding::PixelsRemoved),
        (None, Some(_)) => findings.push(Finding::PixelsAdded),
        (Some(sealed), Some(now)) => compare_pixels(sealed, now, record, &mut findings),
    }

    let present: BTreeMap<Vec<u8>, &scanseal_canon::CanonicalAttribute> = canonical
        .attributes
        .iter()
        .filter_map(|attribute| attribute.id.encode().ok().map(|id| (id, attribute)))
        .collect();
    let mut sealed_ids = std::collections::BTreeSet::new();
    for (id, commitment) in &manifest.attributes {
        sealed_ids.insert(id.clone());
        let attribute = attribute_ref(id);
        match present.get(id) {
            None => findings.push(Finding::AttributeRemoved { attribute }),
            Some(now) => match record.salt(id) {
                Some(salt) => {
                    if now.commit(salt) != *commitment {
                        findings.push(Finding::AttributeChanged { attribute });
                    }
                }
                None => findings.push(Finding::AttributeUncheckable { attribute }),
            },
        }
    }
    for id in present.keys() {
        if !sealed_ids.contains(id) {
            findings.push(Finding::AttributeAdded {
                attribute: attribute_ref(id),
            });
        }
    }
    for (id, attribute) in &present {
        if attribute.holds_seal_block {
            findings.push(Finding::SealBlockInItem {
                attribute: attribute_ref(id),
            });
        }
    }
    findings
}

fn compare_pixels(
    sealed: &PixelManifest,
    now: &CanonicalPixels,
    record: &SealRecord,
    findings: &mut Vec<Finding>,
) {
    if sealed.digest == now.digest {
        return;
    }
    if sealed.mode != now.mode {
        findings.push(Finding::PixelModeChanged {
            sealed: sealed.mode.name().to_string(),
            now: now.mode.name().to_string(),
        });
        return;
    }
    let changes = descriptor_changes(&sealed.descriptor, &now.descriptor);
    if !changes.is_empty() {
        findings.push(Finding::PixelDescriptorChanged { changes });
        return;
    }
    let d = &now.descriptor;
    let mut frames = Vec::new();
    for (index, (sealed_frame, now_frame)) in sealed.frames.iter().zip(&now.frames).enumerate() {
        if *sealed_frame == now_frame.digest {
            continue;
        }
        let frame = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let sealed_tiles = record.tiles.get(index);
        let tiles: Vec<TileRef> = match sealed_tiles {
            Some(sealed_tiles)
                if sealed.tile_size > 0 && sealed_tiles.len() == now_frame.tiles.len() =>
            {
                sealed_tiles
                    .iter()
                    .zip(&now_frame.tiles)
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .map(|(tile, _)| tile_rect(d.rows, d.columns, sealed.tile_size, tile))
                    .collect()
            }
            _ => Vec::new(),
        };
        let area = f64::from(d.rows) * f64::from(d.columns);
        let area_fraction = if tiles.is_empty() || area == 0.0 {
            1.0
        } else {
            tiles
                .iter()
                .map(|t| f64::from(t.width) * f64::from(t.height))
                .sum::<f64>()
                / area
        };
        frames.push(FrameChange {
            frame,
            tiles,
            area_fraction,
        });
    }
    if frames.is_empty() {
        // Same frames, different digest: can only be a frame count or digest-input change
        // already reported; say the pixels changed without locating it.
        frames.push(FrameChange {
            frame: 1,
            tiles: Vec::new(),
            area_fraction: 1.0,
        });
    }
    findings.push(Finding::PixelsChanged { frames });
}

/// The rectangle of tile `index` (row-major, C4.3.1), computed rather than enumerated so
/// that a huge frame does not cost a list of every tile.
fn tile_rect(rows: u32, columns: u32, tile_size: u32, index: usize) -> TileRef {
    let per_row = columns.div_ceil(tile_size).max(1) as usize;
    let x = u32::try_from(index % per_row)
        .unwrap_or(0)
        .saturating_mul(tile_size);
    let y = u32::try_from(index / per_row)
        .unwrap_or(0)
        .saturating_mul(tile_size);
    TileRef {
        x,
        y,
        width: tile_size.min(columns.saturating_sub(x)),
        height: tile_size.min(rows.saturating_sub(y)),
    }
}

fn descriptor_changes(sealed: &PixelDescriptor, now: &PixelDescriptor) -> Vec<String> {
    type Field = fn(&PixelDescriptor) -> String;
    let fields: [(&str, Field); 10] = [
        ("rows", |d| d.rows.to_string()),
        ("columns", |d| d.columns.to_string()),
        ("samples_per_pixel", |d| d.samples_per_pixel.to_string()),
        ("bits_allocated", |d| d.bits_allocated.to_string()),
        ("bits_stored", |d| d.bits_stored.to_string()),
        ("high_bit", |d| d.high_bit.to_string()),
        ("pixel_representation", |d| {
            d.pixel_representation.to_string()
        }),
        ("photometric_interpretation", |d| {
            d.photometric_interpretation.clone()
        }),
        ("number_of_frames", |d| d.number_of_frames.to_string()),
        ("sample_format", |d| d.sample_format.name().to_string()),
    ];
    fields
        .iter()
        .filter_map(|(name, value)| {
            let (before, after) = (value(sealed), value(now));
            (before != after).then(|| format!("{name} {before} → {after}"))
        })
        .collect()
}

pub(crate) fn attribute_ref(id: &[u8]) -> AttributeRef {
    match AttributeId::decode(id) {
        Some(decoded) => AttributeRef {
            tag: decoded.to_string(),
            keyword: decoded.keyword().map(str::to_string),
            key: decoded.is_key(),
        },
        None => AttributeRef {
            tag: format!("id:{}", hex::encode(id)),
            keyword: None,
            key: false,
        },
    }
}

/// The content verdict and its one-line reason, for a seal whose signer is trusted.
pub(crate) fn content_verdict(findings: &[Finding], report: &Report) -> (Verdict, String) {
    let acquisition = report
        .chain
        .first()
        .map(|seal| format!("sealed by {} at {}", seal.signer, seal.created))
        .unwrap_or_else(|| "sealed".to_string());
    let signed_by = match (&report.deidentification, &report.signer, &report.sealed_at) {
        (Some(deid), _, _) => format!(
            "de-identified by {} at {} from a scan {acquisition}",
            deid.signer, deid.created
        ),
        (None, Some(signer), Some(at)) => format!("sealed by {signer} at {at}"),
        _ => "sealed".to_string(),
    };
    if findings.is_empty() {
        if let Some(deid) = &report.deidentification {
            return (
                Verdict::Intact,
                format!(
                    "pixels intact since acquisition ({acquisition}); de-identified by {} at {} \
                     under {}; {} attributes withheld, {} replaced; no other change",
                    deid.signer,
                    deid.created,
                    deid.profile_text(),
                    deid.withheld.len(),
                    deid.replaced.len()
                ),
            );
        }
        return (
            Verdict::Intact,
            format!(
                "{signed_by}; pixels and all {} attributes unchanged",
                report.attributes_checked
            ),
        );
    }
    let alterations: Vec<String> = findings
        .iter()
        .filter(|f| f.is_alteration())
        .map(ToString::to_string)
        .collect();
    if !alterations.is_empty() {
        return (
            Verdict::Altered,
            format!("{}; {signed_by}", summarize(&alterations)),
        );
    }
    let others: Vec<String> = findings.iter().map(ToString::to_string).collect();
    (
        Verdict::Modified,
        format!(
            "pixels and key attributes intact ({signed_by}); {}",
            summarize(&others)
        ),
    )
}

fn summarize(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > SHOWN {
        text.push_str(&format!("; and {} more", items.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use scanseal_canon::SampleFormat;

    fn descriptor() -> PixelDescriptor {
        PixelDescriptor {
            rows: 512,
            columns: 512,
            samples_per_pixel: 1,
            bits_allocated: 16,
            bits_stored: 12,
            high_bit: 11,
            pixel_representation: 0,
            photometric_interpretation: "MONOCHROME2".into(),
            number_of_frames: 1,
            sample_format: SampleFormat::Integer,
        }
    }

    #[test]
    fn descriptor_changes_name_only_the_fields_that_differ() {
        assert!(descriptor_changes(&descriptor(), &descriptor()).is_empty());
        let mut now = descriptor();
        now.rows = 256;
        now.photometric_interpretation = "MONOCHROME1".into();
        assert_eq!(
            descriptor_changes(&descriptor(), &now),
            vec![
                "rows 512 → 256".to_string(),
                "photometric_interpretation MONOCHROME2 → MONOCHROME1".to_string()
            ]
        );
    }

    #[test]
    fn tile_rectangles_are_clipped_at_the_right_and_bottom_edges() {
        // 100 x 70 (columns x rows) in tiles of 64: 2 tiles per row, 2 rows of tiles.
        assert_eq!(
            tile_rect(70, 100, 64, 3),
            TileRef {
                x: 64,
                y: 64,
                width: 36,
                height: 6
            }
        );
        assert_eq!(
            tile_rect(70, 100, 64, 0),
            TileRef {
                x: 0,
                y: 0,
                width: 64,
                height: 64
            }
        );
    }
}
