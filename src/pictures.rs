//! `verify --png DIR`: a picture of every altered frame (spec/report.md §4).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use scanseal_canon::DicomInstance;
use scanseal_render::{render_frame, Rect};
use scanseal_verify::{Finding, PictureRef, Report};

use crate::atomic::{self, Existing};

/// Writes the pictures of one run into its directory, each name used once.
pub struct PictureWriter {
    dir: PathBuf,
    used: HashSet<PathBuf>,
}

impl PictureWriter {
    pub fn new(dir: &Path) -> Result<PictureWriter> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the picture directory {}", dir.display()))?;
        Ok(PictureWriter {
            dir: dir.to_path_buf(),
            used: HashSet::new(),
        })
    }

    /// Renders every frame `report` finds changed, into `DIR/<relative>.frame-<N>.png`. A
    /// frame that cannot be rendered is noted in its [`PictureRef`]; only a picture that
    /// cannot be written is an error.
    pub fn write(
        &mut self,
        report: &Report,
        input: &Path,
        relative: &Path,
    ) -> std::io::Result<Vec<PictureRef>> {
        let Some(frames) = report.findings.iter().find_map(|finding| match finding {
            Finding::PixelsChanged { frames } => Some(frames),
            _ => None,
        }) else {
            return Ok(Vec::new());
        };
        let instance = match DicomInstance::open(input) {
            Ok(instance) => instance,
            Err(e) => {
                return Ok(frames
                    .iter()
                    .map(|change| failed(change.frame, format!("cannot read the file: {e}")))
                    .collect())
            }
        };
        let mut pictures = Vec::with_capacity(frames.len());
        for change in frames {
            let marks: Vec<Rect> = if change.tiles.is_empty() {
                // Not located within the frame: the whole frame is marked.
                vec![Rect {
                    x: 0,
                    y: 0,
                    width: u32::MAX,
                    height: u32::MAX,
                }]
            } else {
                change
                    .tiles
                    .iter()
                    .map(|tile| Rect {
                        x: tile.x,
                        y: tile.y,
                        width: tile.width,
                        height: tile.height,
                    })
                    .collect()
            };
            let frame_index = change.frame.saturating_sub(1);
            let png = render_frame(&instance, frame_index, &marks).and_then(|picture| {
                let title = format!(
                    "scanseal verify: frame {} of {}",
                    change.frame,
                    input.display()
                );
                let verdict = format!("{} {}", report.verdict, report.reason);
                picture.to_png(&[("Title", &title), ("Comment", &verdict)])
            });
            let png = match png {
                Ok(png) => png,
                Err(e) => {
                    pictures.push(failed(change.frame, e.to_string()));
                    continue;
                }
            };
            let path = self.name(relative, change.frame);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            atomic::write_file(&path, &png, Existing::Replace)?;
            pictures.push(PictureRef {
                frame: change.frame,
                path: Some(path.display().to_string()),
                error: None,
            });
        }
        Ok(pictures)
    }

    fn name(&mut self, relative: &Path, frame: u32) -> PathBuf {
        let base = self.dir.join(relative);
        let stem = base.as_os_str().to_string_lossy().into_owned();
        let mut candidate = PathBuf::from(format!("{stem}.frame-{frame:04}.png"));
        let mut copy = 2;
        while !self.used.insert(candidate.clone()) {
            candidate = PathBuf::from(format!("{stem}-{copy}.frame-{frame:04}.png"));
            copy += 1;
        }
        candidate
    }
}

fn failed(frame: u32, error: String) -> PictureRef {
    PictureRef {
        frame,
        path: None,
        error: Some(error),
    }
}
