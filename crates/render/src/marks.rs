//! Marking rectangles on a gray RGB picture, and how much of it they cover.

use crate::Rect;

/// The gray level a marked pixel of gray `g` is tinted to: `(128 + g/2, g/2, g/2)`, so that R
/// exceeds G by 128 whatever `g` is — a tinted pixel is never gray.
fn tint(gray: u8) -> [u8; 3] {
    let half = gray / 2;
    [128 + half, half, half]
}

/// The border colour, pure red.
const BORDER: [u8; 3] = [255, 0, 0];

impl Rect {
    /// This rectangle clipped to a frame of `width` × `height`, `None` when nothing is left.
    pub(crate) fn clipped(self, width: u32, height: u32) -> Option<Rect> {
        if self.x >= width || self.y >= height || self.width == 0 || self.height == 0 {
            return None;
        }
        Some(Rect {
            x: self.x,
            y: self.y,
            width: self.width.min(width - self.x),
            height: self.height.min(height - self.y),
        })
    }

    fn right(self) -> u64 {
        u64::from(self.x) + u64::from(self.width)
    }

    fn bottom(self) -> u64 {
        u64::from(self.y) + u64::from(self.height)
    }
}

/// Tints every pixel of the union of `marks` once, then draws each mark's 1-pixel inner border.
/// `rgb` is gray (R = G = B) on entry; `marks` are clipped to `width` × rows.
pub(crate) fn draw(rgb: &mut [u8], width: u32, marks: &[Rect]) {
    let width = width as usize;
    let mut paint = |x: u32, y: u32, colour: Option<[u8; 3]>| {
        let at = (y as usize * width + x as usize) * 3;
        if let Some(pixel) = rgb.get_mut(at..at + 3) {
            let colour = match colour {
                Some(colour) => colour,
                // Overlapping marks: a pixel already tinted (R ≠ G) keeps its tint, so that
                // overlaps look like any other marked pixel.
                None if pixel[0] == pixel[1] => tint(pixel[0]),
                None => return,
            };
            pixel.copy_from_slice(&colour);
        }
    };
    for mark in marks {
        for y in mark.y..mark.y + mark.height {
            for x in mark.x..mark.x + mark.width {
                paint(x, y, None);
            }
        }
    }
    for mark in marks {
        let (right, bottom) = (mark.x + mark.width - 1, mark.y + mark.height - 1);
        for x in mark.x..=right {
            paint(x, mark.y, Some(BORDER));
            paint(x, bottom, Some(BORDER));
        }
        for y in mark.y..=bottom {
            paint(mark.x, y, Some(BORDER));
            paint(right, y, Some(BORDER));
        }
    }
}

/// Pixels covered by the union of `marks` (overlaps counted once): the area between each pair
/// of consecutive distinct left/right edges, times the merged vertical extent of the marks
/// spanning it.
pub(crate) fn union_area(marks: &[Rect]) -> u64 {
    let mut edges: Vec<u64> = marks
        .iter()
        .flat_map(|m| [u64::from(m.x), m.right()])
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let mut area = 0u64;
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for slab in edges.windows(2) {
        let (left, right) = (slab[0], slab[1]);
        spans.clear();
        spans.extend(
            marks
                .iter()
                .filter(|m| u64::from(m.x) <= left && m.right() >= right)
                .map(|m| (u64::from(m.y), m.bottom())),
        );
        spans.sort_unstable();
        let mut covered = 0u64;
        let mut reach = 0u64;
        for &(top, bottom) in &spans {
            let start = top.max(reach);
            if bottom > start {
                covered += bottom - start;
            }
            reach = reach.max(bottom);
        }
        area += covered * (right - left);
    }
    area
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn tint_is_never_gray() {
        for g in 0..=255u8 {
            let [r, g2, b] = tint(g);
            assert_ne!(r, g2, "gray {g}");
            assert_eq!(g2, b);
        }
    }

    #[test]
    fn clipping_keeps_what_is_inside() {
        assert_eq!(rect(8, 8, 16, 16).clipped(20, 30), Some(rect(8, 8, 12, 16)));
        assert_eq!(rect(20, 0, 4, 4).clipped(20, 30), None);
        assert_eq!(rect(0, 0, 0, 4).clipped(20, 30), None);
        assert_eq!(
            rect(1, 2, u32::MAX, u32::MAX).clipped(20, 30),
            Some(rect(1, 2, 19, 28))
        );
    }

    #[test]
    fn union_area_counts_overlaps_once() {
        assert_eq!(union_area(&[]), 0);
        assert_eq!(union_area(&[rect(0, 0, 4, 4)]), 16);
        // Two 4×4 squares overlapping in a 2×2 corner; a third touching the first.
        assert_eq!(
            union_area(&[rect(0, 0, 4, 4), rect(2, 2, 4, 4), rect(4, 0, 2, 2)]),
            16 + 16 - 4 + 4
        );
        assert_eq!(union_area(&[rect(0, 0, 4, 4), rect(0, 0, 4, 4)]), 16);
    }

    #[test]
    fn draw_marks_only_the_rects() {
        let (width, height) = (10u32, 6u32);
        let mut rgb = vec![0u8; (width * height * 3) as usize];
        for (i, pixel) in rgb.chunks_exact_mut(3).enumerate() {
            pixel.fill((i * 4) as u8);
        }
        let marks = [rect(1, 1, 4, 3), rect(3, 2, 7, 4)];
        draw(&mut rgb, width, &marks);
        let inside = |x: u32, y: u32| {
            marks
                .iter()
                .any(|m| x >= m.x && x < m.x + m.width && y >= m.y && y < m.y + m.height)
        };
        for y in 0..height {
            for x in 0..width {
                let at = ((y * width + x) * 3) as usize;
                let pixel = &rgb[at..at + 3];
                let gray = pixel[0] == pixel[1] && pixel[1] == pixel[2];
                assert_eq!(!gray, inside(x, y), "pixel ({x}, {y}) = {pixel:?}");
            }
        }
        // Corners are border red; an interior pixel of the first mark is tinted.
        assert_eq!(
            &rgb[((width + 1) * 3) as usize..][..3],
            &BORDER,
            "corner (1, 1)"
        );
        let at = ((2 * width + 2) * 3) as usize;
        assert_eq!(&rgb[at..at + 3], &tint(((2 * width + 2) * 4) as u8));
    }
}
