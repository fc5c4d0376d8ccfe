//! The collector's one clock: the time of day in the units each part keeps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: arrival keys, and every other reading below.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Milliseconds since the Unix epoch: rate limits.
pub fn now_millis() -> u64 {
    now_micros() / 1_000
}

/// Seconds since the Unix epoch: invitation expiry.
pub fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

/// Days since 1970-01-01 (UTC): the dashboard's "today".
pub fn today() -> i64 {
    (now_secs() / 86_400) as i64
}
