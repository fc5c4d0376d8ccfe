//! Restore from a backup. A backup is the NDJSON export (every record's fields plus
//! `received_at`, in arrival order): `touchpoint-collector backup` writes it from a stopped store,
//! and `GET /v1/export?format=ndjson` from a running one, consistently, since arrival keys only
//! grow and the scan reads them in order (the file is the store as of some moment). Restoring
//! goes through the same dedupe as ingest, so restoring twice, or into a store that already
//! holds some of the records, keeps every submission exactly once.

use std::io::BufRead;

use protocol::Timestamp;

use crate::store::{Put, SledStore, Store, StoreError};

/// What a restore did, line by line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub restored: u64,
    /// Already in the store with the same content.
    pub duplicates: u64,
    /// Already in the store with other content (the store's copy is kept); their line numbers.
    pub conflicts: Vec<u64>,
    /// Lines that are not a valid record; their line numbers.
    pub invalid: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading the backup failed at line {line}: {source}")]
    Read { line: u64, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Splits a backup line into the submission and its receive time (microseconds).
fn parse_line(line: &str) -> Option<(protocol::Submission, String, u64)> {
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
    let received = object.remove("received_at")?;
    // The collector's own flag: decided again on restore, from the same submitted_at times.
    object.remove("burst");
    let received = Timestamp::parse(received.as_str()?).ok()?;
    let micros = u64::try_from(received.unix_millis()).ok()? * 1000;
    let submission =
        protocol::parse_submission(serde_json::to_string(&object).ok()?.as_bytes()).ok()?;
    let json = submission.to_json();
    Some((submission, json, micros))
}

/// Restores every record of `backup` into `store`, keeping receive times where the store's order
/// allows (into an empty store, always), then flushes and seals.
pub fn restore(store: &SledStore, backup: impl BufRead) -> Result<RestoreReport, RestoreError> {
    let mut report = RestoreReport::default();
    for (n, line) in backup.lines().enumerate() {
        let line_number = n as u64 + 1;
        let line = line.map_err(|source| RestoreError::Read {
            line: line_number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let Some((submission, json, micros)) = parse_line(&line) else {
            report.invalid.push(line_number);
            continue;
        };
        match store.put_at(&submission, &json, micros)? {
            Put::Stored { .. } => report.restored += 1,
            Put::Duplicate => report.duplicates += 1,
            // A restored store is not bounded, so it takes every value it is given.
            Put::IdConflict | Put::AlreadyAnswered | Put::TooManyValues(_) => {
                report.conflicts.push(line_number)
            }
        }
    }
    store.flush()?;
    store.seal_now()?;
    Ok(report)
}
