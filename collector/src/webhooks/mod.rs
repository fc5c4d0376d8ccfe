//! Events out: every stored answer's `response.created` and the alerts' `alert.opened` /
//! `alert.resolved`, delivered to the organisation file's endpoints per the Standard Webhooks
//! specification, at least once, on a thread of their own so delivery never slows ingest.
//!
//! The path of one event: [`crate::store::Store::put`] writes it to the outbox with its answer
//! (one group commit) → once the answer is durable, [`worker`] hands it to the endpoints that
//! want it (their scope, their events), writing one delivery each, and checks the alert rules
//! ([`alerts`]) → each delivery is signed ([`sign`]), posted to an address that may be reached
//! ([`target`]), and on failure tried again on the schedule ([`schedule`]) with the same
//! `webhook-id`; [`message`] writes the bodies.

pub mod alerts;
pub mod message;
pub mod schedule;
pub mod sign;
pub mod target;
pub mod worker;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
};

use self::schedule::Schedule;
use crate::{org, store::Store};

/// How the worker delivers.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--allow-private-webhooks`: endpoints on loopback, private and link-local addresses may be
    /// reached (tests, or receivers inside the organisation's own network).
    pub allow_private: bool,
    pub schedule: Schedule,
}

/// The running delivery thread; stopping (or dropping) it ends the thread.
pub struct Webhooks {
    stop: Arc<AtomicBool>,
    commands: tokio::sync::mpsc::UnboundedSender<worker::Command>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
    pub metrics: Arc<worker::Metrics>,
}

impl Webhooks {
    /// Starts delivering the events in `store` to the endpoints of the organisation in force.
    pub fn start(store: Arc<dyn Store>, org: Arc<org::Current>, settings: Settings) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (commands, received) = tokio::sync::mpsc::unbounded_channel();
        let metrics = Arc::new(worker::Metrics::default());
        if let Some(org) = org.get() {
            warn_about(&org, &settings);
        }
        store.answer_events_when(org.answer_events());
        let thread = {
            let stop = Arc::clone(&stop);
            let metrics = Arc::clone(&metrics);
            thread::Builder::new()
                .name("touchpoint-webhooks".into())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            tracing::error!(%error, "the webhook thread could not start; events wait in the store");
                            return;
                        }
                    };
                    runtime.block_on(worker::run(store, org, settings, stop, metrics, received));
                })
                .expect("spawning the webhook thread")
        };
        Self {
            stop,
            commands,
            thread: Mutex::new(Some(thread)),
            metrics,
        }
    }

    /// Asks the worker to deliver the answers stored in `from..to` (microseconds) to `endpoint`
    /// again; false when the worker has stopped.
    pub fn replay(&self, endpoint: &str, from: u64, to: u64) -> bool {
        self.commands
            .send(worker::Command::Replay {
                endpoint: endpoint.to_owned(),
                from,
                to,
            })
            .is_ok()
    }

    /// Stops delivering and waits for the thread; undelivered events stay in the store.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the log should say about the endpoints at start and on reload: plain `http://`, and
/// private addresses without the flag. Never the secret.
pub fn warn_about(org: &org::Organisation, settings: &Settings) {
    for endpoint in &org.endpoints {
        if endpoint.url.starts_with("http://") {
            tracing::warn!(
                endpoint = endpoint.id,
                "endpoint url is plain http://: its events cross the network unencrypted"
            );
        }
        if let Ok(url) = reqwest::Url::parse(&endpoint.url) {
            if let Some(reason) = target::refuse_literal(&url, settings.allow_private) {
                tracing::warn!(endpoint = endpoint.id, reason, "endpoint will be refused");
            }
        }
    }
}
