//! The background sealer: while the store is open, it moves flushed records into sealed blocks in
//! small steps, records the store's progress, saves the stats and flushes what is left about once
//! a second.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use super::compact::Deflater;
use super::recovery::Derived;
use super::trees::Trees;

/// Blocks sealed per flush by the background sealer: up to ~50 000 records a second.
const SEAL_STEP: usize = 4;

/// Seals blocks in the background while the store is open.
pub(super) struct Sealer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sealer {
    pub(super) fn start(trees: Trees, block: usize, derived: Derived) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            // Made here, not on the thread: its ~400 KB of tables belong to the open, whenever
            // the thread first runs.
            let mut deflater = Deflater::default();
            std::thread::Builder::new()
                .name("touchpoint-sealer".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        // Work through a backlog in small steps (a big one would stall the
                        // requests sharing the disk), then rest for a second.
                        loop {
                            match trees.seal(block, SEAL_STEP, &mut deflater) {
                                Ok(SEAL_STEP) if !stop.load(Ordering::Relaxed) => {
                                    std::thread::sleep(Duration::from_millis(20));
                                    continue;
                                }
                                Ok(_) => break,
                                Err(error) => {
                                    tracing::warn!(%error, "sealing blocks failed; will retry");
                                    break;
                                }
                            }
                        }
                        if let Err(error) = trees.mark_progress() {
                            tracing::warn!(%error, "recording the store's progress failed");
                        }
                        if let Err(error) = derived.save(&trees) {
                            tracing::warn!(%error, "saving the stats failed; will retry");
                        }
                        // What no answer's flush covers (sessions, deliveries, endpoint states)
                        // is made durable here, as sled's own flusher would: the store runs
                        // without it (see `SledStore::open_unguarded`). With nothing to write it
                        // writes nothing.
                        if let Err(error) = trees.flush() {
                            tracing::warn!(%error, "flushing the store failed; will retry");
                        }
                        for _ in 0..10 {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                })
                .ok()
        };
        Self { stop, thread }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
