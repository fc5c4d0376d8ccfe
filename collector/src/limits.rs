//! Rate limits: token buckets by key (a client address, a device). Time is a parameter, so tests
//! control it; the callers read [`crate::clock`].

use std::{collections::HashMap, sync::Mutex};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `RATE/BURST` (e.g. `20/200`: 20 a second, bursts of 200), or `off` for no limit.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        if matches!(text.trim(), "off" | "0") {
            return Ok(None);
        }
        let (rate, burst) = text
            .split_once('/')
            .ok_or_else(|| format!("a limit is RATE/BURST or off, not {text:?}"))?;
        let per_second: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("bad rate in {text:?}"))?;
        let burst: f64 = burst
            .trim()
            .parse()
            .map_err(|_| format!("bad burst in {text:?}"))?;
        if !(per_second > 0.0 && burst >= 1.0) {
            return Err(format!(
                "a limit needs a rate above 0 and a burst of at least 1: {text:?}"
            ));
        }
        Ok(Some(Self { per_second, burst }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_millis: u64,
}

/// Buckets by key; a key seen for the first time starts with a full bucket.
#[derive(Debug)]
pub struct Limiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets kept before full ones are forgotten (a full bucket is the same as a new one).
const PRUNE_ABOVE: usize = 50_000;

impl Limiter {
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key` at `now_millis`; when none is left, the whole seconds until one is.
    pub fn take(&self, key: &str, now_millis: u64) -> Result<(), u64> {
        match self.take_up_to(key, 1, now_millis) {
            (1, _) => Ok(()),
            (_, wait) => Err(wait.unwrap_or(1)),
        }
    }

    /// Whether `key` has a token left at `now_millis`, without taking it; when not, the whole
    /// seconds until it has.
    pub fn check(&self, key: &str, now_millis: u64) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let elapsed = now_millis.saturating_sub(bucket.at_millis) as f64 / 1000.0;
        let tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - tokens) / rate.per_second).ceil().max(1.0) as u64)
        }
    }

    /// Takes as many of `n` tokens for `key` as are left at `now_millis`: how many it took, and
    /// when that is fewer than `n`, the whole seconds until the next token.
    pub fn take_up_to(&self, key: &str, n: u64, now_millis: u64) -> (u64, Option<u64>) {
        let Some(rate) = self.rate else {
            return (n, None);
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let refill = |b: &Bucket| {
            let elapsed = now_millis.saturating_sub(b.at_millis) as f64 / 1000.0;
            (b.tokens + elapsed * rate.per_second).min(rate.burst)
        };
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| refill(b) < rate.burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: rate.burst,
            at_millis: now_millis,
        });
        let tokens = refill(bucket);
        let taken = (tokens.floor() as u64).min(n);
        let left = tokens - taken as f64;
        *bucket = Bucket {
            tokens: left,
            at_millis: now_millis,
        };
        let wait = (taken < n).then(|| ((1.0 - left) / rate.per_second).ceil().max(1.0) as u64);
        (taken, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_gets_exactly_the_expected_refusals() {
        let limiter = Limiter::new(Rate::parse("2/5").expect("a rate"));
        let results: Vec<_> = (0..8).map(|_| limiter.take("10.0.0.1", 1_000)).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5, "the burst");
        assert_eq!(results[5..], [Err(1), Err(1), Err(1)]);
        assert_eq!(
            limiter.take("10.0.0.2", 1_000),
            Ok(()),
            "another key is unaffected"
        );
        assert_eq!(
            limiter.take("10.0.0.1", 1_499),
            Err(1),
            "not yet a whole token"
        );
        assert_eq!(
            limiter.take("10.0.0.1", 1_500),
            Ok(()),
            "half a second refills one at 2/s"
        );
        assert_eq!(limiter.take("10.0.0.1", 1_500), Err(1));
        for _ in 0..5 {
            assert_eq!(
                limiter.take("10.0.0.1", 60_000),
                Ok(()),
                "refilled, up to the burst"
            );
        }
        assert!(limiter.take("10.0.0.1", 60_000).is_err());
    }

    #[test]
    fn a_batch_takes_one_token_per_answer_as_far_as_they_go() {
        let limiter = Limiter::new(Rate::parse("2/5").expect("a rate"));
        assert_eq!(limiter.take_up_to("k", 3, 0), (3, None));
        assert_eq!(limiter.take_up_to("k", 3, 0), (2, Some(1)), "two were left");
        assert_eq!(limiter.take_up_to("k", 1, 0), (0, Some(1)));
        assert_eq!(
            limiter.take_up_to("k", 4, 1_000),
            (2, Some(1)),
            "refilled two"
        );
        assert_eq!(Limiter::new(None).take_up_to("k", 100, 0), (100, None));
    }

    #[test]
    fn checking_takes_nothing() {
        let limiter = Limiter::new(Rate::parse("1/1").expect("a rate"));
        assert_eq!(limiter.check("k", 0), Ok(()));
        assert_eq!(limiter.check("k", 0), Ok(()), "nothing was taken");
        assert_eq!(limiter.take("k", 0), Ok(()));
        assert_eq!(limiter.check("k", 0), Err(1));
        assert_eq!(limiter.check("k", 1_000), Ok(()));
    }

    #[test]
    fn retry_after_says_how_long_until_a_token() {
        let limiter = Limiter::new(Rate::parse("0.1/1").expect("a rate"));
        assert_eq!(limiter.take("k", 0), Ok(()));
        assert_eq!(limiter.take("k", 0), Err(10));
        assert_eq!(limiter.take("k", 5_000), Err(5));
    }

    #[test]
    fn limits_parse_or_say_why_not() {
        assert_eq!(Rate::parse("off"), Ok(None));
        assert_eq!(
            Rate::parse("20/200"),
            Ok(Some(Rate {
                per_second: 20.0,
                burst: 200.0
            }))
        );
        for bad in ["20", "a/b", "-1/5", "5/0"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        let unlimited = Limiter::new(None);
        assert!((0..10_000).all(|_| unlimited.take("k", 0).is_ok()));
    }
}
