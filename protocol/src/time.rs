//! RFC 3339 timestamps: parsed to Unix milliseconds and written back in UTC, by hand, because the
//! widget cannot afford a date-time library and the collector needs only these two operations;
//! and how far an answer's `submitted_at` may be from its arrival.

use alloc::borrow::ToOwned;
use alloc::string::String;

use crate::Rejection;

/// How long before it reaches the collector an answer may have been given: 14 days, the longest an
/// outbox keeps an answer (a kiosk offline over a two-week closure). An older `submitted_at` is
/// refused, so a period's figures are final 14 days after it ends: nobody can add answers to it
/// by backdating them.
pub const SUBMITTED_AT_WINDOW_MILLIS: i64 = 14 * 86_400_000;
/// How far ahead of the collector's clock a device's clock may run: 1 day, more than any time
/// zone mistake. Such an answer counts on the day it arrives.
pub const SUBMITTED_AT_SKEW_MILLIS: i64 = 86_400_000;

/// A valid RFC 3339 timestamp as the client wrote it, with the instant it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    text: String,
    unix_millis: i64,
}

impl Timestamp {
    /// Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, checking every field's range.
    pub fn parse(text: &str) -> Result<Self, Rejection> {
        let unix_millis = parse_rfc3339(text).ok_or(Rejection::InvalidSubmittedAt)?;
        Ok(Self {
            text: text.to_owned(),
            unix_millis,
        })
    }

    /// The instant `unix_millis` in UTC, written `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn from_unix_millis(unix_millis: i64) -> Self {
        Self {
            text: format_rfc3339_millis(unix_millis),
            unix_millis,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn unix_millis(&self) -> i64 {
        self.unix_millis
    }

    /// Whether an answer given at this time may arrive at `arrival_millis`: no more than
    /// [`SUBMITTED_AT_WINDOW_MILLIS`] before it, no more than [`SUBMITTED_AT_SKEW_MILLIS`] after.
    pub fn check_arrival(&self, arrival_millis: i64) -> Result<(), Rejection> {
        let earliest = arrival_millis.saturating_sub(SUBMITTED_AT_WINDOW_MILLIS);
        let latest = arrival_millis.saturating_add(SUBMITTED_AT_SKEW_MILLIS);
        if (earliest..=latest).contains(&self.unix_millis) {
            Ok(())
        } else {
            Err(Rejection::SubmittedAtOutOfRange)
        }
    }
}

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if month <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        month,
        day,
    )
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return None;
    }
    let sep = |i: usize, c: u8| b[i] == c;
    let separators = sep(4, b'-') && sep(7, b'-') && sep(13, b':') && sep(16, b':');
    if !separators || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        let mut scaled = digits(&fraction[..len.min(3)])?;
        for _ in len..3 {
            scaled *= 10;
        }
        millis = scaled;
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn push_padded(out: &mut String, value: i64, width: usize) {
    push_digits(out, value.unsigned_abs(), width);
}

/// The decimal digits of `n`, zero-padded to at least `width` (and at least one digit). Digit by
/// digit, most significant first, with no buffer to index: nothing here can panic, so the widget
/// links no panic message that formats numbers.
fn push_digits(out: &mut String, n: u64, width: usize) {
    if n >= 10 || width > 1 {
        push_digits(out, n / 10, width.saturating_sub(1));
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

fn format_rfc3339_millis(unix_millis: i64) -> String {
    let millis = unix_millis.rem_euclid(1000);
    let seconds = unix_millis.div_euclid(1000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let mut out = String::with_capacity(24);
    push_padded(&mut out, year, 4);
    out.push('-');
    push_padded(&mut out, month, 2);
    out.push('-');
    push_padded(&mut out, day, 2);
    out.push('T');
    push_padded(&mut out, of_day / 3600, 2);
    out.push(':');
    push_padded(&mut out, of_day % 3600 / 60, 2);
    out.push(':');
    push_padded(&mut out, of_day % 60, 2);
    out.push('.');
    push_padded(&mut out, millis, 3);
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_forms_rfc3339_allows() {
        for (text, millis) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-11-22T10:00:00Z", 1_795_341_600_000),
            ("2026-11-22T10:00:00.5Z", 1_795_341_600_500),
            ("2026-11-22T10:00:00.123456789Z", 1_795_341_600_123),
            ("2026-11-22T11:30:00+01:30", 1_795_341_600_000),
            ("2026-11-22T05:00:00-05:00", 1_795_341_600_000),
            ("2024-02-29t00:00:00z", 1_709_164_800_000),
        ] {
            assert_eq!(
                Timestamp::parse(text).map(|t| t.unix_millis()),
                Ok(millis),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for text in [
            "",
            "2026-11-22",
            "2026-11-22T10:00:00",
            "2026-11-22 10:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:60:00Z",
            "2026-11-22T10:00:61Z",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00+0100",
            "2026-11-22T10:00:00+24:00",
            "2026-11-22T10:00:00Zjunk",
            "+026-11-22T10:00:00Z",
            "2026-1a-22T10:00:00Z",
        ] {
            assert_eq!(
                Timestamp::parse(text),
                Err(Rejection::InvalidSubmittedAt),
                "{text}"
            );
        }
    }

    /// Regression (issue 13): answers backdated into a closed period, or dated year 0000, were
    /// accepted.
    #[test]
    fn submitted_at_must_be_near_the_arrival() {
        let arrival = Timestamp::parse("2025-12-20T12:00:00Z").expect("valid");
        let arrival = arrival.unix_millis();
        for (submitted, ok) in [
            ("2025-12-20T12:00:00Z", true),
            ("2025-12-06T12:00:00Z", true),
            ("2025-12-06T11:59:59.999Z", false),
            ("2025-11-10T09:00:00Z", false),
            ("0000-01-01T00:00:00Z", false),
            ("1970-01-01T00:00:00Z", false),
            ("2025-12-21T12:00:00Z", true),
            ("2025-12-21T12:00:00.001Z", false),
            ("2025-12-21T06:00:00-08:00", false),
            ("9999-12-31T23:59:59Z", false),
        ] {
            let at = Timestamp::parse(submitted).expect("valid");
            let expected = if ok {
                Ok(())
            } else {
                Err(Rejection::SubmittedAtOutOfRange)
            };
            assert_eq!(at.check_arrival(arrival), expected, "{submitted}");
        }
        // The refusal's message names the bounds: they change together.
        let message = Rejection::SubmittedAtOutOfRange.message();
        assert_eq!(SUBMITTED_AT_WINDOW_MILLIS, 14 * 86_400_000);
        assert_eq!(SUBMITTED_AT_SKEW_MILLIS, 86_400_000);
        assert!(message.contains("14 days before") && message.contains("1 day after"));
    }

    proptest! {
        #[test]
        fn writing_then_parsing_gives_the_same_instant(millis in -62_135_596_800_000i64..253_402_300_799_999) {
            let written = Timestamp::from_unix_millis(millis);
            let parsed = Timestamp::parse(written.as_str()).expect("the writer writes RFC 3339");
            prop_assert_eq!(parsed.unix_millis(), millis);
        }

        #[test]
        fn civil_dates_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
    }
}
