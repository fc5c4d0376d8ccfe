//! The delivery thread's loop: hand the outbox's events to their endpoints (and the alert
//! rules), then post each due delivery, record the attempt, and on failure schedule the next one.
//! One thread with its own runtime; several posts in flight at once, a few per endpoint.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{
    alerts::{self, Effect, Engine},
    message, schedule, sign, target, Settings,
};
use crate::{
    clock,
    org::{self, notify::Endpoint, Organisation},
    store::{
        events::{Attempt, Delivery, EndpointState, Event, EventKey, EventKind},
        Store, StoreError,
    },
};

/// How often the loop looks for new events and due deliveries when nothing else wakes it.
const TICK: Duration = Duration::from_millis(25);
/// Posts in flight to one endpoint at once.
const PER_ENDPOINT: usize = 8;
/// Posts in flight in all.
const IN_FLIGHT: usize = 64;
/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Deliveries by endpoint and outcome, for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub outcomes: Mutex<HashMap<(String, &'static str), u64>>,
    /// Deliveries waiting (due or scheduled), and the oldest one's creation time.
    pub queue: Mutex<(usize, Option<u64>)>,
    /// Per endpoint, as of the end of the worker's last pass: posts in flight, and deliveries
    /// held because the endpoint is disabled or gone (none of which is sent before a reload).
    pub endpoints: Mutex<HashMap<String, EndpointQueue>>,
}

/// One endpoint's part of the worker's queue ([`Metrics::endpoints`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EndpointQueue {
    pub in_flight: usize,
    pub held: usize,
}

impl Metrics {
    /// The Prometheus lines `/metrics` adds: deliveries by endpoint and outcome, the queue's
    /// depth and its oldest delivery's age.
    pub fn render(&self) -> String {
        let mut text = String::from(
            "# HELP touchpoint_webhook_deliveries_total Webhook attempts by endpoint and outcome (delivered, failed, abandoned).\n# TYPE touchpoint_webhook_deliveries_total counter\n",
        );
        let mut outcomes: Vec<_> = self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((endpoint, outcome), n)| (endpoint.clone(), *outcome, *n))
            .collect();
        outcomes.sort();
        for (endpoint, outcome, n) in outcomes {
            text.push_str(&format!(
                "touchpoint_webhook_deliveries_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        let (depth, oldest) = *self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let age = oldest.map_or(0, |o| clock::now_micros().saturating_sub(o) / 1_000_000);
        text.push_str(&format!(
            "# HELP touchpoint_webhook_queue_depth Deliveries waiting or in flight.\n# TYPE touchpoint_webhook_queue_depth gauge\ntouchpoint_webhook_queue_depth {depth}\n# HELP touchpoint_webhook_oldest_age_seconds Age of the oldest undelivered delivery.\n# TYPE touchpoint_webhook_oldest_age_seconds gauge\ntouchpoint_webhook_oldest_age_seconds {age}\n"
        ));
        text
    }

    fn count(&self, endpoint: &str, outcome: &'static str) {
        *self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((endpoint.to_owned(), outcome))
            .or_default() += 1;
    }
}

/// What the HTTP side asks of the worker.
#[derive(Debug)]
pub enum Command {
    /// Deliver the answers stored in `from..to` (microseconds) to `endpoint` again.
    Replay {
        endpoint: String,
        from: u64,
        to: u64,
    },
}

/// What one post came to.
struct Sent {
    endpoint: String,
    event: EventKey,
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: Option<String>,
    latency: Duration,
}

type Due = (u64, String, EventKey);

struct Worker {
    store: Arc<dyn Store>,
    org: Arc<org::Current>,
    settings: Settings,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    /// Deliveries by next attempt time.
    due: BTreeSet<Due>,
    /// Deliveries of endpoints disabled or gone from the file, until a reload.
    parked: Vec<Due>,
    in_flight: HashSet<(String, EventKey)>,
    per_endpoint: HashMap<String, usize>,
    /// Endpoints that asked to slow down (429, 502, 504, Retry-After), until when.
    paused: HashMap<String, u64>,
    /// Endpoints whose last attempt failed: when one accepts again, what waits for it goes now.
    failing: HashSet<String>,
    states: HashMap<String, EndpointState>,
    /// The oldest delivery creation time per due entry, for the queue's age.
    created: HashMap<(String, EventKey), u64>,
    engine: Engine,
    seen_org: Option<Arc<Organisation>>,
    done_tx: mpsc::UnboundedSender<Sent>,
}

/// Runs until `stop` is set.
pub async fn run(
    store: Arc<dyn Store>,
    org: Arc<org::Current>,
    settings: Settings,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(TIMEOUT)
        .user_agent(concat!("touchpoint-collector/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(target::Resolver {
            allow_private: settings.allow_private,
        }))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the webhook client could not be built; events wait in the store");
            return;
        }
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut worker = Worker {
        engine: Engine::load(store.alerts().unwrap_or_default()),
        seen_org: org.get(),
        store,
        org,
        settings,
        metrics,
        client,
        due: BTreeSet::new(),
        parked: Vec::new(),
        in_flight: HashSet::new(),
        per_endpoint: HashMap::new(),
        paused: HashMap::new(),
        failing: HashSet::new(),
        states: HashMap::new(),
        created: HashMap::new(),
        done_tx,
    };
    worker.load();
    if let Err(error) = worker.refill_windows(clock::now_micros()) {
        tracing::warn!(%error, "the rate alerts' windows could not be refilled; they start empty");
    }
    while !stop.load(Ordering::SeqCst) {
        if let Err(error) = worker.step() {
            tracing::warn!(%error, "webhook delivery paused: the store failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::select! {
            Some(sent) = done_rx.recv() => worker.finished(sent),
            Some(Command::Replay { endpoint, from, to }) = commands.recv() => {
                if let Err(error) = worker.replay(&endpoint, from, to) {
                    tracing::warn!(%error, endpoint, "the replay stopped: the store failed");
                }
            }
            () = tokio::time::sleep(TICK) => {}
        }
        while let Ok(sent) = done_rx.try_recv() {
            worker.finished(sent);
        }
    }
}

impl Worker {
    fn load(&mut self) {
        let mut pending = Vec::new();
        let read = self.store.deliveries(&mut |d| {
            pending.push((d.next_at, d.endpoint.clone(), d.event(), d.created_at));
            true
        });
        if let Err(error) = read {
            tracing::warn!(%error, "pending deliveries could not be read");
        }
        for (next_at, endpoint, event, created) in pending {
            self.created.insert((endpoint.clone(), event), created);
            self.due.insert((next_at, endpoint, event));
        }
    }

