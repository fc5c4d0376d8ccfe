//! Export: every stored record in arrival order, as NDJSON (the submission's own fields plus
//! `received_at`) or CSV (RFC 4180, one row per record, safe to open in a spreadsheet). Both
//! stream through a `Write`, so memory stays flat however many records there are; the same code
//! serves `GET /v1/export` and the offline `export` command.

use std::{borrow::Cow, io, io::Write};

use protocol::{Channel, Ident, Timestamp};
use serde::Deserialize;

use crate::store::{Record, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "csv" => Some(Self::Csv),
            "ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// Which records to export. `from` is inclusive and `to` exclusive, on the receive time.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from_micros: Option<u64>,
    pub to_micros: Option<u64>,
    pub channel: Option<Channel>,
    pub touchpoint: Option<Ident>,
}

/// A bad export query parameter; the message names the parameter, not its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(pub &'static str);

impl Filter {
    /// Builds a filter from query values; times are RFC 3339 or a `YYYY-MM-DD` date (UTC midnight).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        channel: Option<&str>,
        touchpoint: Option<&str>,
    ) -> Result<Self, BadQuery> {
        let time = |text: Option<&str>, what: &'static str| -> Result<Option<u64>, BadQuery> {
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                return Ok(None);
            };
            let full;
            let text = if text.len() == 10 {
                full = [text, "T00:00:00Z"].concat();
                full.as_str()
            } else {
                text
            };
            let ts = Timestamp::parse(text).map_err(|_| BadQuery(what))?;
            Ok(Some(
                u64::try_from(ts.unix_millis()).map_err(|_| BadQuery(what))? * 1000,
            ))
        };
        Ok(Self {
            from_micros: time(from, "from must be an RFC 3339 timestamp or a YYYY-MM-DD date")?,
            to_micros: time(to, "to must be an RFC 3339 timestamp or a YYYY-MM-DD date")?,
            channel: channel
                .filter(|c| !c.is_empty())
                .map(|c| Channel::parse(c).map_err(|_| BadQuery("channel must be one of web, kiosk, agent")))
                .transpose()?,
            touchpoint: touchpoint
                .filter(|t| !t.is_empty())
                .map(|t| Ident::parse(t).ok_or(BadQuery("touchpoint must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'")))
                .transpose()?,
        })
    }

    fn matches(&self, record: &Record<'_>) -> bool {
        self.channel.is_none_or(|c| c == record.channel)
            && self
                .touchpoint
                .as_ref()
                .is_none_or(|t| t.as_str() == record.touchpoint)
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 18] = [
    "id",
    "received_at",
    "submitted_at",
    "survey_id",
    "survey_version",
    "channel",
    "touchpoint",
    "locale",
    "effort",
    "confidence",
    "emotion",
    "comment",
    "interaction_id",
    "agent_id",
    "site_id",
    "device_id",
    "segment",
    "page",
];

/// The stored canonical JSON, read without copying where no escape forces it.
#[derive(Deserialize)]
struct Row<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    survey: RowSurvey<'a>,
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow)]
    touchpoint: Cow<'a, str>,
    answers: RowAnswers<'a>,
    #[serde(borrow, default)]
    comment: Option<Cow<'a, str>>,
    #[serde(borrow)]
    locale: Cow<'a, str>,
    #[serde(borrow, default)]
    context: RowContext<'a>,
    #[serde(borrow)]
    submitted_at: Cow<'a, str>,
}

#[derive(Deserialize)]
struct RowSurvey<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    version: u32,
}

#[derive(Deserialize)]
struct RowAnswers<'a> {
    effort: Option<u8>,
    confidence: Option<u8>,
    #[serde(borrow)]
    emotion: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct RowContext<'a> {
    #[serde(borrow)]
    interaction_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    site_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    device_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    segment: Option<Cow<'a, str>>,
    #[serde(borrow)]
    page: Option<Cow<'a, str>>,
}

