//! `scanseal verify`: one file or a whole archive (spec/report.md).

use std::io::{IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scanseal_trust::TrustStore;
use scanseal_verify::{
    verify_all, ArchiveInput, ArchiveOptions, DeidentificationReport, Finding, Report, Summary,
    Verified,
};

use crate::pictures::PictureWriter;
use crate::walk;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The trust store (see `scanseal trust`).
    #[arg(long, value_name = "STORE")]
    trust: PathBuf,
    /// One JSON object per file per line, then a summary object (spec/report.md).
    #[arg(long)]
    json: bool,
    /// Fail (exit 1) on MODIFIED too, not only on ALTERED and worse.
    #[arg(long)]
    strict: bool,
    /// Under each verdict line, one indented line per finding (text output).
    #[arg(long)]
    explain: bool,
    /// Write a PNG of every altered frame into DIR, the altered tiles tinted and outlined in
    /// red (DIR/<file>.frame-<N>.png).
    #[arg(long, value_name = "DIR")]
    png: Option<PathBuf>,
    /// Look for sidecars in DIR instead of next to each file: FILE.seal, or else the
    /// instance's KEY.seal as the gateway writes them.
    #[arg(long, value_name = "DIR")]
    sidecar_dir: Option<PathBuf>,
    /// Also look each file up in this ledger: a sealed file's seal must be recorded; a file
    /// without a seal is matched by SOP Instance UID or pixels (ALTERED if its pixels differ
    /// from what was sealed).
    #[arg(long, value_name = "DB")]
    ledger: Option<PathBuf>,
    /// Files verified at once (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<NonZeroUsize>,
    /// DICOM files or directories (recursed).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let trust = TrustStore::load(&args.trust)
        .with_context(|| format!("cannot use trust store {}", args.trust.display()))?;
    let mut pictures = match &args.png {
        Some(dir) => Some(PictureWriter::new(dir)?),
        None => None,
    };
    let listed = walk::expand(&args.paths);
    // An archive run (a directory, or several files) ends with a summary line in text too.
    let archive = listed.len() != 1 || args.paths.iter().any(|path| path.is_dir());
    // `relative` names pictures under --png: the path under its directory argument.
    let (inputs, relative): (Vec<ArchiveInput>, Vec<PathBuf>) = listed
        .into_iter()
        .map(|item| match item {
            Ok(input) => (ArchiveInput::File(input.path), input.relative),
            Err((path, reason)) => (
                ArchiveInput::Unlisted {
                    path: path.clone(),
                    reason,
                },
                path,
            ),
        })
        .unzip();
    let options = ArchiveOptions {
        sidecar_dir: args.sidecar_dir.clone(),
        ledger: args.ledger.clone(),
        threads: args.threads.map(NonZeroUsize::get),
    };
    let progress = progress_bar(archive, inputs.len());
    let mut summary = Summary::new(args.strict, 0);
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let ran = verify_all(&inputs, &trust, &options, |verified: Verified| {
        let Verified {
            index,
            mut report,
            bytes,
        } = verified;
        if let Some(writer) = pictures.as_mut() {
            if let (Some(input), Some(name)) = (inputs.get(index), relative.get(index)) {
                report.pictures = writer.write(&report, input.path(), name)?;
            }
        }
        summary.add(report.verdict, bytes);
        progress.inc(1);
        if stdout_is_terminal {
            // The bar and the report lines share the screen: lift the bar while printing.
            progress.suspend(|| print_report(&mut stdout, &report, args))
        } else {
            print_report(&mut stdout, &report, args)
        }
    });
    progress.finish_and_clear();
    summary.threads = ran?;
    summary.finish(started.elapsed());
    if args.json {
        serde_json::to_writer(&mut stdout, &summary.record())?;
        writeln!(stdout)?;
    } else if archive {
        writeln!(stdout, "SUMMARY {summary}")?;
    }
    stdout.flush()?;
    Ok(ExitCode::from(summary.exit_status))
}

/// A bar on stderr for an archive run, only when stderr is a terminal: a script reading the
/// output sees nothing extra.
fn progress_bar(archive: bool, total: usize) -> ProgressBar {
    if !archive || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {pos}/{len} files  {rate}  {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0} files/s", state.per_sec());
            },
        ));
    }
    bar
}

fn print_report(out: &mut impl Write, report: &Report, args: &VerifyArgs) -> std::io::Result<()> {
    if args.json {
        serde_json::to_writer(&mut *out, &report.record())?;
        return writeln!(out);
    }
    writeln!(out, "{} {}: {}", report.verdict, report.path, report.reason)?;
    if args.explain {
        for finding in &report.findings {
            explain(out, finding)?;
        }
        if let Some(deid) = &report.deidentification {
            explain_deidentification(out, deid)?;
        }
    }
    for picture in &report.pictures {
        match (&picture.path, &picture.error) {
            (Some(path), _) => writeln!(out, "    picture of frame {}: {path}", picture.frame)?,
            (None, Some(error)) => {
                writeln!(out, "    no picture of frame {}: {error}", picture.frame)?
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// What the de-identification did, by attribute name (never a value).
fn explain_deidentification(
    out: &mut impl Write,
    deid: &DeidentificationReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "    de-identified by {} at {} under {}:",
        deid.signer,
        deid.created,
        deid.profile_text()
    )?;
    if !deid.withheld.is_empty() {
        writeln!(out, "    - withheld: {}", deid.withheld.join(", "))?;
    }
    if !deid.replaced.is_empty() {
        let replaced: Vec<String> = deid
            .replaced
            .iter()
            .map(|r| format!("{} ({})", r.attribute, r.action))
            .collect();
        writeln!(out, "    - replaced: {}", replaced.join(", "))?;
    }
    if !deid.added.is_empty() {
        writeln!(out, "    - added: {}", deid.added.join(", "))?;
    }
    writeln!(
        out,
        "    - kept unchanged: {} attributes, under the acquisition seal's commitments",
        deid.kept
    )
}

fn explain(out: &mut impl Write, finding: &Finding) -> std::io::Result<()> {
    match finding {
        Finding::PixelsChanged { frames } => {
            for frame in frames {
                writeln!(out, "    - pixels changed in {frame}")?;
            }
            Ok(())
        }
        Finding::AttributeChanged { attribute }
        | Finding::AttributeAdded { attribute }
        | Finding::AttributeRemoved { attribute }
        | Finding::AttributeUncheckable { attribute }
        | Finding::SealBlockInItem { attribute }
            if attribute.key =>
        {
            writeln!(out, "    - {finding} [key attribute]")
        }
        _ => writeln!(out, "    - {finding}"),
    }
}
