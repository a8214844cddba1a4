//! The scanseal canonical form, `canon-v1` (normative text: `spec/canonical-form.md`).
//!
//! Reduces a DICOM instance to what a seal signs:
//! - a **pixel digest** over the *decoded* samples, cut into tiles whose digests form a Merkle
//!   tree per frame, so that any lossless re-encoding (Implicit VR, Big Endian, Deflated, RLE,
//!   JPEG Lossless, JPEG-LS Lossless, JPEG 2000 Lossless) gives the same digest and an altered
//!   region can later be located; for lossy transfer syntaxes, the stored frames' bytes;
//! - the **canonical attribute list**: every header attribute's value decoded to an encoding-,
//!   byte-order-, character-set- and private-block-independent form, ready to be committed to
//!   with a per-attribute salt so that a commitment reveals nothing about the value.
//!
//! For display (the forensic picture), [`DicomInstance::frame_samples`] gives one frame's
//! canonical samples — exactly what the tile digests hash — and
//! [`DicomInstance::numeric_values`] / [`DicomInstance::text_value`] read header values such as
//! the VOI window; lossy frames (`encoded-frames` mode) are hashed as stored and never decoded.
//!
//! It does **not** sign, verify, store seals or talk to a network; it does not modify files.
//! It decodes pixels through the dicom-rs transfer-syntax-registry codecs (RLE, JPEG via
//! jpeg-decoder, JPEG 2000 via OpenJPEG's Rust port, JPEG-LS via CharLS), one frame at a time.
//!
//! ```no_run
//! use scanseal_canon::{canonicalize, CanonOptions, DicomInstance};
//!
//! let instance = DicomInstance::open(std::path::Path::new("CT_small.dcm"))?;
//! let canonical = canonicalize(&instance, &CanonOptions::new())?;
//! if let Some(pixels) = &canonical.pixels {
//!     println!("pixel digest {} ({} frames)", pixels.digest, pixels.frames.len());
//! }
//! for attribute in &canonical.attributes {
//!     println!("{} {:?} {} bytes", attribute.id, attribute.keyword(), attribute.canonical_len());
//! }
//! Ok::<_, scanseal_canon::CanonError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attributes;
mod charset;
mod digest;
mod error;
mod key_attributes;
mod merkle;
pub mod pixels;
mod read;
mod transfer;
mod values;
#[cfg(test)]
mod vectors;
mod write;

pub use attributes::{AttributeId, CanonicalAttribute, ValueClass, SEAL_PRIVATE_CREATOR};
pub use digest::{
    Digest, Salt, ATTRIBUTE_PREFIX, ENCODED_FRAME_PREFIX, PIXEL_PREFIX, SALT_PREFIX, TILE_PREFIX,
};
pub use error::CanonError;
pub use key_attributes::{is_key_attribute, KEY_ATTRIBUTES_V1, KEY_ATTRIBUTES_VERSION};
pub use merkle::{merkle_root, merkle_tree_hash};
pub use pixels::{
    pixel_digest, CanonicalPixels, FrameDigest, FrameSamples, PixelDescriptor, SampleFormat,
};
pub use read::{
    DataSet, DicomInstance, Element, ElementValue, Encapsulated, FileSpan, IN_FILE_MIN_LEN,
    MAX_NESTING,
};
pub use transfer::PixelMode;
pub use write::FileMeta;

/// The version of the canonical form this crate implements.
pub const CANON_VERSION: &str = "canon-v1";

/// The default tile size (C4.3.1).
pub const DEFAULT_TILE_SIZE: u32 = 64;

/// Options of [`canonicalize`].
#[derive(Debug, Clone)]
pub struct CanonOptions {
    tile_size: u32,
}

impl CanonOptions {
    /// Default options: tiles of 64 × 64 pixels.
    pub fn new() -> CanonOptions {
        CanonOptions {
            tile_size: DEFAULT_TILE_SIZE,
        }
    }

    /// Sets the tile size (1..=65535). Smaller tiles locate alterations more precisely and
    /// cost one 32-byte digest each in a seal's tile list.
    pub fn tile_size(mut self, tile_size: u32) -> CanonOptions {
        self.tile_size = tile_size;
        self
    }
}

impl Default for CanonOptions {
    fn default() -> Self {
        CanonOptions::new()
    }
}

/// The canonical form of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// The Transfer Syntax UID the instance was read in.
    pub transfer_syntax: String,
    /// The canonical pixels, or `None` for an instance without pixel data (mode `none`).
    pub pixels: Option<CanonicalPixels>,
    /// The top-level canonical attributes in canonical order (C5.2.3).
    pub attributes: Vec<CanonicalAttribute>,
}

impl Canonical {
    /// The pixel mode (`none` when there are no pixels).
    pub fn pixel_mode(&self) -> PixelMode {
        self.pixels
            .as_ref()
            .map(|p| p.mode)
            .unwrap_or(PixelMode::None)
    }
}

/// Computes the canonical form of `instance`.
///
/// # Errors
/// Any [`CanonError`] naming why the instance cannot be canonicalized: an unsupported
/// transfer syntax for its pixels, a missing or invalid pixel attribute, pixel data shorter
/// than its descriptor, a frame that does not decode, a malformed value.
pub fn canonicalize(
    instance: &DicomInstance,
    options: &CanonOptions,
) -> Result<Canonical, CanonError> {
    let transfer_syntax = instance.transfer_syntax().to_string();
    let has_pixels = pixels::has_pixels(&instance.dataset);
    let pixels = pixels::canonical_pixels(&transfer_syntax, &instance.dataset, options.tile_size)?;
    let canonicalizer = attributes::AttributeCanonicalizer::new(instance.is_big_endian());
    let attributes = canonicalizer.top_level(&instance.dataset, has_pixels)?;
    Ok(Canonical {
        transfer_syntax,
        pixels,
        attributes,
    })
}
