//! The Touchpoint collector: one binary that accepts survey answers from every channel, stores each
//! exactly once in an embedded sled database (or in PostgreSQL, shared by any number of
//! collectors), and reports on them.
//!
//! Layout, by layer; each module imports only those below it (`cargo xtask test` checks that no
//! two modules import each other in a circle):
//! - [`http`]: the route table grouped by who calls, the guards (origin and CORS, content type,
//!   limits, client address, admin token, session), the one error map ([`http::ApiError`]), the
//!   one page builder, and a file per route family.
//! - [`ingest`]: [`ingest::Ingest::submit`], the only place an outcome is counted; the group
//!   commit ([`ingest::commit`]) and the figures `/metrics` shows.
//! - [`read`]: export, the dashboard (departments, journeys, the council's agenda, the comment
//!   themes, the alerts and the endpoints' delivery logs), the council report, journeys, the
//!   comment themes of a period, and their shared HTML; it reads through the store and its stats
//!   cells, beside `ingest`.
//! - [`impact`]: the business view, beside `read`: the organisation's outcomes joined by
//!   interaction id to the answers that carry one (in the store's index, read in after open), rates by effort band, what the difference
//!   costs, and the fit that says which measure moves each outcome most.
//! - [`webhooks`]: events out, beside `ingest` and `read`: the outbox's events handed to the
//!   organisation file's endpoints (signed per Standard Webhooks, retried, on their own thread),
//!   and the alert rules applied to each answer. It reads through the store, where an alert's
//!   acknowledgement (by whom, when, a note; `http::hooks::acknowledge`) is kept apart from it.
//! - [`store`]: the [`store::Store`] trait, everything the collector keeps goes through it, its
//!   sled backend (byte formats, the sealed records' compact form and its migration, the sealed
//!   blocks' own file read with `pread`, the index by id and interaction, trees and sealing, the
//!   business view's index saved per sealed block, the packed outcomes, recovery, the log's
//!   rewrite at a clean stop, swapped in by the next open, sled opened again once the open's
//!   reads are done) and its PostgreSQL backend (the pool, migrations, the stats tail, moving a
//!   sled store in). Duplicates are detected here.
//! - [`channel`]: the channels' own rules, pure: a device and the burst rule (kiosk), signed
//!   invitations (agent).
//! - [`stats`]: the cells that `GET /v1/stats`, the dashboard and the report read, kept by the store,
//!   and the values seen in each dimension, which the cardinality bounds count; beside them the
//!   theme cells (`stats::themes`: each comment's keyphrases per locale, counted at ingest) and
//!   the business view's index (`stats::joins`: the answers that carry an interaction id, packed,
//!   and the outcomes by interaction, counted where the cells are).
//! - [`org`]: the organisation file (departments, touchpoints, journeys), reloaded whole, and the
//!   council's actions; one definition of a touchpoint's department.
//! - [`config`] (flags, every default, secrets), [`limits`] (token buckets), [`clock`] (the one
//!   clock, which debug builds let end-to-end tests move), [`assets`] (embedded files and page
//!   templates), [`allocator`] (huge pages refused at start; freed memory given back at once
//!   while the store opens, and what a large read freed once it has finished): the ground everything stands on.
//! - Beside the server: [`backup`] (restore from an export, exactly once) and [`demo`] (demo data).
//!
//! The path of one submission, `POST /v1/responses`:
//! 1. `http::ingest::post_response`: `guards` check the origin, content type, the address's limit
//!    and the size, and read the body.
//! 2. `ingest::Ingest::submit` → `write`: `protocol::parse_submission` validates it, then
//!    `channel::Rules::check` applies its channel's rules (invitation, device limit).
//! 3. `store::SledStore::put`: under the writer lock, the id and interaction are looked up
//!    (duplicate, conflict, already answered), a new touchpoint, site, segment, agent or device
//!    past its bound is refused, the burst rule stamps the record, the record is written and
//!    indexed in memory, and its stats cell and its comment's theme cells are counted.
//!    (On PostgreSQL, `store::PgStore::put` does the same in the open ingest transaction, on the
//!    blocking pool.)
//! 4. `ingest::commit::GroupCommit::durable`: the request waits for the flush (on PostgreSQL,
//!    the commit) that covers it.
//! 5. `ingest::Ingest::settle`: the outcome is counted, and `http` answers 201, 200 or the
//!    refusal's status through `http::error`.
//! 6. Later, on the webhook thread: `webhooks::worker` finds the answer's `response.created` in
//!    the outbox (written in step 3, durable in step 4; on sled, written only while the
//!    organisation file has an endpoint or an alert rule that reads it), writes a delivery per
//!    endpoint that wants it, applies the alert rules, and posts each delivery until it is
//!    accepted.

pub mod allocator;
pub mod assets;
pub mod backup;
pub mod channel;
pub mod clock;
pub mod config;
pub mod demo;
pub mod http;
pub mod impact;
pub mod ingest;
pub mod limits;
pub mod org;
pub mod read;
pub mod stats;
pub mod store;
pub mod webhooks;

pub use config::Config;
pub use http::{start, start_with_store, Running};
