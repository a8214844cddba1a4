//! Verifying many files at once (spec/report.md): a pool of workers, reports handed back in
//! input order, and the summary of a run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use rayon::prelude::*;
use scanseal_ledger::Ledger;
use scanseal_trust::TrustStore;
use serde::Serialize;

use crate::{verify_file, Report, Verdict, VerifyOptions};

/// The JSON schema name every `--json` record carries in its `schema` field.
pub const REPORT_SCHEMA: &str = "scanseal-report-v1";

/// Why a run over many files stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The ledger given in [`ArchiveOptions::ledger`] cannot be opened.
    #[error("cannot open the ledger {path}")]
    Ledger {
        /// The ledger's path.
        path: String,
        /// Why.
        #[source]
        source: scanseal_ledger::LedgerError,
    },
    /// The worker threads could not be started.
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads {
        /// How many were asked for.
        threads: usize,
        /// Why not.
        reason: String,
    },
    /// The sink refused a report (e.g. its output was closed); the remaining files were not
    /// verified.
    #[error("cannot hand over the report on {path}")]
    Sink {
        /// The file whose report was refused.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One input of [`verify_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveInput {
    /// A file to verify.
    File(PathBuf),
    /// An entry that could not even be listed (e.g. an unreadable directory): reported as
    /// `ERROR` with this reason.
    Unlisted {
        /// Its path.
        path: PathBuf,
        /// Why it could not be listed.
        reason: String,
    },
}

impl ArchiveInput {
    /// The input's path.
    pub fn path(&self) -> &Path {
        match self {
            ArchiveInput::File(path) | ArchiveInput::Unlisted { path, .. } => path,
        }
    }
}

/// Options of [`verify_all`].
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// Look for sidecars in this directory instead of next to each file.
    pub sidecar_dir: Option<PathBuf>,
    /// Also look every file up in the ledger at this path (opened read-only, once per
    /// worker: a ledger connection is not shared between threads).
    pub ledger: Option<PathBuf>,
    /// Worker threads; `None` for one per core.
    pub threads: Option<usize>,
}

/// One finished file, as [`verify_all`] hands it to its sink.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Position in the input list.
    pub index: usize,
    /// The report.
    pub report: Report,
    /// The file's size in bytes (0 when it could not be read).
    pub bytes: u64,
}

