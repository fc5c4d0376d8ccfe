//! The channels' own rules, checked on a parsed, valid submission before it is written. They are
//! pure: no I/O, time passed in. The web channel has no rule beyond the protocol's validation;
//! [`kiosk`] defines a device, its limit and the burst rule (the store stamps bursts with it);
//! [`agent`] signs and checks post-call invitations.

pub mod agent;
pub mod kiosk;

use std::sync::Arc;

use protocol::Submission;

use crate::limits::Rate;

/// Why a channel's rules refuse a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelRefusal {
    #[error("{0}")]
    Invitation(#[from] agent::InvitationError),
    /// The device sends faster than its limit; retry after this many seconds.
    #[error("this device sends faster than its limit; retry in {0} s")]
    RateLimited(u64),
}

/// Every channel's rules, as configured.
#[derive(Debug)]
pub struct Rules {
    invitations: Option<Arc<agent::Invitations>>,
    devices: kiosk::DeviceLimit,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            invitations: None,
            devices: kiosk::DeviceLimit::new(None),
        }
    }
}

impl Rules {
    /// Checks answers that carry an invitation against the call it binds.
    pub fn with_invitations(mut self, invitations: Arc<agent::Invitations>) -> Self {
        self.invitations = Some(invitations);
        self
    }

    /// Limits how fast one device may submit.
    pub fn with_device_limit(mut self, rate: Option<Rate>) -> Self {
        self.devices = kiosk::DeviceLimit::new(rate);
        self
    }

    /// The submission's channel rules at `now_micros`: the invitation first (a forged answer is
    /// refused whatever its rate), then the device limit.
    pub fn check(&self, submission: &Submission, now_micros: u64) -> Result<(), ChannelRefusal> {
        if let Some(invitations) = &self.invitations {
            invitations.check(submission, now_micros / 1_000_000)?;
        }
        self.devices
            .take(submission, now_micros / 1_000)
            .map_err(ChannelRefusal::RateLimited)
    }
}
