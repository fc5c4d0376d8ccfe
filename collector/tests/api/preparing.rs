//! The business view while it reads in, after a restart, what the store held before: `GET
//! /v1/impact` answers `503 preparing` with `Retry-After: 1`, the dashboard says the section is
//! being prepared and the council report waits; then the view is the one from before the
//! restart. The read-in is held by a store wrapper ([`Held`]) that the test releases, so
//! nothing here depends on how fast the machine reads.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use collector::{
    config::Bounds,
    org::agenda::Action,
    stats::{joins::Joins, Aggregates},
    store::{
        outcomes::{Outcome, OutcomePut},
        Put, Record, Store, StoreError,
    },
};
use protocol::{Channel, Submission};

use crate::{
    helpers::TestApp,
    outcomes::{auth, card_activation_story, counts, impact, import, line, NDJSON, ORG},
};

/// A gate the test opens once.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().expect("the gate");
        while !*open {
            open = self.opened.wait(open).expect("the gate");
        }
    }

    fn is_open(&self) -> bool {
        *self.open.lock().expect("the gate")
    }

    fn release(&self) {
        *self.open.lock().expect("the gate") = true;
        self.opened.notify_all();
    }
}

/// The store, with the outcomes' read-in held: a test-only seam. The collector reads in for
/// [`collector::impact::AT_OPEN`] while it opens and leaves the rest to a thread of its own; so
/// the first read of the outcomes here lets that time pass before its first outcome (the opening
/// stops after its first batch and hands over), and every later read waits for the gate. Every
/// other call goes to the store unchanged.
struct Held {
    inner: Arc<dyn Store>,
    gate: Arc<Gate>,
    reads: AtomicUsize,
}

impl Store for Held {
    fn outcomes_after(
        &self,
        after: u64,
        visit: &mut dyn FnMut(u64, Outcome) -> bool,
    ) -> Result<(), StoreError> {
        if self.gate.is_open() {
            return self.inner.outcomes_after(after, visit);
        }
        if self.reads.fetch_add(1, Ordering::SeqCst) > 0 {
            self.gate.wait();
            return self.inner.outcomes_after(after, visit);
        }
        let mut first = true;
        self.inner.outcomes_after(after, &mut |seq, outcome| {
            if std::mem::take(&mut first) {
                // Not a wait for a state: the opening's own deadline, passed for certain.
                thread::sleep(collector::impact::AT_OPEN);
            }
            visit(seq, outcome)
        })
    }

