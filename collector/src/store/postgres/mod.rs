//! The PostgreSQL backend (`--store postgres://…`): everything the collector keeps, in one
//! database that any number of collectors share behind a balancer. The promises are sled's: a
//! 2xx only after the commit, one row per id and per answered interaction whichever collector
//! got which copy (UNIQUE constraints), the same answers (201 / 200 / 409) as on sled.
//!
//! Ingest: the first `put` after a commit opens a transaction; later puts join it until the
//! group commit's flusher calls [`Store::flush`], which takes it out and commits it (with
//! `synchronous_commit` on, so through a synchronous standby) while the answers that arrive
//! meanwhile gather in the next one. Concurrent answers share that commit as they share sled's
//! flush, and the collectors' transactions run side by side: nothing but the rows themselves is
//! locked. A record is inserted `ON CONFLICT DO NOTHING`, so a copy of an id (or an interaction)
//! that another transaction holds waits for that one to end and is then answered as a duplicate
//! or a conflict, as on sled; a key (the receive time) another collector took in the same
//! microsecond is followed by the next one. A transaction that fails loses its writes; the
//! store says so ([`Store::flush_failure_loses_writes`]) and the group commit answers every
//! request whose write went with it 503.
//!
//! Stats: each collector keeps the cells in memory as on sled, counted from the records: at
//! open, its own right after each of its commits, and about four times a second those of every
//! transaction that has ended ([`tail`]), so every collector answers the same figures, at most a
//! moment behind.
//!
//! Events: the outbox's events are claimed by one collector at a time (`FOR UPDATE SKIP
//! LOCKED`, for a minute), fanned out into deliveries it owns, and a collector that stopped
//! signing its life has its deliveries taken over at the next start of a collector.
//!
//! Files: [`db`] the pool and its runtime, [`schema`] the migrations, [`tail`] the stats tail,
//! [`import`] moving a sled store in (`migrate-store`).

mod db;
mod import;
mod schema;
mod tail;

pub use self::import::Moved;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use deadpool_postgres::Object;
use protocol::{Channel, Submission};
use tokio_postgres::types::ToSql;

use self::db::{connect, failed, Db};
use crate::{
    channel::kiosk,
    clock,
    config::{Bounded, Bounds},
    org::agenda::Action,
    stats::{joins::Joins, Aggregates},
    store::events::{
        Acknowledgement, Alert, Delivery, EndpointState, Event, EventKey, EventKind, Pending,
    },
    store::outcomes::{Outcome, OutcomePut},
    store::{Put, Record, Store, StoreError, FLAG_BURST},
};

/// How long a collector holds the outbox events it claimed before another may take them.
const CLAIM_MICROS: u64 = 60_000_000;
/// Records read per query by a scan and by the stats tail.
const PAGE: i64 = 5_000;

/// A statement's parameter, owned, to take to the store's runtime.
type Param = Box<dyn ToSql + Send + Sync>;

/// The ingest transaction in progress.
struct Open {
    client: Object,
    /// Its transaction id (`xid8`), known from its first record.
    xid: Option<u64>,
    /// The records written in it (submission, key, burst), counted once it commits.
    written: Vec<Written>,
}

/// A record written in an ingest transaction, as the stats count it.
type Written = (Submission, u64, bool);

/// How many taken keys a put steps over before it gives up (collectors whose clocks agree to
/// the microsecond under heavy load take a few).
const KEY_TRIES: u64 = 1_000;

/// What `put` needs of a submission, owned, to take to the store's runtime.
struct Write {
    submission: Submission,
    id: String,
    interaction: Option<String>,
    channel: &'static str,
    touchpoint: String,
    json: String,
    device: Option<String>,
    submitted_millis: i64,
    max_devices: i64,
    past: Option<Bounded>,
    now: u64,
    event: bool,
}

