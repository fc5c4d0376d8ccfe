//! The calendar of the stats: days as numbers since 1970-01-01 (UTC), their dates, ISO weeks.

use protocol::Timestamp;

pub(crate) const DAY_MILLIS: i64 = 86_400_000;

/// The UTC day (days since 1970-01-01) a response counts on.
pub fn day_of(submitted_millis: i64, received_micros: u64) -> i64 {
    let received_millis = (received_micros / 1000) as i64;
    submitted_millis.min(received_millis).div_euclid(DAY_MILLIS)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    Timestamp::from_unix_millis(day * DAY_MILLIS).as_str()[..10].to_owned()
}

/// The day number of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<i64> {
    if text.len() != 10 {
        return None;
    }
    let ts = Timestamp::parse(&[text, "T00:00:00Z"].concat()).ok()?;
    Some(ts.unix_millis().div_euclid(DAY_MILLIS))
}

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
pub(super) fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// The ISO 8601 week of a day: (week-based year, week number).
pub fn iso_week(day: i64) -> (i64, i64) {
    let thursday = day - weekday(day) + 3;
    let year: i64 = date_of(thursday)[..4].parse().unwrap_or(1970);
    let jan1 = parse_date(&format!("{year:04}-01-01")).unwrap_or(0);
    (year, (thursday - jan1) / 7 + 1)
}

/// `YYYY-Www` of a day.
pub fn week_label(day: i64) -> String {
    let (year, week) = iso_week(day);
    format!("{year:04}-W{week:02}")
}

/// The first day (a Monday) of ISO week `week` of `year`.
pub fn week_start(year: i64, week: i64) -> Option<i64> {
    if !(1..=53).contains(&week) {
        return None;
    }
    let jan4 = parse_date(&format!("{year:04}-01-04"))?;
    let start = jan4 - weekday(jan4) + (week - 1) * 7;
    (iso_week(start) == (year, week)).then_some(start)
}
