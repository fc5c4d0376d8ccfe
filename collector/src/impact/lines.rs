//! Reading `POST /v1/outcomes` bodies: NDJSON (one `{"interaction_id", "outcome", "value"?,
//! "at"}` a line) or CSV with a header line naming those columns. Each line is read on its own:
//! a bad one gets its line number and the rule it breaks, and the others go on.

use protocol::{Ident, Timestamp};
use serde::Deserialize;

use crate::store::outcomes::Outcome;

/// At most this many lines in one request.
pub const MAX_LINES: usize = 50_000;

/// A line that breaks a rule: where it is, which field, and the rule (never its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line in the body (a CSV body's header is line 1).
    pub line: usize,
    pub field: Option<&'static str>,
    pub rule: &'static str,
}

/// The body's format, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    /// `text/csv` is CSV; `application/x-ndjson`, `application/jsonl`, `application/json` and
    /// `text/plain` are NDJSON.
    pub fn of_content_type(essence: &str) -> Option<Self> {
        match essence {
            "text/csv" => Some(Self::Csv),
            "application/x-ndjson" | "application/jsonl" | "application/json" | "text/plain" => {
                Some(Self::Ndjson)
            }
            _ => None,
        }
    }
}

/// Why a whole body was refused (nothing in it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadBody {
    /// More than [`MAX_LINES`] lines.
    TooManyLines,
    /// A line of the body itself: CSV without its header, the body not UTF-8.
    Line(BadLine),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    interaction_id: String,
    outcome: String,
    #[serde(default)]
    value: Option<f64>,
    at: String,
}

const NOT_A_LINE: &str = "each line must be a JSON object with interaction_id, outcome, at (RFC 3339) and an optional value, and nothing else";
const BAD_INTERACTION: &str =
    "interaction_id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'";
const BAD_OUTCOME: &str =
    "outcome must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'";
const BAD_AT: &str = "at must be an RFC 3339 timestamp with its offset, like 2026-11-22T10:00:00Z";
const BAD_VALUE: &str =
    "value, when given, must be a number (an amount in the organisation's currency)";
const NO_HEADER: &str =
    "a CSV body starts with a header line naming interaction_id, outcome and at (value optional)";
const BAD_CSV_ROW: &str = "a CSV line must have as many fields as the header";
const NOT_UTF8: &str = "the body must be UTF-8";

impl RawLine {
    fn check(self, line: usize) -> Result<Outcome, BadLine> {
        let bad = |field, rule| BadLine {
            line,
            field: Some(field),
            rule,
        };
        Ident::parse(&self.interaction_id).ok_or(bad("interaction_id", BAD_INTERACTION))?;
        Ident::parse(&self.outcome).ok_or(bad("outcome", BAD_OUTCOME))?;
        let at = Timestamp::parse(&self.at).map_err(|_| bad("at", BAD_AT))?;
        if self.value.is_some_and(|v| !v.is_finite() || v.abs() > 1e12) {
            return Err(bad("value", BAD_VALUE));
        }
        Ok(Outcome {
            interaction: self.interaction_id,
            outcome: self.outcome,
            at_millis: at.unix_millis(),
            at: at.as_str().to_owned(),
            value: self.value,
        })
    }
}

/// Each non-blank line's number and the outcome it holds, or why not.
pub type Lines = Vec<(usize, Result<Outcome, BadLine>)>;

/// Each non-blank line of `body` with its line number: the outcome it holds, or why not.
pub fn parse(body: &[u8], format: Format) -> Result<Lines, BadBody> {
    let text = std::str::from_utf8(body).map_err(|_| {
        BadBody::Line(BadLine {
            line: 1,
            field: None,
            rule: NOT_UTF8,
        })
    })?;
    if text.lines().filter(|l| !l.trim().is_empty()).count() > MAX_LINES + 1 {
        return Err(BadBody::TooManyLines);
    }
    match format {
        Format::Ndjson => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let line = i + 1;
                let parsed = serde_json::from_str::<RawLine>(l)
                    .map_err(|_| BadLine {
                        line,
                        field: None,
                        rule: NOT_A_LINE,
                    })
                    .and_then(|raw| raw.check(line));
                (line, parsed)
            })
            .collect()),
        Format::Csv => csv_lines(text),
    }
}