    /// Refills the rate rules' windows from the answers already handed on, so a restart does
    /// not forget them (and an open rate alert does not resolve for want of answers).
    fn refill_windows(&mut self, now: u64) -> Result<(), StoreError> {
        let Some(org) = self.seen_org.clone() else {
            return Ok(());
        };
        let longest = org
            .alerts
            .iter()
            .filter_map(|rule| match rule.condition {
                org::notify::Condition::Rate { window_minutes, .. } => Some(window_minutes),
                org::notify::Condition::Answer { .. } => None,
            })
            .max();
        let Some(minutes) = longest else {
            return Ok(());
        };
        // Answers still in the outbox are counted when they are handed on.
        let to = self
            .store
            .pending_events(usize::MAX)?
            .iter()
            .filter(|e| e.key.kind == EventKind::ResponseCreated)
            .map(|e| e.key.at)
            .min()
            .unwrap_or(now + 1);
        let from = now.saturating_sub(u64::from(minutes) * 60 * 1_000_000);
        let engine = &mut self.engine;
        self.store.scan(from, to, &mut |record| {
            if let Some((data, facts)) = answer_data(&org, &record) {
                engine.remember(&org.alerts, &facts.answer(record.received_micros, &data));
            }
            true
        })
    }

    /// Hands the answers stored in `from..to` to `endpoint` again, whether or not they were
    /// delivered; those already waiting for it are left as they are.
    fn replay(&mut self, endpoint_id: &str, from: u64, to: u64) -> Result<usize, StoreError> {
        let Some(org) = self.org.get() else {
            return Ok(0);
        };
        let Some(endpoint) = org.endpoints.iter().find(|e| e.id == endpoint_id) else {
            return Ok(0);
        };
        let now = clock::now_micros();
        let mut found = Vec::new();
        self.store.scan(from, to, &mut |record| {
            if let Some((data, facts)) = answer_data(&org, &record) {
                if facts.wanted_by(endpoint) {
                    found.push((record.received_micros, data));
                }
            }
            true
        })?;
        let mut replayed = 0;
        for (at, data) in found {
            let event = EventKey {
                at,
                kind: EventKind::ResponseCreated,
            };
            if self.store.delivery(&endpoint.id, event)?.is_some() {
                continue;
            }
            self.store.put_delivery(&Delivery {
                endpoint: endpoint.id.clone(),
                event_at: at,
                kind: event.kind,
                body: message::body(endpoint.format, event.kind, at, &data),
                attempts: 0,
                next_at: now,
                created_at: now,
            })?;
            self.created.insert((endpoint.id.clone(), event), now);
            self.due.insert((now, endpoint.id.clone(), event));
            replayed += 1;
        }
        tracing::info!(endpoint = endpoint.id, replayed, "events replayed");
        Ok(replayed)
    }