/// Verifies every input on a pool of worker threads and hands each report to `sink` in input
/// order, as soon as it and every report before it are done. Returns how many threads ran.
///
/// A file that cannot be read is a report with verdict `ERROR`, never an error of the run; the
/// run stops early only when the ledger cannot be opened, the threads cannot start, or `sink`
/// fails (the files not yet handed over are then skipped).
///
/// # Errors
/// [`ArchiveError`].
pub fn verify_all<S>(
    inputs: &[ArchiveInput],
    trust: &TrustStore,
    options: &ArchiveOptions,
    mut sink: S,
) -> Result<usize, ArchiveError>
where
    S: FnMut(Verified) -> std::io::Result<()>,
{
    let threads = options
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        })
        .max(1);
    // Opened once here so that a ledger that cannot be opened stops the run before it starts;
    // that connection is the first worker's, the others open theirs when they need it.
    let first_ledger = match &options.ledger {
        Some(path) => {
            Some(
                Ledger::open_read_only(path).map_err(|source| ArchiveError::Ledger {
                    path: path.display().to_string(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let slots: Vec<Mutex<Option<Ledger>>> = std::iter::once(first_ledger)
        .chain(std::iter::repeat_with(|| None))
        .take(threads)
        .map(Mutex::new)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|index| format!("scanseal-verify-{index}"))
        .build()
        .map_err(|e| ArchiveError::Threads {
            threads,
            reason: e.to_string(),
        })?;

    let stop = AtomicBool::new(false);
    // Bounded so that workers far ahead of a slow sink (a slow reader of stdout) wait instead
    // of piling up reports. Reports finished after one slow file still wait in `waiting`
    // until it is done: a few kilobytes each, the price of input order.
    let (sender, receiver) = mpsc::sync_channel::<Verified>(threads * 16);
    let verify_one = |index: usize, input: &ArchiveInput| -> Verified {
        let (report, bytes) = match input {
            ArchiveInput::Unlisted { path, reason } => (
                Report::new(path).conclude(Verdict::Error, reason.clone()),
                0,
            ),
            ArchiveInput::File(path) => {
                let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let slot = rayon::current_thread_index().and_then(|i| slots.get(i));
                (verify_with_slot(path, trust, options, slot), bytes)
            }
        };
        Verified {
            index,
            report,
            bytes,
        }
    };

    let mut failure: Option<ArchiveError> = None;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pool.install(|| {
                inputs
                    .par_iter()
                    .enumerate()
                    .for_each_with(sender, |sender, (index, input)| {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if sender.send(verify_one(index, input)).is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    });
            });
        });

        // Reports arrive in completion order; they leave in input order.
        let mut next = 0usize;
        let mut waiting: BTreeMap<usize, Verified> = BTreeMap::new();
        for verified in receiver {
            waiting.insert(verified.index, verified);
            while let Some(ready) = waiting.remove(&next) {
                next += 1;
                let path = ready.report.path.clone();
                if let Err(source) = sink(ready) {
                    failure = Some(ArchiveError::Sink { path, source });
                    stop.store(true, Ordering::Relaxed);
                    return; // drops the receiver: workers stop sending
                }
            }
        }
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(threads),
    }
}

fn verify_with_slot(
    path: &Path,
    trust: &TrustStore,
    options: &ArchiveOptions,
    slot: Option<&Mutex<Option<Ledger>>>,
) -> Report {
    let mut guard = None;
    if let Some(ledger_path) = &options.ledger {
        // Each worker owns its slot, so the lock is never contended; it only makes it Sync.
        let Some(mut slot) = slot.and_then(|slot| slot.lock().ok()) else {
            return Report::new(path).conclude(
                Verdict::Error,
                "internal: no ledger connection for this worker".into(),
            );
        };
        if slot.is_none() {
            match Ledger::open_read_only(ledger_path) {
                Ok(ledger) => *slot = Some(ledger),
                Err(e) => {
                    return Report::new(path).conclude(
                        Verdict::Error,
                        format!("cannot open the ledger {}: {e}", ledger_path.display()),
                    )
                }
            }
        }
        guard = Some(slot);
    }
    let verify_options = VerifyOptions {
        sidecar_dir: options.sidecar_dir.clone(),
        ledger: guard.as_ref().and_then(|slot| slot.as_ref()),
    };
    verify_file(path, trust, &verify_options)
}

/// How many files got each verdict; JSON keys are the verdict words, all always present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct VerdictCounts {
    #[serde(rename = "INTACT")]
    pub intact: u64,
    #[serde(rename = "MODIFIED")]
    pub modified: u64,
    #[serde(rename = "ALTERED")]
    pub altered: u64,
    #[serde(rename = "UNSIGNED")]
    pub unsigned: u64,
    #[serde(rename = "UNTRUSTED")]
    pub untrusted: u64,
    #[serde(rename = "INVALID")]
    pub invalid: u64,
    #[serde(rename = "ERROR")]
    pub error: u64,
}

impl VerdictCounts {
    /// The count for `verdict`.
    pub fn get(&self, verdict: Verdict) -> u64 {
        match verdict {
            Verdict::Intact => self.intact,
            Verdict::Modified => self.modified,
            Verdict::Altered => self.altered,
            Verdict::Unsigned => self.unsigned,
            Verdict::Untrusted => self.untrusted,
            Verdict::Invalid => self.invalid,
            Verdict::Error => self.error,
        }
    }

    fn count(&mut self, verdict: Verdict) {
        let counter = match verdict {
            Verdict::Intact => &mut self.intact,
            Verdict::Modified => &mut self.modified,
            Verdict::Altered => &mut self.altered,
            Verdict::Unsigned => &mut self.unsigned,
            Verdict::Untrusted => &mut self.untrusted,
            Verdict::Invalid => &mut self.invalid,
            Verdict::Error => &mut self.error,
        };
        *counter += 1;
    }
}

/// Every verdict, in the order summaries list them.
pub const VERDICTS: [Verdict; 7] = [
    Verdict::Intact,
    Verdict::Modified,
    Verdict::Altered,
    Verdict::Unsigned,
    Verdict::Untrusted,
    Verdict::Invalid,
    Verdict::Error,
];