/// The PostgreSQL store.
pub struct PgStore {
    db: Arc<Db>,
    open: Arc<tokio::sync::Mutex<Option<Open>>>,
    /// An ingest transaction with writes failed: the next flush fails too.
    lost: Arc<AtomicBool>,
    stats: Arc<Aggregates>,
    /// The business view's index, counted with `stats`: every record as it opens, then as the
    /// stats tail hands them.
    joins: Arc<Joins>,
    /// How far the records are counted into `stats` and `joins`.
    counted: Arc<Mutex<tail::Counted>>,
    /// The last arrival key this collector handed out.
    last: Arc<AtomicU64>,
    /// This collector process, as it claims events and owns deliveries.
    instance: String,
    _tail: Option<tail::Tail>,
}

impl PgStore {
    /// Connects to the database at `url` (libpq's form), applies the migrations it lacks, counts
    /// the stats and starts following the other collectors' answers; as a new collector (see
    /// [`PgStore::open_as`]).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let random = crate::config::Secret::generate()
            .map_err(|e| StoreError::Database(format!("no instance name: {e}")))?;
        Self::open_as(url, &random.expose()[..24])
    }

    /// [`PgStore::open`] as the collector called `instance`: the events it claimed and the
    /// deliveries it owns are its own again at once (a collector started again after a crash).
    pub fn open_as(url: &str, instance: &str) -> Result<Self, StoreError> {
        let db = Arc::new(Db::open(url)?);
        let pool = db.pool.clone();
        db.run(async move {
            let mut client = connect(&pool).await?;
            schema::migrate(&mut client).await
        })?;
        let mut store = Self {
            db,
            open: Arc::default(),
            lost: Arc::default(),
            stats: Arc::default(),
            joins: Arc::new(Joins::new(0)),
            counted: Arc::default(),
            last: Arc::default(),
            instance: instance.to_owned(),
            _tail: None,
        };
        let newest = store.number("SELECT coalesce(max(key), 0) FROM records")?;
        store.last.store(newest, Ordering::SeqCst);
        tail::catch_up(&store.db, &store.stats, &store.joins, &store.counted)?;
        store._tail = Some(tail::Tail::start(
            Arc::clone(&store.db),
            Arc::clone(&store.stats),
            Arc::clone(&store.joins),
            Arc::clone(&store.counted),
            store.instance.clone(),
        ));
        Ok(store)
    }

    /// Applies the migrations the database lacks and returns the schema's version, without
    /// opening the store (`touchpoint-collector migrate`).
    pub fn migrate(url: &str) -> Result<usize, StoreError> {
        let db = Db::open(url)?;
        let pool = db.pool.clone();
        db.run(async move {
            let mut client = connect(&pool).await?;
            schema::migrate(&mut client).await
        })
    }

    /// One statement on a pooled connection, outside the ingest transaction.
    fn call<T: Send + 'static, F>(
        &self,
        work: impl FnOnce(Object) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>> + Send,
    {
        let pool = self.db.pool.clone();
        self.db
            .run(async move { work(connect(&pool).await?).await })
    }

    /// One statement on a pooled connection, outside the ingest transaction: the rows it
    /// returns.
    fn rows(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.call(move |c| async move {
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            c.query(sql, &params).await.map_err(failed)
        })
    }

    /// [`PgStore::rows`] for a statement whose rows do not matter.
    fn execute(&self, sql: &'static str, params: Vec<Param>) -> Result<(), StoreError> {
        self.rows(sql, params).map(drop)
    }

    /// The first column of each row, as JSON text, read as `T`.
    fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params)?
            .iter()
            .map(|r| from_json(r.get(0)))
            .collect()
    }

    /// The first column of the first row, as an integer (a count, a size).
    fn number(&self, sql: &'static str) -> Result<u64, StoreError> {
        let rows = self.rows(sql, Vec::new())?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn write(
        &self,
        submission: &Submission,
        json: &str,
        bounds: &Bounds,
        event: bool,
        now: u64,
    ) -> Result<Put, StoreError> {
        let w = Write {
            submission: submission.clone(),
            id: submission.id.as_str().to_owned(),
            interaction: interaction_key(submission),
            channel: submission.channel.as_str(),
            touchpoint: submission.touchpoint.as_str().to_owned(),
            json: json.to_owned(),
            device: kiosk::device(submission),
            submitted_millis: submission.submitted_at.unix_millis(),
            max_devices: i64::try_from(bounds.devices).unwrap_or(i64::MAX),
            past: self.stats.new_value_past(submission, bounds),
            now,
            event,
        };
        let open = Arc::clone(&self.open);
        let lost = Arc::clone(&self.lost);
        let last = Arc::clone(&self.last);
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let mut slot = open.lock().await;
            if slot.is_none() {
                let client = connect(&pool).await?;
                *slot = Some(begin(client).await?);
            }
            let Some(tx) = slot.as_mut() else {
                return Err(StoreError::Interrupted);
            };
            match insert(tx, w, &last).await {
                Ok(put) => Ok(put),
                Err(error) => {
                    if let Some(tx) = slot.take() {
                        lost.fetch_or(!tx.written.is_empty(), Ordering::SeqCst);
                        discard(tx.client);
                    }
                    Err(error)
                }
            }
        })
    }
}

