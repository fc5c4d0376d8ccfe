//! The kiosk channel's rules: what a device is, how fast one may submit, and when its answers
//! come too close together to be a person's (a burst). Web and agent answers name no device, so
//! these rules pass them by.

use protocol::Submission;

use crate::limits::{Limiter, Rate};

/// Submissions from one device answered closer together than this are a burst: the three
/// questions take a person longer than three seconds.
pub const BURST_WINDOW_MILLIS: i64 = 3_000;

/// The device a submission came from, when it names one: its site and device id together, since
/// two branches may both have a `kiosk-1`. The key of the device limit and of the burst rule.
pub fn device(submission: &Submission) -> Option<String> {
    let device = submission.context.device_id.as_ref()?;
    let site = submission
        .context
        .site_id
        .as_ref()
        .map_or("", |s| s.as_str());
    Some([site, "/", device.as_str()].concat())
}

/// Whether an answer given at `submitted_millis` is a burst after the device's previous stored
/// answer, given at `previous_millis` (both the customers' own `submitted_at`: arrival time
/// does not count, so a kiosk that drains days of queued answers within seconds is no burst).
pub fn is_burst(previous_millis: Option<i64>, submitted_millis: i64) -> bool {
    previous_millis
        .is_some_and(|previous| (submitted_millis - previous).abs() < BURST_WINDOW_MILLIS)
}

/// The per-device limit: one runaway device is held back without throttling its branch, whose
/// kiosks share one address.
#[derive(Debug)]
pub struct DeviceLimit(Limiter);

impl DeviceLimit {
    pub fn new(rate: Option<Rate>) -> Self {
        Self(Limiter::new(rate))
    }

    /// Takes one of the device's tokens at `now_millis`; when none is left, the whole seconds
    /// until one is. Answers that name no device pass.
    pub fn take(&self, submission: &Submission, now_millis: u64) -> Result<(), u64> {
        match device(submission) {
            Some(device) => self.0.take(&device, now_millis),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kiosk(site: Option<&str>, device: Option<&str>) -> Submission {
        let mut context = serde_json::Map::new();
        if let Some(site) = site {
            context.insert("site_id".into(), site.into());
        }
        if let Some(device) = device {
            context.insert("device_id".into(), device.into());
        }
        let body = serde_json::json!({
            "id": "01JD6Q8W3ZK5V7X9Y2B4C6D8EF", "survey": {"id": "core-cx", "version": 1},
            "channel": "kiosk", "touchpoint": "branch-teller", "answers": {"effort": 5},
            "locale": "en", "context": context, "submitted_at": "2026-11-22T10:00:00Z",
        });
        protocol::parse_submission(body.to_string().as_bytes()).expect("a valid submission")
    }

    #[test]
    fn a_device_is_its_site_and_its_id() {
        assert_eq!(
            device(&kiosk(Some("branch-042"), Some("kiosk-1"))).as_deref(),
            Some("branch-042/kiosk-1")
        );
        assert_ne!(
            device(&kiosk(Some("branch-042"), Some("kiosk-1"))),
            device(&kiosk(Some("branch-043"), Some("kiosk-1"))),
            "two branches' kiosk-1 are two devices"
        );
        assert_eq!(device(&kiosk(Some("branch-042"), None)), None);
    }

    #[test]
    fn answers_closer_than_the_window_are_a_burst_either_way() {
        assert!(!is_burst(None, 10_000), "a device's first answer");
        assert!(is_burst(Some(10_000), 12_999));
        assert!(
            is_burst(Some(12_999), 10_000),
            "clocks may disagree on order"
        );
        assert!(!is_burst(Some(10_000), 13_000));
    }

    #[test]
    fn the_device_limit_holds_back_one_device_only() {
        let limit = DeviceLimit::new(Rate::parse("0.01/2").expect("a rate"));
        let one = kiosk(Some("branch-042"), Some("kiosk-1"));
        assert_eq!(limit.take(&one, 0), Ok(()));
        assert_eq!(limit.take(&one, 0), Ok(()));
        assert!(limit.take(&one, 0).is_err());
        assert_eq!(
            limit.take(&kiosk(Some("branch-042"), Some("kiosk-2")), 0),
            Ok(())
        );
        let nameless = kiosk(Some("branch-042"), None);
        assert!((0..10).all(|_| limit.take(&nameless, 0).is_ok()));
    }
}
