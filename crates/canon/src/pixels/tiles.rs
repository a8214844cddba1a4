//! Tiles and frame digests (spec §4.3).

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::descriptor::PixelDescriptor;
use crate::digest::TILE_PREFIX;
use crate::Digest;

/// The position and size of one tile in a frame, in pixels (C4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels (smaller than the tile size at the right edge).
    pub width: u32,
    /// Height in pixels (smaller than the tile size at the bottom edge).
    pub height: u32,
}

/// The tiles of one frame in row-major tile order (C4.3.1).
pub fn tile_rects(rows: u32, columns: u32, tile_size: u32) -> Vec<TileRect> {
    let mut rects = Vec::new();
    if tile_size == 0 {
        return rects;
    }
    let mut y = 0;
    while y < rows {
        let height = tile_size.min(rows - y);
        let mut x = 0;
        while x < columns {
            let width = tile_size.min(columns - x);
            rects.push(TileRect {
                x,
                y,
                width,
                height,
            });
            x = x.saturating_add(tile_size);
        }
        y = y.saturating_add(tile_size);
    }
    rects
}

/// Tile digests `TILE(f, i, j)` (C4.3.2) of a frame's canonical samples.
///
/// The tiles are hashed in parallel on the current rayon pool (the caller's `--threads`), so
/// one large frame uses every worker.
pub fn tile_digests(
    frame_index: u32,
    canonical: &[u8],
    descriptor: &PixelDescriptor,
    tile_size: u32,
) -> Vec<Digest> {
    let pixel_bytes = descriptor.samples_per_pixel as usize * descriptor.sample_width();
    let stride = descriptor.columns as usize * pixel_bytes;
    let rects = tile_rects(descriptor.rows, descriptor.columns, tile_size);
    // Tiles of a few kilobytes: enough of them per task that scheduling does not show.
    rects
        .par_iter()
        .with_min_len(16)
        .map_init(Vec::new, |gathered, rect| {
            // The tile's rows are gathered into one buffer (hot in cache) and hashed in one
            // call, rather than one `update` per row: rows of 128 bytes would each leave a
            // partial block for the hasher to buffer.
            gathered.clear();
            gathered.extend_from_slice(TILE_PREFIX);
            for field in [frame_index, rect.x, rect.y, rect.width, rect.height] {
                gathered.extend_from_slice(&field.to_le_bytes());
            }
            let row_start = rect.x as usize * pixel_bytes;
            let row_len = rect.width as usize * pixel_bytes;
            for row in rect.y as usize..(rect.y + rect.height) as usize {
                let start = row * stride + row_start;
                gathered.extend_from_slice(&canonical[start..start + row_len]);
            }
            Digest(Sha256::digest(gathered.as_slice()).into())
        })
        .collect()
}