/// Opens an ingest transaction.
async fn begin(client: Object) -> Result<Open, StoreError> {
    match client.batch_execute("BEGIN").await {
        Ok(()) => Ok(Open {
            client,
            xid: None,
            written: Vec::new(),
        }),
        Err(error) => {
            discard(client);
            Err(failed(error))
        }
    }
}

/// What the database already holds of `w`'s id or interaction, as the answer to give: what is
/// committed, and what the open transaction wrote.
async fn known(c: &Object, w: &Write) -> Result<Option<Put>, StoreError> {
    let known = c
        .prepare_cached(
            "SELECT (SELECT json FROM records WHERE id = $1),
                    EXISTS (SELECT 1 FROM records WHERE interaction = $2)",
        )
        .await
        .map_err(failed)?;
    let row = c
        .query_one(&known, &[&w.id, &w.interaction])
        .await
        .map_err(failed)?;
    if let Some(stored) = row.get::<_, Option<String>>(0) {
        return Ok(Some(if stored == w.json {
            Put::Duplicate
        } else {
            Put::IdConflict
        }));
    }
    Ok(row.get::<_, bool>(1).then_some(Put::AlreadyAnswered))
}

/// The dedupe check and the write of one submission, in the open transaction. `last` is the
/// last key this collector handed out.
async fn insert(tx: &mut Open, w: Write, last: &AtomicU64) -> Result<Put, StoreError> {
    let c = &tx.client;
    if let Some(answer) = known(c, &w).await? {
        return Ok(answer);
    }
    let mut previous = None;
    if let Some(device) = &w.device {
        let found = c
            .query_opt(
                "SELECT last_submitted FROM devices WHERE device = $1",
                &[device],
            )
            .await
            .map_err(failed)?;
        previous = found.map(|r| r.get::<_, i64>(0));
        if previous.is_none() {
            let count = c
                .query_one("SELECT count(*) FROM devices", &[])
                .await
                .map_err(failed)?;
            if count.get::<_, i64>(0) >= w.max_devices {
                return Ok(Put::TooManyValues(Bounded::Device));
            }
        }
    }
    if let Some(full) = w.past {
        return Ok(Put::TooManyValues(full));
    }
    let burst = kiosk::is_burst(previous, w.submitted_millis);
    let flags = i16::from(if burst { FLAG_BURST } else { 0 });
    let kind = i16::from(if w.event {
        EventKind::ResponseCreated.byte()
    } else {
        u8::MAX
    });
    // A conflict on any UNIQUE column (key, id, interaction) inserts nothing and leaves the
    // transaction usable; one with a transaction still running waits for it to end.
    let store = c
        .prepare_cached(
            "WITH r AS (INSERT INTO records (key, id, interaction, flags, channel, touchpoint, json)
                        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING xid),
                  o AS (INSERT INTO outbox (at, kind)
                        SELECT $1, $8::smallint FROM r WHERE $8::smallint <> 255)
             SELECT xid::text FROM r",
        )
        .await
        .map_err(failed)?;
    let mut key = w.now.max(last.load(Ordering::SeqCst) + 1);
    for _ in 0..KEY_TRIES {
        let inserted = c
            .query_opt(
                &store,
                &[
                    &(key as i64),
                    &w.id,
                    &w.interaction,
                    &flags,
                    &w.channel,
                    &w.touchpoint,
                    &w.json,
                    &kind,
                ],
            )
            .await
            .map_err(failed)?;
        let Some(inserted) = inserted else {
            // Another transaction stored this id or interaction and has committed since the
            // check, or took this key.
            if let Some(answer) = known(c, &w).await? {
                return Ok(answer);
            }
            key += 1;
            continue;
        };
        if let Some(device) = &w.device {
            c.execute(
                "INSERT INTO devices (device, last_submitted) VALUES ($1, $2)
                 ON CONFLICT (device) DO UPDATE SET last_submitted = excluded.last_submitted",
                &[device, &w.submitted_millis],
            )
            .await
            .map_err(failed)?;
        }
        let xid: &str = inserted.get(0);
        tx.xid = xid.parse().ok();
        last.fetch_max(key, Ordering::SeqCst);
        tx.written.push((w.submission, key, burst));
        return Ok(Put::Stored { key });
    }
    Err(StoreError::Database(format!(
        "{KEY_TRIES} arrival keys after {key} were taken"
    )))
}