    fn put(&self, submission: &Submission, json: &str, bounds: &Bounds) -> Result<Put, StoreError> {
        self.inner.put(submission, json, bounds)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn flush_failure_loses_writes(&self) -> bool {
        self.inner.flush_failure_loses_writes()
    }

    fn blocking_writes(&self) -> bool {
        self.inner.blocking_writes()
    }

    fn waiting_for(&self) -> Option<String> {
        self.inner.waiting_for()
    }

    fn scan(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(Record<'_>) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.scan(from, to, visit)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn interaction_answered(
        &self,
        channel: Channel,
        touchpoint: &str,
        interaction: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .interaction_answered(channel, touchpoint, interaction)
    }

    fn aggregates(&self) -> Option<&Aggregates> {
        self.inner.aggregates()
    }

    fn joins(&self) -> Option<Arc<Joins>> {
        self.inner.joins()
    }

    fn secret(
        &self,
        name: &str,
        make: &mut dyn FnMut() -> std::io::Result<String>,
    ) -> Result<String, StoreError> {
        self.inner.secret(name, make)
    }

    fn open_session(&self, id: &str, expires_secs: u64, now_secs: u64) -> Result<(), StoreError> {
        self.inner.open_session(id, expires_secs, now_secs)
    }

    fn session_expiry(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.inner.session_expiry(id)
    }

    fn end_session(&self, id: &str) -> Result<(), StoreError> {
        self.inner.end_session(id)
    }

    fn put_action(&self, action: &Action) -> Result<(), StoreError> {
        self.inner.put_action(action)
    }

    fn actions(&self) -> Result<Vec<Action>, StoreError> {
        self.inner.actions()
    }

    fn put_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<OutcomePut>, StoreError> {
        self.inner.put_outcomes(outcomes)
    }
}

/// Outcomes of calls nobody answered, past one batch of the read-in, so that opening cannot
/// read them all at once.
const UNANSWERED: usize = 5000;

/// `GET /v1/impact` until it answers something other than `503 preparing` (the read-in
/// released), for at most a minute.
fn ready_view(app: &TestApp) -> crate::helpers::Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = impact(app, "");
        if reply.status != 503 || Instant::now() > deadline {
            return reply;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn issue_17_while_the_view_reads_in_it_answers_503_preparing_then_the_same_figures() {
    let (app, _org) = card_activation_story(ORG);
    let unanswered: Vec<String> = (0..UNANSWERED)
        .map(|i| {
            line(
                &format!("gone-{i}"),
                "repeat_contact",
                "2026-11-23T10:00:00Z",
                None,
            )
        })
        .collect();
    assert_eq!(
        counts(&import(&app, &unanswered.join("\n"), NDJSON)),
        (200, UNANSWERED as u64, 0, 0)
    );
    let before = impact(&app, "");
    assert_eq!(before.status, 200, "{}", before.text);

    let gate = Arc::new(Gate::default());
    let held = Arc::clone(&gate);
    let app = app.restart_over(move |inner| {
        Arc::new(Held {
            inner,
            gate: held,
            reads: AtomicUsize::new(0),
        })
    });

    let preparing = impact(&app, "");
    assert_eq!(
        (preparing.status, preparing.body["error"].as_str()),
        (503, Some("preparing")),
        "{}",
        preparing.text
    );
    assert_eq!(preparing.header("retry-after"), Some("1"));
    assert!(
        preparing.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("reading in")),
        "{}",
        preparing.text
    );
    // An import meanwhile is stored, and counted once the view is ready: a repeat contact after
    // a hard answer that had none.
    let late = line("call-20", "repeat_contact", "2026-11-24T10:00:00Z", None);
    assert_eq!(counts(&import(&app, &late, NDJSON)), (200, 1, 0, 0));

    // The council report is whole or not made: asked now, it waits for the view.
    let (name, value) = auth();
    let report = {
        let url = app.url("/v1/report?period=2026-11&format=json");
        thread::spawn(move || {
            ureq::get(&url)
                .set(name, &value)
                .call()
                .map(|r| r.into_string().expect("a body"))
                .map_err(|e| e.to_string())
        })
    };
    let cookie = app.session();
    let page = app.get("/dashboard", &[("Cookie", &cookie)]).text;
    assert!(page.contains("What a hard experience costs"), "{page}");
    assert!(page.contains("Being prepared"), "{page}");
    assert!(!page.contains("times as often"), "{page}");
    // Still waiting while the read-in is held: this cannot fail when the report waits (it could
    // only miss a report that does not, on a very slow machine).
    assert!(!report.is_finished(), "the report did not wait");

    gate.release();
    let after = ready_view(&app);
    assert_eq!(after.status, 200, "{}", after.text);
    // The late import adds one repeat contact of a hard answer to the figures of before.
    let repeat = |view: &serde_json::Value| {
        view["touchpoints"]
            .as_array()
            .expect("touchpoints")
            .iter()
            .find(|t| t["touchpoint"] == "card-activation")
            .map(|t| t["outcomes"][0]["bands"]["hard"].clone())
            .expect("card activation")
    };
    assert_eq!(repeat(&before.body)["with_outcome"], 12, "{}", before.text);
    assert_eq!(repeat(&after.body)["with_outcome"], 13, "{}", after.text);
    let mut expected = before.body.clone();
    let mut got = after.body.clone();
    for view in [&mut expected, &mut got] {
        view["touchpoints"]
            .as_array_mut()
            .expect("touchpoints")
            .retain(|t| t["touchpoint"] != "card-activation");
    }
    assert_eq!(got, expected, "the other touchpoints are as before");

    let report = report.join().expect("the report's thread");
    let report: serde_json::Value =
        serde_json::from_str(&report.expect("the report")).expect("JSON");
    assert_eq!(repeat(&report["impact"])["with_outcome"], 13, "{report}");
    let page = app.get("/dashboard", &[("Cookie", &cookie)]).text;
    assert!(!page.contains("Being prepared"), "{page}");
    assert!(page.contains("times as often"), "{page}");
}
