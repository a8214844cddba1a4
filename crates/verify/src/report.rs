//! The verification report: verdict, reason, signer and findings (JSON field names are a
//! contract: `spec/seal-format.md` §7).

use std::fmt;
use std::path::Path;

use serde::Serialize;

/// The outcome of verifying one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The pixels and every attribute are as sealed.
    #[serde(rename = "INTACT")]
    Intact,
    /// Pixels and key attributes as sealed; some other attribute changed, added or removed.
    #[serde(rename = "MODIFIED")]
    Modified,
    /// The pixels or a key attribute changed, or a key attribute was added or removed.
    #[serde(rename = "ALTERED")]
    Altered,
    /// No seal.
    #[serde(rename = "UNSIGNED")]
    Unsigned,
    /// A well-formed seal whose signer is not trusted: unknown key, revoked, outside its
    /// validity window or trusted for another role.
    #[serde(rename = "UNTRUSTED")]
    Untrusted,
    /// A malformed or forged seal.
    #[serde(rename = "INVALID")]
    Invalid,
    /// The file could not be read.
    #[serde(rename = "ERROR")]
    Error,
}

impl Verdict {
    /// The verdict word.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Intact => "INTACT",
            Verdict::Modified => "MODIFIED",
            Verdict::Altered => "ALTERED",
            Verdict::Unsigned => "UNSIGNED",
            Verdict::Untrusted => "UNTRUSTED",
            Verdict::Invalid => "INVALID",
            Verdict::Error => "ERROR",
        }
    }

    /// Whether the verdict passes: `INTACT`, and `MODIFIED` unless `strict`.
    pub fn passes(self, strict: bool) -> bool {
        match self {
            Verdict::Intact => true,
            Verdict::Modified => !strict,
            _ => false,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who signed a seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The key id (32 hex digits).
    pub key_id: String,
    /// The key's name in the trust store, if it is there.
    pub name: Option<String>,
    /// Its role in the trust store, if it is there.
    pub role: Option<String>,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "key {}", self.key_id),
        }
    }
}

/// One seal of the chain, as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// `acquired`, `countersigned` or `deidentified`.
    pub action: String,
    /// The signer.
    pub signer: Signer,
    /// The signer-asserted creation time.
    pub created: String,
    /// SHA-256 of the envelope.
    pub envelope_sha256: String,
    /// The trust decision: `trusted`, `unknown`, `wrong-role`, `revoked`, `not-yet-valid`,
    /// `expired`.
    pub trust: String,
    /// Signer claim: device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims_device_id: Option<String>,
    /// Signer claim: operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims_operator_id: Option<String>,
}

/// An attribute named in a finding: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeRef {
    /// `(GGGG,EEEE)`, or `(GGGG,"creator",XX)` for a private attribute.
    pub tag: String,
    /// The standard keyword, when there is one.
    pub keyword: Option<String>,
    /// Whether it is in `key-attributes-v1`.
    pub key: bool,
}

impl AttributeRef {
    /// The keyword, or the tag when the attribute has none (private attributes).
    pub fn name(&self) -> String {
        self.keyword.clone().unwrap_or_else(|| self.tag.clone())
    }
}

impl fmt::Display for AttributeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keyword {
            Some(keyword) => write!(f, "{keyword} {}", self.tag),
            None => write!(f, "{}", self.tag),
        }
    }
}

/// A tile of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TileRef {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// One frame whose pixels changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameChange {
    /// Frame number, 1-based as in DICOM.
    pub frame: u32,
    /// The tiles whose digests differ (empty when tiles cannot be compared, e.g. in
    /// `encoded-frames` mode: then the whole frame counts as changed).
    pub tiles: Vec<TileRef>,
    /// Share of the frame's area those tiles cover, 0..=1.
    pub area_fraction: f64,
}