/// Writes one CSV cell: text that a spreadsheet would read as a formula gets a leading `'`, and
/// cells with a quote, comma or line break are quoted.
fn cell(out: &mut Vec<u8>, text: &str) {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = text.contains(['"', ',', '\n', '\r']);
    if quote {
        out.push(b'"');
    }
    if risky {
        out.push(b'\'');
    }
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

fn opt_cell(out: &mut Vec<u8>, text: Option<&Cow<'_, str>>) {
    if let Some(t) = text {
        cell(out, t);
    }
}

fn number_cell(out: &mut Vec<u8>, n: Option<u8>) {
    if let Some(n) = n {
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

fn write_csv_row(out: &mut Vec<u8>, record: &Record<'_>, received_at: &str) -> io::Result<()> {
    let row: Row<'_> = serde_json::from_str(record.json).map_err(io::Error::other)?;
    let c = &row.context;
    cell(out, &row.id);
    out.push(b',');
    cell(out, received_at);
    out.push(b',');
    cell(out, &row.submitted_at);
    out.push(b',');
    cell(out, &row.survey.id);
    out.push(b',');
    out.extend_from_slice(row.survey.version.to_string().as_bytes());
    for text in [&row.channel, &row.touchpoint, &row.locale] {
        out.push(b',');
        cell(out, text);
    }
    out.push(b',');
    number_cell(out, row.answers.effort);
    out.push(b',');
    number_cell(out, row.answers.confidence);
    for text in [row.answers.emotion.as_ref(), row.comment.as_ref()] {
        out.push(b',');
        opt_cell(out, text);
    }
    for text in [
        &c.interaction_id,
        &c.agent_id,
        &c.site_id,
        &c.device_id,
        &c.segment,
        &c.page,
    ] {
        out.push(b',');
        opt_cell(out, text.as_ref());
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn write_ndjson_row(out: &mut Vec<u8>, record: &Record<'_>, received_at: &str) {
    // The canonical form ends with `}`: append `received_at` inside the object.
    let json = record.json.as_bytes();
    out.extend_from_slice(&json[..json.len() - 1]);
    out.extend_from_slice(b",\"received_at\":\"");
    out.extend_from_slice(received_at.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Why an export stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Write(#[from] io::Error),
}

/// Writes the records `filter` selects to `out`, in arrival order. Rows are gathered in a small
/// buffer and written in chunks, so memory does not grow with the store.
pub fn write(
    store: &dyn Store,
    filter: &Filter,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    const CHUNK: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    if format == Format::Csv {
        // A byte-order mark makes spreadsheet programs read the file as UTF-8.
        buf.extend_from_slice("\u{feff}".as_bytes());
        buf.extend_from_slice(CSV_COLUMNS.join(",").as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    let mut rows = 0u64;
    let mut failure: Option<io::Error> = None;
    let from = filter.from_micros.unwrap_or(0);
    let to = filter.to_micros.unwrap_or(u64::MAX);
    store.scan(from, to, &mut |record| {
        if !filter.matches(&record) {
            return true;
        }
        let received_at = Timestamp::from_unix_millis((record.received_micros / 1000) as i64);
        let written = match format {
            Format::Ndjson => {
                write_ndjson_row(&mut buf, &record, received_at.as_str());
                Ok(())
            }
            Format::Csv => write_csv_row(&mut buf, &record, received_at.as_str()),
        };
        let flushed = written.and_then(|()| {
            if buf.len() >= CHUNK {
                out.write_all(&buf)?;
                buf.clear();
            }
            Ok(())
        });
        match flushed {
            Ok(()) => {
                rows += 1;
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_cell(text: &str) -> String {
        let mut out = Vec::new();
        cell(&mut out, text);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn cells_that_look_like_formulas_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn query_values_are_checked() {
        assert!(Filter::parse(
            Some("2026-11-01"),
            Some("2026-11-22T10:00:00Z"),
            Some("web"),
            Some("checkout")
        )
        .is_ok());
        assert_eq!(
            Filter::parse(Some("2026-11-01"), None, None, None).map(|f| f.from_micros),
            Ok(Some(1_793_491_200_000_000))
        );
        assert!(Filter::parse(Some("yesterday"), None, None, None).is_err());
        assert!(Filter::parse(None, None, Some("fax"), None).is_err());
        assert!(Filter::parse(None, None, None, Some("check out")).is_err());
    }
}