    fn step(&mut self) -> Result<(), StoreError> {
        let org = self.org.get();
        if !same(&org, &self.seen_org) {
            // A reload: disabled endpoints get another chance, and parked deliveries go back.
            self.seen_org.clone_from(&org);
            if let Some(org) = &org {
                super::warn_about(org, &self.settings);
                for endpoint in &org.endpoints {
                    let mut state = self.state(&endpoint.id)?;
                    if state.disabled.take().is_some() {
                        state.disabled_at = None;
                        self.save_state(&endpoint.id, state)?;
                        tracing::info!(
                            endpoint = endpoint.id,
                            "endpoint enabled again by the reload"
                        );
                    }
                }
            }
            self.due.extend(self.parked.drain(..));
        }
        let now = clock::now_micros();
        // One flush for the deliveries of a batch of events, not one per event.
        let mut handed = Vec::new();
        for event in self.store.pending_events(256)? {
            let deliveries = self.hand_on(org.as_deref(), &event, now)?;
            handed.push((event.key, deliveries));
        }
        if !handed.is_empty() {
            self.store.fan_out(&handed)?;
            for (event, deliveries) in handed {
                for d in deliveries {
                    self.created.insert((d.endpoint.clone(), event), now);
                    self.due.insert((now, d.endpoint, event));
                }
            }
        }
        if let Some(org) = &org {
            let effects = {
                let quiet = quiet_at(org, now);
                self.engine.tick(&org.alerts, now, &quiet)
            };
            self.apply(effects)?;
        }
        self.start_due(org.as_deref(), now)?;
        let oldest = self.created.values().min().copied();
        *self.metrics.queue.lock().unwrap_or_else(|p| p.into_inner()) = (
            self.due.len() + self.parked.len() + self.in_flight.len(),
            oldest,
        );
        let mut endpoints = HashMap::<String, EndpointQueue>::new();
        for (endpoint, n) in &self.per_endpoint {
            endpoints.entry(endpoint.clone()).or_default().in_flight = *n;
        }
        for (_, endpoint, _) in &self.parked {
            endpoints.entry(endpoint.clone()).or_default().held += 1;
        }
        *self
            .metrics
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = endpoints;
        Ok(())
    }