impl FrameChange {
    /// The smallest rectangle holding every changed tile, `None` when the tiles are unknown.
    pub fn bounds(&self) -> Option<TileRef> {
        let left = self.tiles.iter().map(|t| t.x).min()?;
        let top = self.tiles.iter().map(|t| t.y).min()?;
        let right = self
            .tiles
            .iter()
            .map(|t| t.x.saturating_add(t.width))
            .max()?;
        let bottom = self
            .tiles
            .iter()
            .map(|t| t.y.saturating_add(t.height))
            .max()?;
        Some(TileRef {
            x: left,
            y: top,
            width: right - left,
            height: bottom - top,
        })
    }
}

/// `frame 3 (4 tiles, 1.6% of its area, within x 128-255, y 64-191)`.
impl fmt::Display for FrameChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bounds() {
            None => write!(f, "frame {} (not located within the frame)", self.frame),
            Some(bounds) => write!(
                f,
                "frame {} ({} tile{}, {} of its area, within x {}-{}, y {}-{})",
                self.frame,
                self.tiles.len(),
                if self.tiles.len() == 1 { "" } else { "s" },
                percent(self.area_fraction),
                bounds.x,
                bounds.x + bounds.width.saturating_sub(1),
                bounds.y,
                bounds.y + bounds.height.saturating_sub(1),
            ),
        }
    }
}

/// A share as a percentage a person reads at a glance: never "0%" for a non-zero share.
fn percent(fraction: f64) -> String {
    let value = fraction * 100.0;
    if value > 0.0 && value < 0.1 {
        "<0.1%".to_string()
    } else if value < 10.0 {
        format!("{value:.1}%")
    } else {
        format!("{value:.0}%")
    }
}

/// What differs between the file and its newest seal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Pixel samples changed in these frames.
    PixelsChanged {
        /// The frames.
        frames: Vec<FrameChange>,
    },
    /// The pixel descriptor changed (size, frames, bit depth, photometric, ...).
    PixelDescriptorChanged {
        /// `field: sealed → now` per changed field.
        changes: Vec<String>,
    },
    /// The pixel mode changed (e.g. a lossless file re-encoded lossily).
    PixelModeChanged {
        /// Mode when sealed.
        sealed: String,
        /// Mode now.
        now: String,
    },
    /// The file has pixels; the seal has none.
    PixelsAdded,
    /// The seal has pixels; the file has none.
    PixelsRemoved,
    /// An attribute's value differs from its commitment.
    AttributeChanged {
        /// The attribute.
        #[serde(flatten)]
        attribute: AttributeRef,
    },
    /// An attribute is in the file but not in the seal.
    AttributeAdded {
        /// The attribute.
        #[serde(flatten)]
        attribute: AttributeRef,
    },
    /// An attribute is in the seal but not in the file.
    AttributeRemoved {
        /// The attribute.
        #[serde(flatten)]
        attribute: AttributeRef,
    },
    /// An attribute is in the file and committed to by the seal, but its salt was withheld,
    /// so it cannot be checked.
    AttributeUncheckable {
        /// The attribute.
        #[serde(flatten)]
        attribute: AttributeRef,
    },
    /// An item of this top-level sequence holds elements of a `SCANSEAL 1` block: the
    /// canonical form excludes them, so no seal covers them (seal-format B5). Sealers refuse
    /// such files, so the block was put there after sealing.
    SealBlockInItem {
        /// The top-level attribute holding it.
        #[serde(flatten)]
        attribute: AttributeRef,
    },
}