/// The summary of a run (spec/report.md §3): files per verdict, bytes, speed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Files reported on.
    pub files: u64,
    /// Files per verdict.
    pub verdicts: VerdictCounts,
    /// Files whose verdict passes under the policy.
    pub passed: u64,
    /// Files whose verdict does not.
    pub failed: u64,
    /// Whether `MODIFIED` fails (`--strict`).
    pub strict: bool,
    /// Bytes of the files verified.
    pub bytes: u64,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Files per second.
    pub files_per_second: f64,
    /// Megabytes (10^6 bytes) per second.
    pub megabytes_per_second: f64,
    /// Worker threads.
    pub threads: usize,
    /// The exit status `scanseal verify` ends with: 0 when nothing failed, else 1.
    pub exit_status: u8,
}

impl Summary {
    /// An empty summary under the given policy.
    pub fn new(strict: bool, threads: usize) -> Summary {
        Summary {
            files: 0,
            verdicts: VerdictCounts::default(),
            passed: 0,
            failed: 0,
            strict,
            bytes: 0,
            seconds: 0.0,
            files_per_second: 0.0,
            megabytes_per_second: 0.0,
            threads,
            exit_status: 0,
        }
    }

    /// Counts one file.
    pub fn add(&mut self, verdict: Verdict, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
        self.verdicts.count(verdict);
        if verdict.passes(self.strict) {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.exit_status = 1;
        }
    }

    /// Records how long the run took and derives the rates.
    pub fn finish(&mut self, elapsed: Duration) {
        self.seconds = elapsed.as_secs_f64();
        let seconds = self.seconds.max(1e-9);
        self.files_per_second = self.files as f64 / seconds;
        self.megabytes_per_second = self.bytes as f64 / 1e6 / seconds;
    }

    /// The summary as its `--json` record.
    pub fn record(&self) -> SummaryRecord<'_> {
        SummaryRecord {
            record_type: "summary",
            schema: REPORT_SCHEMA,
            summary: self,
        }
    }
}

/// `2000 files: 1994 INTACT, 3 ALTERED, 2 UNSIGNED, 1 ERROR; 131.1 MB in 2.40 s
/// (833 files/s, 54.6 MB/s, 2 threads)`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = VERDICTS
            .iter()
            .filter(|v| self.verdicts.get(**v) > 0)
            .map(|v| format!("{} {v}", self.verdicts.get(*v)))
            .collect();
        write!(
            f,
            "{} file{}{}{}; {:.1} MB in {:.2} s ({:.0} files/s, {:.1} MB/s, {} thread{})",
            self.files,
            if self.files == 1 { "" } else { "s" },
            if counts.is_empty() { "" } else { ": " },
            counts.join(", "),
            self.bytes as f64 / 1e6,
            self.seconds,
            self.files_per_second,
            self.megabytes_per_second,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
        )
    }
}

/// A report as its `--json` record: `{"type": "file", "schema": ..., <report fields>}`.
#[derive(Debug, Serialize)]
pub struct FileRecord<'a> {
    /// Always `file`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// The report's fields.
    #[serde(flatten)]
    pub report: &'a Report,
}

/// A summary as its `--json` record: `{"type": "summary", "schema": ..., <summary fields>}`.
#[derive(Debug, Serialize)]
pub struct SummaryRecord<'a> {
    /// Always `summary`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// The summary's fields.
    #[serde(flatten)]
    pub summary: &'a Summary,
}

