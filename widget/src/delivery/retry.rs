//! When to try a refused or failed delivery again: capped exponential backoff with jitter, and the
//! collector's `Retry-After`. Pure functions of their inputs, so tests can fix time and chance.

use crate::dom::parse_number;

/// The first retry waits about this long.
pub const BASE_MS: f64 = 1_000.0;
/// Backoff never waits longer than this between two tries.
pub const CAP_MS: f64 = 300_000.0;
/// A `Retry-After` asking for longer than this is treated as this.
pub const RETRY_AFTER_MAX_MS: f64 = 3_600_000.0;

/// The wait before retry number `attempt` (1 = the first retry), given `jitter` in `[0, 1)`:
/// half the capped exponential step is fixed and half is random ("equal jitter"), so many widgets
/// that failed together do not come back together, yet no retry comes back at once.
pub fn backoff_ms(attempt: u32, jitter: f64) -> f64 {
    let exponent = attempt.clamp(1, 20) - 1;
    let step = (BASE_MS * f64::from(1u32 << exponent)).min(CAP_MS);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    };
    step / 2.0 + step / 2.0 * jitter
}

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date, relative to `now_ms`.
/// `None` when the value is neither.
pub fn retry_after_ms(value: &str, now_ms: f64) -> Option<f64> {
    let value = value.trim_ascii();
    let ms = match parse_number(value) {
        Some(seconds) => seconds as f64 * 1000.0,
        None if value.bytes().any(|b| b.is_ascii_alphabetic()) => {
            let at = js_sys::Date::parse(value);
            if at.is_nan() {
                return None;
            }
            (at - now_ms).max(0.0)
        }
        None => return None,
    };
    Some(ms.min(RETRY_AFTER_MAX_MS))
}

/// The wait before retry number `attempt`: the backoff, or longer when the collector asked.
pub fn delay_ms(attempt: u32, jitter: f64, retry_after: Option<f64>) -> f64 {
    backoff_ms(attempt, jitter).max(retry_after.unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn backoff_doubles_then_caps_and_jitter_stays_in_the_upper_half() {
        assert_eq!(backoff_ms(1, 0.0), 500.0);
        assert_eq!(backoff_ms(1, 1.0), 1_000.0);
        assert_eq!(backoff_ms(2, 0.0), 1_000.0);
        assert_eq!(backoff_ms(3, 0.5), 3_000.0);
        assert_eq!(backoff_ms(9, 1.0), 256_000.0);
        assert_eq!(backoff_ms(10, 1.0), CAP_MS);
        assert_eq!(backoff_ms(1_000, 0.0), CAP_MS / 2.0);
        // Attempt 0 is treated as the first retry; nonsense jitter is tamed.
        assert_eq!(backoff_ms(0, 0.0), 500.0);
        assert_eq!(backoff_ms(2, f64::NAN), 1_500.0);
        assert_eq!(backoff_ms(2, 7.0), 2_000.0);
        let schedule: Vec<f64> = (1..=6).map(|a| backoff_ms(a, 0.25)).collect();
        assert!(schedule.windows(2).all(|w| w[1] > w[0]), "{schedule:?}");
    }

    #[wasm_bindgen_test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = 1_795_341_600_000.0; // 2026-11-22T10:00:00Z
        assert_eq!(retry_after_ms("120", now), Some(120_000.0));
        assert_eq!(retry_after_ms(" 0 ", now), Some(0.0));
        assert_eq!(
            retry_after_ms("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(30_000.0)
        );
        assert_eq!(
            retry_after_ms("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(0.0)
        );
        assert_eq!(retry_after_ms("999999", now), Some(RETRY_AFTER_MAX_MS));
        for bad in ["", "-5", "1.5", "soon", "12 s"] {
            assert_eq!(retry_after_ms(bad, now), None, "{bad}");
        }
    }

    #[wasm_bindgen_test]
    fn the_collector_can_only_lengthen_the_wait() {
        assert_eq!(delay_ms(1, 0.0, None), 500.0);
        assert_eq!(delay_ms(1, 0.0, Some(5_000.0)), 5_000.0);
        assert_eq!(delay_ms(5, 1.0, Some(100.0)), 16_000.0);
    }
}