/// Closes a connection whose transaction is in doubt instead of handing it back to the pool.
fn discard(client: Object) {
    drop(Object::take(client));
}

/// The interaction's unique key: its channel, touchpoint and id, unambiguously joined.
fn interaction_key(submission: &Submission) -> Option<String> {
    let interaction = submission.context.interaction_id.as_ref()?;
    Some(interaction_key_of(
        submission.channel,
        submission.touchpoint.as_str(),
        interaction.as_str(),
    ))
}

fn interaction_key_of(channel: Channel, touchpoint: &str, interaction: &str) -> String {
    serde_json::json!([channel.as_str(), touchpoint, interaction]).to_string()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|_| StoreError::Corrupt { key: 0 })
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt { key: 0 })
}

/// The parameters naming one delivery: endpoint, event time, event kind.
fn event_params(endpoint: &str, event: EventKey) -> Vec<Param> {
    vec![
        Box::new(endpoint.to_owned()),
        Box::new(event.at as i64),
        Box::new(i16::from(event.kind.byte())),
    ]
}

fn kind_of(byte: i16) -> Result<EventKind, StoreError> {
    u8::try_from(byte)
        .ok()
        .and_then(EventKind::from_byte)
        .ok_or(StoreError::Corrupt { key: 0 })
}

/// One record as read from the database, owned until it is visited.
type Row = (u64, u8, Channel, String, String);

