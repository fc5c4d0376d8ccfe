//! Each endpoint's pending deliveries as the store counts them (`Store::pending_deliveries`,
//! which `/v1/endpoints` and the dashboard show): equal to the deliveries the store holds after
//! deliveries succeed, fail and are given up, and after the store is opened again.

use std::collections::HashMap;

use collector::store::{
    events::{Delivery, EventKey, EventKind, Pending},
    Store,
};

use crate::helpers::Backend;

fn delivery(endpoint: &str, at: u64, next_at: u64) -> Delivery {
    Delivery {
        endpoint: endpoint.into(),
        event_at: at,
        kind: EventKind::ResponseCreated,
        body: "{}".into(),
        attempts: 0,
        next_at,
        created_at: 1,
    }
}

/// The pending deliveries counted by reading every one of them.
fn read_one_by_one(store: &dyn Store) -> HashMap<String, Pending> {
    let mut pending = HashMap::<String, Pending>::new();
    store
        .deliveries(&mut |d| {
            let entry = pending.entry(d.endpoint).or_insert(Pending {
                count: 0,
                next_at: None,
            });
            entry.count += 1;
            entry.next_at = Some(entry.next_at.map_or(d.next_at, |n| n.min(d.next_at)));
            true
        })
        .expect("the deliveries");
    pending
}

/// The store's count, checked against the deliveries it holds; `(endpoint, count, next)`.
fn counted(store: &dyn Store) -> Vec<(String, u64, Option<u64>)> {
    let pending = store.pending_deliveries().expect("the count");
    assert_eq!(
        pending,
        read_one_by_one(store),
        "the count and the deliveries"
    );
    let mut rows: Vec<_> = pending
        .into_iter()
        .map(|(endpoint, p)| (endpoint, p.count, p.next_at))
        .collect();
    rows.sort();
    rows
}

fn row(endpoint: &str, count: u64, next: u64) -> (String, u64, Option<u64>) {
    (endpoint.to_owned(), count, Some(next))
}

#[test]
fn pending_deliveries_are_counted_as_they_succeed_fail_and_are_given_up() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backend = Backend::new(&dir.path().join("data"));
    let event = |at: u64| EventKey {
        at,
        kind: EventKind::ResponseCreated,
    };
    {
        let store = backend.open(16);
        assert_eq!(counted(&*store), vec![]);
        let handed: Vec<(EventKey, Vec<Delivery>)> = (1..=3)
            .map(|at| {
                (
                    event(at),
                    vec![delivery("a", at, 100 + at), delivery("b", at, 200 + at)],
                )
            })
            .collect();
        store.fan_out(&handed).expect("fanned out");
        assert_eq!(counted(&*store), vec![row("a", 3, 101), row("b", 3, 201)]);

        // Accepted: gone.
        store.remove_delivery("a", event(1)).expect("delivered");
        assert_eq!(counted(&*store), vec![row("a", 2, 102), row("b", 3, 201)]);
        // Failed: tried again later, still pending.
        let mut failed = delivery("a", 2, 500);
        failed.attempts = 1;
        store.put_delivery(&failed).expect("retried later");
        assert_eq!(counted(&*store), vec![row("a", 2, 103), row("b", 3, 201)]);
        let mut failed_again = delivery("a", 3, 600);
        failed_again.attempts = 1;
        store.put_delivery(&failed_again).expect("retried later");
        assert_eq!(counted(&*store), vec![row("a", 2, 500), row("b", 3, 201)]);
        // Given up after the whole schedule: gone.
        store.remove_delivery("b", event(1)).expect("given up");
        store.remove_delivery("b", event(3)).expect("given up");
        assert_eq!(counted(&*store), vec![row("a", 2, 500), row("b", 1, 202)]);
        // Removing what is not there changes nothing.
        store.remove_delivery("b", event(3)).expect("nothing");
        store.remove_delivery("b", event(2)).expect("delivered");
        assert_eq!(counted(&*store), vec![row("a", 2, 500)]);
    }
    let store = backend.open(16);
    assert_eq!(
        counted(&*store),
        vec![row("a", 2, 500)],
        "after opening again"
    );
}