impl Finding {
    /// Whether this finding makes the verdict `ALTERED` (pixels, or a key attribute).
    pub fn is_alteration(&self) -> bool {
        match self {
            Finding::PixelsChanged { .. }
            | Finding::PixelDescriptorChanged { .. }
            | Finding::PixelModeChanged { .. }
            | Finding::PixelsAdded
            | Finding::PixelsRemoved => true,
            Finding::AttributeChanged { attribute }
            | Finding::AttributeAdded { attribute }
            | Finding::AttributeRemoved { attribute }
            | Finding::AttributeUncheckable { attribute }
            | Finding::SealBlockInItem { attribute } => attribute.key,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::PixelsChanged { frames } => match frames.as_slice() {
                [frame] => write!(f, "pixels changed in {frame}"),
                _ => {
                    let tiles: usize = frames.iter().map(|frame| frame.tiles.len()).sum();
                    let list: Vec<String> =
                        frames.iter().take(5).map(|c| c.frame.to_string()).collect();
                    let more = if frames.len() > 5 { ", ..." } else { "" };
                    write!(
                        f,
                        "pixels changed in {} frames ({}{more}), {tiles} tile{}",
                        frames.len(),
                        list.join(", "),
                        if tiles == 1 { "" } else { "s" }
                    )
                }
            },
            Finding::PixelDescriptorChanged { changes } => {
                write!(f, "pixel descriptor changed: {}", changes.join(", "))
            }
            Finding::PixelModeChanged { sealed, now } => {
                write!(f, "pixel mode changed from {sealed} to {now}")
            }
            Finding::PixelsAdded => f.write_str("pixel data added"),
            Finding::PixelsRemoved => f.write_str("pixel data removed"),
            Finding::AttributeChanged { attribute } => write!(f, "{attribute} changed"),
            Finding::AttributeAdded { attribute } => write!(f, "{attribute} added"),
            Finding::AttributeRemoved { attribute } => write!(f, "{attribute} removed"),
            Finding::AttributeUncheckable { attribute } => {
                write!(f, "{attribute} cannot be checked (salt withheld)")
            }
            Finding::SealBlockInItem { attribute } => write!(
                f,
                "an item of {attribute} holds a seal block, which no seal covers"
            ),
        }
    }
}

/// The report on one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The file.
    pub path: String,
    /// The verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The newest seal's signer.
    pub signer: Option<Signer>,
    /// The newest seal's creation time (signer-asserted), `YYYY-MM-DDTHH:MM:SSZ`.
    pub sealed_at: Option<String>,
    /// `embedded` or `sidecar`.
    pub seal_source: Option<String>,
    /// The sidecar's path when the seal came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<String>,
    /// How many attribute commitments the newest seal holds.
    pub attributes_checked: usize,
    /// What differs from the newest seal.
    pub findings: Vec<Finding>,
    /// The seals, oldest first.
    pub chain: Vec<ChainLink>,
    /// What the ledger says, when one was consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerCheck>,
    /// Pictures of the altered frames, when asked for (`scanseal verify --png`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pictures: Vec<PictureRef>,
    /// What the newest de-identification seal of the chain did (spec/deidentification.md),
    /// when the chain has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deidentification: Option<DeidentificationReport>,
}

/// A de-identification seal's account of what it did, by attribute name only: a withheld or
/// replaced attribute is named by its keyword (or tag), never by a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeidentificationReport {
    /// Who de-identified (the de-identification seal's signer).
    pub signer: Signer,
    /// When, as the de-identification seal asserts.
    pub created: String,
    /// The profile: `basic`.
    pub profile: String,
    /// The PS3.15 Table E.1-1 options applied.
    pub options: Vec<String>,
    /// How many attributes were kept unchanged (and are covered by the acquisition seal's
    /// commitments).
    pub kept: usize,
    /// Removed attributes, by keyword (or tag).
    pub withheld: Vec<String>,
    /// Attributes present with a new value, and how it was made.
    pub replaced: Vec<ReplacedAttribute>,
    /// Attributes the de-identification added.
    pub added: Vec<String>,
}

impl DeidentificationReport {
    /// "the Basic Profile", with its options if any.
    pub fn profile_text(&self) -> String {
        let profile = match self.profile.as_str() {
            "basic" => "the Basic Profile".to_string(),
            other => format!("profile {other}"),
        };
        if self.options.is_empty() {
            profile
        } else {
            format!("{profile} with options {}", self.options.join(", "))
        }
    }
}

/// An attribute that a de-identification replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplacedAttribute {
    /// Keyword (or tag).
    pub attribute: String,
    /// `emptied`, `dummy`, `cleaned`, `uid-replaced`, `dates-shifted` or
    /// `items-deidentified`.
    pub action: String,
}