    /// The deliveries of one event to its endpoints; an answer also goes through the alert rules.
    fn hand_on(
        &mut self,
        org: Option<&Organisation>,
        event: &Event,
        now: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let Some(org) = org else {
            return Ok(Vec::new());
        };
        let (targets, data): (Vec<&Endpoint>, Value) = match event.key.kind {
            EventKind::ResponseCreated => {
                let Some((data, facts)) = response(&*self.store, org, event.key.at)? else {
                    // Its answer never reached the disk (a crash before the flush).
                    return Ok(Vec::new());
                };
                let effects = {
                    let quiet = quiet_at(org, now);
                    let answer = facts.answer(event.key.at, &data);
                    self.engine.on_answer(&org.alerts, &answer, now, &quiet)
                };
                self.apply(effects)?;
                let targets = org
                    .endpoints
                    .iter()
                    .filter(|e| facts.wanted_by(e))
                    .collect();
                (targets, data)
            }
            _ => {
                let stored: Value = event
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                let notify: Vec<&str> = stored["notify"]
                    .as_array()
                    .map(|n| n.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let targets = org
                    .endpoints
                    .iter()
                    .filter(|e| {
                        e.events.contains(&event.key.kind) && notify.contains(&e.id.as_str())
                    })
                    .collect();
                (targets, stored["data"].clone())
            }
        };
        let deliveries: Vec<Delivery> = targets
            .iter()
            .map(|endpoint| Delivery {
                endpoint: endpoint.id.clone(),
                event_at: event.key.at,
                kind: event.key.kind,
                body: message::body(endpoint.format, event.key.kind, event.key.at, &data),
                attempts: 0,
                next_at: now,
                created_at: now,
            })
            .collect();
        Ok(deliveries)
    }

    fn apply(&mut self, effects: Vec<Effect>) -> Result<(), StoreError> {
        for effect in effects {
            match effect {
                Effect::Save(alert) => self.store.put_alert(&alert)?,
                Effect::Emit { kind, notify, data } => {
                    let stored = json!({"notify": notify, "data": data}).to_string();
                    let key = self.store.push_event(kind, &stored)?;
                    tracing::info!(
                        event = kind.name(),
                        webhook_id = key.webhook_id(),
                        "alert event"
                    );
                }
            }
        }
        Ok(())
    }

    /// Starts the posts that are due, within the limits.
    fn start_due(&mut self, org: Option<&Organisation>, now: u64) -> Result<(), StoreError> {
        let mut started = Vec::new();
        let mut parked = Vec::new();
        // Endpoints that can take nothing more this pass (slowed down, or at their limit in
        // flight): once every endpoint is one, the rest of a long backlog is not walked.
        let endpoints = org.map_or(0, |o| o.endpoints.len());
        let mut blocked = std::collections::HashSet::new();
        for entry in self.due.iter() {
            let (next_at, endpoint_id, event) = entry;
            if *next_at > now || self.in_flight.len() + started.len() >= IN_FLIGHT {
                break;
            }
            let endpoint = org.and_then(|o| o.endpoints.iter().find(|e| &e.id == endpoint_id));
            if !self.states.contains_key(endpoint_id) {
                let state = self.store.endpoint_state(endpoint_id)?;
                self.states.insert(endpoint_id.clone(), state);
            }
            let disabled = self
                .states
                .get(endpoint_id)
                .is_some_and(|s| s.disabled.is_some());
            let Some(endpoint) = endpoint.filter(|_| !disabled) else {
                parked.push(entry.clone());
                continue;
            };
            let paused = self
                .paused
                .get(endpoint_id)
                .is_some_and(|until| *until > now);
            let busy = self.per_endpoint.get(endpoint_id).copied().unwrap_or(0)
                + started
                    .iter()
                    .filter(|(e, _, _): &&(Endpoint, EventKey, Due)| &e.id == endpoint_id)
                    .count();
            if paused || busy >= PER_ENDPOINT {
                blocked.insert(endpoint_id);
                if blocked.len() >= endpoints {
                    break;
                }
                continue;
            }
            started.push((endpoint.clone(), *event, entry.clone()));
        }
        for entry in parked {
            self.due.remove(&entry);
            self.parked.push(entry);
        }
        for (endpoint, event, entry) in started {
            self.due.remove(&entry);
            let Some(delivery) = self.store.delivery(&endpoint.id, event)? else {
                self.created.remove(&(endpoint.id.clone(), event));
                continue;
            };
            self.in_flight.insert((endpoint.id.clone(), event));
            *self.per_endpoint.entry(endpoint.id.clone()).or_default() += 1;
            let client = self.client.clone();
            let done = self.done_tx.clone();
            let allow_private = self.settings.allow_private;
            tokio::spawn(async move {
                let sent = post(&client, &endpoint, &delivery, allow_private).await;
                let _ = done.send(sent);
            });
        }
        Ok(())
    }

    /// `endpoint` accepts again after failures: its deliveries waiting for a later retry are
    /// due now, so a backlog drains within moments of the receiver's return rather than on the
    /// retry schedule.
    fn back(&mut self, endpoint: &str, now: u64) {
        let waiting: Vec<Due> = self
            .due
            .iter()
            .filter(|(at, e, _)| e == endpoint && *at > now)
            .cloned()
            .collect();
        for entry in waiting {
            self.due.remove(&entry);
            self.due.insert((now, entry.1, entry.2));
        }
        self.paused.remove(endpoint);
    }

    fn state(&mut self, endpoint: &str) -> Result<EndpointState, StoreError> {
        if let Some(state) = self.states.get(endpoint) {
            return Ok(state.clone());
        }
        let state = self.store.endpoint_state(endpoint)?;
        self.states.insert(endpoint.to_owned(), state.clone());
        Ok(state)
    }

    fn save_state(&mut self, endpoint: &str, state: EndpointState) -> Result<(), StoreError> {
        self.store.put_endpoint_state(endpoint, &state)?;
        self.states.insert(endpoint.to_owned(), state);
        Ok(())
    }

    fn finished(&mut self, sent: Sent) {
        if let Err(error) = self.record(sent) {
            tracing::warn!(%error, "a delivery's outcome could not be recorded; it is tried again");
        }
    }

    /// Records one post's outcome and decides what comes next.
    fn record(&mut self, sent: Sent) -> Result<(), StoreError> {
        let key = (sent.endpoint.clone(), sent.event);
        self.in_flight.remove(&key);
        if let Some(n) = self.per_endpoint.get_mut(&sent.endpoint) {
            *n = n.saturating_sub(1);
        }
        let now = clock::now_micros();
        let mut state = self.state(&sent.endpoint)?;
        let mut attempt = Attempt {
            at: now,
            webhook_id: sent.event.webhook_id(),
            kind: sent.event.kind,
            status: sent.status,
            error: sent.error.clone(),
            latency_ms: sent.latency.as_millis() as u64,
            next_retry: None,
        };
        let accepted = sent.status.is_some_and(|s| (200..300).contains(&s));
        if accepted {
            if self.failing.remove(&sent.endpoint) {
                self.back(&sent.endpoint, now);
            }
            self.store.remove_delivery(&sent.endpoint, sent.event)?;
            self.created.remove(&key);
            state.delivered += 1;
            state.record(attempt);
            self.metrics.count(&sent.endpoint, "delivered");
            return self.save_state(&sent.endpoint, state);
        }
        state.failed_attempts += 1;
        self.failing.insert(sent.endpoint.clone());
        let Some(mut delivery) = self.store.delivery(&sent.endpoint, sent.event)? else {
            return self.save_state(&sent.endpoint, state);
        };
        delivery.attempts += 1;
        let slow_down = matches!(sent.status, Some(429 | 502 | 504)) || sent.retry_after.is_some();
        let next = self.settings.schedule.next_delay(
            delivery.attempts,
            schedule::jitter(),
            sent.retry_after,
        );
        match next {
            Some(delay) => {
                let next_at = now + delay.as_micros() as u64;
                delivery.next_at = next_at;
                attempt.next_retry = Some(next_at);
                self.store.put_delivery(&delivery)?;
                self.due
                    .insert((next_at, sent.endpoint.clone(), sent.event));
                if slow_down {
                    self.paused.insert(sent.endpoint.clone(), next_at);
                }
                self.metrics.count(&sent.endpoint, "failed");
            }
            None => {
                self.store.remove_delivery(&sent.endpoint, sent.event)?;
                self.created.remove(&key);
                state.abandoned += 1;
                if state.disabled.is_none() {
                    state.disabled = Some(format!(
                        "failed through the whole retry schedule ({} attempts)",
                        delivery.attempts
                    ));
                    state.disabled_at = Some(now);
                    tracing::warn!(endpoint = sent.endpoint, "endpoint disabled: it failed through the whole retry schedule; reload the organisation file to enable it again");
                }
                self.metrics.count(&sent.endpoint, "abandoned");
            }
        }
        if sent.status == Some(410) && state.disabled.is_none() {
            state.disabled = Some("the receiver answered 410 Gone".into());
            state.disabled_at = Some(now);
            tracing::warn!(endpoint = sent.endpoint, "endpoint disabled: the receiver answered 410 Gone; reload the organisation file to enable it again");
        }
        tracing::debug!(endpoint = sent.endpoint, webhook_id = attempt.webhook_id, status = ?sent.status, error = ?sent.error, "delivery failed");
        state.record(attempt);
        self.save_state(&sent.endpoint, state)
    }
}

/// What the rules and scopes look at in an answer.
struct Facts {
    department: String,
    touchpoint: String,
    site: Option<String>,
    channel: protocol::Channel,
}

impl Facts {
    fn answer<'a>(&'a self, at: u64, data: &'a Value) -> alerts::Answer<'a> {
        alerts::Answer {
            at,
            department: &self.department,
            touchpoint: &self.touchpoint,
            site: self.site.as_deref(),
            channel: self.channel,
            effort: data["answers"]["effort"].as_u64().map(|v| v as u8),
            confidence: data["answers"]["confidence"].as_u64().map(|v| v as u8),
            emotion: data["answers"]["emotion"].as_str(),
            comment: data["comment"].is_string(),
            data,
        }
    }