impl PgStore {
    /// Up to [`PAGE`] records with `from <= key < to`, in key order.
    fn page(&self, from: u64, to: u64) -> Result<Vec<Row>, StoreError> {
        self.call(move |c| async move {
            let rows = c
                .query(
                    "SELECT key, flags, channel, touchpoint, json FROM records
                     WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                    &[&(from as i64), &(to.min(i64::MAX as u64) as i64), &PAGE],
                )
                .await
                .map_err(failed)?;
            rows.iter()
                .map(|r| {
                    let key = r.get::<_, i64>(0) as u64;
                    let channel =
                        Channel::parse(r.get(2)).map_err(|_| StoreError::Corrupt { key })?;
                    Ok((key, r.get::<_, i16>(1) as u8, channel, r.get(3), r.get(4)))
                })
                .collect()
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self._tail.take();
        if let Err(error) = Store::flush(self) {
            tracing::warn!(%error, "the last ingest transaction did not commit");
        }
    }
}

impl Store for PgStore {
    fn put(&self, submission: &Submission, json: &str, bounds: &Bounds) -> Result<Put, StoreError> {
        self.write(submission, json, bounds, true, clock::now_micros())
    }

    fn flush(&self) -> Result<(), StoreError> {
        let open = Arc::clone(&self.open);
        let lost = Arc::clone(&self.lost);
        let committed = self.db.run(async move {
            let tx = {
                let mut slot = open.lock().await;
                let tx = slot.take();
                if lost.swap(false, Ordering::SeqCst) {
                    if let Some(tx) = tx {
                        discard(tx.client);
                    }
                    return Err(StoreError::Database(
                        "an ingest transaction failed; its answers were not stored".into(),
                    ));
                }
                tx
            };
            // The slot is free again: answers that arrive during the commit gather in the
            // next transaction.
            let Some(tx) = tx else {
                return Ok(None);
            };
            match tx.client.batch_execute("COMMIT").await {
                Ok(()) => Ok(Some((tx.xid, tx.written))),
                Err(error) => {
                    discard(tx.client);
                    Err(failed(error))
                }
            }
        })?;
        // This collector's own answers are counted before they are acknowledged.
        if let Some((Some(xid), written)) = committed {
            tail::count_own(&self.counted, &self.stats, &self.joins, xid, written);
        }
        Ok(())
    }

    fn flush_failure_loses_writes(&self) -> bool {
        true
    }

    fn blocking_writes(&self) -> bool {
        true
    }

    fn waiting_for(&self) -> Option<String> {
        self.db
            .unreachable()
            .map(|why| format!("the database at {} ({why})", self.db.hosts))
    }

    fn scan(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(Record<'_>) -> bool,
    ) -> Result<(), StoreError> {
        let mut next = from;
        while next < to {
            let rows = self.page(next, to)?;
            for (key, flags, channel, touchpoint, json) in &rows {
                let record = Record {
                    received_micros: *key,
                    flags: *flags,
                    channel: *channel,
                    touchpoint,
                    json,
                };
                if !visit(record) {
                    return Ok(());
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => next = last.0 + 1,
                _ => break,
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.number("SELECT count(*) FROM records").unwrap_or(0) as usize
    }

    fn interaction_answered(
        &self,
        channel: Channel,
        touchpoint: &str,
        interaction: &str,
    ) -> Result<bool, StoreError> {
        let key = interaction_key_of(channel, touchpoint, interaction);
        let rows = self.rows(
            "SELECT 1 FROM records WHERE interaction = $1",
            vec![Box::new(key)],
        )?;
        Ok(!rows.is_empty())
    }

    fn joins(&self) -> Option<Arc<Joins>> {
        Some(Arc::clone(&self.joins))
    }

    fn aggregates(&self) -> Option<&Aggregates> {
        Some(&self.stats)
    }

    fn size_on_disk(&self) -> u64 {
        self.number("SELECT pg_database_size(current_database())")
            .unwrap_or(0)
    }

    fn secret(
        &self,
        name: &str,
        make: &mut dyn FnMut() -> std::io::Result<String>,
    ) -> Result<String, StoreError> {
        let made = make().map_err(|e| StoreError::Database(e.to_string()))?;
        // Whoever asked first keeps theirs.
        self.execute(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            vec![Box::new(name.to_owned()), Box::new(made)],
        )?;
        let rows = self.rows(
            "SELECT value FROM secrets WHERE name = $1",
            vec![Box::new(name.to_owned())],
        )?;
        rows.first()
            .map(|r| r.get(0))
            .ok_or(StoreError::Corrupt { key: 0 })
    }

    fn open_session(&self, id: &str, expires_secs: u64, now_secs: u64) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM sessions WHERE expires <= $1",
            vec![Box::new(now_secs as i64)],
        )?;
        self.execute(
            "INSERT INTO sessions (id, expires) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET expires = excluded.expires",
            vec![Box::new(id.to_owned()), Box::new(expires_secs as i64)],
        )
    }

    fn session_expiry(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.rows(
            "SELECT expires FROM sessions WHERE id = $1",
            vec![Box::new(id.to_owned())],
        )?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0) as u64))
    }

    fn end_session(&self, id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM sessions WHERE id = $1",
            vec![Box::new(id.to_owned())],
        )
    }