/// The CSV rows: columns by the header's names, in any order.
fn csv_lines(text: &str) -> Result<Lines, BadBody> {
    let no_header = || {
        BadBody::Line(BadLine {
            line: 1,
            field: None,
            rule: NO_HEADER,
        })
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|_| no_header())?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(interaction), Some(outcome), Some(at)) =
        (column("interaction_id"), column("outcome"), column("at"))
    else {
        return Err(no_header());
    };
    let value = column("value");
    if header
        .iter()
        .any(|h| !["interaction_id", "outcome", "at", "value"].contains(&h))
    {
        return Err(no_header());
    }
    let mut lines = Vec::new();
    for row in reader.records() {
        let (line, parsed) = match row {
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line() as usize);
                let bad = BadLine {
                    line,
                    field: None,
                    rule: BAD_CSV_ROW,
                };
                (line, Err(bad))
            }
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line() as usize);
                if row.len() != header.len() {
                    let bad = BadLine {
                        line,
                        field: None,
                        rule: BAD_CSV_ROW,
                    };
                    lines.push((line, Err(bad)));
                    continue;
                }
                let field = |i: usize| row.get(i).unwrap_or("").to_owned();
                let parsed_value = match value.map(field).filter(|v| !v.is_empty()) {
                    None => Ok(None),
                    Some(v) => v.parse::<f64>().map(Some).map_err(|_| BadLine {
                        line,
                        field: Some("value"),
                        rule: BAD_VALUE,
                    }),
                };
                let parsed = parsed_value.and_then(|value| {
                    RawLine {
                        interaction_id: field(interaction),
                        outcome: field(outcome),
                        value,
                        at: field(at),
                    }
                    .check(line)
                });
                (line, parsed)
            }
        };
        lines.push((line, parsed));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_are_read_one_by_one_with_their_numbers() {
        let body = concat!(
            r#"{"interaction_id":"call-1","outcome":"repeat_contact","at":"2026-11-22T10:00:00Z"}"#,
            "\n\n",
            r#"{"interaction_id":"call 2","outcome":"repeat_contact","at":"2026-11-22T10:00:00Z"}"#,
            "\n",
            r#"{"interaction_id":"call-3","outcome":"refund","value":12.5,"at":"yesterday"}"#,
            "\n",
            "<b>not json</b>\n",
            r#"{"interaction_id":"call-4","outcome":"refund","value":12.5,"at":"2026-11-22T10:00:00+01:00","x":1}"#,
        );
        let lines = parse(body.as_bytes(), Format::Ndjson).unwrap();
        let summary: Vec<_> = lines
            .iter()
            .map(|(line, r)| (*line, r.as_ref().map_err(|b| b.field).map(|o| o.at_millis)))
            .collect();
        assert_eq!(
            summary,
            [
                (1, Ok(1_795_341_600_000)),
                (3, Err(Some("interaction_id"))),
                (4, Err(Some("at"))),
                (5, Err(None)),
                (6, Err(None)),
            ]
        );
    }

    #[test]
    fn csv_columns_are_found_by_their_header() {
        let body = "at,outcome,interaction_id,value\n\
                    2026-11-22T10:00:00Z,repeat_contact,call-1,\n\
                    2026-11-22T11:00:00Z,refund,\"call-2\",30.5\n\
                    2026-11-22T11:00:00Z,refund,call-3,thirty\n\
                    2026-11-22T11:00:00Z,refund\n";
        let lines = parse(body.as_bytes(), Format::Csv).unwrap();
        assert_eq!(lines.len(), 4);
        let first = lines[0].1.as_ref().unwrap();
        assert_eq!((lines[0].0, first.interaction.as_str()), (2, "call-1"));
        assert_eq!(first.value, None);
        assert_eq!(lines[1].1.as_ref().unwrap().value, Some(30.5));
        assert_eq!(lines[2].0, 4);
        assert_eq!(lines[2].1.as_ref().unwrap_err().field, Some("value"));
        assert_eq!(lines[3].0, 5);
        assert_eq!(lines[3].1.as_ref().unwrap_err().rule, BAD_CSV_ROW);
        assert!(matches!(
            parse(b"id,outcome\nx,y\n", Format::Csv),
            Err(BadBody::Line(BadLine { line: 1, .. }))
        ));
    }
}