    /// Whether `endpoint` wants this answer's `response.created`.
    fn wanted_by(&self, endpoint: &Endpoint) -> bool {
        endpoint.events.contains(&EventKind::ResponseCreated)
            && endpoint.scope.matches(
                &self.department,
                &self.touchpoint,
                self.site.as_deref(),
                self.channel,
            )
    }
}

fn facts(data: &Value, channel: protocol::Channel) -> Facts {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Facts {
        department: text(&data["department"]).unwrap_or_default(),
        touchpoint: text(&data["touchpoint"]).unwrap_or_default(),
        site: text(&data["context"]["site_id"]),
        channel,
    }
}

/// The `response.created` data of the answer stored under `at`, if it is stored.
fn response(
    store: &dyn Store,
    org: &Organisation,
    at: u64,
) -> Result<Option<(Value, Facts)>, StoreError> {
    let mut found = None;
    store.scan(at, at + 1, &mut |record| {
        found = answer_data(org, &record);
        false
    })?;
    Ok(found)
}

fn answer_data(org: &Organisation, record: &crate::store::Record<'_>) -> Option<(Value, Facts)> {
    let department = org::department_of(Some(org), record.channel, record.touchpoint);
    let data = message::response_data(record, department)?;
    let facts = facts(&data, record.channel);
    Some((data, facts))
}

fn same(a: &Option<Arc<Organisation>>, b: &Option<Arc<Organisation>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Whether each rule is in its quiet hours at `now`, in the organisation's time zone.
fn quiet_at(org: &Organisation, now: u64) -> impl Fn(&org::notify::AlertRule) -> bool {
    let minute = jiff::Timestamp::from_microsecond(now as i64)
        .map(|t| {
            let local = org.timezone.to_datetime(t);
            local.hour() as u16 * 60 + local.minute() as u16
        })
        .unwrap_or(0);
    move |rule| rule.is_quiet(minute)
}

/// Posts one delivery, signed; never follows a redirect, never logs the secret.
async fn post(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    delivery: &Delivery,
    allow_private: bool,
) -> Sent {
    let started = Instant::now();
    let mut sent = Sent {
        endpoint: endpoint.id.clone(),
        event: delivery.event(),
        status: None,
        retry_after: None,
        error: None,
        latency: Duration::ZERO,
    };
    let url = match reqwest::Url::parse(&endpoint.url) {
        Ok(url) => url,
        Err(_) => {
            sent.error = Some("the endpoint's url cannot be read".into());
            return sent;
        }
    };
    if let Some(reason) = target::refuse_literal(&url, allow_private) {
        sent.error = Some(reason);
        return sent;
    }
    let id = delivery.event().webhook_id();
    let timestamp = (clock::now_secs()) as i64;
    let signature = sign::signature(&endpoint.secrets, &id, timestamp, delivery.body.as_bytes());
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await;
    sent.latency = started.elapsed();
    match answer {
        Ok(response) => {
            sent.status = Some(response.status().as_u16());
            sent.retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| schedule::retry_after(v, clock::now_secs()));
        }
        Err(error) => sent.error = Some(describe(&error.without_url())),
    }
    sent
}

/// An error and its causes, in one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