    fn put_link(
        &self,
        id: &str,
        token: &str,
        expires_secs: u64,
        now_secs: u64,
    ) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM links WHERE expires <= $1",
            vec![Box::new(now_secs as i64)],
        )?;
        self.execute(
            "INSERT INTO links (id, token, expires) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires = excluded.expires",
            vec![
                Box::new(id.to_owned()),
                Box::new(token.to_owned()),
                Box::new(expires_secs as i64),
            ],
        )
    }

    fn link(&self, id: &str) -> Result<Option<String>, StoreError> {
        let rows = self.rows(
            "SELECT token FROM links WHERE id = $1",
            vec![Box::new(id.to_owned())],
        )?;
        Ok(rows.first().map(|r| r.get::<_, String>(0)))
    }

    fn put_action(&self, action: &Action) -> Result<(), StoreError> {
        // In the order recorded, as on sled: ids are numbers, compared padded.
        self.execute(
            "INSERT INTO actions (ord, json) VALUES ($1, $2)
             ON CONFLICT (ord) DO UPDATE SET json = excluded.json",
            vec![
                Box::new(format!("{:0>20}", action.id)),
                Box::new(to_json(action)?),
            ],
        )
    }

    fn actions(&self) -> Result<Vec<Action>, StoreError> {
        self.json_rows("SELECT json FROM actions ORDER BY ord", Vec::new())
    }

    fn push_event(&self, kind: EventKind, data: &str) -> Result<EventKey, StoreError> {
        let data = data.to_owned();
        let now = clock::now_micros();
        let at = self.call(move |mut c| async move {
            let tx = c.transaction().await.map_err(failed)?;
            let row = tx
                .query_one("SELECT last FROM arrival FOR UPDATE", &[])
                .await
                .map_err(failed)?;
            let at = now.max(row.get::<_, i64>(0) as u64 + 1);
            tx.execute(
                "INSERT INTO outbox (at, kind, data) VALUES ($1, $2, $3)",
                &[&(at as i64), &i16::from(kind.byte()), &data],
            )
            .await
            .map_err(failed)?;
            tx.execute("UPDATE arrival SET last = $1", &[&(at as i64)])
                .await
                .map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            Ok(at)
        })?;
        Ok(EventKey { at, kind })
    }

    fn pending_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let me = self.instance.clone();
        let now = clock::now_micros();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, i16, Option<String>)> = self.call(move |c| async move {
            let rows = c
                .query(
                    "UPDATE outbox SET claimed_by = $1, claimed_until = $2
                     WHERE (at, kind) IN (
                         SELECT at, kind FROM outbox
                         WHERE claimed_until < $3 OR claimed_by = $1
                         ORDER BY at, kind LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING at, kind, data",
                    &[&me, &((now + CLAIM_MICROS) as i64), &(now as i64), &limit],
                )
                .await
                .map_err(failed)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })?;
        let mut events = rows
            .into_iter()
            .map(|(at, kind, data)| {
                Ok(Event {
                    key: EventKey {
                        at: at as u64,
                        kind: kind_of(kind)?,
                    },
                    data,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        events.sort_by_key(|e| e.key);
        Ok(events)
    }

    fn fan_out(&self, handed: &[(EventKey, Vec<Delivery>)]) -> Result<(), StoreError> {
        let me = self.instance.clone();
        let mut events = Vec::new();
        let mut deliveries = Vec::new();
        for (event, handed_to) in handed {
            events.push((event.at as i64, i16::from(event.kind.byte())));
            for d in handed_to {
                deliveries.push((d.endpoint.clone(), to_json(d)?));
            }
        }
        self.call(move |mut c| async move {
            let tx = c.transaction().await.map_err(failed)?;
            for (at, kind) in &events {
                tx.execute(
                    "DELETE FROM outbox WHERE at = $1 AND kind = $2",
                    &[at, kind],
                )
                .await
                .map_err(failed)?;
            }
            for (endpoint, json) in &deliveries {
                let d: Delivery = from_json(json)?;
                tx.execute(
                    "INSERT INTO deliveries (endpoint, at, kind, owner, json, next_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (endpoint, at, kind) DO NOTHING",
                    &[
                        endpoint,
                        &(d.event_at as i64),
                        &i16::from(d.kind.byte()),
                        &me,
                        json,
                        &(d.next_at as i64),
                    ],
                )
                .await
                .map_err(failed)?;
            }
            tx.commit().await.map_err(failed)
        })
    }

    fn outbox_len(&self) -> usize {
        self.number("SELECT count(*) FROM outbox").unwrap_or(0) as usize
    }

    fn deliveries(&self, visit: &mut dyn FnMut(Delivery) -> bool) -> Result<(), StoreError> {
        let me = self.instance.clone();
        let alive_since = clock::now_micros().saturating_sub(tail::GONE_AFTER_MICROS) as i64;
        // This collector's, and those of collectors that stopped signing their life.
        let texts: Vec<String> = self.call(move |c| async move {
            let rows = c
                .query(
                    "UPDATE deliveries SET owner = $1
                     WHERE owner = $1 OR owner NOT IN (SELECT id FROM collectors WHERE seen > $2 AND id <> $1)
                     RETURNING json",
                    &[&me, &alive_since],
                )
                .await
                .map_err(failed)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })?;
        let mut deliveries = texts
            .iter()
            .map(|t| from_json::<Delivery>(t))
            .collect::<Result<Vec<_>, _>>()?;
        deliveries.sort_by(|a, b| (&a.endpoint, a.event()).cmp(&(&b.endpoint, b.event())));
        for delivery in deliveries {
            if !visit(delivery) {
                break;
            }
        }
        Ok(())
    }

    fn delivery(&self, endpoint: &str, event: EventKey) -> Result<Option<Delivery>, StoreError> {
        let found = self.json_rows(
            "SELECT json FROM deliveries WHERE endpoint = $1 AND at = $2 AND kind = $3",
            event_params(endpoint, event),
        )?;
        Ok(found.into_iter().next())
    }

    fn put_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut params = event_params(&delivery.endpoint, delivery.event());
        params.push(Box::new(self.instance.clone()));
        params.push(Box::new(to_json(delivery)?));
        params.push(Box::new(delivery.next_at as i64));
        self.execute(
            "INSERT INTO deliveries (endpoint, at, kind, owner, json, next_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (endpoint, at, kind) DO UPDATE
             SET json = excluded.json, owner = excluded.owner, next_at = excluded.next_at",
            params,
        )
    }

    fn pending_deliveries(&self) -> Result<HashMap<String, Pending>, StoreError> {
        let rows = self.rows(
            "SELECT endpoint, count(*), min(next_at) FROM deliveries GROUP BY endpoint",
            Vec::new(),
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let pending = Pending {
                    count: r.get::<_, i64>(1) as u64,
                    next_at: r.get::<_, Option<i64>>(2).map(|n| n as u64),
                };
                (r.get(0), pending)
            })
            .collect())
    }

    fn remove_delivery(&self, endpoint: &str, event: EventKey) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM deliveries WHERE endpoint = $1 AND at = $2 AND kind = $3",
            event_params(endpoint, event),
        )
    }

    fn endpoint_state(&self, endpoint: &str) -> Result<EndpointState, StoreError> {
        let found = self.json_rows(
            "SELECT json FROM endpoints WHERE endpoint = $1",
            vec![Box::new(endpoint.to_owned())],
        )?;
        Ok(found.into_iter().next().unwrap_or_default())
    }

    fn put_endpoint_state(&self, endpoint: &str, state: &EndpointState) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO endpoints (endpoint, json) VALUES ($1, $2)
             ON CONFLICT (endpoint) DO UPDATE SET json = excluded.json",
            vec![Box::new(endpoint.to_owned()), Box::new(to_json(state)?)],
        )
    }

    fn put_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO alerts (id, opened_at, json) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json",
            vec![
                Box::new(alert.id.clone()),
                Box::new(alert.opened_at as i64),
                Box::new(to_json(alert)?),
            ],
        )
    }

    fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.json_rows("SELECT json FROM alerts ORDER BY opened_at, id", Vec::new())
    }

    fn put_acknowledgement(&self, ack: &Acknowledgement) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO acknowledgements (alert, json) VALUES ($1, $2)
             ON CONFLICT (alert) DO UPDATE SET json = excluded.json",
            vec![Box::new(ack.alert.clone()), Box::new(to_json(ack)?)],
        )
    }

    fn acknowledgements(&self) -> Result<Vec<Acknowledgement>, StoreError> {
        self.json_rows("SELECT json FROM acknowledgements", Vec::new())
    }

    fn put_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<OutcomePut>, StoreError> {
        let interactions: Vec<String> = outcomes.iter().map(|o| o.interaction.clone()).collect();
        let kinds: Vec<String> = outcomes.iter().map(|o| o.outcome.clone()).collect();
        let ats: Vec<i64> = outcomes.iter().map(|o| o.at_millis).collect();
        let jsons = outcomes
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()?;
        let lines = outcomes.to_vec();
        self.call(move |mut c| async move {
            type Identity = (String, String, i64);
            let tx = c.transaction().await.map_err(failed)?;
            // One import at a time: numbers commit in the order they are handed out.
            tx.batch_execute("LOCK TABLE outcomes IN EXCLUSIVE MODE")
                .await
                .map_err(failed)?;
            // The whole import in two statements: the new lines (a line twice in the body is
            // inserted once), then every line's stored copy.
            let inserted = tx
                .query(
                    "INSERT INTO outcomes (interaction, outcome, at_millis, json)
                     SELECT i, o, a, j FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
                         WITH ORDINALITY AS t(i, o, a, j, n)
                     ORDER BY n
                     ON CONFLICT (interaction, outcome, at_millis) DO NOTHING
                     RETURNING interaction, outcome, at_millis, seq",
                    &[&interactions, &kinds, &ats, &jsons],
                )
                .await
                .map_err(failed)?;
            let mut new: std::collections::HashMap<Identity, i64> = inserted
                .iter()
                .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
                .collect();
            let stored = tx
                .query(
                    "SELECT interaction, outcome, at_millis, json FROM outcomes
                     WHERE (interaction, outcome, at_millis) IN
                         (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]))",
                    &[&interactions, &kinds, &ats],
                )
                .await
                .map_err(failed)?;
            let stored: std::collections::HashMap<Identity, String> = stored
                .iter()
                .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
                .collect();
            tx.commit().await.map_err(failed)?;
            lines
                .iter()
                .map(|line| {
                    let key = (
                        line.interaction.clone(),
                        line.outcome.clone(),
                        line.at_millis,
                    );
                    if let Some(seq) = new.remove(&key) {
                        return Ok(OutcomePut::Stored(seq as u64));
                    }
                    let json = stored.get(&key).ok_or(StoreError::Interrupted)?;
                    let kept: Outcome = from_json(json)?;
                    Ok(if kept.same_as(line) {
                        OutcomePut::Duplicate
                    } else {
                        OutcomePut::Conflict
                    })
                })
                .collect()
        })
    }

    fn outcomes_after(
        &self,
        after: u64,
        visit: &mut dyn FnMut(u64, Outcome) -> bool,
    ) -> Result<(), StoreError> {
        let mut next = after;
        loop {
            let rows = self.rows(
                "SELECT seq, json FROM outcomes WHERE seq > $1 ORDER BY seq LIMIT $2",
                vec![Box::new(next as i64), Box::new(PAGE)],
            )?;
            for row in &rows {
                next = row.get::<_, i64>(0) as u64;
                if !visit(next, from_json(row.get(1))?) {
                    return Ok(());
                }
            }
            if (rows.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }
}
