//! Group commit: "acknowledged" means "on disk", without one fsync per request.
//!
//! Every completed write takes the next epoch number. One flusher thread repeatedly reads the
//! newest epoch, calls the store's blocking `flush()` (sled's `flush_async` deadlocks under
//! concurrency in 0.34), and publishes "everything up to epoch N is durable" on a watch channel.
//! A request waits for the publication that covers its epoch; all requests whose writes landed
//! before one flush started share it.
//!
//! A store whose failed flush loses its writes (a PostgreSQL transaction that did not commit)
//! says so ([`Store::flush_failure_loses_writes`]); then every write takes its epoch under one
//! lock with the store's write ([`GroupCommit::write`]), and the epochs a failed flush may have
//! lost are remembered, so no request whose write went with it is ever told it is durable.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::metrics::FlushStats;
use crate::store::Store;

/// How long the flusher waits for more writes when the last flush covered several.
const LINGER: Duration = Duration::from_micros(500);

/// How long a request waits for the flush that covers it before it is answered 503. A flush
/// normally takes milliseconds; after some I/O errors (a full disk) sled 0.34's `flush()` never
/// returns, and no request may hang with it.
const FLUSH_DEADLINE: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(5)
};

/// How many failed flushes' lost epochs are remembered: a request waits at most
/// [`FLUSH_DEADLINE`], far less than that many failures take.
const LOST_KEPT: usize = 64;

/// How long stopping waits for a flush in progress.
const STOP_WAIT: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(5)
};

/// What the flusher has published so far.
#[derive(Debug, Clone, Copy, Default)]
struct Published {
    /// Every epoch up to this one is durable.
    durable: u64,
    /// The highest epoch a failed flush tried to cover.
    failed: u64,
    /// The number of the newest flush attempt that failed (attempts are numbered from 1).
    failed_attempt: u64,
    stopped: bool,
}

/// Why a write could not be confirmed durable. The caller answers 503; the client retries with the
/// same id, which is safe: a later flush may still make this write durable, and the retry then
/// finds it as a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotDurable {
    #[error("flushing to disk failed")]
    FlushFailed,
    #[error("flushing to disk did not finish in time")]
    FlushOverdue,
    #[error("storage is failing; nothing was written")]
    StorageFailing,
    #[error("the collector is shutting down")]
    ShuttingDown,
}

struct Shared {
    /// Epoch of the newest completed write.
    written: AtomicU64,
    /// Held from a write to its epoch, and by the flusher when it notes what a failure lost.
    order: Mutex<()>,
    /// Whether a failed flush loses the writes it tried to cover.
    lossy: bool,
    /// The epochs failed flushes lost, as `(after, up_to]`, newest last (a lossy store's).
    lost: Mutex<std::collections::VecDeque<(u64, u64)>>,
    /// Flush attempts started so far.
    attempts: AtomicU64,
    /// Highest epoch someone is waiting for; the flusher sleeps while this is durable.
    wanted: AtomicU64,
    /// Set by the flusher, under `sleep`, just before it waits: only then does a request take
    /// the lock and wake it. While it flushes (under load, nearly always) a request only raises
    /// `wanted`, and the flusher finds it when the flush returns.
    asleep: AtomicBool,
    /// Whether the flusher is to stop; guards its sleep.
    sleep: Mutex<bool>,
    wake: Condvar,
}

/// The group-commit handle shared by all request handlers.
#[derive(Clone)]
pub struct GroupCommit {
    shared: Arc<Shared>,
    published: watch::Receiver<Published>,
    pub stats: Arc<FlushStats>,
    flusher: Arc<Mutex<Option<thread::JoinHandle<()>>>>,
}

/// What a write did, for [`GroupCommit::write`]: kept something that must be flushed, kept
/// nothing (a duplicate, a refusal), or failed in the store itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    Stored,
    Nothing,
    Failed,
}

