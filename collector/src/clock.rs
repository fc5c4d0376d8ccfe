//! The collector's one clock: the time of day in the units each part keeps, and [`Clock`], the
//! instant ingest takes as an answer's arrival. In debug builds only, end-to-end tests may move
//! it forward ([`TEST_CLOCK_FILE`]).

use std::time::{SystemTime, UNIX_EPOCH};

/// For end-to-end tests, and only in debug builds (release builds have no such thing): the
/// environment variable naming a file that holds whole seconds to add to the system clock. The
/// file is read at every reading, so a test moves the running collector's time (quiet hours
/// ending) by rewriting it.
pub const TEST_CLOCK_FILE: &str = "TOUCHPOINT_TEST_CLOCK_FILE";

/// Microseconds since the Unix epoch: arrival keys, and every other reading below.
pub fn now_micros() -> u64 {
    let system = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    system.saturating_add_signed(test_offset_micros())
}

/// What [`TEST_CLOCK_FILE`] adds; 0 when it is not set or cannot be read.
#[cfg(debug_assertions)]
fn test_offset_micros() -> i64 {
    static FILE: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| std::env::var_os(TEST_CLOCK_FILE).map(Into::into))
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.trim().parse::<i64>().ok())
        .map_or(0, |secs| secs.saturating_mul(1_000_000))
}

#[cfg(not(debug_assertions))]
fn test_offset_micros() -> i64 {
    0
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

/// The instant ingest takes as an answer's arrival, against which its `submitted_at` is bounded:
/// the system clock, or a fixed instant for tests that post answers of a fixed day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    System,
    /// Always this many microseconds since the Unix epoch.
    Fixed(u64),
}

impl Clock {
    /// A fixed clock at `rfc3339`; `None` when that is no timestamp or before 1970.
    pub fn fixed(rfc3339: &str) -> Option<Self> {
        let millis = protocol::Timestamp::parse(rfc3339).ok()?.unix_millis();
        Some(Self::Fixed(u64::try_from(millis).ok()? * 1000))
    }

    pub fn now_micros(self) -> u64 {
        match self {
            Self::System => now_micros(),
            Self::Fixed(micros) => micros,
        }
    }
}
