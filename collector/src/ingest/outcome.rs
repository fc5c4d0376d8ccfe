//! Every request ends in exactly one outcome, and every outcome is counted: `stored`,
//! `duplicate`, or the stable code of the reason it was refused. The counts add up to the
//! submissions received.

use std::{collections::BTreeMap, sync::Mutex};

/// Counts by outcome code.
#[derive(Debug, Default)]
pub struct Outcomes {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Outcomes {
    pub fn record(&self, code: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// A copy of the counts, ordered by code.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
