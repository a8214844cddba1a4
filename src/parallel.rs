//! Running one command over many files on a pool of worker threads while its output stays in
//! input order: a run's lines are then the same whatever the thread count, and a script that
//! reads them can rely on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use anyhow::{anyhow, Result};
use rayon::prelude::*;

/// The number of worker threads for `--threads`: as asked, or one per core.
pub fn thread_count(asked: Option<usize>) -> usize {
    asked
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        })
        .max(1)
}

/// Runs `work` on every item on `threads` workers and hands each result to `sink` in item
/// order, as soon as it and every result before it are done. When `sink` fails, the items not
/// yet started are skipped and its error is returned.
pub fn map_in_order<T, R, W, S>(items: &[T], threads: usize, work: W, mut sink: S) -> Result<()>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    S: FnMut(R) -> Result<()>,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|index| format!("scanseal-worker-{index}"))
        .build()
        .map_err(|e| anyhow!("cannot start {threads} worker threads: {e}"))?;
    let stop = AtomicBool::new(false);
    // Bounded so that workers far ahead of a slow sink wait instead of piling up results.
    let (sender, receiver) = mpsc::sync_channel::<(usize, R)>(threads * 16);
    let mut failure = None;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pool.install(|| {
                items
                    .par_iter()
                    .enumerate()
                    .for_each_with(sender, |sender, (index, item)| {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if sender.send((index, work(item))).is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    });
            });
        });
        let mut next = 0usize;
        let mut waiting = BTreeMap::new();
        for (index, result) in receiver {
            waiting.insert(index, result);
            while let Some(ready) = waiting.remove(&next) {
                next += 1;
                if let Err(error) = sink(ready) {
                    failure = Some(error);
                    stop.store(true, Ordering::Relaxed);
                    return; // drops the receiver: workers stop sending
                }
            }
        }
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_leave_in_input_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..200).collect();
        let mut seen = Vec::new();
        map_in_order(
            &items,
            2,
            |&i| {
                // Early items take longest, so they finish after later ones.
                std::thread::sleep(std::time::Duration::from_micros((200 - i) * 20));
                i * 2
            },
            |result| {
                seen.push(result);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_failing_sink_stops_the_run_with_its_error() {
        let items: Vec<u64> = (0..10_000).collect();
        let started = std::sync::atomic::AtomicUsize::new(0);
        let error = map_in_order(
            &items,
            2,
            |&i| {
                started.fetch_add(1, Ordering::Relaxed);
                i
            },
            |result| {
                if result == 3 {
                    Err(anyhow!("closed"))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "closed");
        assert!(started.load(Ordering::Relaxed) < items.len());
    }
}
