//! `touchpoint-collector migrate-store`: a sled store moved into PostgreSQL exactly once, in
//! batches, each committed with how far the move got (`imported`), so a move that was
//! interrupted goes on from there when run again. Records keep their arrival keys (so receive
//! times, order and the export stay the same), their burst flags and their id and interaction
//! uniqueness; the invitations' secret and the council's actions come along. No event is made:
//! moving a store does not announce its old answers again.
//!
//! Collectors must not serve on the database meanwhile: each batch checks that no record has a
//! later key than the move's last one, and stops otherwise.

use protocol::Submission;

use super::{db::failed, discard, interaction_key, PgStore};
use crate::{
    channel::kiosk,
    store::{Record, Store, StoreError},
};

/// What a move did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Records written by this run.
    pub records: u64,
    /// Records an earlier, interrupted run had already moved.
    pub already: u64,
    /// Ids found in the database with other content (the database's copy is kept).
    pub conflicts: Vec<String>,
}

/// One record on its way.
struct Row {
    key: i64,
    id: String,
    interaction: Option<String>,
    flags: i16,
    channel: &'static str,
    touchpoint: String,
    json: String,
    device: Option<(String, i64)>,
}

impl Row {
    fn of(record: Record<'_>) -> Result<Self, StoreError> {
        let key = record.received_micros;
        let submission: Submission = protocol::parse_submission(record.json.as_bytes())
            .map_err(|_| StoreError::Corrupt { key })?;
        Ok(Self {
            key: key as i64,
            id: submission.id.as_str().to_owned(),
            interaction: interaction_key(&submission),
            flags: i16::from(record.flags),
            channel: record.channel.as_str(),
            touchpoint: record.touchpoint.to_owned(),
            json: record.json.to_owned(),
            device: kiosk::device(&submission).map(|d| (d, submission.submitted_at.unix_millis())),
        })
    }
}

impl PgStore {
    /// Moves every record of `source` (named `name`, so a second run knows its own progress),
    /// `batch` records per transaction, and its secret and actions.
    pub fn import(
        &self,
        source: &dyn Store,
        name: &str,
        batch: usize,
    ) -> Result<Moved, StoreError> {
        let mut moved = Moved::default();
        let mut from = self.import_progress(name)?.map_or(0, |last| last + 1);
        moved.already = count_before(source, from)?;
        loop {
            let mut rows = Vec::with_capacity(batch);
            let mut failed_row = None;
            source.scan(from, u64::MAX, &mut |record| {
                match Row::of(record) {
                    Ok(row) => rows.push(row),
                    Err(error) => failed_row = Some(error),
                }
                failed_row.is_none() && rows.len() < batch
            })?;
            if let Some(error) = failed_row {
                return Err(error);
            }
            let Some(last) = rows.last().map(|r| r.key as u64) else {
                break;
            };
            let (written, conflicts) = self.import_batch(name, rows)?;
            moved.records += written;
            moved.conflicts.extend(conflicts);
            from = last + 1;
        }
        if let Ok(secret) = source.secret("invitation", &mut || {
            Err(std::io::Error::other("the source has no invitation secret"))
        }) {
            self.secret("invitation", &mut || Ok(secret.clone()))?;
        }
        for action in source.actions()? {
            self.put_action(&action)?;
        }
        // This collector's own cells now hold the moved records too.
        super::tail::catch_up(&self.db, &self.stats, &self.joins, &self.counted)?;
        Ok(moved)
    }

    /// The last key a move of `name` committed, if it began.
    fn import_progress(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let name = name.to_owned();
        self.call(move |c| async move {
            let row = c
                .query_opt("SELECT last_key FROM imported WHERE source = $1", &[&name])
                .await
                .map_err(failed)?;
            Ok(row.map(|r| r.get::<_, i64>(0) as u64))
        })
    }

    /// One batch in one transaction, with the move's progress; returns how many records it
    /// wrote and the ids that conflicted.
    fn import_batch(&self, name: &str, rows: Vec<Row>) -> Result<(u64, Vec<String>), StoreError> {
        let name = name.to_owned();
        self.call(move |mut c| async move {
            let result = async {
                let tx = c.transaction().await.map_err(failed)?;
                // Two moves take turns.
                let last = tx
                    .query_one("SELECT last FROM arrival FOR UPDATE", &[])
                    .await
                    .map_err(failed)?
                    .get::<_, i64>(0);
                let progress = tx
                    .query_opt("SELECT last_key FROM imported WHERE source = $1", &[&name])
                    .await
                    .map_err(failed)?
                    .map(|r| r.get::<_, i64>(0));
                let others = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM records WHERE key > $1)",
                        &[&progress.unwrap_or(-1)],
                    )
                    .await
                    .map_err(failed)?
                    .get::<_, bool>(0);
                if others || last != progress.unwrap_or(0) {
                    return Err(StoreError::Database(
                        "the database holds answers that were not moved from this store; move into a new database, before any collector serves on it".into(),
                    ));
                }
                let insert = tx
                    .prepare(
                        "INSERT INTO records (key, id, interaction, flags, channel, touchpoint, json)
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    )
                    .await
                    .map_err(failed)?;
                let (mut written, mut conflicts) = (0, Vec::new());
                for row in &rows {
                    let n = tx
                        .execute(
                            &insert,
                            &[&row.key, &row.id, &row.interaction, &row.flags, &row.channel, &row.touchpoint, &row.json],
                        )
                        .await
                        .map_err(failed)?;
                    if n == 0 {
                        conflicts.push(row.id.clone());
                        continue;
                    }
                    written += 1;
                    if let Some((device, submitted)) = &row.device {
                        tx.execute(
                            "INSERT INTO devices (device, last_submitted) VALUES ($1, $2)
                             ON CONFLICT (device) DO UPDATE SET last_submitted = excluded.last_submitted",
                            &[device, submitted],
                        )
                        .await
                        .map_err(failed)?;
                    }
                }
                let up_to = rows.last().map_or(last, |r| r.key);
                tx.execute("UPDATE arrival SET last = $1", &[&up_to])
                    .await
                    .map_err(failed)?;
                tx.execute(
                    "INSERT INTO imported (source, last_key) VALUES ($1, $2)
                     ON CONFLICT (source) DO UPDATE SET last_key = excluded.last_key",
                    &[&name, &up_to],
                )
                .await
                .map_err(failed)?;
                tx.commit().await.map_err(failed)?;
                Ok((written, conflicts))
            }
            .await;
            if result.is_err() {
                discard(c);
            }
            result
        })
    }
}

/// How many records of `source` come before key `from`.
fn count_before(source: &dyn Store, from: u64) -> Result<u64, StoreError> {
    let mut count = 0;
    source.scan(0, from, &mut |_| {
        count += 1;
        true
    })?;
    Ok(count)
}