impl GroupCommit {
    /// Starts the flusher thread for `store`.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let shared = Arc::new(Shared {
            written: AtomicU64::new(0),
            order: Mutex::new(()),
            lossy: store.flush_failure_loses_writes(),
            lost: Mutex::default(),
            attempts: AtomicU64::new(0),
            wanted: AtomicU64::new(0),
            asleep: AtomicBool::new(false),
            sleep: Mutex::new(false),
            wake: Condvar::new(),
        });
        let (tx, rx) = watch::channel(Published::default());
        let stats = Arc::new(FlushStats::default());
        let flusher = {
            let shared = Arc::clone(&shared);
            let stats = Arc::clone(&stats);
            thread::Builder::new()
                .name("touchpoint-flusher".into())
                .spawn(move || flush_loop(&*store, &shared, &tx, &stats))
                .expect("spawning the flusher thread")
        };
        Self {
            shared,
            published: rx,
            stats,
            flusher: Arc::new(Mutex::new(Some(flusher))),
        }
    }

    /// Records that one write completed; returns its epoch. Call it after the write, in the same
    /// order writes complete (under the store's writer lock or right after it).
    pub fn wrote(&self) -> u64 {
        self.shared.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Calls `put` (one write to the store) and takes its epoch in the same step: a new one when
    /// `stored` says it wrote (or always, for a store whose failed flush loses writes), else
    /// the newest, which covers a first copy still in flight.
    pub fn write<T>(&self, put: impl FnOnce() -> T, stored: impl FnOnce(&T) -> Wrote) -> (T, u64) {
        let _order = self.shared.order.lock().unwrap_or_else(|p| p.into_inner());
        let written = put();
        let wrote = stored(&written);
        if wrote == Wrote::Failed && !self.stats.failing.swap(true, Ordering::SeqCst) {
            // The disk refused the write itself: refuse answers until a restart, as after a
            // failed flush, rather than let a flush with nothing new in it say all is well.
            tracing::error!("a write failed; answers are refused (503) until one succeeds");
        }
        let epoch = if wrote == Wrote::Stored || (self.shared.lossy && wrote == Wrote::Nothing) {
            self.wrote()
        } else {
            self.current()
        };
        (written, epoch)
    }

    /// The newest epoch: waiting for it covers every write completed so far.
    pub fn current(&self) -> u64 {
        self.shared.written.load(Ordering::SeqCst)
    }

    /// Whether new writes should be made: false while storage is failing (the newest flush
    /// failed or is overdue), so nothing piles up in memory that cannot reach the disk.
    pub fn accepting(&self) -> bool {
        !self.stats.failing.load(Ordering::SeqCst)
    }

    /// Resolves once `epoch` is durable, or with the reason it is not, within [`FLUSH_DEADLINE`].
    pub async fn durable(&self, epoch: u64) -> Result<(), NotDurable> {
        match tokio::time::timeout(FLUSH_DEADLINE, self.published(epoch)).await {
            Ok(result) => result,
            Err(_) => {
                if !self.stats.failing.swap(true, Ordering::SeqCst) {
                    tracing::error!(
                        "a flush is overdue; answers are refused (503) until one succeeds"
                    );
                }
                Err(NotDurable::FlushOverdue)
            }
        }
    }

    async fn published(&self, epoch: u64) -> Result<(), NotDurable> {
        let mut rx = self.published.clone();
        if rx.borrow().durable >= epoch {
            return Ok(());
        }
        self.want(epoch);
        // Only a flush that starts after this point decides; an older failure may predate the
        // request (the disk may have recovered since).
        let asked_after = self.shared.attempts.load(Ordering::SeqCst);
        loop {
            {
                let p = *rx.borrow_and_update();
                if self.lost(epoch) {
                    return Err(NotDurable::FlushFailed);
                }
                if p.durable >= epoch {
                    return Ok(());
                }
                if p.failed_attempt > asked_after && p.failed >= epoch {
                    return Err(NotDurable::FlushFailed);
                }
                if p.stopped {
                    return Err(NotDurable::ShuttingDown);
                }
            }
            if rx.changed().await.is_err() {
                return Err(NotDurable::ShuttingDown);
            }
        }
    }

    /// Whether a failed flush lost the write of `epoch`.
    fn lost(&self, epoch: u64) -> bool {
        let lost = self.shared.lost.lock().unwrap_or_else(|p| p.into_inner());
        lost.iter()
            .any(|(after, up_to)| epoch > *after && epoch <= *up_to)
    }

    fn want(&self, epoch: u64) {
        let shared = &self.shared;
        if shared.wanted.fetch_max(epoch, Ordering::SeqCst) < epoch
            && shared.asleep.load(Ordering::SeqCst)
        {
            // The flusher set `asleep` under the lock and holds it until it waits, so this
            // notification cannot come between its last look at `wanted` and its sleep.
            let _sleep = shared.sleep.lock().unwrap_or_else(|p| p.into_inner());
            shared.wake.notify_one();
        }
    }

    /// Flushes what is pending, stops the flusher and waits for it.
    pub fn stop(&self) {
        {
            let mut stop = self.shared.sleep.lock().unwrap_or_else(|p| p.into_inner());
            *stop = true;
            self.shared.wake.notify_one();
        }
        let handle = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle {
            let deadline = Instant::now() + STOP_WAIT;
            while !handle.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                tracing::error!("the last flush did not finish; storage is failing");
                self.stats.failing.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn flush_loop(
    store: &dyn Store,
    shared: &Shared,
    tx: &watch::Sender<Published>,
    stats: &FlushStats,
) {
    let mut published = Published::default();
    let mut last_batch = 0;
    loop {
        let stopping = {
            let mut stop = shared.sleep.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                shared.asleep.store(true, Ordering::SeqCst);
                if *stop || shared.wanted.load(Ordering::SeqCst) > published.durable {
                    break;
                }
                stop = shared.wake.wait(stop).unwrap_or_else(|p| p.into_inner());
            }
            shared.asleep.store(false, Ordering::SeqCst);
            *stop
        };
        if last_batch > 1 && !stopping {
            // Under load, linger briefly so the next flush covers more writes: fewer fsyncs and
            // fewer wake-ups leave more of the CPU to the requests themselves.
            thread::sleep(LINGER);
        }
        let attempt = shared.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let target = shared.written.load(Ordering::SeqCst);
        let started = Instant::now();
        match store.flush() {
            Ok(()) => {
                let elapsed = started.elapsed();
                stats.flushes.fetch_add(1, Ordering::Relaxed);
                stats.latency.observe(elapsed.as_secs_f64());
                stats.batch.observe((target - published.durable) as f64);
                stats
                    .writes_covered
                    .fetch_add(target - published.durable, Ordering::Relaxed);
                stats
                    .micros_total
                    .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
                last_batch = target - published.durable;
                published.durable = target;
                stats.failing.store(false, Ordering::SeqCst);
            }
            Err(error) => {
                tracing::error!(%error, "flush failed; pending writes are answered 503");
                stats.failures.fetch_add(1, Ordering::Relaxed);
                stats.failing.store(true, Ordering::SeqCst);
                published.failed = target;
                published.failed_attempt = attempt;
                if shared.lossy {
                    // Every write made before this point may have been in what was lost.
                    let _order = shared.order.lock().unwrap_or_else(|p| p.into_inner());
                    let up_to = shared.written.load(Ordering::SeqCst);
                    let mut lost = shared.lost.lock().unwrap_or_else(|p| p.into_inner());
                    lost.push_back((published.durable, up_to));
                    if lost.len() > LOST_KEPT {
                        lost.pop_front();
                    }
                }
            }
        }
        if stopping {
            published.stopped = true;
            tx.send_replace(published);
            return;
        }
        tx.send_replace(published);
        if published.failed_attempt == attempt {
            // Writes stay pending and are retried while anyone waits, without spinning.
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Put, Record, StoreError};
    use std::sync::atomic::AtomicBool;

    /// A store whose flush fails while `failing` is set, and hangs while `stuck` is set (as
    /// sled's does after some I/O errors): neither can be provoked on demand in a unit test.
    #[derive(Default)]
    struct FlakyDisk {
        failing: AtomicBool,
        stuck: AtomicBool,
        flushes: AtomicU64,
    }

    impl Store for FlakyDisk {
        fn put(
            &self,
            _: &protocol::Submission,
            _: &str,
            _: &crate::config::Bounds,
        ) -> Result<Put, StoreError> {
            Ok(Put::Stored { key: 1 })
        }

        fn flush(&self) -> Result<(), StoreError> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            while self.stuck.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(5));
            }
            if self.failing.load(Ordering::SeqCst) {
                Err(StoreError::from(std::io::Error::other("disk full")))
            } else {
                Ok(())
            }
        }

        fn scan(
            &self,
            _: u64,
            _: u64,
            _: &mut dyn FnMut(Record<'_>) -> bool,
        ) -> Result<(), StoreError> {
            Ok(())
        }

        fn len(&self) -> usize {
            0
        }

        fn secret(
            &self,
            _: &str,
            make: &mut dyn FnMut() -> std::io::Result<String>,
        ) -> Result<String, StoreError> {
            make().map_err(StoreError::from)
        }

        fn open_session(&self, _: &str, _: u64, _: u64) -> Result<(), StoreError> {
            Ok(())
        }

        fn session_expiry(&self, _: &str) -> Result<Option<u64>, StoreError> {
            Ok(None)
        }

        fn end_session(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }

        fn put_action(&self, _: &crate::org::agenda::Action) -> Result<(), StoreError> {
            Ok(())
        }

        fn actions(&self) -> Result<Vec<crate::org::agenda::Action>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn a_write_is_confirmed_only_by_a_flush_that_covers_it() {
        let disk = Arc::new(FlakyDisk::default());
        let commit = GroupCommit::start(Arc::clone(&disk) as Arc<dyn Store>);
        disk.failing.store(true, Ordering::SeqCst);
        let epoch = commit.wrote();
        assert_eq!(
            block_on(commit.durable(epoch)),
            Err(NotDurable::FlushFailed)
        );
        assert!(
            !commit.accepting(),
            "new writes are refused after a failed flush"
        );
        disk.failing.store(false, Ordering::SeqCst);
        // The retry finds the write pending and waits for a flush that succeeds.
        assert_eq!(block_on(commit.durable(commit.current())), Ok(()));
        assert!(commit.accepting(), "until a flush succeeds");
        let before = disk.flushes.load(Ordering::SeqCst);
        assert_eq!(
            block_on(commit.durable(epoch)),
            Ok(()),
            "already durable: no new flush"
        );
        assert_eq!(disk.flushes.load(Ordering::SeqCst), before);
        commit.stop();
        assert_eq!(
            block_on(commit.durable(commit.wrote())),
            Err(NotDurable::ShuttingDown)
        );
    }

    #[test]
    fn a_flush_that_hangs_refuses_writes_instead_of_hanging_them() {
        let disk = Arc::new(FlakyDisk::default());
        let commit = GroupCommit::start(Arc::clone(&disk) as Arc<dyn Store>);
        assert!(commit.accepting());
        disk.stuck.store(true, Ordering::SeqCst);
        let epoch = commit.wrote();
        assert_eq!(
            block_on(commit.durable(epoch)),
            Err(NotDurable::FlushOverdue)
        );
        assert!(
            !commit.accepting(),
            "writes are refused while the flush hangs"
        );
        disk.stuck.store(false, Ordering::SeqCst);
        assert_eq!(block_on(commit.durable(epoch)), Ok(()));
        assert!(commit.accepting(), "a flush that succeeds ends the refusal");
        // Stopping does not wait forever for a flush that never returns.
        disk.stuck.store(true, Ordering::SeqCst);
        let _ = block_on(commit.durable(commit.wrote()));
        let started = Instant::now();
        commit.stop();
        assert!(!commit.accepting());
        disk.stuck.store(false, Ordering::SeqCst);
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn concurrent_writers_share_flushes() {
        let disk = Arc::new(FlakyDisk::default());
        let commit = GroupCommit::start(Arc::clone(&disk) as Arc<dyn Store>);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let waits: Vec<_> = (0..200).map(|_| commit.durable(commit.wrote())).collect();
            for result in futures_util::future::join_all(waits).await {
                assert_eq!(result, Ok(()));
            }
        });
        let flushes = disk.flushes.load(Ordering::SeqCst);
        assert!(flushes < 200, "200 waiting writes took {flushes} flushes");
        commit.stop();
    }
}