/// A picture of one altered frame (spec/report.md §4), or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PictureRef {
    /// Frame number, 1-based.
    pub frame: u32,
    /// Where the PNG was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Why no picture could be made (e.g. a lossy frame, which scanseal does not decode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of looking a file up in a ledger (spec/ledger.md; `verify --ledger`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerCheck {
    /// `recorded` (the file's newest seal is in the ledger), `not-recorded` (it is not),
    /// `pixels-match` (no seal; the pixels match an entry), `pixels-differ` (no seal; the
    /// instance is in the ledger but its pixels differ), `not-comparable` (no seal; the
    /// instance is in the ledger but its pixels cannot be compared), `not-found` (no seal and
    /// nothing in the ledger), `error` (the ledger could not be read).
    pub status: String,
    /// How the entry was found: `envelope`, `instance` (SOP Instance UID) or `pixels`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// The entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<LedgerEntryRef>,
    /// A sentence for a person.
    pub message: String,
}

/// A ledger entry as a report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntryRef {
    /// Sequence number (0-based).
    pub seq: u64,
    /// `acquired`, `countersigned` or `deidentified`.
    pub kind: String,
    /// When the ledger recorded it.
    pub recorded: String,
    /// The seal's signer.
    pub signer: Signer,
    /// SHA-256 of the seal envelope, hex.
    pub envelope_sha256: String,
    /// The tree size of the largest checkpoint stored in the ledger that includes this entry,
    /// is signed by a key the trust store trusts now for the `ledger` role, and whose
    /// inclusion proof verifies; `null` when none does. A row without one is only the
    /// database's own claim: anyone who can write the file can append rows, but not sign a
    /// checkpoint.
    pub checkpoint: Option<u64>,
}

impl Report {
    /// An empty report on `path`, verdict `ERROR` until concluded.
    pub fn new(path: &Path) -> Report {
        Report {
            path: path.display().to_string(),
            verdict: Verdict::Error,
            reason: String::new(),
            signer: None,
            sealed_at: None,
            seal_source: None,
            sidecar: None,
            attributes_checked: 0,
            findings: Vec::new(),
            chain: Vec::new(),
            ledger: None,
            pictures: Vec::new(),
            deidentification: None,
        }
    }

    pub(crate) fn conclude(mut self, verdict: Verdict, reason: String) -> Report {
        self.verdict = verdict;
        self.reason = reason;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(x: u32, y: u32, width: u32, height: u32) -> TileRef {
        TileRef {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn a_frame_change_says_where_in_words() {
        let change = FrameChange {
            frame: 3,
            tiles: vec![tile(128, 64, 64, 64), tile(192, 128, 64, 64)],
            area_fraction: 8192.0 / 262144.0,
        };
        assert_eq!(change.bounds(), Some(tile(128, 64, 128, 128)));
        assert_eq!(
            change.to_string(),
            "frame 3 (2 tiles, 3.1% of its area, within x 128-255, y 64-191)"
        );
        let unlocated = FrameChange {
            frame: 1,
            tiles: Vec::new(),
            area_fraction: 1.0,
        };
        assert_eq!(unlocated.bounds(), None);
        assert_eq!(
            unlocated.to_string(),
            "frame 1 (not located within the frame)"
        );
        let tiny = FrameChange {
            frame: 2,
            tiles: vec![tile(0, 0, 1, 1)],
            area_fraction: 1.0 / 1_000_000.0,
        };
        assert_eq!(
            tiny.to_string(),
            "frame 2 (1 tile, <0.1% of its area, within x 0-0, y 0-0)"
        );
    }

    #[test]
    fn several_frames_are_listed_with_their_tile_count() {
        let frame = |number| FrameChange {
            frame: number,
            tiles: vec![tile(0, 0, 8, 8)],
            area_fraction: 0.01,
        };
        let finding = Finding::PixelsChanged {
            frames: (1..=7).map(frame).collect(),
        };
        assert_eq!(
            finding.to_string(),
            "pixels changed in 7 frames (1, 2, 3, 4, 5, ...), 7 tiles"
        );
        let one = Finding::PixelsChanged {
            frames: vec![frame(4)],
        };
        assert!(one
            .to_string()
            .starts_with("pixels changed in frame 4 (1 tile, 1.0%"));
    }
}
