//! The stats tail: each collector counts every record into its own cells, its own answers right
//! after their commit and the other collectors' from a thread that reads what they committed
//! about four times a second. Transactions commit in any order, so a record's key says nothing
//! of what may still come; its transaction id does: once every transaction older than the
//! oldest one still running (`pg_snapshot_xmin`) has ended, none of them can add a record, so
//! the tail counts the records of the transactions between the last such horizon and the new
//! one, each exactly once, skipping the transactions whose records this collector counted at
//! its own commit. The business view's index ([`Joins`]) is handed each record where the cells
//! are, so it too counts a late-committed answer once it commits. The same thread signs the collector's life in `collectors` once a second.

use std::{
    collections::BTreeSet,
    sync::{mpsc, Arc, Mutex},
    thread,
    time::Duration,
};

use super::db::{connect, failed, Db};
use super::Written;
use crate::{
    clock,
    stats::{joins::Joins, Aggregates},
    store::{StoreError, FLAG_BURST},
};

/// How far the records are counted.
#[derive(Debug, Default)]
pub(super) struct Counted {
    /// Every record of a transaction older than this one is counted.
    below: u64,
    /// Transactions from `below` on whose records are counted already: this collector's own,
    /// at their commit.
    early: BTreeSet<u64>,
}

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
        joins: Arc<Joins>,
        counted: Arc<Mutex<Counted>>,
        instance: String,
    ) -> Self {
        let (stop, stopped) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("touchpoint-stats-tail".into())
            .spawn(move || {
                let mut ticks = 0u64;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(error) = catch_up(&db, &stats, &joins, &counted) {
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

/// Counts the records of transaction `xid`, which this collector has just committed, unless the
/// tail got there first.
pub(super) fn count_own(
    counted: &Mutex<Counted>,
    stats: &Aggregates,
    joins: &Joins,
    xid: u64,
    written: Vec<Written>,
) {
    let mut counted = counted.lock().unwrap_or_else(|p| p.into_inner());
    if xid < counted.below || !counted.early.insert(xid) {
        return;
    }
    for (submission, key, burst) in &written {
        stats.add(submission, *key, *burst);
        joins.add(submission, *key);
    }
}

/// Counts the records of every transaction that ended since the last call, and of none still
/// running.
pub(super) fn catch_up(
    db: &Db,
    stats: &Aggregates,
    joins: &Joins,
    counted: &Mutex<Counted>,
) -> Result<(), StoreError> {
    let mut counted = counted.lock().unwrap_or_else(|p| p.into_inner());
    let pool = db.pool.clone();
    let horizon: i64 = db.run(async move {
        let client = connect(&pool).await?;
        let row = client
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                &[],
            )
            .await
            .map_err(failed)?;
        Ok(row.get(0))
    })?;
    let horizon = horizon as u64;
    if horizon <= counted.below {
        return Ok(());
    }
    // Pages in (transaction, key) order, from just before the first record not counted.
    let mut after = (counted.below as i64, -1i64);
    loop {
        let pool = db.pool.clone();
        let rows: Vec<(i64, i64, i16, String)> = db.run(async move {
            let client = connect(&pool).await?;
            let rows = client
                .query(
                    "SELECT xid::text::bigint, key, flags, json FROM records
                     WHERE (xid, key) > ($1::bigint::text::xid8, $2)
                       AND xid < $3::bigint::text::xid8
                     ORDER BY xid, key LIMIT $4",
                    &[&after.0, &after.1, &(horizon as i64), &super::PAGE],
                )
                .await
                .map_err(failed)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })?;
        for (xid, key, flags, json) in &rows {
            if counted.early.contains(&(*xid as u64)) {
                continue;
            }
            match protocol::parse_submission(json.as_bytes()) {
                Ok(submission) => {
                    let burst = (*flags as u8) & FLAG_BURST != 0;
                    stats.add(&submission, *key as u64, burst);
                    joins.add(&submission, *key as u64);
                }
                Err(error) => tracing::warn!(key, ?error, "a stored record is not counted"),
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == super::PAGE => after = (last.0, last.1),
            _ => break,
        }
    }
    counted.below = horizon;
    counted.early = counted.early.split_off(&horizon);
    Ok(())
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
