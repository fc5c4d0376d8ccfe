//! The PostgreSQL schema, as numbered migrations applied in order at start (or by
//! `touchpoint-collector migrate`), each in its own transaction and recorded in
//! `touchpoint_schema`. Hand-written rather than a migration crate's runner: collectors that
//! start together must not migrate at once, so the whole step runs under an advisory lock, and
//! the list is a few statements.
//!
//! Tables:
//! - `arrival`: one row, the last key an event made apart from an answer (an alert's) or a move
//!   (`migrate-store`) took; they lock it to take turns. Ingest does not: answers take their
//!   key from the clock, unique by the primary key.
//! - `records`: arrival key (receive time, µs) → the submission; `id` and `interaction` are
//!   UNIQUE, so one row per id and per answered interaction whatever collector got which copy.
//!   `xid` is the transaction that wrote it: the collectors' transactions commit in any order,
//!   so a key seen says nothing of the smaller ones, but once every transaction older than a
//!   given one has ended, no record with an older `xid` can appear any more (the stats tail
//!   relies on it).
//! - `devices`: each kiosk device's last `submitted_at`, for the burst rule.
//! - `secrets`, `sessions`, `actions`: as on sled.
//! - `outbox` (claimed by one collector at a time), `deliveries` (owned by the collector that
//!   fanned them out; `next_at`, beside the JSON, is indexed per endpoint so they are counted
//!   without being read), `endpoints`, `alerts`: the events going out ([`crate::store::events`]);
//!   `acknowledgements`: who took an alert on, apart from the alert the delivery thread rewrites.
//! - `links`: short invitation links → the signed token, until it expires.
//! - `collectors`: each running collector's last sign of life, so a dead one's deliveries are
//!   taken over.
//! - `imported`: how far `migrate-store` got, so it resumes.
//! - `outcomes`: the organisation's outcomes, UNIQUE by identity (interaction, outcome, time),
//!   numbered by `seq`; an import holds the table's lock to its commit, so numbers commit in
//!   order and a reader that saw one has seen every smaller one.

use deadpool_postgres::Object;

use super::db::failed;
use crate::store::StoreError;

/// The migrations, in order; the schema's version is how many were applied.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE arrival (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    last bigint NOT NULL
);
INSERT INTO arrival VALUES (true, 0);
CREATE TABLE records (
    key bigint PRIMARY KEY,
    id text NOT NULL UNIQUE,
    interaction text UNIQUE,
    flags smallint NOT NULL,
    channel text NOT NULL,
    touchpoint text NOT NULL,
    json text NOT NULL
);
CREATE TABLE devices (device text PRIMARY KEY, last_submitted bigint NOT NULL);
CREATE TABLE secrets (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE sessions (id text PRIMARY KEY, expires bigint NOT NULL);
CREATE TABLE actions (ord text PRIMARY KEY, json text NOT NULL);
CREATE TABLE outbox (
    at bigint NOT NULL,
    kind smallint NOT NULL,
    data text,
    claimed_by text,
    claimed_until bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (at, kind)
);
CREATE TABLE deliveries (
    endpoint text NOT NULL,
    at bigint NOT NULL,
    kind smallint NOT NULL,
    owner text NOT NULL,
    json text NOT NULL,
    PRIMARY KEY (endpoint, at, kind)
);
CREATE TABLE endpoints (endpoint text PRIMARY KEY, json text NOT NULL);
CREATE TABLE alerts (id text PRIMARY KEY, opened_at bigint NOT NULL, json text NOT NULL);
CREATE TABLE collectors (id text PRIMARY KEY, seen bigint NOT NULL);
CREATE TABLE imported (source text PRIMARY KEY, last_key bigint NOT NULL);
",
    r"
CREATE TABLE acknowledgements (alert text PRIMARY KEY, json text NOT NULL);
",
    r"
CREATE TABLE links (id text PRIMARY KEY, token text NOT NULL, expires bigint NOT NULL);
CREATE INDEX links_expires ON links (expires);
",
    // Ingest transactions no longer take turns on `arrival`: the stats tail follows records by
    // the transaction that wrote them instead of by key.
    r"
ALTER TABLE records ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX records_xid ON records (xid, key);
",
    // Each endpoint's pending deliveries counted without reading them.
    r"
ALTER TABLE deliveries ADD COLUMN next_at bigint;
UPDATE deliveries SET next_at = (json::jsonb ->> 'next_at')::bigint;
ALTER TABLE deliveries ALTER COLUMN next_at SET NOT NULL;
CREATE INDEX deliveries_next ON deliveries (endpoint, next_at);
",
    // The organisation's outcomes, each line once by its identity.
    r"
CREATE TABLE outcomes (
    seq bigserial PRIMARY KEY,
    interaction text NOT NULL,
    outcome text NOT NULL,
    at_millis bigint NOT NULL,
    json text NOT NULL,
    UNIQUE (interaction, outcome, at_millis)
);
",
];

/// The advisory lock key under which migrations run ("tpschema").
const LOCK: i64 = 0x7470_7363_6865_6d61;

/// Applies the migrations not applied yet; returns the schema's version.
pub(super) async fn migrate(client: &mut Object) -> Result<usize, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS touchpoint_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .or_else(|e| {
            // Two collectors creating it at once: the other one won.
            match e.code() {
                Some(code) if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => Ok(()),
                _ => Err(failed(e)),
            }
        })?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await
        .map_err(failed)?;
    let applied = apply(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await
        .map_err(failed);
    let version = applied?;
    unlocked?;
    Ok(version)
}

async fn apply(client: &mut Object) -> Result<usize, StoreError> {
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM touchpoint_schema",
            &[],
        )
        .await
        .map_err(failed)?;
    let current = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database's schema is version {current}, newer than this collector's {}; run a newer collector",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        let tx = client.transaction().await.map_err(failed)?;
        tx.batch_execute(sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO touchpoint_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(MIGRATIONS.len())
}
