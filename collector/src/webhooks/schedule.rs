//! When to try again: the Standard Webhooks schedule (at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h, 14 h, 20 h and 24 h after each failure), each delay with up to ±10 % jitter so that
//! retries after an outage do not arrive together, and never sooner than a `Retry-After` asked.

use std::time::Duration;

/// The delays after the first, second, … failed attempt; past the last, the event is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(pub Vec<Duration>);

impl Default for Schedule {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self(vec![
            s(5),
            s(5 * 60),
            s(30 * 60),
            s(2 * 3600),
            s(5 * 3600),
            s(10 * 3600),
            s(14 * 3600),
            s(20 * 3600),
            s(24 * 3600),
        ])
    }
}

impl Schedule {
    /// Reads `5s,5m,30m,2h` (units s, m, h).
    pub fn parse(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(|part| {
                let part = part.trim();
                let (number, unit) = part.split_at(part.len().saturating_sub(1));
                let n: u64 = number
                    .parse()
                    .map_err(|_| format!("{part:?} is not a delay like 5s, 5m or 2h"))?;
                Ok(Duration::from_secs(match unit {
                    "s" => n,
                    "m" => n * 60,
                    "h" => n * 3600,
                    _ => return Err(format!("{part:?} is not a delay like 5s, 5m or 2h")),
                }))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if delays.is_empty() {
            return Err("the retry schedule needs at least one delay".into());
        }
        Ok(Self(delays))
    }

    /// How long to wait after failed attempt number `attempts` (1-based), with `jitter` in
    /// -1.0..=1.0 scaling ±10 %, and at least `retry_after`; `None` when the schedule is spent.
    pub fn next_delay(
        &self,
        attempts: u32,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let base = *self.0.get(attempts.checked_sub(1)? as usize)?;
        let jittered = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
        Some(retry_after.map_or(jittered, |asked| {
            jittered.max(asked.min(Duration::from_secs(24 * 3600)))
        }))
    }
}

/// A number in -1.0..=1.0 from the system's random source (0 if it fails).
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// `Retry-After` in seconds, or as an HTTP date (RFC 7231), relative to `now_secs`.
pub fn retry_after(value: &str, now_secs: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value)
        .ok()?
        .timestamp()
        .as_second();
    Some(Duration::from_secs(
        u64::try_from(at).ok()?.saturating_sub(now_secs),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_schedule_with_jitter_and_retry_after() {
        let schedule = Schedule::default();
        let s = Duration::from_secs;
        assert_eq!(schedule.next_delay(1, 0.0, None), Some(s(5)));
        assert_eq!(schedule.next_delay(2, 0.0, None), Some(s(300)));
        assert_eq!(schedule.next_delay(9, 0.0, None), Some(s(24 * 3600)));
        assert_eq!(
            schedule.next_delay(10, 0.0, None),
            None,
            "ten attempts in all"
        );
        assert_eq!(schedule.next_delay(1, 1.0, None), Some(s(5).mul_f64(1.1)));
        assert_eq!(schedule.next_delay(1, -1.0, None), Some(s(5).mul_f64(0.9)));
        assert_eq!(schedule.next_delay(1, 0.0, Some(s(60))), Some(s(60)));
        assert_eq!(schedule.next_delay(2, 0.0, Some(s(60))), Some(s(300)));
        assert!(jitter().abs() <= 1.0);
    }

    #[test]
    fn schedules_and_retry_after_values_read() {
        assert_eq!(
            Schedule::parse("1s, 2m,3h"),
            Ok(Schedule(vec![
                Duration::from_secs(1),
                Duration::from_secs(120),
                Duration::from_secs(10800)
            ]))
        );
        assert!(Schedule::parse("5x").is_err());
        assert!(Schedule::parse("").is_err());
        assert_eq!(retry_after("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_420),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("soon", 0), None);
    }
}
