//! The one error type of this crate.

use scanseal_canon::CanonError;

/// Why a frame could not be rendered or a picture not encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The frame's samples could not be obtained (no pixel data, frame out of range, lossy
    /// frames, undecodable pixel data, ...).
    #[error("cannot render frame index {frame} (0-based): {source}")]
    Canon {
        /// The frame index asked for, 0-based.
        frame: u32,
        /// Why canon could not give its samples.
        #[source]
        source: CanonError,
    },
    /// The frame has more pixels than an RGB buffer can address on this machine.
    #[error("a frame of {columns} x {rows} pixels is too large to render")]
    TooLarge {
        /// Rows.
        rows: u32,
        /// Columns.
        columns: u32,
    },
    /// A [`crate::Picture`] whose fields disagree (built by hand rather than by
    /// [`crate::render_frame`]).
    #[error("the picture is inconsistent: {reason}")]
    InconsistentPicture {
        /// What disagrees.
        reason: String,
    },
    /// A PNG text chunk the caller asked for cannot be written as `tEXt` (PNG §11.3.4.3).
    #[error("cannot write PNG text chunk {keyword:?}: {reason}")]
    BadTextChunk {
        /// The keyword given.
        keyword: String,
        /// What is wrong with the keyword or the text.
        reason: &'static str,
    },
    /// The PNG encoder failed.
    #[error("cannot encode the PNG: {source}")]
    Png {
        /// The encoder's error.
        #[from]
        source: png::EncodingError,
    },
}
