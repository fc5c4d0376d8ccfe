//! The sled backend's events: an answer's `response.created` is in the outbox with it, comes up
//! only once the answer is durable, survives reopening, and leaves the outbox when handed on.

use super::tests::reopen;
use super::*;

fn submission(id: &str) -> Submission {
    let body = format!(
        r#"{{"id":"{id}","survey":{{"id":"core-cx","version":1}},"channel":"web","touchpoint":"checkout","answers":{{"effort":2}},"locale":"en","submitted_at":"2026-11-22T10:00:00Z"}}"#
    );
    protocol::parse_submission(body.as_bytes()).expect("valid")
}

fn delivery(endpoint: &str, event: EventKey) -> Delivery {
    Delivery {
        endpoint: endpoint.into(),
        event_at: event.at,
        kind: event.kind,
        body: "{}".into(),
        attempts: 0,
        next_at: 1,
        created_at: 1,
    }
}

#[test]
fn an_answer_event_waits_for_its_flush_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = {
        let store = reopen(dir.path());
        let s = submission("evvvvvvvvvvvvvvv01");
        let Put::Stored { key } = store
            .put(&s, &s.to_json(), &crate::config::Bounds::NONE)
            .expect("put")
        else {
            panic!("stored");
        };
        assert_eq!(store.outbox_len(), 1);
        assert!(
            store.pending_events(10).expect("events").is_empty(),
            "not handed on before the answer is durable"
        );
        Store::flush(&store).expect("flush");
        let events = store.pending_events(10).expect("events");
        assert_eq!(
            events,
            vec![Event {
                key: EventKey {
                    at: key,
                    kind: EventKind::ResponseCreated
                },
                data: None
            }]
        );
        // A retry of the same answer is a duplicate: no second event.
        assert_eq!(
            store
                .put(&s, &s.to_json(), &crate::config::Bounds::NONE)
                .expect("put"),
            Put::Duplicate
        );
        assert_eq!(store.outbox_len(), 1);
        // Importing makes no event.
        let imported = submission("evvvvvvvvvvvvvvv02");
        store
            .put_at(&imported, &imported.to_json(), clock::now_micros())
            .expect("import");
        assert_eq!(store.outbox_len(), 1);
        key
    };
    let store = reopen(dir.path());
    let events = store.pending_events(10).expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].key.at, key);
    assert_eq!(events[0].key.webhook_id(), format!("msg_{key}_0"));
}

#[test]
fn issue_18_an_answer_nothing_reads_makes_no_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    let wanted = Arc::new(AtomicBool::new(false));
    store.answer_events_when(Arc::clone(&wanted));
    let put = |id: &str| {
        let s = submission(id);
        store
            .put(&s, &s.to_json(), &crate::config::Bounds::NONE)
            .expect("put")
    };
    assert!(matches!(put("evvvvvvvvvvvvvvv11"), Put::Stored { .. }));
    assert_eq!(store.outbox_len(), 0, "nothing reads it: no event");
    wanted.store(true, Ordering::SeqCst);
    let Put::Stored { key } = put("evvvvvvvvvvvvvvv12") else {
        panic!("stored");
    };
    assert_eq!(store.outbox_len(), 1, "read again (a reload): an event");
    // The answer without an event is still stored, found and deduplicated like any other.
    assert_eq!(put("evvvvvvvvvvvvvvv11"), Put::Duplicate);
    Store::flush(&store).expect("flush");
    let events = store.pending_events(10).expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].key.at, key);
}

#[test]
fn fanning_out_moves_an_event_to_its_deliveries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    let key = store
        .push_event(EventKind::AlertOpened, r#"{"notify":["a"]}"#)
        .expect("push");
    let second = store
        .push_event(EventKind::AlertResolved, "{}")
        .expect("push");
    assert!(second.at > key.at, "event keys never repeat");
    let events = store.pending_events(10).expect("events");
    assert_eq!(events[0].data.as_deref(), Some(r#"{"notify":["a"]}"#));
    store
        .fan_out(&[(key, vec![delivery("a", key), delivery("b", key)])])
        .expect("fan out");
    assert_eq!(store.outbox_len(), 1);
    let mut pending = Vec::new();
    store
        .deliveries(&mut |d| {
            pending.push(d.endpoint);
            true
        })
        .expect("deliveries");
    assert_eq!(pending, ["a", "b"]);
    let mut retried = delivery("a", key);
    retried.attempts = 1;
    store.put_delivery(&retried).expect("put");
    assert_eq!(store.delivery("a", key).expect("get"), Some(retried));
    store.remove_delivery("a", key).expect("remove");
    assert_eq!(store.delivery("a", key).expect("get"), None);
    let state = EndpointState {
        delivered: 3,
        ..EndpointState::default()
    };
    store.put_endpoint_state("b", &state).expect("state");
    assert_eq!(store.endpoint_state("b").expect("state").delivered, 3);
    assert_eq!(
        store.endpoint_state("c").expect("state"),
        EndpointState::default()
    );
}

#[test]
fn an_acknowledgement_survives_reopening_beside_its_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alert = Alert {
        id: "struggled@touchpoint:checkout@5".into(),
        rule: "struggled".into(),
        scope: "touchpoint:checkout".into(),
        opened_at: 5,
        resolved_at: None,
        detail: serde_json::json!({"summary": "low"}),
        count: 1,
        last_at: 5,
        held: false,
    };
    {
        let store = reopen(dir.path());
        store.put_alert(&alert).expect("alert");
        let first = Acknowledgement::new(&alert.id, "Sam", "looking", "dashboard", 6).expect("ok");
        store.put_acknowledgement(&first).expect("ack");
        let second = Acknowledgement::new(&alert.id, "Ann", "fixed", "api", 7).expect("ok");
        store.put_acknowledgement(&second).expect("ack");
    }
    let store = reopen(dir.path());
    assert_eq!(store.alerts().expect("alerts"), vec![alert.clone()]);
    let acks = store.acknowledgements().expect("acks");
    assert_eq!(acks.len(), 1, "one per alert, the latest");
    assert_eq!((acks[0].by.as_str(), acks[0].at), ("Ann", 7));
}
