//! Export: every stored record in arrival order, as NDJSON (the submission's own fields plus
//! `burst` and `received_at`) or CSV (RFC 4180, one row per record, safe to open in a spreadsheet). Both
//! stream through a `Write`, so memory stays flat however many records there are; the same code
//! serves `GET /v1/export` and the offline `export` command.
//!
//! Long for its tests (the formats' snapshots and the spreadsheet guards); the code is under 500
//! lines.

use std::{borrow::Cow, io, io::Write};

use protocol::{Channel, Ident, Timestamp};

use crate::{
    stats::{query::parse_channel, BadQuery},
    store::{Record, Store, StoreError, FLAG_BURST},
};

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
            // Nothing was received before 1970: an earlier bound is that one.
            Ok(Some(ts.unix_millis().max(0).unsigned_abs() * 1000))
        };
        Ok(Self {
            from_micros: time(from, "from must be an RFC 3339 timestamp or a YYYY-MM-DD date")?,
            to_micros: time(to, "to must be an RFC 3339 timestamp or a YYYY-MM-DD date")?,
            channel: channel
                .filter(|c| !c.is_empty())
                .map(parse_channel)
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

/// The CSV columns, in order; `burst` (the collector's, like `received_at`) comes last.
pub const CSV_COLUMNS: [&str; 20] = [
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
    "assisted",
    "burst",
];

/// Where each canonical JSON field goes among the CSV columns (`received_at`, column 1, is the
/// collector's own).
fn column(parent: &[u8], key: &[u8]) -> Option<usize> {
    Some(match (parent, key) {
        (b"", b"id") => 0,
        (b"", b"submitted_at") => 2,
        (b"survey", b"id") => 3,
        (b"survey", b"version") => 4,
        (b"", b"channel") => 5,
        (b"", b"touchpoint") => 6,
        (b"", b"locale") => 7,
        (b"answers", b"effort") => 8,
        (b"answers", b"confidence") => 9,
        (b"answers", b"emotion") => 10,
        (b"", b"comment") => 11,
        (b"context", b"interaction_id") => 12,
        (b"context", b"agent_id") => 13,
        (b"context", b"site_id") => 14,
        (b"context", b"device_id") => 15,
        (b"context", b"segment") => 16,
        (b"context", b"page") => 17,
        (b"context", b"assisted") => 18,
        _ => return None,
    })
}

/// Reads the canonical JSON that `Submission::to_json` writes (objects, strings and small
/// unsigned numbers) straight into CSV columns: several times faster than a general parser, which
/// is what lets a million rows export in about a second.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    columns: [Option<Cow<'a, str>>; 19],
}

impl<'a> Fields<'a> {
    fn read(json: &'a str) -> Option<Self> {
        let mut fields = Self {
            bytes: json.as_bytes(),
            at: 0,
            columns: Default::default(),
        };
        fields.object(b"")?;
        Some(fields)
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn object(&mut self, parent: &'a [u8]) -> Option<()> {
        (self.next_byte()? == b'{').then_some(())?;
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Some(());
        }
        loop {
            (self.next_byte()? == b'"').then_some(())?;
            let start = self.at;
            self.at += self.bytes[start..].iter().position(|b| *b == b'"')?;
            let key = &self.bytes[start..self.at];
            self.at += 1;
            (self.next_byte()? == b':').then_some(())?;
            match *self.bytes.get(self.at)? {
                b'{' => self.object(key)?,
                b'"' => {
                    let value = self.string()?;
                    if let Some(c) = column(parent, key) {
                        self.columns[c] = Some(value);
                    }
                }
                b't' | b'f' => {
                    // `context.assisted`, the schema's one boolean.
                    let literal: &'static str = if self.bytes[self.at..].starts_with(b"true") {
                        "true"
                    } else if self.bytes[self.at..].starts_with(b"false") {
                        "false"
                    } else {
                        return None;
                    };
                    self.at += literal.len();
                    if let Some(c) = column(parent, key) {
                        self.columns[c] = Some(Cow::Borrowed(literal));
                    }
                }
                b'0'..=b'9' => {
                    let start = self.at;
                    self.at += self.bytes[start..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    let digits = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                    if let Some(c) = column(parent, key) {
                        self.columns[c] = Some(Cow::Borrowed(digits));
                    }
                }
                _ => return None,
            }
            match self.next_byte()? {
                b',' => continue,
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A JSON string at `at`, borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.at += 1;
        let start = self.at;
        let len = self.bytes[start..]
            .iter()
            .position(|b| *b == b'"' || *b == b'\\')?;
        self.at += len;
        if self.bytes[self.at] == b'"' {
            self.at += 1;
            return std::str::from_utf8(&self.bytes[start..start + len])
                .ok()
                .map(Cow::Borrowed);
        }
        let mut out = String::from(std::str::from_utf8(&self.bytes[start..self.at]).ok()?);
        loop {
            match self.next_byte()? {
                b'"' => return Some(Cow::Owned(out)),
                b'\\' => match self.next_byte()? {
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    b'/' => out.push('/'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let unit = self.hex4()?;
                        let c = if (0xd800..0xdc00).contains(&unit) {
                            (self.next_byte()? == b'\\' && self.next_byte()? == b'u')
                                .then_some(())?;
                            let low = self.hex4()?;
                            char::from_u32(
                                0x10000 + ((unit - 0xd800) << 10) + (low.checked_sub(0xdc00)?),
                            )?
                        } else {
                            char::from_u32(unit)?
                        };
                        out.push(c);
                    }
                    _ => return None,
                },
                _ => {
                    let start = self.at - 1;
                    let len = self.bytes[start..]
                        .iter()
                        .position(|b| *b == b'"' || *b == b'\\')?;
                    out.push_str(std::str::from_utf8(&self.bytes[start..start + len]).ok()?);
                    self.at = start + len;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.bytes.get(self.at..self.at + 4)?).ok()?;
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

/// Whether a spreadsheet could read `text` as a formula: it starts with a tab or a carriage
/// return, or its first visible character is a sign that starts one. Spreadsheets skip leading
/// spaces (any Unicode space, such as U+3000 or a non-breaking space) and invisible format
/// characters (zero-width, bidi controls), and read the full-width and small forms of the signs
/// (`＝` U+FF1D, `＋`, `－`, `＠`, `﹦`…) and the minus sign U+2212 as the ASCII ones.
fn looks_like_formula(text: &str) -> bool {
    if text.starts_with(['\t', '\r']) {
        return true;
    }
    let first = text
        .chars()
        .find(|c| !c.is_whitespace() && !is_invisible(*c));
    matches!(
        first,
        Some(
            '=' | '+'
                | '-'
                | '@'
                | '\u{FF1D}'
                | '\u{FF0B}'
                | '\u{FF0D}'
                | '\u{FF20}'
                | '\u{FE66}'
                | '\u{FE62}'
                | '\u{FE63}'
                | '\u{FE6B}'
                | '\u{2212}'
        )
    )
}

/// Format characters that take no room on screen: zero-width spaces and joiners, the byte-order
/// mark, the word joiner and the bidi controls.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
        || crate::read::html::is_bidi_control(c)
}

/// Writes one CSV cell: text that a spreadsheet would read as a formula gets a leading `'`, and
/// cells with a quote, comma or line break are quoted.
fn cell(out: &mut Vec<u8>, text: &str) {
    let risky = looks_like_formula(text);
    let quote = text
        .bytes()
        .any(|b| matches!(b, b'"' | b',' | b'\n' | b'\r'));
    if !risky && !quote {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    if quote {
        out.push(b'"');
    }
    if risky {
        out.push(b'\'');
    }
    let mut parts = text.split('"');
    if let Some(first) = parts.next() {
        out.extend_from_slice(first.as_bytes());
    }
    for part in parts {
        out.extend_from_slice(b"\"\"");
        out.extend_from_slice(part.as_bytes());
    }
    if quote {
        out.push(b'"');
    }
}

fn write_csv_row(out: &mut Vec<u8>, json: &str, received_at: &str, burst: bool) -> io::Result<()> {
    let fields = Fields::read(json).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a stored record is not canonical JSON",
        )
    })?;
    for (i, value) in fields.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match (i, value) {
            (1, _) => cell(out, received_at),
            (_, Some(text)) => cell(out, text),
            (_, None) => {}
        }
    }
    out.extend_from_slice(if burst { b",true\r\n" } else { b",false\r\n" });
    Ok(())
}

fn write_ndjson_row(out: &mut Vec<u8>, json: &str, received_at: &str, burst: bool) {
    // The canonical form ends with `}`: append `burst` and `received_at` inside the object.
    let json = json.as_bytes();
    out.extend_from_slice(&json[..json.len() - 1]);
    out.extend_from_slice(if burst {
        b",\"burst\":true"
    } else {
        b",\"burst\":false"
    });
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

/// Records copied out of the store in one buffer, to be formatted on another thread.
#[derive(Default)]
struct Batch {
    json: String,
    /// Receive time, flags, and the end of the record's JSON in `json`.
    rows: Vec<(u64, u8, usize)>,
}

/// Writes the records `filter` selects to `out`, in arrival order. One thread reads the store
/// while this one formats; batches pass through a bounded channel and rows leave in chunks, so
/// memory does not grow with the store.
pub fn write(
    store: &dyn Store,
    filter: &Filter,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    const CHUNK: usize = 64 * 1024;
    const BATCH: usize = 1024;
    let from = filter.from_micros.unwrap_or(0);
    let to = filter.to_micros.unwrap_or(u64::MAX);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        let reader = scope.spawn(move || {
            let mut batch = Batch::default();
            store.scan(from, to, &mut |record| {
                if filter.matches(&record) {
                    batch.json.push_str(record.json);
                    batch
                        .rows
                        .push((record.received_micros, record.flags, batch.json.len()));
                    if batch.rows.len() == BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
                        return false; // the writer stopped
                    }
                }
                true
            })?;
            if !batch.rows.is_empty() {
                let _ = tx.send(batch);
            }
            Ok::<_, StoreError>(())
        });
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        if format == Format::Csv {
            // A byte-order mark makes spreadsheet programs read the file as UTF-8.
            buf.extend_from_slice("\u{feff}".as_bytes());
            buf.extend_from_slice(CSV_COLUMNS.join(",").as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        let mut rows = 0u64;
        let written = (|| -> io::Result<()> {
            for batch in rx {
                let mut start = 0;
                for (received_micros, flags, end) in batch.rows {
                    let burst = flags & FLAG_BURST != 0;
                    let json = &batch.json[start..end];
                    start = end;
                    let received_at = Timestamp::from_unix_millis((received_micros / 1000) as i64);
                    match format {
                        Format::Ndjson => {
                            write_ndjson_row(&mut buf, json, received_at.as_str(), burst)
                        }
                        Format::Csv => write_csv_row(&mut buf, json, received_at.as_str(), burst)?,
                    }
                    rows += 1;
                    if buf.len() >= CHUNK {
                        out.write_all(&buf)?;
                        buf.clear();
                    }
                }
            }
            out.write_all(&buf)?;
            out.flush()
        })();
        let read = reader.join().unwrap_or(Err(StoreError::Interrupted));
        written?;
        read?;
        Ok(rows)
    })
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

    /// Regression (issue 13): the guard looked at the first byte only.
    #[test]
    fn formulas_behind_spaces_or_in_full_width_are_neutralised() {
        for risky in [
            " =1+2",
            "\n=1+2",
            "\u{A0}=1+2",
            "\u{3000}=1+2",
            "\u{2003}\u{2009}+1",
            "\u{200B}=1",
            "\u{FEFF}@SUM(A1)",
            "\u{202E}-1",
            "\u{FF1D}1+2",
            "\u{3000}\u{FF1D}1",
            "\u{FF0B}1",
            "\u{FF0D}1",
            "\u{FF20}SUM(A1)",
            "\u{FE66}1",
            "\u{2212}1",
        ] {
            assert!(looks_like_formula(risky), "{risky:?}");
            assert!(
                csv_cell(risky).trim_start_matches('"').starts_with('\''),
                "{risky:?}"
            );
        }
        for plain in [
            "",
            " ",
            "plain",
            " plain =1",
            "1+2",
            "a@b",
            "\u{3000}ok",
            "– dash",
        ] {
            assert!(!looks_like_formula(plain), "{plain:?}");
        }
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

    #[test]
    fn the_canonical_reader_agrees_with_a_json_parser() {
        let comments = [
            "plain",
            "quote \" and backslash \\ and / slash",
            "lines\nand\ttabs\r\n",
            "ünïcödé — شكرا — 🙂 emoji",
            "=1+2, \"formula\"",
        ];
        for (n, comment) in comments.iter().enumerate() {
            let body = serde_json::json!({
                "id": format!("0192f1a4-7b3c-7def-8a90-{n:012}"),
                "survey": {"id": "core-cx", "version": 1},
                "channel": "agent", "touchpoint": "billing",
                "answers": {"effort": 3, "emotion": "neutral"},
                "comment": comment, "locale": "ar",
                "context": {"interaction_id": "call-1", "page": "/a/b"},
                "submitted_at": "2026-11-22T10:00:00+01:00"
            });
            let sub = protocol::parse_submission(body.to_string().as_bytes()).expect("valid");
            let json = sub.to_json();
            let fields = Fields::read(&json).expect("canonical");
            let get = |i: usize| fields.columns[i].as_deref();
            assert_eq!(get(0), body["id"].as_str());
            assert_eq!(get(2), Some("2026-11-22T10:00:00+01:00"));
            assert_eq!((get(3), get(4)), (Some("core-cx"), Some("1")));
            assert_eq!(
                (get(5), get(6), get(7)),
                (Some("agent"), Some("billing"), Some("ar"))
            );
            assert_eq!(
                (get(8), get(9), get(10)),
                (Some("3"), None, Some("neutral"))
            );
            assert_eq!(get(11), Some(*comment), "{json}");
            assert_eq!(
                (get(12), get(13), get(17)),
                (Some("call-1"), None, Some("/a/b"))
            );
        }
        assert!(Fields::read("{\"id\":").is_none());
        assert!(Fields::read("[1]").is_none());
    }
}
