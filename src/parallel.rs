//! Worker threads for commands that work on many files.

use anyhow::{anyhow, Result};

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

/// A pool of `threads` workers. Work run in it (`pool.install`) also runs the canonicalizer's
/// own parallel steps (frames, tiles) on these workers, so `--threads` bounds both.
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|index| format!("scanseal-worker-{index}"))
        .build()
        .map_err(|e| anyhow!("cannot start {threads} worker threads: {e}"))
}
