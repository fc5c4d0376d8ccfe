//! The Touchpoint collector: one binary that accepts survey answers from every channel, stores each
//! exactly once in an embedded sled database, and exports them.
//!
//! Layout, in the order a submission meets it:
//! - [`config`]: flags and environment → [`Config`]; secrets wrapped so they never print.
//! - [`http`]: routes, origin allowlist and CORS, body limits, and the one match that maps every
//!   [`http::ApiError`] to a status and a stable error code.
//! - [`ingest`]: parse and validate (the shared `protocol` crate) → dedupe and write (store) →
//!   wait until the write is on disk (durable) → an [`ingest::Outcome`].
//! - [`invitations`]: signed post-call invitations; an answer that carries one is checked against
//!   the call it binds before it is written.
//! - [`limits`]: token buckets per client address and per device (429 with `Retry-After`).
//! - [`store`]: sled behind the [`store::Store`] trait: the record, its id and its interaction are
//!   written in one transaction, so a crash keeps all three or none. Duplicates are detected here.
//! - [`durable`]: group commit. One flusher thread calls sled's blocking `flush()`; every request
//!   whose write it covered is answered together, so durability costs one fsync per batch, not one
//!   per request.
//! - [`stats`]: counts per day, channel, touchpoint, site, agent, segment and locale, kept up to
//!   date by the store at ingest, so `GET /v1/stats` reads cells, never records.
//! - [`dashboard`]: `/dashboard`, server-rendered HTML and SVG from the stats, behind a sign-in
//!   session; [`report`]: the council report of a week or month, as Markdown or printable HTML.
//! - [`export`]: CSV and NDJSON, streamed in arrival order with flat memory, over HTTP or offline.
//! - [`outcome`]: counters of every request's outcome; [`metrics`] shows them at `/metrics`.
//! - [`backup`]: restore from a backup (the NDJSON export), exactly once.
//! - [`demo`]: demo data for a first look and for the benchmarks.
//! - [`assets`]: the widget's files (embedded at build time), the `/embed` page and the demo site.
//!
//! Dependencies point one way: `http` → `ingest` → `store`/`durable`; `export` reads `store`.

pub mod assets;
pub mod backup;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod durable;
pub mod export;
pub mod http;
pub mod ingest;
pub mod invitations;
pub mod limits;
pub mod metrics;
pub mod outcome;
pub mod report;
pub mod stats;
pub mod store;

pub use config::Config;
pub use http::{start, start_with_store, Running};