impl Report {
    /// The report as its `--json` record.
    pub fn record(&self) -> FileRecord<'_> {
        FileRecord {
            record_type: "file",
            schema: REPORT_SCHEMA,
            report: self,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_each_verdict_and_applies_the_policy() {
        let mut lenient = Summary::new(false, 2);
        let mut strict = Summary::new(true, 2);
        for (verdict, bytes) in [
            (Verdict::Intact, 10),
            (Verdict::Modified, 20),
            (Verdict::Altered, 30),
            (Verdict::Error, 0),
        ] {
            lenient.add(verdict, bytes);
            strict.add(verdict, bytes);
        }
        assert_eq!((lenient.passed, lenient.failed), (2, 2));
        assert_eq!((strict.passed, strict.failed), (1, 3));
        assert_eq!(lenient.verdicts.get(Verdict::Modified), 1);
        assert_eq!(lenient.bytes, 60);
        lenient.finish(Duration::from_secs(2));
        assert_eq!(lenient.files_per_second, 2.0);
        assert_eq!(lenient.megabytes_per_second, 30e-6);
        assert_eq!(
            lenient.to_string(),
            "4 files: 1 INTACT, 1 MODIFIED, 1 ALTERED, 1 ERROR; 0.0 MB in 2.00 s \
             (2 files/s, 0.0 MB/s, 2 threads)"
        );
    }

    /// `count` unsigned files (every third one not DICOM) in a fresh directory.
    fn archive(count: usize) -> (tempfile::TempDir, Vec<ArchiveInput>) {
        use scanseal_fixtures::{EncodeOptions, Encoding, Fixture, ImageSpec};
        let dir = tempfile::tempdir().unwrap();
        let inputs = (0..count)
            .map(|index| {
                let path = dir.path().join(format!("{index:03}.dcm"));
                let bytes = if index % 3 == 2 {
                    b"not DICOM".to_vec()
                } else {
                    Fixture::new(ImageSpec::mono8(8, 8), index as u64)
                        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
                        .unwrap()
                };
                std::fs::write(&path, bytes).unwrap();
                ArchiveInput::File(path)
            })
            .collect();
        (dir, inputs)
    }

    #[test]
    fn reports_come_back_in_input_order_on_any_number_of_threads() {
        let (_dir, mut inputs) = archive(60);
        inputs.push(ArchiveInput::Unlisted {
            path: PathBuf::from("unlistable"),
            reason: "permission denied".into(),
        });
        for threads in [1, 2, 4] {
            let options = ArchiveOptions {
                threads: Some(threads),
                ..ArchiveOptions::default()
            };
            let mut seen = Vec::new();
            let ran = verify_all(&inputs, &TrustStore::new(), &options, |verified| {
                seen.push(verified);
                Ok(())
            })
            .unwrap();
            assert_eq!(ran, threads);
            assert_eq!(seen.len(), inputs.len());
            for (position, verified) in seen.iter().enumerate() {
                assert_eq!(verified.index, position);
                assert_eq!(
                    verified.report.path,
                    inputs[position].path().display().to_string()
                );
                let expected = match position {
                    60 => Verdict::Error,
                    p if p % 3 == 2 => Verdict::Error,
                    _ => Verdict::Unsigned,
                };
                assert_eq!(verified.report.verdict, expected, "{position}");
            }
            assert_eq!(seen[60].report.reason, "permission denied");
            assert_eq!(seen[60].bytes, 0);
            assert_eq!(seen[2].bytes, 9);
        }
    }

    #[test]
    fn a_failing_sink_stops_the_run() {
        let (_dir, inputs) = archive(200);
        let options = ArchiveOptions {
            threads: Some(2),
            ..ArchiveOptions::default()
        };
        let mut handed = 0;
        let outcome = verify_all(&inputs, &TrustStore::new(), &options, |_| {
            handed += 1;
            if handed == 5 {
                Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "closed",
                ))
            } else {
                Ok(())
            }
        });
        match outcome {
            Err(ArchiveError::Sink { path, .. }) => assert!(path.ends_with("004.dcm"), "{path}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(handed, 5);
    }

    #[test]
    fn a_ledger_that_cannot_be_opened_stops_the_run_before_it_starts() {
        let (dir, inputs) = archive(3);
        let options = ArchiveOptions {
            ledger: Some(dir.path().join("missing.db")),
            ..ArchiveOptions::default()
        };
        let mut handed = 0;
        let outcome = verify_all(&inputs, &TrustStore::new(), &options, |_| {
            handed += 1;
            Ok(())
        });
        assert!(
            matches!(outcome, Err(ArchiveError::Ledger { .. })),
            "{outcome:?}"
        );
        assert_eq!(handed, 0);
    }

    #[test]
    fn an_all_passing_summary_exits_zero() {
        let mut summary = Summary::new(false, 1);
        summary.add(Verdict::Modified, 1);
        assert_eq!(summary.exit_status, 0);
        summary.add(Verdict::Unsigned, 1);
        assert_eq!(summary.exit_status, 1);
    }
}
