//! The stats tail: each collector counts every record into its own cells, its own answers right
//! after their commit and the other collectors' from a thread that reads what they committed
//! about four times a second. Keys commit in order (see [`super::schema`]), so "every record
//! after the last one counted" is all that is new. The same thread signs the collector's life in
//! `collectors` once a second.

use std::{
    sync::{mpsc, Arc, Mutex},
    thread,
    time::Duration,
};

use super::db::{connect, failed, Db};
use crate::{
    clock,
    stats::Aggregates,
    store::{StoreError, FLAG_BURST},
};

/// How often the other collectors' answers are read.
const EVERY: Duration = Duration::from_millis(250);
/// A collector silent this long is gone: its deliveries may be taken over.
pub(super) const GONE_AFTER_MICROS: u64 = 30_000_000;

/// The thread, stopped when dropped.
pub(super) struct Tail {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Tail {
    pub(super) fn start(
        db: Arc<Db>,
        stats: Arc<Aggregates>,
        counted: Arc<Mutex<u64>>,
        instance: String,
    ) -> Self {
        let (stop, stopped) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("touchpoint-stats-tail".into())
            .spawn(move || {
                let mut ticks = 0u64;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(error) = catch_up(&db, &stats, &counted) {
                        tracing::debug!(%error, "the stats tail waits for the database");
                    }
                    ticks += 1;
                    if ticks % 4 == 0 {
                        if let Err(error) = sign_life(&db, &instance) {
                            tracing::debug!(%error, "the collector's sign of life was not written");
                        }
                    }
                }
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Counts every committed record after the last one counted.
pub(super) fn catch_up(
    db: &Db,
    stats: &Aggregates,
    counted: &Mutex<u64>,
) -> Result<(), StoreError> {
    let mut counted = counted.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let after = *counted as i64;
        let pool = db.pool.clone();
        let rows: Vec<(i64, i16, String)> = db.run(async move {
            let client = connect(&pool).await?;
            let rows = client
                .query(
                    "SELECT key, flags, json FROM records WHERE key > $1 ORDER BY key LIMIT $2",
                    &[&after, &super::PAGE],
                )
                .await
                .map_err(failed)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })?;
        for (key, flags, json) in &rows {
            match protocol::parse_submission(json.as_bytes()) {
                Ok(submission) => {
                    let burst = (*flags as u8) & FLAG_BURST != 0;
                    stats.add(&submission, *key as u64, burst);
                }
                Err(error) => tracing::warn!(key, ?error, "a stored record is not counted"),
            }
            *counted = *key as u64;
        }
        if (rows.len() as i64) < super::PAGE {
            return Ok(());
        }
    }
}

fn sign_life(db: &Db, instance: &str) -> Result<(), StoreError> {
    let pool = db.pool.clone();
    let instance = instance.to_owned();
    let now = clock::now_micros() as i64;
    db.run(async move {
        let client = connect(&pool).await?;
        client
            .execute(
                "INSERT INTO collectors (id, seen) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET seen = excluded.seen",
                &[&instance, &now],
            )
            .await
            .map_err(failed)?;
        Ok(())
    })
}
